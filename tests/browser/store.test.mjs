// What the page keeps in a real browser. www/store.js (IndexedDB): the upgrade from the
// database's first version (and a tab of that version blocking it), and extracted feature sets
// kept up to a byte budget, the least recently used evicted first; sets stored before sizes were
// recorded go at the next store. www/model_cache.js (Cache API): model folders beyond the
// default and the most recently used others are evicted.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { prerequisites, useBlankPage } from './harness.mjs';

const ready = await prerequisites();
const { skip } = ready;

describe('what the page keeps in this browser', () => {
  const blank = useBlankPage(ready);

  test(
    'least recently used sets beyond the budget are evicted; the newest always stays',
    { skip, timeout: 60_000 },
    async () => {
      const steps = await blank.page.evaluate(async () => {
        const store = await import('/www/store.js');
        const set = (n, fill) => new Uint8Array(n).fill(fill).buffer;
        const keys = async () => {
          const db = await new Promise((ok, fail) => {
            const req = indexedDB.open('bertweb');
            req.onsuccess = () => ok(req.result);
            req.onerror = () => fail(req.error);
          });
          const all = await new Promise((ok) => {
            const req = db.transaction('features').objectStore('features').getAllKeys();
            req.onsuccess = () => ok(req.result);
          });
          db.close();
          return all.sort();
        };
        const out = {};
        // The database as the version before featureUse left it, with a set of unknown age, and
        // still open, as in a tab with that version that never closes its connection.
        const v1 = await new Promise((ok, fail) => {
          const req = indexedDB.open('bertweb', 1);
          req.onupgradeneeded = () => {
            req.result.createObjectStore('features');
            req.result.createObjectStore('classifiers');
          };
          req.onsuccess = () => ok(req.result);
          req.onerror = () => fail(req.error);
        });
        await new Promise((ok) => {
          const tx = v1.transaction('features', 'readwrite');
          tx.objectStore('features').put(set(10, 9), 'old');
          tx.oncomplete = ok;
        });
        out.blocked = await Promise.race([
          store.getFeatures('old').then(
            () => 'answered',
            (err) => err.message,
          ),
          new Promise((ok) => setTimeout(() => ok('still waiting after 5 s'), 5000)),
        ]);
        // The other tab closes: the upgrade goes through, and the next call opens version 2.
        v1.close();
        await new Promise((r) => setTimeout(r, 200));
        out.first = await store.putFeatures('a', set(400, 1), 1000);
        out.afterA = await keys();
        await new Promise((r) => setTimeout(r, 5));
        out.b = await store.putFeatures('b', set(400, 2), 1000);
        await new Promise((r) => setTimeout(r, 5));
        // Reading a makes it the most recently used, so c evicts b, not a.
        const a = new Uint8Array(await store.getFeatures('a'));
        out.aRead = [a.length, a[0]];
        await new Promise((r) => setTimeout(r, 5));
        out.c = await store.putFeatures('c', set(400, 3), 1000);
        out.afterC = await keys();
        out.missing = (await store.getFeatures('b')) === undefined;
        // Larger than the whole budget: stored anyway, everything else goes.
        out.big = await store.putFeatures('big', set(2000, 4), 1000);
        out.afterBig = await keys();
        out.bigRead = new Uint8Array(await store.getFeatures('big')).length;
        // The same key again replaces its own entry, never evicts itself.
        out.again = await store.putFeatures('big', set(2000, 5), 1000);
        out.againRead = new Uint8Array(await store.getFeatures('big'))[0];
        return out;
      });
      assert.match(
        steps.blocked,
        /held by another bertweb tab with an older version: close the other tabs and reload/,
      );
      assert.deepEqual(
        steps.first,
        ['old'],
        'a set of unknown age (stored by version 1) goes at the next store',
      );
      assert.deepEqual(steps.afterA, ['a']);
      assert.deepEqual(steps.b, [], '800 bytes fit in 1000');
      assert.deepEqual(steps.aRead, [400, 1]);
      assert.deepEqual(steps.c, ['b'], 'b was used least recently');
      assert.deepEqual(steps.afterC, ['a', 'c']);
      assert.ok(steps.missing);
      assert.deepEqual(steps.big.sort(), ['a', 'c']);
      assert.deepEqual(steps.afterBig, ['big']);
      assert.equal(steps.bigRead, 2000);
      assert.deepEqual(steps.again, []);
      assert.equal(steps.againRead, 5);
    },
  );

  test(
    'model folders in the Cache API: the default and the most recently used others are kept',
    { skip, timeout: 60_000 },
    async () => {
      const steps = await blank.page.evaluate(async () => {
        const models = await import('/www/model_cache.js');
        const cache = await caches.open('bertweb-models-test');
        const base = (name) => `${location.origin}/hub/${name}/resolve/main/`;
        const store = (name) =>
          Promise.all(
            ['config.json', 'model.safetensors', 'tokenizer.json'].map((f) =>
              cache.put(base(name) + f, new Response(`${name} ${f}`)),
            ),
          );
        const tick = () => new Promise((r) => setTimeout(r, 5));
        const folders = async () =>
          [...new Set((await cache.keys()).map((r) => new URL('./', r.url).href))]
            .map((u) => u.split('/')[4])
            .sort();
        const out = {};
        await store('default');
        await store('legacy'); // cached before markers: no marker, so the oldest
        for (const name of ['a', 'b']) {
          await models.markUsed(cache, base(name));
          await store(name);
          await tick();
        }
        out.first = (await models.evictFolders(cache, base('default'))).map((u) => u.split('/')[4]);
        await models.markUsed(cache, base('a')); // a read from the cache: now newer than b
        await tick();
        await models.markUsed(cache, base('c'));
        out.second = (await models.evictFolders(cache, base('default'))).map((u) => u.split('/')[4]);
        await store('c');
        out.left = await folders();
        out.bLeft = (await cache.keys()).filter((r) => r.url.startsWith(base('b'))).length;
        out.kept = models.KEPT_FOLDERS;
        await caches.delete('bertweb-models-test');
        return out;
      });
      assert.equal(steps.kept, 2);
      assert.deepEqual(steps.first, ['legacy']);
      assert.deepEqual(steps.second, ['b'], 'b was used least recently; the default is never evicted');
      assert.deepEqual(steps.left, ['a', 'c', 'default']);
      assert.equal(steps.bLeft, 0, 'every file of an evicted folder goes, its marker too');
    },
  );
});
