// The page in a real browser (Debian chromium via playwright-core): the default model loads,
// embeddings match the reference fixture on CPU and WebGPU, the CPU fallback is announced, and a
// broken model file shows its typed error while the previous model keeps working.
//
// Needs pkg/ (scripts/build.sh), models/all-MiniLM-L6-v2 (scripts/fetch_model.py),
// tests/fixtures/minilm.json and /usr/bin/chromium (scripts/setup_browser.sh); skips otherwise.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  FIXTURE,
  MODEL_DIR,
  SAMPLE_CSV,
  classifyTyped,
  embedInPage,
  launch,
  maxAbsDiff,
  openPage,
  prerequisites,
  screenshot,
  waitClassifier,
  waitReady,
} from './harness.mjs';

const TOLERANCE = 1e-3;
const CPU_LOAD_TIMEOUT = 120_000;
const WEBGPU_LOAD_TIMEOUT = 420_000; // SwiftShader compiles every shader on the CPU

const prereqs = await prerequisites({ fixture: true, sample: true });
const { skip } = prereqs;

/** @type {{cases: {text: string, input_ids?: number[], mean: number[], pooler: number[]}[], max_len?: number}} */
const fixture = existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, 'utf8')) : { cases: [] };
const MAX_LEN = fixture.max_len ?? fixture.maxLen ?? 55;

/** Compare page embeddings of `cases` with the fixture for one pooling; returns the worst diff. */
async function checkAgainstFixture(page, cases, pooling, label) {
  const { rows, ms, device } = await embedInPage(
    page,
    cases.map((c) => c.text),
    pooling,
    MAX_LEN,
  );
  console.log(`# ${label}: embed ${cases.length} texts (${pooling}) on ${device}: ${ms.toFixed(0)} ms`);
  let worst = 0;
  cases.forEach((c, i) => {
    const want = c[pooling];
    assert.equal(rows[i].length, want.length, `${pooling} dimension of case ${i}`);
    const diff = maxAbsDiff(rows[i], want);
    worst = Math.max(worst, diff);
    assert.ok(
      diff <= TOLERANCE,
      `${label} ${pooling} case ${i} (${JSON.stringify(c.text.slice(0, 40))}): max abs diff ${diff}`,
    );
  });
  console.log(`# ${label}: ${pooling} max abs diff vs fixture ${worst.toExponential(2)}`);
  return worst;
}

