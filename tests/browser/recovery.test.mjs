// A crash of the wasm instance (a Rust panic traps it) costs the request it happened in, not the
// session: the worker restarts the instance and restores the model, the data, the features
// (when stored) and the classifier, and the page says so. Features that could not be stored (a
// full storage, which is a warning) are the one thing lost: the page asks to extract them again.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { classifyTyped, closeApp, openApp, prerequisites, waitClassifier, waitStatus } from './harness.mjs';

const ready = await prerequisites();
const { skip } = ready;

const POSITIVE = ['Delicious and I love it', 'Great taste', 'Fresh and tasty', 'Excellent value'];
const NEGATIVE = ['Awful and stale', 'Terrible so I threw it away', 'Disgusting taste', 'Broken box'];
/** 24 reviews in the Amazon layout: enough for a split with a validation part. */
const CSV = `Id,Score,Text\n${[...POSITIVE, ...POSITIVE, ...POSITIVE, ...NEGATIVE, ...NEGATIVE, ...NEGATIVE]
  .map((t, i) => `${i + 1},${i < 12 ? 5 : 1},${t} ${i}`)
  .join('\n')}\n`;
const TEXT = 'Tasty and fresh, I will buy it again.';

/**
 * The name and message of a crash the page's client asked for: a Rust panic, at once or
 * (`later`) inside an async call, where the trap surfaces outside the call that awaits it.
 */
function crash(page, later = false) {
  return page.evaluate(
    (later) =>
      window.bertweb.client.crashForTest(later).then(
        () => 'resolved',
        (err) => ({ name: err.name, message: err.message }),
      ),
    later,
  );
}

