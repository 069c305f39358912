// Fine-tuning BERT in the page, on the CPU: the estimated time shows before starting; a run
// shows its phases, progress, texts/s and time left; a cancelled run keeps the data, the
// features and the classifier, and a restart completes; the test report is compared with the
// frozen head's on the same test reviews; the fine-tuned classifier survives a reload and
// round-trips through a file with identical probabilities.
//
// Needs pkg/, models/all-MiniLM-L6-v2, ../shared/data/amazon-fine-food/sample-2k.csv and
// chromium; skips otherwise (fails with CI set).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  SAMPLE_CSV,
  classifyTyped,
  launch,
  openPage,
  screenshot,
  waitClassifier,
  waitReady,
  prerequisites,
  waitStatus,
  resetStatus,
} from './harness.mjs';

const LOAD_TIMEOUT = 120_000;
/**
 * Rows sampled from the 2,000: 96 training (76 fitted, 20 validation) and 24 test reviews. On
 * CPU wasm (~15-25 texts/s for the whole model) one epoch of the top layer takes seconds.
 */
const SAMPLE_ROWS = 120;
const TEXTS = [
  'Absolutely delicious, my kids love these snacks and I will buy them again.',
  'Terrible taste, stale and disgusting. I threw the whole box away, waste of money.',
  'It was fine, nothing special <br /> but the price was right.',
];

const ready = await prerequisites({ sample: true });
const { skip } = ready;

const tmp = mkdtempSync(join(tmpdir(), 'bertweb-finetune-'));