/** Show what the page reported as errors (uncaught ones, console.error), if anything. */
function printErrors(log) {
  const errors = (log ?? []).filter((l) => /^\[(pageerror|error|worker error)\]/.test(l));
  if (errors.length) console.log(`# page errors:\n${errors.map((l) => `#   ${l}`).join('\n')}`);
}

function statusOf(page) {
  return page.locator('#status');
}

/** Type a text into the page, press Embed, and wait for the result panel. */
async function embedThroughUi(page, text) {
  await page.fill('#text', text);
  await page.click('#embed');
  await page.waitForSelector('#status[data-kind="ok"]', { timeout: 60_000 });
  await page.waitForSelector('#result:not([hidden])');
  return {
    dim: await page.textContent('#result-dim'),
    norm: Number(await page.textContent('#result-norm')),
    values: await page.textContent('#result-values'),
    tokens: await page.textContent('#result-tokens'),
  };
}

describe('page on CPU (flex backend)', () => {
  let browser;
  let page;
  let log;
  let ready = false;
  before(async () => {
    if (skip) return;
    prereqs.requireReady();
    browser = await launch({ webgpu: true });
  });
  after(async () => {
    printErrors(log);
    await browser?.close();
  });

  test('loads the default model on CPU and reproduces the fixture (mean and pooler)', { skip }, async () => {
    let openedAt;
    ({ page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=cpu`));
    const { info, ms } = await waitReady(page, openedAt, CPU_LOAD_TIMEOUT).catch((err) => {
      throw new Error(`${err.message}\npage log:\n${log.join('\n')}`);
    });
    console.log(
      `# CPU: page open -> encoder ready: ${ms.toFixed(0)} ms (worker load ${info.loadMs.toFixed(0)} ms)`,
    );
    assert.equal(info.device, 'cpu');
    assert.equal(info.dim, 384);
    // The id hashes the weights (WebCrypto in the page): Node's SHA-256 must agree.
    const digest = createHash('sha256')
      .update(readFileSync(join(MODEL_DIR, 'model.safetensors')))
      .digest('hex');
    assert.equal(info.modelId, `bert-6x384-${digest.slice(0, 16)}`);
    ready = true;
    assert.equal(await page.getAttribute('#device-label', 'data-device'), 'cpu');
    assert.match(await statusOf(page).textContent(), /^Ready: all-MiniLM-L6-v2 on CPU/);
    assert.equal(await page.evaluate(() => window.bertweb.client.device), 'cpu');

    const cases = fixture.cases.slice(0, 4);
    assert.equal(cases.length, 4, 'the fixture has at least 4 cases');
    await checkAgainstFixture(page, cases, 'mean', 'CPU');
    await checkAgainstFixture(page, cases, 'pooler', 'CPU');

    // Word pieces as the reference tokenizer made them.
    const tokenized = await page.evaluate(
      ({ texts, maxLen }) => window.bertweb.client.tokenize(texts, maxLen),
      { texts: fixture.cases.map((c) => c.text), maxLen: MAX_LEN },
    );
    fixture.cases.forEach((c, i) => {
      if (c.input_ids) assert.deepEqual(Array.from(tokenized[i].ids), c.input_ids, `token ids of case ${i}`);
    });
  });

  test(
    "two CPU threads: a helper worker embeds batches, and the vectors equal one thread's",
    { skip },
    async () => {
      assert.ok(ready, 'the model did not load (see the first test)');
      const texts = Array.from(
        { length: 48 },
        (_, i) => `${fixture.cases[i % fixture.cases.length].text} ${i}`,
      );
      const run = await page.evaluate(
        async ({ texts, maxLen }) => {
          const { client } = window.bertweb;
          const embed = async (threads) => {
            const pool = await client.setThreads(threads);
            const flat = await client.embed(texts, 'mean', maxLen, { batchSize: 4 });
            const { lastRun } = await client.setThreads(threads);
            return { threads: pool.threads, lastRun, flat: Array.from(flat) };
          };
          const one = await embed(1);
          const two = await embed(2);
          await client.setThreads('auto');
          return {
            one,
            two,
            label: document.querySelector('#device-label').textContent,
            auto: {
              info: client.info.autoThreads,
              option: document.querySelector('#threads option[value=auto]').textContent,
              cores: navigator.hardwareConcurrency,
            },
          };
        },
        { texts, maxLen: MAX_LEN },
      );
      assert.ok(
        run.auto.info >= 1 && run.auto.info <= run.auto.cores,
        `automatic threads ${run.auto.info} on ${run.auto.cores} cores`,
      );
      assert.equal(run.auto.option, `Automatic (${run.auto.info})`);
      console.log(
        `# CPU threads: 1 thread ${JSON.stringify(run.one.lastRun)}, 2 threads ${JSON.stringify(run.two.lastRun)} batches per thread`,
      );
      assert.equal(run.one.threads, 1);
      assert.deepEqual(run.one.lastRun, [12]);
      assert.equal(run.two.threads, 2, 'the helper worker loaded');
      assert.equal(run.two.lastRun.length, 2);
      assert.equal(run.two.lastRun[0] + run.two.lastRun[1], 12);
      assert.ok(run.two.lastRun[1] > 0, 'the helper embedded some batches');
      assert.equal(run.two.flat.length, 48 * 384);
      assert.ok(maxAbsDiff(run.one.flat, run.two.flat) <= 1e-6, "two threads give one thread's vectors");
    },
  );

  test(
    'classifying many texts (sorted batches on every thread) matches classifying them one by one',
    { skip },
    async () => {
      assert.ok(ready, 'the model did not load (see the first test)');
      const texts = Array.from(
        { length: 20 },
        (_, i) => `${fixture.cases[i % fixture.cases.length].text} <b>${i}</b>`,
      );
      const { many, single, lastRun } = await page.evaluate(async (texts) => {
        const { client, classifierReady } = window.bertweb;
        await classifierReady;
        await client.setThreads(2);
        const many = await client.classify(texts, { batchSize: 4 });
        const { lastRun } = await client.setThreads('auto');
        const single = [];
        for (const t of texts) single.push((await client.classify([t]))[0]);
        return { many, single, lastRun };
      }, texts);
      assert.equal(many.length, texts.length);
      assert.equal(
        lastRun.reduce((a, b) => a + b, 0),
        5,
        'the 20 texts went through 5 batches',
      );
      many.forEach((p, i) => {
        assert.equal(p.label, single[i].label, `label of text ${i}`);
        assert.ok(maxAbsDiff(p.probabilities, single[i].probabilities) <= 1e-4, `probabilities of text ${i}`);
      });
    },
  );

  test(
    'the Embed button shows dimension, norm, first values and word pieces; screenshot',
    { skip },
    async () => {
      assert.ok(ready, 'the model did not load (see the first test)');
      const c = fixture.cases.find((x) => x.text.trim());
      const shown = await embedThroughUi(page, c.text);
      assert.equal(shown.dim, '384');
      const norm = Math.sqrt(c.mean.reduce((s, v) => s + v * v, 0));
      if (MAX_LEN === 55) {
        assert.ok(Math.abs(shown.norm - norm) < 1e-2, `norm shown ${shown.norm}, fixture ${norm}`);
        const first = shown.values.split(',').map(Number);
        assert.equal(first.length, 8);
        assert.ok(maxAbsDiff(first, c.mean.slice(0, 8)) < 1e-3, `first values ${shown.values}`);
      }
      if (c.input_ids) assert.match(shown.tokens, new RegExp(`^${c.input_ids.length} `));
      else assert.match(shown.tokens, /^\d+ /);
      await screenshot(page, 'ready-cpu');
    },
  );

  test(
    'a corrupted model.safetensors shows the typed error and the previous model still embeds',
    { skip },
    async () => {
      assert.ok(ready, 'the model did not load (see the first test)');
      const config = readFileSync(join(MODEL_DIR, 'config.json'));
      const weights = readFileSync(join(MODEL_DIR, 'model.safetensors')).subarray(0, 100);
      const tokenizer = readFileSync(join(MODEL_DIR, 'tokenizer.json'));
      await page.setInputFiles('#model-files', [
        { name: 'config.json', mimeType: 'application/json', buffer: config },
        { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(weights) },
        { name: 'tokenizer.json', mimeType: 'application/json', buffer: tokenizer },
      ]);
      const status = statusOf(page);
      await page.waitForSelector('#status[data-kind="error"]', { timeout: 60_000 });
      const message = await status.textContent();
      console.log(`# corrupted weights -> ${message}`);
      assert.match(message, /model\.safetensors/);
      assert.match(message, /previous model is still loaded/);
      assert.equal(await status.isVisible(), true);
      assert.equal(await page.isEnabled('#embed'), true, 'the Embed button is usable again');
      assert.equal(await page.getAttribute('#device-label', 'data-device'), 'cpu');

      const shown = await embedThroughUi(page, fixture.cases[2].text);
      assert.equal(shown.dim, '384');
      await checkAgainstFixture(page, fixture.cases.slice(2, 3), 'mean', 'CPU after failed load');
    },
  );

  test('files missing from the picked set are named, and nothing is loaded', { skip }, async () => {
    assert.ok(ready, 'the model did not load (see the first test)');
    const config = readFileSync(join(MODEL_DIR, 'config.json'));
    await page.setInputFiles('#model-files', [
      { name: 'config.json', mimeType: 'application/json', buffer: config },
    ]);
    await page.waitForSelector('#status[data-kind="error"]');
    assert.match(
      await statusOf(page).textContent(),
      /missing model\.safetensors, tokenizer\.json or vocab\.txt/,
    );
    assert.equal(await page.isEnabled('#embed'), true);
  });
});

describe('page on WebGPU (SwiftShader)', () => {
  let browser;
  let page;
  let log;
  before(async () => {
    if (skip) return;
    prereqs.requireReady();
    browser = await launch({ webgpu: true });
  });
  after(async () => {
    printErrors(log);
    await browser?.close();
  });

  test(
    'loads on WebGPU and reproduces the fixture for 2 short texts',
    { skip, timeout: WEBGPU_LOAD_TIMEOUT + 300_000 },
    async () => {
      let openedAt;
      ({ page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=webgpu`));
      const { info, ms } = await waitReady(page, openedAt, WEBGPU_LOAD_TIMEOUT).catch((err) => {
        throw new Error(`${err.message}\npage log:\n${log.join('\n')}`);
      });
      console.log(
        `# WebGPU: page open -> encoder ready: ${ms.toFixed(0)} ms (worker load ${info.loadMs.toFixed(0)} ms)`,
      );
      assert.equal(info.fallback, null, `WebGPU was not used: ${info.fallback}`);
      assert.equal(info.device, 'webgpu');
      assert.equal(await page.getAttribute('#device-label', 'data-device'), 'webgpu');
      assert.match(await statusOf(page).textContent(), /on WebGPU/);

      const cases = fixture.cases
        .filter((c) => c.text.trim())
        .toSorted((a, b) => a.text.length - b.text.length)
        .slice(0, 2);
      await checkAgainstFixture(page, cases, 'mean', 'WebGPU');
      await checkAgainstFixture(page, cases, 'pooler', 'WebGPU');

      // Left to choose, the worker embeds WebGPU batches of 128 (WEBGPU_BATCH in www/pool.js):
      // 40 words are one batch, where the CPU's 32 would make two.
      const steps = await page.evaluate(async () => {
        const done = [];
        const words = Array.from({ length: 40 }, (_, i) => `word ${i}`);
        await window.bertweb.client.embed(words, 'mean', 55, {
          onProgress: (p) => p.stage === 'embed' && done.push(p.done),
        });
        return done;
      });
      assert.deepEqual(steps, [40], 'one batch of 40 on WebGPU');

      // The default classifier on WebGPU: a typed review.
      await waitClassifier(page);
      const verdict = await classifyTyped(page, 'Delicious and fresh, will buy again.', 300_000);
      console.log(`# WebGPU: typed review -> ${verdict}`);
      assert.match(verdict, /^positive \d+ %$/);
      await screenshot(page, 'ready-webgpu');
    },
  );

  test(
    'a CPU page runs the CPU build; choosing WebGPU moves data, features and classifier into the WebGPU build',
    { skip, timeout: WEBGPU_LOAD_TIMEOUT + 300_000 },
    async () => {
      let openedAt;
      ({ page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=cpu`));
      const { info } = await waitReady(page, openedAt, CPU_LOAD_TIMEOUT);
      assert.equal(info.build, 'cpu', 'a page on the CPU loads pkg/cpu/');
      await waitClassifier(page);
      const review = 'Stale and bitter, a waste of money.';
      const csv = readFileSync(SAMPLE_CSV, 'utf8');
      const onCpu = await page.evaluate(
        async ({ csv, review }) => {
          const client = window.bertweb.client;
          const defaults = await client.defaults();
          const data = await client.dataset(new Blob([csv]), {
            ...defaults.data,
            sample_size: 40,
          });
          const extracted = await client.extract({ key: 'build-switch-test', pooling: 'mean', maxLen: 55 });
          const [verdict] = await client.classify([review]);
          return { rows: data.kept ?? data.rows, extracted, verdict, tutorial: defaults.presets.tutorial };
        },
        { csv, review },
      );
      assert.equal(onCpu.extracted.rows, 40);

      // Every GPU device the worker's WebGPU build asks for, so that the test can lose it.
      const worker = page.workers().find((w) => new URL(w.url()).pathname.endsWith('/www/worker.js'));
      await worker.evaluate(() => {
        const request = GPUAdapter.prototype.requestDevice;
        self.__devices = [];
        GPUAdapter.prototype.requestDevice = async function (...args) {
          const device = await request.apply(this, args);
          self.__devices.push(device);
          return device;
        };
      });

      // Through the page's device menu, as a user would.
      await page.selectOption('#device', 'webgpu');
      await page.waitForFunction(() => window.bertweb.client.info?.device === 'webgpu', null, {
        timeout: WEBGPU_LOAD_TIMEOUT,
      });
      const moved = await page.evaluate(() => window.bertweb.client.info);
      assert.equal(moved.build, 'webgpu', 'WebGPU runs in pkg/');
      assert.equal(moved.fallback, null);

      // Nothing was lost: the classifier answers as before, and the data set and its features
      // train a head with no extraction.
      const onGpu = await page.evaluate(
        async ({ review, tutorial }) => {
          const client = window.bertweb.client;
          const [verdict] = await client.classify([review]);
          const trained = await client.train({ ...tutorial, epochs: 2 });
          const [after] = await client.classify([review]);
          return { verdict, trained, after };
        },
        { review, tutorial: onCpu.tutorial },
      );
      assert.equal(onGpu.verdict.label, onCpu.verdict.label);
      const diff = maxAbsDiff(onGpu.verdict.probabilities, onCpu.verdict.probabilities);
      assert.ok(diff <= TOLERANCE, `same classifier after the move: probabilities differ by ${diff}`);
      assert.ok(onGpu.trained, 'a head trains on the moved features (on WebGPU: pkg/ has no CPU backend)');

      // The GPU lost in the middle of an extraction: it goes on on the CPU, from its checkpoint.
      const running = page.evaluate(async () => {
        const client = window.bertweb.client;
        const seen = (window.__lostSeen = []);
        const extracted = await client
          .extract({
            key: 'device-lost-test',
            pooling: 'mean',
            maxLen: 55,
            batchSize: 4,
            checkpointMs: 0,
            onProgress: (p) =>
              seen.push({
                stage: p.stage,
                done: p.done ?? null,
                resumed: p.resumed ?? null,
                message: p.message,
              }),
          })
          .catch((err) => ({ error: `${err.name}: ${err.message}` }));
        return { extracted, seen, device: client.info?.device };
      });
      await page.waitForFunction(
        () => window.__lostSeen?.some((p) => p.stage === 'extract' && p.done >= 4),
        null,
        { timeout: 300_000 },
      );
      await worker.evaluate(() => self.__devices.forEach((d) => d.destroy()));
      const lost = await running;
      console.log(
        `# WebGPU lost mid-extraction -> ${JSON.stringify(lost.extracted)}; ` +
          JSON.stringify(lost.seen.filter((p) => p.stage !== 'extract')),
      );
      assert.equal(lost.extracted.rows, 40, JSON.stringify(lost));
      assert.equal(lost.device, 'cpu');
      assert.ok(
        lost.seen.some((p) => p.stage === 'fallback'),
        'the page is told',
      );
      assert.ok(lost.extracted.resumed >= 4, `went on from the checkpoint: ${lost.extracted.resumed}`);

      // And back: the CPU runs in the CPU build again, with the head trained on WebGPU.
      await page.selectOption('#device', 'cpu');
      await page.waitForFunction(() => window.bertweb.client.info?.device === 'cpu', null, {
        timeout: CPU_LOAD_TIMEOUT,
      });
      const back = await page.evaluate(
        async (review) => ({
          build: window.bertweb.client.info.build,
          verdict: (await window.bertweb.client.classify([review]))[0],
        }),
        review,
      );
      assert.equal(back.build, 'cpu', 'the CPU runs in pkg/cpu/ again');
      const backDiff = maxAbsDiff(back.verdict.probabilities, onGpu.after.probabilities);
      assert.ok(
        backDiff <= TOLERANCE,
        `same classifier after the move back: probabilities differ by ${backDiff}`,
      );
      await page.close();
    },
  );

  test(
    'the automatic choice skips a software WebGPU adapter (SwiftShader) for the CPU and says why',
    { skip },
    async () => {
      const opened = await openPage(browser.context, `${browser.url}?device=auto`);
      try {
        const { info } = await waitReady(opened.page, opened.openedAt, CPU_LOAD_TIMEOUT);
        assert.equal(info.device, 'cpu');
        assert.match(info.fallback ?? '', /software emulation/);
        assert.match(await statusOf(opened.page).textContent(), /software emulation/);
      } finally {
        await opened.page.close();
      }
    },
  );

  test(
    'a WebGPU page whose model does not load still loads the classifier',
    { skip, timeout: 180_000 },
    async () => {
      // Its own browser: this one has the model in its Cache API.
      const fresh = await launch({ webgpu: true });
      try {
        await fresh.context.route('**/models/**', (route) => route.abort());
        const opened = await openPage(fresh.context, `${fresh.url}?device=webgpu`);
        const meta = await waitClassifier(opened.page);
        assert.deepEqual(meta.label_names, ['negative', 'positive']);
        assert.match(await opened.page.textContent('#classifier-name'), /^default/);
        const status = statusOf(opened.page);
        assert.equal(
          await status.getAttribute('data-kind'),
          'error',
          `the model's failure is shown: ${await status.textContent()}`,
        );
      } finally {
        await fresh.close();
      }
    },
  );
});

describe('page without WebGPU', () => {
  let browser;
  let log;
  before(async () => {
    if (skip) return;
    prereqs.requireReady();
    browser = await launch({ webgpu: false });
  });
  after(async () => {
    printErrors(log);
    await browser?.close();
  });

  test('falls back to CPU and says so', { skip }, async () => {
    let page;
    let openedAt;
    ({ page, log, openedAt } = await openPage(browser.context, browser.url));
    const { info, ms } = await waitReady(page, openedAt, CPU_LOAD_TIMEOUT).catch((err) => {
      throw new Error(`${err.message}\npage log:\n${log.join('\n')}`);
    });
    console.log(`# no WebGPU: page open -> encoder ready: ${ms.toFixed(0)} ms; fallback: ${info.fallback}`);
    assert.equal(info.requested, 'auto');
    assert.equal(info.device, 'cpu');
    assert.ok(info.fallback, 'the worker gives a reason for not using WebGPU');
    assert.equal(await page.getAttribute('#device-label', 'data-device'), 'cpu');
    const status = statusOf(page);
    assert.equal(await status.getAttribute('data-kind'), 'warn');
    assert.match(await status.textContent(), /runs on the CPU because WebGPU is not available/);
    await checkAgainstFixture(page, fixture.cases.slice(0, 1), 'mean', 'CPU fallback');
    await screenshot(page, 'fallback-cpu');

    // Choosing WebGPU explicitly reloads the encoder, falls back again, and says why.
    await page.evaluate(() => {
      document.getElementById('status').dataset.kind = 'info';
    });
    await page.selectOption('#device', 'webgpu');
    await page.waitForSelector('#status[data-kind="warn"]', { timeout: CPU_LOAD_TIMEOUT });
    assert.equal(await page.evaluate(() => window.bertweb.client.info.requested), 'webgpu');
    assert.equal(await page.getAttribute('#device-label', 'data-device'), 'cpu');
    assert.equal(await page.isEnabled('#embed'), true);
  });
});