describe('a crash of the wasm instance', () => {
  let browser;
  let page;
  let log = [];
  before(async () => {
    if (skip) return;
    ready.requireReady();
    ({ browser, page, log } = await openApp());
    await waitClassifier(page);
    // The SHA-256 of the classifier kept in IndexedDB.
    await page.evaluate(() => {
      window.__keptBytes = () =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open('bertweb');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const get = open.result.transaction('classifiers').objectStore('classifiers').get('current');
            get.onsuccess = async () => {
              open.result.close();
              const hash = await crypto.subtle.digest('SHA-256', get.result.bytes);
              resolve(Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, '0')).join(''));
            };
          };
        });
    });
  });
  after(async () => {
    await closeApp(browser, log);
  });

  test('restores the model, data, features and classifier; the page says so', { skip }, async () => {
    const setUp = await page.evaluate(
      async ({ csv, text }) => {
        const { client } = window.bertweb;
        await client.dataset(new Blob([csv]), {});
        await client.extract({ key: 'recovery-test' });
        const { presets, presetNames } = await client.defaults();
        await client.train(presets[presetNames[0]]);
        await client.keepClassifier('recovery test');
        const [p] = await client.classify([text]);
        return { probabilities: p.probabilities, kept: await window.__keptBytes() };
      },
      { csv: CSV, text: TEXT },
    );
    const err = await crash(page);
    console.log(`# crash -> ${JSON.stringify(err)}`);
    assert.equal(err.name, 'InternalError');
    assert.match(
      err.message,
      /crashed inside WebAssembly \(unreachable\) while running a crash test; it was restarted and your model, data, features and classifier were restored$/,
    );
    assert.match(await page.textContent('#status'), /it was restarted and your model, data, features/);
    assert.equal(await page.getAttribute('#status', 'data-kind'), 'warn');
    const worker = page.workers().find((w) => new URL(w.url()).pathname.endsWith('/www/worker.js'));
    const glues = await worker.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .map((e) => new URL(e.name))
        .filter((u) => u.pathname.endsWith('/bertweb.js'))
        .map((u) => u.pathname.split('/pkg/')[1] + u.search),
    );
    assert.ok(glues.includes('cpu/bertweb.js?instance=1'), `a fresh instance of the CPU build: ${glues}`);

    assert.match(await classifyTyped(page, TEXT), /^(positive|negative) \d+ %$/);
    const after = await page.evaluate(async (text) => {
      const { client } = window.bertweb;
      const [p] = await client.classify([text]);
      const { presets, presetNames } = await client.defaults();
      // The features came back from IndexedDB: training needs no extraction.
      const trained = await client.train(presets[presetNames[0]]).then(
        () => 'trained',
        (e) => e.message,
      );
      return { probabilities: p.probabilities, kept: await window.__keptBytes(), trained };
    }, TEXT);
    assert.deepEqual(after.probabilities, setUp.probabilities, 'the same classifier');
    assert.equal(after.kept, setUp.kept, 'the kept classifier is unchanged');
    assert.equal(after.trained, 'trained');

    // A panic inside an async Rust call: its request is answered too, not left waiting.
    const late = await crash(page, true);
    console.log(`# async crash -> ${JSON.stringify(late)}`);
    assert.equal(late.name, 'InternalError');
    assert.match(
      late.message,
      /while running a crash test; it was restarted and your model, data, features and classifier were restored$/,
    );
    const again = await page.evaluate(
      async (text) => (await window.bertweb.client.classify([text]))[0],
      TEXT,
    );
    assert.deepEqual(again.probabilities, setUp.probabilities, 'the same classifier after an async crash');
  });

  test(
    'a stopped extraction goes on from its checkpoint: after a cancel, a crash or a reload',
    { skip },
    async () => {
      const texts = Array.from(
        { length: 160 },
        (_, i) => `${[...POSITIVE, ...NEGATIVE][i % 8]}, review number ${i} ${'and more '.repeat(i % 7)}`,
      );
      const csv = `Id,Score,Text\n${texts.map((t, i) => `${i + 1},${i % 8 < 4 ? 5 : 1},"${t}"`).join('\n')}\n`;
      /** Extract with a checkpoint after every batch; cancel once `stopAt` texts are done. */
      const extract = (stopAt) =>
        page.evaluate(
          async ({ csv, stopAt }) => {
            const { client } = window.bertweb;
            await client.dataset(new Blob([csv]), {});
            const stop = new AbortController();
            const seen = [];
            const result = await client
              .extract({
                key: 'checkpoint-test',
                checkpointMs: 0,
                batchSize: 8,
                signal: stop.signal,
                onProgress: (p) => {
                  if (p.stage !== 'extract') return;
                  seen.push({ done: p.done, resumed: p.resumed });
                  if (stopAt !== null && p.done >= stopAt) stop.abort();
                },
              })
              .catch((err) => ({ error: err.name }));
            return { result, seen };
          },
          { csv, stopAt },
        );
      const first = await extract(40);
      assert.equal(first.result.error, 'CancelledError');
      const cancelledAt = first.seen.at(-1).done;
      assert.ok(cancelledAt >= 40 && cancelledAt < texts.length, `${cancelledAt}`);

      // Go on after the cancel, and stop again; then a crash of the instance.
      const second = await extract(cancelledAt + 40);
      assert.equal(second.result.error, 'CancelledError');
      assert.equal(
        second.seen.find((p) => p.done > 0)?.resumed,
        cancelledAt,
        'all the cancelled run did is kept',
      );
      const secondAt = second.seen.at(-1).done;
      assert.equal((await crash(page)).name, 'InternalError');

      // A closed tab: reload the page, then go on.
      await page.reload();
      await page.waitForFunction(() => window.bertweb?.client?.info, null, { timeout: 120_000 });
      const third = await extract(null);
      assert.equal(third.result.rows, texts.length);
      assert.equal(third.result.cached, false);
      assert.equal(third.result.resumed, secondAt, 'kept across the crash and the reload');
      assert.equal(third.seen[0].done, 0);
      assert.equal(third.seen[1].done, secondAt);

      // The same features as an extraction from the start: the classifier trained on them
      // gives the same probabilities.
      const trained = await page.evaluate(async (text) => {
        const { client } = window.bertweb;
        const { presets, presetNames } = await client.defaults();
        await client.train(presets[presetNames[0]]);
        const resumed = (await client.classify([text]))[0].probabilities;
        await client.extract({ key: 'checkpoint-test-fresh', batchSize: 8 });
        await client.train(presets[presetNames[0]]);
        const fresh = (await client.classify([text]))[0].probabilities;
        return { resumed, fresh };
      }, TEXT);
      for (const [a, b] of trained.resumed.map((p, i) => [p, trained.fresh[i]])) {
        assert.ok(Math.abs(a - b) < 1e-6, `${trained.resumed} vs ${trained.fresh}`);
      }
    },
  );

  test(
    'a full storage while storing features is a warning; training works; a crash then asks to extract again',
    { skip },
    async () => {
      const worker = page.workers().find((w) => new URL(w.url()).pathname.endsWith('/www/worker.js'));
      await worker.evaluate(() => {
        self.__put = IDBObjectStore.prototype.put;
        IDBObjectStore.prototype.put = () => {
          throw new DOMException('quota', 'QuotaExceededError');
        };
      });
      try {
        const path = join(mkdtempSync(join(tmpdir(), 'bertweb-recovery-')), 'tiny.csv');
        writeFileSync(path, `${CSV}25,5,Yummy\n`); // another file: its features are not stored
        await page.setInputFiles('#csv-file', path);
        assert.equal((await waitStatus(page, 'data-status')).kind, 'ok');
        await page.click('#extract');
        const extracted = await waitStatus(page, 'extract-status');
        console.log(`# storage full -> ${extracted.text}`);
        assert.equal(extracted.kind, 'warn');
        assert.match(
          extracted.text,
          /could not be kept for next time: the browser storage for this page is full/,
        );
        await page.click('#train');
        assert.equal((await waitStatus(page, 'train-status')).kind, 'ok');
      } finally {
        await worker.evaluate(() => {
          IDBObjectStore.prototype.put = self.__put;
        });
      }
      await page.evaluate(() => {
        document.getElementById('extract-status').dataset.kind = 'info';
      });
      const err = await crash(page);
      assert.match(
        err.message,
        /restored\. The features were not stored in this browser: extract them again$/,
      );
      const lost = await waitStatus(page, 'extract-status');
      assert.equal(lost.kind, 'warn');
      assert.match(lost.text, /features were lost .* press Extract features again/);
      assert.equal(await page.isDisabled('#train'), true);
      assert.match(await classifyTyped(page, TEXT), /^[15] \d+ %$/, 'the classes of tiny.csv');
    },
  );
});
