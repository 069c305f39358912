// What a user gets wrong, and what they see: a broken CSV, a CSV in another layout, review
// texts full of HTML (rendered inert), a cancelled extraction, a model folder URL (a local
// server mimicking huggingface.co's /resolve/main/ layout) that works and one that does not.
// After each, the page is still usable. And what the page's code sees: each failure reaches it
// as an error whose name is its kind (www/protocol.js ErrorKind), never to be told apart by its
// wording.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServer } from '../../scripts/serve.mjs';
import {
  ROOT,
  SAMPLE_CSV,
  classifyTyped,
  closeApp,
  openApp,
  prerequisites,
  screenshot,
  waitClassifier,
  waitStatus,
  resetStatus,
} from './harness.mjs';

const ready = await prerequisites({ sample: true });
const { skip } = ready;

const tmp = mkdtempSync(join(tmpdir(), 'bertweb-errors-'));
function file(name, text) {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

/** Drop a file on a drop zone, as a user dragging it from their file manager. */
async function dropFile(page, selector, name, text) {
  await page.evaluate(
    ({ selector, name, text }) => {
      const data = new DataTransfer();
      data.items.add(new File([text], name, { type: 'text/csv' }));
      const zone = document.querySelector(selector);
      for (const type of ['dragover', 'drop']) {
        zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
      }
    },
    { selector, name, text },
  );
}

/** The page's model worker (www/worker.js), which owns the wasm instance and IndexedDB. */
function modelWorker(page) {
  const urls = page.workers().map((w) => w.url());
  const worker = page.workers().find((w) => new URL(w.url()).pathname.endsWith('/www/worker.js'));
  if (!worker) throw new Error(`no www/worker.js among the page's workers (${urls.join(', ')})`);
  return worker;
}

/**
 * What a call of the page's client settles to: the name and message of its error, or 'resolved'.
 * `call` runs in the page with the client, and returns the call's promise.
 * @returns {Promise<{name: string, message: string} | 'resolved'>}
 */
function failure(page, call) {
  return page.evaluate(
    `(${call})(window.bertweb.client).then(() => 'resolved', (err) => ({ name: err.name, message: err.message }))`,
  );
}

describe('mistakes and hostile data leave the page usable', () => {
  let browser;
  let page;
  let log = [];
  before(async () => {
    if (skip) return;
    ready.requireReady();
    ({ browser, page, log } = await openApp());
    await waitClassifier(page);
  });
  after(async () => {
    await closeApp(browser, log);
  });

  test('a broken CSV says what is wrong and where', { skip }, async () => {
    await page.setInputFiles('#csv-file', file('broken.csv', 'Id,Score,Text\n1,5,"great coffee\n2,1,bad\n'));
    const status = await waitStatus(page, 'data-status');
    console.log(`# broken CSV -> ${status.text}`);
    assert.equal(status.kind, 'error');
    assert.match(status.text, /broken\.csv.*line 2: a quoted field opens with `"` and is never closed/);
    await resetStatus(page, 'data-status');
    await page.setInputFiles('#csv-file', file('utf16.csv', Buffer.from([0xff, 0xfe, 0x41, 0x00])));
    assert.match((await waitStatus(page, 'data-status')).text, /UTF-16 .* save it as "CSV UTF-8"/);
    assert.match(await classifyTyped(page, 'Lovely tea, I will order more.'), /^positive \d+ %$/);
  });

  test(
    'another layout, dropped: the user picks the columns; unusable labels are explained',
    { skip },
    async () => {
      await resetStatus(page, 'data-status');
      const rows = ['review,stars', 'good,5', 'nice,4', 'fine,5', 'bad,1', 'awful,2', 'poor,1'];
      await dropFile(page, '#csv-drop', 'mine.csv', `${rows.join('\n')}\n`);
      await page.waitForFunction(() =>
        document.getElementById('data-layout').textContent.startsWith('mine.csv'),
      );
      assert.match(
        await page.textContent('#data-layout'),
        /mine\.csv: 2 columns\. Choose the text and the label column/,
      );
      assert.equal(await page.inputValue('#text-column'), 'review');
      assert.equal(await page.inputValue('#label-column'), 'stars');
      const status = await waitStatus(page, 'data-status');
      assert.equal(status.kind, 'ok', status.text);
      assert.match(status.text, /4 training and 2 test reviews/);
      await resetStatus(page, 'data-status');
      await page.selectOption('#label-column', 'review');
      await page.selectOption('#text-column', 'stars');
      await page.selectOption('#label-mode', 'binary');
      await page.click('#preprocess');
      const bad = await waitStatus(page, 'data-status');
      console.log(`# label column of words in binary mode -> ${bad.text}`);
      assert.equal(bad.kind, 'error');
      assert.match(bad.text, /not a score 1 to 5 .* choose the named label mode/);
    },
  );

  test('texts with <img onerror> and <script> are shown as text, never run', { skip }, async () => {
    await resetStatus(page, 'data-status');
    await page.evaluate(() => {
      window.__xss = 0;
    });
    const evil = [
      '<img src=x onerror="window.__xss=1">Tasty snack',
      '<script>window.__xss=2</script>Great price',
      '<b onmouseover="window.__xss=3">Good</b> stuff',
      '<img src=x onerror="window.__xss=4">Horrible taste',
      '<iframe src="javascript:window.__xss=5"></iframe>Bad box',
      '<svg onload="window.__xss=6">Stale chips',
    ];
    const csv = `Id,Score,Text\n${evil.map((t, i) => `${i + 1},${i < 3 ? 5 : 1},"${t.replaceAll('"', '""')}"`).join('\n')}\n`;
    const path = file('evil.csv', csv);
    await page.setInputFiles('#csv-file', path);
    await page.waitForFunction(() =>
      document.getElementById('data-layout').textContent.startsWith('evil.csv'),
    );
    await waitStatus(page, 'data-status');
    // Keep the tags, so the examples show them.
    await resetStatus(page, 'data-status');
    await page.uncheck('#strip-html');
    await page.click('#preprocess');
    assert.equal((await waitStatus(page, 'data-status')).kind, 'ok');
    const shown = await page.textContent('#examples');
    assert.match(shown, /<(img|script|b|iframe|svg)/, 'the markup is visible as text');
    // And in the batch table.
    await resetStatus(page, 'classify-status');
    await page.setInputFiles('#batch-file', path);
    await page.waitForFunction(() => document.getElementById('batch-column').value === 'Text');
    await page.click('#batch-run');
    assert.equal((await waitStatus(page, 'classify-status')).kind, 'ok');
    assert.match(await page.textContent('#batch-table'), /<script>window.__xss=2<\/script>Great price/);
    await page.hover('#examples');
    await page.waitForTimeout(300);
    const found = await page.evaluate(() => ({
      xss: window.__xss,
      elements: document.querySelectorAll(
        'main img, main script, main iframe, #examples b, #batch-table b, #examples svg, #batch-table svg',
      ).length,
    }));
    assert.deepEqual(found, { xss: 0, elements: 0 });
    await screenshot(page, 'inert-html');
  });

  test('a cancelled extraction keeps the data and can start again', { skip, timeout: 120_000 }, async () => {
    await resetStatus(page, 'data-status');
    await page.setInputFiles('#csv-file', SAMPLE_CSV);
    await page.waitForFunction(() =>
      document.getElementById('data-layout').textContent.startsWith('sample-2k.csv'),
    );
    await waitStatus(page, 'data-status');
    await page.check('#strip-html');
    await page.fill('#sample-size', '600');
    await resetStatus(page, 'data-status');
    await page.click('#preprocess');
    assert.equal((await waitStatus(page, 'data-status')).kind, 'ok');
    await page.click('#extract');
    await page.waitForFunction(() => document.getElementById('extract-progress').value > 0, null, {
      timeout: 60_000,
    });
    await page.click('#extract-cancel');
    const status = await waitStatus(page, 'extract-status');
    console.log(`# cancelled -> ${status.text}`);
    assert.equal(status.kind, 'warn');
    assert.match(
      status.text,
      /Extraction cancelled after \d+ of 600 texts\. Your data and settings are kept/,
    );
    assert.equal(await page.isEnabled('#extract'), true);
    assert.equal(await page.isHidden('#extract-cancel'), true);
    assert.match(await classifyTyped(page, 'Disgusting, it was rotten.'), /^negative \d+ %$/);
    await screenshot(page, 'extraction-cancelled');
  });

  test('each failure reaches the page as an error named by its kind', { skip }, async () => {
    const kinds = await page.evaluate(() => window.bertweb.client.defaults().then((d) => d.errorKinds));
    assert.deepEqual(kinds, [
      'ModelFileError',
      'DataError',
      'SettingsError',
      'DeviceError',
      'ClassifierError',
      'InternalError',
    ]);
    /** What each mistake rejects with; the previous model, data and classifier stay. */
    const cases = {
      'a broken config.json': [
        'ModelFileError',
        await failure(page, (client) => {
          const text = (t) => new TextEncoder().encode(t);
          return client.load(
            {
              config: text('{"model_type": "bert", '),
              weights: new Uint8Array(16),
              tokenizer: text('[PAD]\n'),
            },
            'cpu',
          );
        }),
      ],
      'a CSV without the label column asked for': [
        'DataError',
        await failure(page, (client) =>
          client.dataset(new Blob(['review,stars\ngood,5\nbad,1\n']), {
            columns: { named: { text: 'review', label: 'rating' } },
            label_mode: 'named',
          }),
        ),
      ],
      'a max length of 1': [
        'SettingsError',
        await failure(page, (client) => client.embed(['Fine tea.'], 'mean', 1)),
      ],
      'a max length past the model': [
        'SettingsError',
        await failure(page, (client) => client.embed(['Fine tea.'], 'mean', 100_000)),
      ],
      'an unknown pooling': [
        'SettingsError',
        await failure(page, (client) => client.embed(['Fine tea.'], 'max', 16)),
      ],
      'a classifier file of random bytes': [
        'ClassifierError',
        await failure(page, (client) =>
          client.setClassifier(crypto.getRandomValues(new Uint8Array(4096)).buffer),
        ),
      ],
    };
    for (const [what, [kind, got]] of Object.entries(cases)) {
      console.log(`# ${what} -> ${got === 'resolved' ? got : `${got.name}: ${got.message}`}`);
      assert.notEqual(got, 'resolved', what);
      assert.equal(got.name, kind, `${what}: ${got.message}`);
    }

    // Training settings with an unknown preset, on a small data set of its own.
    const preset = await failure(page, async (client) => {
      const csv = ['review,stars', 'good,5', 'nice,4', 'fine,5', 'bad,1', 'awful,2', 'poor,1'].join('\n');
      await client.dataset(new Blob([csv]), {
        columns: { named: { text: 'review', label: 'stars' } },
        label_mode: 'binary',
      });
      const { maxLen, pooling, presets, presetNames } = await client.defaults();
      await client.extract({ key: 'errors-test-preset', pooling, maxLen });
      return client.train({ ...presets[presetNames[0]], preset: 'no-such-preset' });
    });
    console.log(
      `# an unknown preset -> ${preset === 'resolved' ? preset : `${preset.name}: ${preset.message}`}`,
    );
    assert.equal(preset === 'resolved' ? preset : preset.name, 'SettingsError');
    assert.match(await classifyTyped(page, 'Lovely tea, I will order more.'), /^positive \d+ %$/);
  });

  test(
    'the worker keeps, reloads and forgets the classifier in use; a broken kept one is a ClassifierError',
    { skip },
    async () => {
      const kept = await page.evaluate(async () => {
        const { client } = window.bertweb;
        const keep = await client.keepClassifier('kept by the errors test');
        const loaded = await client.loadKeptClassifier();
        await client.forgetKeptClassifier();
        return {
          keep,
          source: loaded?.source,
          labels: loaded?.meta.label_names,
          mismatch: loaded?.mismatch,
          after: await client.loadKeptClassifier(),
        };
      });
      assert.deepEqual(kept, {
        keep: { warning: null },
        source: 'kept by the errors test',
        labels: ['negative', 'positive'],
        mismatch: null,
        after: null,
      });

      // A kept file that has gone bad (written as pages have always written it: {bytes, source}).
      await page.evaluate(() => window.bertweb.client.keepClassifier('about to be broken'));
      await page.evaluate(
        () =>
          new Promise((resolve, reject) => {
            const open = indexedDB.open('bertweb');
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
              const db = open.result;
              const tx = db.transaction('classifiers', 'readwrite');
              const bytes = crypto.getRandomValues(new Uint8Array(4096)).buffer;
              tx.objectStore('classifiers').put({ bytes, source: 'broken' }, 'current');
              tx.oncomplete = () => {
                db.close();
                resolve();
              };
              tx.onabort = () => reject(tx.error);
            };
          }),
      );
      const broken = await failure(page, (client) => client.loadKeptClassifier());
      await page.evaluate(() => window.bertweb.client.forgetKeptClassifier());
      assert.notEqual(broken, 'resolved');
      assert.equal(broken.name, 'ClassifierError', broken.message);
      assert.match(await classifyTyped(page, 'Disgusting, it was rotten.'), /^negative \d+ %$/);
    },
  );

  test('a full storage quota is explained, and the loaded classifier still works', { skip }, async () => {
    // The worker writes IndexedDB (www/store.js), so its storage is the one that is full.
    const worker = modelWorker(page);
    await worker.evaluate(() => {
      self.__put = IDBObjectStore.prototype.put;
      IDBObjectStore.prototype.put = () => {
        throw new DOMException('quota', 'QuotaExceededError');
      };
    });
    try {
      await resetStatus(page, 'keep-status');
      await page.setInputFiles('#classifier-file', join(ROOT, 'classifiers', 'default-minilm.safetensors'));
      const status = await waitStatus(page, 'keep-status');
      console.log(`# storage full -> ${status.text}`);
      assert.equal(status.kind, 'warn');
      assert.match(status.text, /storage for this page is full.*download what you want to keep/);
      assert.match(await page.textContent('#classifier-name'), /^from default-minilm\.safetensors/);
      assert.match(await classifyTyped(page, 'Fresh and tasty, great value.'), /^positive \d+ %$/);
    } finally {
      await worker.evaluate(() => {
        IDBObjectStore.prototype.put = self.__put;
      });
    }
  });

  test('a model folder URL loads; a wrong one says which file is missing', { skip }, async () => {
    // A stand-in for huggingface.co: another origin, CORS allowed, /<org>/<name>/resolve/main/.
    const hub = mkdtempSync(join(tmpdir(), 'bertweb-hub-'));
    const folder = join(hub, 'org', 'tiny-bert', 'resolve', 'main');
    mkdirSync(folder, { recursive: true });
    for (const f of ['config.json', 'model.safetensors', 'vocab.txt']) {
      symlinkSync(join(ROOT, 'tests', 'fixtures', 'tiny', f), join(folder, f));
    }
    const server = await startServer({ root: hub, port: 0, cors: true });
    try {
      await page.evaluate(() => {
        document.getElementById('own-model').open = true;
      });
      await page.fill('#model-url', `${server.url}org/nothing/resolve/main/`);
      await page.click('#model-url-load');
      await page.waitForSelector('#status[data-kind="error"]');
      const wrong = await page.textContent('#status');
      console.log(`# wrong URL -> ${wrong}`);
      assert.match(
        wrong,
        /config\.json: HTTP 404 Not Found; model\.safetensors: HTTP 404 Not Found; tokenizer\.json: HTTP 404/,
      );
      assert.match(wrong, /previous model is still loaded/);

      await page.fill('#model-url', `${server.url}org/tiny-bert/resolve/main`);
      await page.click('#model-url-load');
      await page.waitForSelector('#status[data-kind="ok"]', { timeout: 60_000 });
      assert.match(await page.textContent('#status'), /^Ready: org\/tiny-bert on CPU .*, 32 dimensions/);
      assert.match(await page.textContent('#classifier-name'), /trained on another base model/);
      // Cached for next time under the versioned key (stored while the model loads, so it may
      // land just after the status says ready).
      let cached = false;
      for (let tries = 0; !cached && tries < 100; tries++) {
        if (tries) await new Promise((r) => setTimeout(r, 100));
        cached = await page.evaluate(async (url) => {
          const cache = await caches.open('bertweb-models-v1');
          return Boolean(await cache.match(`${url}org/tiny-bert/resolve/main/model.safetensors`));
        }, server.url);
      }
      assert.equal(cached, true);
      await page.fill('#review', 'Great.');
      await page.click('#classify');
      const mismatch = await waitStatus(page, 'classify-status');
      assert.match(mismatch.text, /trained on base model .* load the model it was trained with/);
    } finally {
      await server.close();
    }
  });
});