/** Record every phase text and progress value the fine-tuning bar shows, from now on. */
async function watchProgress(page) {
  await page.evaluate(() => {
    const seen = { phases: [], values: [], rates: [] };
    window.ftSeen = seen;
    const phase = document.getElementById('ft-phase');
    const bar = document.getElementById('ft-progress');
    const rate = document.getElementById('ft-rate');
    new MutationObserver(() => {
      if (seen.phases.at(-1) !== phase.textContent) seen.phases.push(phase.textContent);
      if (seen.values.at(-1) !== bar.value) seen.values.push(bar.value);
      if (rate.textContent && seen.rates.at(-1) !== rate.textContent) seen.rates.push(rate.textContent);
    }).observe(document.getElementById('finetune-controls'), {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
}

/** Probabilities of the typed texts with the page's current classifier (full precision). */
function probabilities(page) {
  return page.evaluate(
    async (texts) => (await window.bertweb.client.classify(texts)).map((p) => p.probabilities),
    TEXTS,
  );
}

describe('fine-tune BERT on the CPU', () => {
  let browser;
  let page;
  let log = [];
  const timings = {};
  before(async () => {
    if (skip) return;
    ready.requireReady();
    browser = await launch({ webgpu: false });
  });
  after(async () => {
    const errors = log.filter((l) => /^\[(pageerror|error|worker error)\]/.test(l));
    if (errors.length) console.log(`# page errors:\n${errors.map((l) => `#   ${l}`).join('\n')}`);
    console.log(`# timings (s): ${JSON.stringify(timings)}`);
    await browser?.close();
  });

  test(
    'estimate, progress, cancel and restart, comparison with the head, reload and file',
    { skip, timeout: 300_000 },
    async () => {
      let openedAt;
      ({ page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=cpu`));
      const { info } = await waitReady(page, openedAt, LOAD_TIMEOUT);
      assert.equal(info.device, 'cpu');
      assert.equal(info.layers, 6);
      await waitClassifier(page);

      // Data and features.
      await page.setInputFiles('#csv-file', SAMPLE_CSV);
      await page.waitForSelector('#data-result:not([hidden])', { timeout: 60_000 });
      await page.fill('#sample-size', String(SAMPLE_ROWS));
      await resetStatus(page, 'data-status');
      await page.click('#preprocess');
      const data = await waitStatus(page, 'data-status');
      assert.equal(data.kind, 'ok', data.text);
      assert.match(data.text, /96 training and 24 test reviews/);
      let t0 = performance.now();
      await page.click('#extract');
      const extracted = await waitStatus(page, 'extract-status', 120_000);
      timings.extract = ((performance.now() - t0) / 1000).toFixed(1);
      assert.equal(extracted.kind, 'ok', extracted.text);
      assert.match(extracted.text, /^Extracted features of 120 texts/);

      // The fine-tune choice: defaults from the wasm, K up to the model's layers, the diagram.
      await page.check('input[name="train-mode"][value="finetune"]');
      assert.equal(await page.isVisible('#finetune-controls'), true);
      assert.equal(await page.isVisible('#head-controls'), false);
      assert.equal(await page.inputValue('#ft-layers'), '2');
      assert.equal(await page.inputValue('#ft-epochs'), '3');
      assert.equal(await page.inputValue('#ft-batch'), '32');
      assert.equal(await page.getAttribute('#ft-layers', 'max'), '6');
      await page.fill('#ft-layers', '1');
      await page.fill('#ft-epochs', '1');
      await page.fill('#ft-batch', '16');
      assert.match(
        await page.textContent('#head-diagram'),
        /layers 1–5: frozen.*Layer 6 \(384\): trained.*Mean pooling.*Dense 1, sigmoid/,
      );
      assert.equal(await page.textContent('#diagram-caption'), 'The fine-tuned layers and the head');

      // The estimate is shown before starting, from real fine-tuning steps timed here.
      await page.waitForFunction(() => document.getElementById('ft-estimate').dataset.seconds, null, {
        timeout: 30_000,
      });
      const estimate = await page.textContent('#ft-estimate');
      assert.match(
        estimate,
        /^Estimated time on CPU \(WebAssembly\), \d threads?: about \d+ s for 1 epoch and the test \(from 7 real steps timed here just now, in [\d.]+ s\)\.$/,
      );
      const estimated = Number(await page.getAttribute('#ft-estimate', 'data-seconds'));

      // Start, see it move, cancel mid-run.
      await watchProgress(page);
      await resetStatus(page, 'train-status');
      await page.click('#finetune');
      await page.waitForFunction(() => document.getElementById('ft-progress').value > 0, null, {
        timeout: 60_000,
      });
      assert.match(await page.textContent('#ft-phase'), /^Caching frozen layers: \d+ of 96 texts$/);
      await page.click('#finetune-cancel');
      const cancelled = await waitStatus(page, 'train-status');
      assert.equal(cancelled.kind, 'warn', cancelled.text);
      assert.match(
        cancelled.text,
        /^Fine-tuning cancelled \(caching frozen layers: \d+ of 96 texts\)\. The data, the extracted features and the previous classifier are kept: press Fine-tune to start again, no new feature extraction is needed\.$/,
      );
      assert.match(await page.textContent('#classifier-name'), /^default/);
      assert.equal(
        await page.textContent('#extract-status'),
        extracted.text,
        'the features were not touched',
      );
      assert.equal(await page.isEnabled('#finetune'), true);

      // The head on the same features (no re-extraction), for the comparison.
      await page.check('input[name="train-mode"][value="head"]');
      assert.equal(await page.textContent('#diagram-caption'), "The head's layers");
      await page.fill('#epochs', '2');
      await resetStatus(page, 'train-status');
      await page.click('#train');
      const head = await waitStatus(page, 'train-status');
      assert.equal(head.kind, 'ok', head.text);
      assert.equal(await page.isVisible('#comparison'), false);
      assert.match(await page.textContent('#comparison-help'), /choose "Fine-tune BERT"/);

      // Fine-tune again, to the end.
      await page.check('input[name="train-mode"][value="finetune"]');
      assert.equal(await page.inputValue('#ft-layers'), '1', 'the settings are kept');
      await watchProgress(page);
      await resetStatus(page, 'train-status');
      t0 = performance.now();
      await page.click('#finetune');
      const tuned = await waitStatus(page, 'train-status', 180_000);
      timings.finetune = ((performance.now() - t0) / 1000).toFixed(1);
      timings.estimated = estimated.toFixed(1);
      assert.equal(tuned.kind, 'ok', tuned.text);
      assert.match(
        tuned.text,
        /^Fine-tuned in \d+ s; kept epoch 1 of 1\. This classifier is now in use above\.$/,
      );
      const seen = await page.evaluate(() => window.ftSeen);
      const phases = seen.phases.join(' | ');
      assert.match(phases, /Caching frozen layers: \d+ of 96 texts/);
      assert.match(phases, /Epoch 1 of 1: training, \d+ of 76 texts/);
      assert.match(phases, /Epoch 1 of 1: validating, 0 of 20 texts/);
      assert.match(phases, /Testing: 24 of 24 test texts/);
      assert.ok(seen.values.filter((v) => v > 0 && v < 1).length >= 3, `the bar moves: ${seen.values}`);
      assert.ok(
        seen.values.every((v, i) => i === 0 || v >= seen.values[i - 1]),
        `the bar never goes back: ${seen.values}`,
      );
      assert.ok(
        seen.rates.some((r) => /[\d.]+ texts\/s · .* left · running loss \d\.\d{3} · step \d of 5/.test(r)),
        seen.rates.join(' | '),
      );
      assert.match(await page.textContent('#ft-rate'), /^\d+ s in all \(estimated: \d+ s\)$/);
      for (const id of ['chart-loss', 'chart-accuracy', 'chart-auroc']) {
        assert.equal(await page.getAttribute(`#${id}`, 'data-points'), '1', `${id} has the epoch`);
      }

      // The report, side by side with the head's.
      assert.match(await page.textContent('#report-title'), /fine-tuned \(top 1 layer and a linear head\)/);
      assert.equal(await page.textContent('#report-n'), '24');
      assert.equal(await page.isVisible('#comparison'), true);
      const table = await page.$$eval('#comparison-table tr', (rows) =>
        rows.map((r) => [...r.cells].map((c) => c.textContent)),
      );
      assert.deepEqual(table[0], ['', 'Frozen head (default)', 'Fine-tuned BERT (top 1)']);
      assert.deepEqual(table[1], ['Test reviews', '24', '24']);
      assert.match(table[2].slice(1).join(' '), /^\d+\.\d % \d+\.\d %$/);
      assert.match(table[3].slice(1).join(' '), /^[01]\.\d{3} [01]\.\d{3}$/);
      assert.match(
        await page.textContent('#classifier-name'),
        /^fine-tuned here on sample-2k\.csv: negative \/ positive, fine-tuned encoder layers \(top 1\) and head, test accuracy/,
      );
      await screenshot(page, 'fine-tuned-report');

      // It classifies; its probabilities are kept exactly across a reload and a file round trip.
      assert.match(await classifyTyped(page, TEXTS[0]), /^(positive|negative) \d+ %$/);
      const before = await probabilities(page);
      assert.equal(before.length, TEXTS.length);
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('#classifier-download'),
      ]);
      const file = join(tmp, 'fine-tuned.safetensors');
      await download.saveAs(file);
      assert.ok(readFileSync(file).length > 1_000_000, 'the file holds the trained layer');

      await page.reload();
      await waitReady(page, performance.now(), LOAD_TIMEOUT);
      const restored = await waitClassifier(page);
      assert.equal(restored.fine_tune?.settings?.layers, 1);
      assert.match(
        await page.textContent('#classifier-name'),
        /^fine-tuned here on sample-2k\.csv: .*fine-tuned encoder layers \(top 1\)/,
      );
      assert.deepEqual(await probabilities(page), before, 'the same probabilities after a reload');

      // After the reload the steps are timed again (a page's rates are its own).
      await page.setInputFiles('#csv-file', SAMPLE_CSV);
      await page.waitForSelector('#data-result:not([hidden])', { timeout: 60_000 });
      await page.fill('#sample-size', String(SAMPLE_ROWS));
      await resetStatus(page, 'data-status');
      await page.click('#preprocess');
      assert.equal((await waitStatus(page, 'data-status')).kind, 'ok');
      await page.click('#extract');
      assert.match((await waitStatus(page, 'extract-status')).text, /loaded from this browser's cache/);
      await page.check('input[name="train-mode"][value="finetune"]');
      await page.waitForFunction(() => document.getElementById('ft-estimate').dataset.seconds, null, {
        timeout: 30_000,
      });
      assert.match(
        await page.textContent('#ft-estimate'),
        /^Estimated time on CPU \(WebAssembly\), \d threads?: about \d+ s for \d+ epochs? and the test \(from \d+ real steps timed here just now, in [\d.]+ s\)\.$/,
      );

      await page.click('#classifier-reset');
      await page.waitForSelector('#keep-status[data-kind="ok"]');
      assert.match(await page.textContent('#classifier-name'), /^default/);
      await resetStatus(page, 'keep-status');
      await page.setInputFiles('#classifier-file', file);
      const loaded = await waitStatus(page, 'keep-status');
      assert.equal(loaded.kind, 'ok', loaded.text);
      assert.match(
        await page.textContent('#classifier-name'),
        /^from fine-tuned\.safetensors: .*fine-tuned encoder layers \(top 1\)/,
      );
      assert.deepEqual(await probabilities(page), before, 'the same probabilities from the file');

      // One thread and two (the helper worker computes a share of every caching batch,
      // optimizer step, validation batch and test batch, and batches of the texts classified
      // after): the same run at the same seed, up to the order of floating-point sums.
      t0 = performance.now();
      const runs = await page.evaluate(async (texts) => {
        const { client } = window.bertweb;
        const run = async (/** @type {number} */ threads) => {
          await client.setThreads(threads);
          let shared = 0;
          const { report } = await client.fineTune(
            { layers: 1, epochs: 1, batch_size: 16 },
            {
              onProgress: (p) => {
                if (p.stage === 'finetune' && p.step === null) shared = p.threads;
              },
            },
          );
          // More texts than a batch: a CSV's classification, batches shared with the helper.
          const many = Array.from({ length: 70 }, (_, i) => `${texts[i % texts.length]} (${i})`);
          const probs = (await client.classify(many)).flatMap((p) => p.probabilities);
          return { shared, accuracy: report.accuracy, auroc: report.auroc, macroF1: report.macro_f1, probs };
        };
        return { one: await run(1), two: await run(2) };
      }, TEXTS);
      timings.oneAndTwoThreads = ((performance.now() - t0) / 1000).toFixed(1);
      const { probs: p1, ...one } = runs.one;
      const { probs: p2, ...two } = runs.two;
      console.log(`# one thread ${JSON.stringify(one)}, two threads ${JSON.stringify(two)}`);
      assert.equal(runs.one.shared, 1);
      assert.equal(runs.two.shared, 2, 'the helper shared the steps');
      assert.equal(runs.two.accuracy, runs.one.accuracy);
      assert.ok(Math.abs(runs.two.auroc - runs.one.auroc) <= 0.005, 'the same test AUROC');
      assert.ok(Math.abs(runs.two.macroF1 - runs.one.macroF1) <= 1e-9, 'the same macro-F1');
      const gap = Math.max(...runs.one.probs.map((p, i) => Math.abs(p - runs.two.probs[i])));
      assert.ok(gap <= 1e-4, `the same probabilities (largest difference ${gap})`);
    },
  );
});
