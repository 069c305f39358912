// The whole user path in a real browser, on the CPU: the default model and classifier load and
// classify a typed review; a reviews CSV is preprocessed (counts shown), its features extracted
// (progress moves) and kept in IndexedDB, a head trained (curves drawn), a test report shown;
// typed reviews and a whole CSV are classified with the new classifier (CSV downloaded, one row
// per input); the classifier survives a reload and round-trips through a file.
//
// Needs pkg/, models/all-MiniLM-L6-v2, ../shared/data/amazon-fine-food/sample-2k.csv and
// chromium; skips otherwise (fails with CI set).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
} from './harness.mjs';

const LOAD_TIMEOUT = 120_000;
/**
 * Rows sampled from the 2,000: extraction at ~13-18 texts/s on CPU wasm stays under a minute,
 * and 2 epochs of the default head on them separate clear reviews (300 rows are too few).
 */
const SAMPLE_ROWS = 600;
const POSITIVE = 'Absolutely delicious, my kids love these snacks and I will buy them again.';
const NEGATIVE = 'Terrible taste, stale and disgusting. I threw the whole box away, waste of money.';

const ready = await prerequisites({ sample: true });
const { skip } = ready;

const tmp = mkdtempSync(join(tmpdir(), 'bertweb-train-'));

/** A small CSV to classify in batch, with commas, quotes and HTML in its texts. */
const BATCH = [
  'Great coffee, rich and smooth. "Best" I have had!',
  'Awful. Arrived broken and tasted like cardboard.',
  'My dog loves these treats <br /> highly recommended',
  'Not worth the price, the flavor is bland and weak.',
  'Perfect tea for the morning, fresh and fragrant.',
  '=HYPERLINK("http://127.0.0.1/x","stale and dusty, would not buy again")',
];
/** What the download must hold for each BATCH text: formulas kept as text by a leading '. */
const DOWNLOADED = BATCH.map((t) => (t.startsWith('=') ? `'${t}` : t));

