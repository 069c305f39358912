// www/store.js in a real browser (IndexedDB): extracted feature sets are kept up to a byte
// budget, the least recently used evicted first, and sets stored before sizes were recorded
// go at the next store.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launch, missingPrerequisites } from './harness.mjs';

const missing = await missingPrerequisites();
const skip = missing && !process.env.CI ? missing : false;
if (skip) console.log(`# browser tests skipped: ${skip}`);

describe('feature cache in IndexedDB', () => {
  let browser;
  let page;
  before(async () => {
    if (skip) return;
    if (missing) throw new Error(`${missing} (CI is set, so this fails instead of skipping)`);
    browser = await launch({ webgpu: false });
    page = await browser.context.newPage();
    // An empty page on the app's origin, so the app's own worker does not run.
    await page.goto(`${browser.url}bench/blank.html`);
  });
  after(async () => {
    await browser?.close();
  });

  test('least recently used sets beyond the budget are evicted; the newest always stays', { skip, timeout: 60_000 }, async () => {
    const steps = await page.evaluate(async () => {
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
      // A set from before sizes were recorded: no featureUse entry.
      await store.idbPut('features', 'old', set(10, 9));
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
    assert.deepEqual(steps.first, ['old'], 'a set of unknown age goes at the next store');
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
  });
});