function csvField(s) {
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Minimal CSV reader for the downloaded predictions (quoted fields, no line breaks inside). */
function parseCsvLine(line) {
  const out = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

async function chooseCsv(page, sampleRows) {
  await page.setInputFiles('#csv-file', SAMPLE_CSV);
  await page.waitForSelector('#data-result:not([hidden])', { timeout: 60_000 });
  await page.fill('#sample-size', String(sampleRows));
  await page.evaluate(() => {
    document.getElementById('data-status').dataset.kind = 'info';
  });
  await page.click('#preprocess');
  const status = await waitStatus(page, 'data-status', 60_000);
  assert.equal(status.kind, 'ok', status.text);
  return status.text;
}

describe('train and classify on the CPU', () => {
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
    'the whole path: CSV → counts → features → training → report → classify → keep',
    { skip, timeout: 600_000 },
    async () => {
      let openedAt;
      ({ page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=cpu`));
      const { info } = await waitReady(page, openedAt, LOAD_TIMEOUT);
      assert.equal(info.device, 'cpu');
      const defaultMeta = await waitClassifier(page);
      assert.deepEqual(defaultMeta.label_names, ['negative', 'positive']);
      assert.match(await page.textContent('#classifier-name'), /^default/);
      // The download bar reached the total.
      assert.match(await page.textContent('#load-bytes'), /^[\d.]+ MB of [\d.]+ MB$/);
      const first = await classifyTyped(page, POSITIVE);
      assert.match(first, /^positive \d+ %$/);
      await screenshot(page, 'ready-default-classifier');

      // CSV → detected layout, settings, counts.
      let t0 = performance.now();
      const dataStatus = await chooseCsv(page, SAMPLE_ROWS);
      timings.preprocess = ((performance.now() - t0) / 1000).toFixed(1);
      assert.match(await page.textContent('#data-layout'), /Amazon Fine Food Reviews layout/);
      assert.match(dataStatus, /480 training and 120 test reviews, classes negative, positive/);
      const counts = await page.$$eval('#counts tbody tr', (rows) =>
        rows.map((r) => [...r.cells].map((c) => c.textContent)),
      );
      assert.deepEqual(counts[0].slice(0, 2), ['Rows read', '2000']);
      assert.ok(
        counts.some((r) => r[0] === `Sample of at most ${SAMPLE_ROWS}` && r[1] === String(SAMPLE_ROWS)),
        JSON.stringify(counts),
      );
      assert.ok(
        counts.some((r) => /^Labels \(binary\)$/.test(r[0]) && /neutral/.test(r[2])),
        'neutral rows dropped and counted',
      );
      assert.equal(await page.$$eval('#examples li', (l) => l.length), 5);

      // Features: the progress bar and rate move; the result is kept.
      t0 = performance.now();
      await page.click('#extract');
      await page.waitForFunction(() => document.getElementById('extract-progress').value > 0, null, {
        timeout: 60_000,
      });
      assert.match(await page.textContent('#extract-rate'), /of 600 texts · [\d.]+ texts\/s · .* left/);
      const extracted = await waitStatus(page, 'extract-status', 180_000);
      timings.extract = ((performance.now() - t0) / 1000).toFixed(1);
      assert.equal(extracted.kind, 'ok', extracted.text);
      assert.match(extracted.text, /Extracted features of 600 texts .* kept in this browser/);
      await screenshot(page, 'features-extracted');

      // Training: curves per epoch, the head's diagram, the report.
      await page.selectOption('#preset', 'default');
      await page.fill('#epochs', '2');
      t0 = performance.now();
      await page.click('#train');
      const trained = await waitStatus(page, 'train-status', 120_000);
      timings.train = ((performance.now() - t0) / 1000).toFixed(1);
      assert.equal(trained.kind, 'ok', trained.text);
      for (const id of ['chart-loss', 'chart-accuracy', 'chart-auroc']) {
        assert.equal(await page.getAttribute(`#${id}`, 'data-points'), '2', `${id} has a point per epoch`);
        assert.equal(await page.$$eval(`#${id} canvas`, (c) => c.length), 1, `${id} is drawn`);
      }
      assert.equal(await page.getAttribute('#head-diagram', 'data-layers'), '5'); // input, standardize, dense, dropout, output
      assert.match(await page.textContent('#head-diagram'), /Dense 64, ReLU.*Dropout 0\.5.*Dense 1, sigmoid/);
      assert.equal(await page.isVisible('#report'), true);
      assert.equal(await page.textContent('#report-n'), '120');
      assert.match(await page.textContent('#report-accuracy'), /^\d+\.\d %$/);
      assert.match(await page.textContent('#report-auroc'), /^0\.\d{3}$|^1\.000$/);
      assert.ok(Number(await page.getAttribute('#chart-roc', 'data-points')) > 2, 'a ROC curve is drawn');
      // Calibrated: a temperature fitted on validation, the test texts' calibration error
      // before and after it, and the reliability diagram.
      assert.match(
        await page.textContent('#report-calibration'),
        /^temperature \d+\.\d\d, fitted on the validation part: expected calibration error 0\.\d{3} → 0\.\d{3} on the test reviews$/,
      );
      assert.ok(
        Number(await page.getAttribute('#chart-reliability', 'data-points')) > 0,
        'a reliability diagram',
      );
      const confusion = await page.$$eval('#confusion tbody tr', (rows) =>
        rows.map((r) => [...r.cells].map((c) => c.textContent)),
      );
      assert.equal(confusion.length, 2);
      assert.equal(
        confusion.flatMap((r) => r.slice(1).map(Number)).reduce((a, b) => a + b, 0),
        120,
      );
      assert.equal(await page.$$eval('#per-class tbody tr', (r) => r.length), 2);
      assert.match(
        await page.textContent('#classifier-name'),
        /^trained here on sample-2k\.csv: negative \/ positive, default head, test accuracy/,
      );
      await screenshot(page, 'trained-report');

      // The new classifier on typed reviews.
      assert.match(await classifyTyped(page, POSITIVE), /^positive \d+ %$/);
      assert.match(await classifyTyped(page, NEGATIVE), /^negative \d+ %$/);

      // A whole CSV → table and download, one row per input.
      const batchCsv = join(tmp, 'to-classify.csv');
      writeFileSync(batchCsv, `id,Text\n${BATCH.map((t, i) => `${i + 1},${csvField(t)}`).join('\n')}\n`);
      await page.setInputFiles('#batch-file', batchCsv);
      await page.waitForFunction(() => document.getElementById('batch-column').value === 'Text');
      await page.click('#batch-run');
      const batch = await waitStatus(page, 'classify-status', 60_000);
      assert.equal(batch.kind, 'ok', batch.text);
      assert.equal(await page.$$eval('#batch-table tbody tr', (r) => r.length), BATCH.length);
      // The page shows the text as written; only the download marks a formula as text.
      assert.equal(
        await page.$eval('#batch-table tbody tr:last-child', (r) => r.cells[1].textContent),
        BATCH.at(-1),
      );
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#batch-download')]);
      const predictions = readFileSync(await download.path(), 'utf8')
        .trim()
        .split(/\r?\n/)
        .map(parseCsvLine);
      assert.deepEqual(predictions[0], ['text', 'label', 'p_negative', 'p_positive']);
      assert.equal(predictions.length, BATCH.length + 1);
      predictions.slice(1).forEach((r, i) => {
        assert.equal(r[0], DOWNLOADED[i]);
        assert.ok(['negative', 'positive'].includes(r[1]));
        assert.ok(Math.abs(Number(r[2]) + Number(r[3]) - 1) < 1e-4);
      });
      await screenshot(page, 'batch-classified');

      // Keep: download the classifier file.
      const [file] = await Promise.all([page.waitForEvent('download'), page.click('#classifier-download')]);
      const classifierPath = join(tmp, 'classifier.safetensors');
      await file.saveAs(classifierPath);
      assert.ok(readFileSync(classifierPath).length > 1000);
      const testN = await page.getAttribute('#classifier-name', 'data-test-n');
      assert.equal(testN, '120');

      // Reload: the trained classifier is still in use, and the features come from IndexedDB.
      await page.reload();
      await waitReady(page, performance.now(), LOAD_TIMEOUT);
      await waitClassifier(page);
      assert.match(await page.textContent('#classifier-name'), /^trained here on sample-2k\.csv/);
      assert.equal(await page.getAttribute('#classifier-name', 'data-test-n'), '120');
      assert.match(await classifyTyped(page, NEGATIVE), /^negative \d+ %$/);
      await chooseCsv(page, SAMPLE_ROWS);
      t0 = performance.now();
      await page.click('#extract');
      const again = await waitStatus(page, 'extract-status', 60_000);
      timings.extractCached = ((performance.now() - t0) / 1000).toFixed(1);
      assert.match(again.text, /loaded from this browser's cache/);
      assert.equal(await page.isVisible('#train-controls'), true);

      // Back to the default, then load the downloaded file: the same classifier again.
      await page.click('#classifier-reset');
      await page.waitForSelector('#keep-status[data-kind="ok"]');
      assert.match(await page.textContent('#classifier-name'), /^default/);
      await page.evaluate(() => {
        document.getElementById('keep-status').dataset.kind = 'info';
      });
      await page.setInputFiles('#classifier-file', classifierPath);
      const loaded = await waitStatus(page, 'keep-status', 30_000);
      assert.equal(loaded.kind, 'ok', loaded.text);
      assert.match(
        await page.textContent('#classifier-name'),
        /^from classifier\.safetensors: negative \/ positive, default head, test accuracy/,
      );
      assert.equal(await page.getAttribute('#classifier-name', 'data-test-n'), '120');
      assert.match(await classifyTyped(page, POSITIVE), /^positive \d+ %$/);
      await screenshot(page, 'classifier-loaded-from-file');
    },
  );
});
