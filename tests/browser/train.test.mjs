// The whole user path in a real browser, on the CPU: the default model and classifier load and
// classify a typed review; a reviews CSV is preprocessed (counts shown), its features extracted
// (progress moves) and kept in IndexedDB, a head trained (curves drawn), a test report shown;
// typed reviews and a whole CSV are classified with the new classifier (CSV downloaded, one row
// per input) and explained (words shaded and listed); the classifier survives a reload and
// round-trips through a file.
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

/**
 * What an explanation panel shows: the class explained, the text with each shaded word's value,
 * the sorted list, and what the pushes add up to against the change in log-odds they explain.
 * @param {import('playwright-core').Page} page @param {string} panel a selector
 */
function explanationIn(page, panel) {
  return page.$eval(panel, (el) => {
    const number = (/** @type {string} */ s) => Number(s.replace('\u2212', '-'));
    return {
      chosen: el.querySelector('select')?.value,
      summary: el.querySelector('.explain-summary')?.textContent,
      text: el.querySelector('.explain-text')?.textContent,
      sums: /add up to (\S+) against a change of (\S+) /
        .exec(el.querySelector('.explain-summary')?.textContent ?? '')
        ?.slice(1)
        .map(number),
      marks: [...el.querySelectorAll('mark.attr')].map((m) => ({
        text: m.textContent,
        value: Number(m.dataset.value),
        sign: m.dataset.sign,
      })),
      list: [...el.querySelectorAll('.explain-words tbody tr')].map((r) => ({
        word: r.cells[0].textContent,
        value: number(r.cells[1].textContent ?? ''),
      })),
    };
  });
}

/**
 * The summary's total is the listed pushes' sum (each rounded to 2 decimals); with `complete`,
 * it is also the change they explain, within 5 % of the larger of that change and the pushes'
 * total size (a text whose words push hard both ways may miss by more: the page says so).
 * @param {{sums?: number[], list: {value: number}[], summary?: string | null}} why
 * @param {boolean} complete
 */
function assertAddsUp(why, complete) {
  const [total, change] = why.sums ?? [NaN, NaN];
  const listed = why.list.reduce((s, r) => s + r.value, 0);
  assert.ok(Math.abs(total - listed) <= 0.006 * why.list.length + 0.01, why.summary ?? '');
  const size = why.list.reduce((s, r) => s + Math.abs(r.value), 0);
  if (complete) {
    assert.ok(Math.abs(total - change) <= 0.05 * Math.max(Math.abs(change), size) + 0.01, why.summary ?? '');
  }
}

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

      // Why: the typed review explained, its words shaded and listed from the strongest push
      // toward the predicted class; then the other class explained through the chooser.
      await page.fill('#review', NEGATIVE);
      await page.click('#explain');
      await page.waitForSelector('#explanation:not([hidden]) mark.attr', { timeout: 60_000 });
      const why = await explanationIn(page, '#explanation');
      assert.equal(why.text, NEGATIVE);
      assert.equal(why.chosen, '0', 'the predicted class, negative, is explained');
      assertAddsUp(why, true);
      assert.equal(why.list.length, why.marks.length, 'one row per word');
      assert.deepEqual(
        why.list.map((r) => r.value),
        why.list.map((r) => r.value).sort((a, b) => b - a),
      );
      console.log(`# why negative: ${why.list.map((r) => `${r.word} ${r.value}`).join(', ')}`);
      // A head trained on 600 reviews for 2 epochs: its strongest pushes include a word that
      // says the review is bad.
      assert.ok(
        why.list.slice(0, 3).some((r) => /^(terrible|stale|disgusting|waste|threw)$/i.test(r.word)),
        'a negative word among the strongest three',
      );
      assert.ok(why.marks.every((m) => m.value >= 0 === (m.sign === 'toward')));
      await screenshot(page, 'explained');
      // The panel is rebuilt for the other class: wait for a new summary.
      await page.$eval('#explanation .explain-summary', (el) => el.setAttribute('data-old', ''));
      await page.selectOption('#explanation select', '1');
      await page.waitForSelector('#explanation .explain-summary:not([data-old])', { timeout: 60_000 });
      const other = await explanationIn(page, '#explanation');
      // Toward positive is away from negative, word by word.
      other.marks.forEach((m, i) => assert.ok(Math.abs(m.value + why.marks[i].value) < 0.02, m.text));

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
      // Any row can be explained; its HTML is read as the classifier reads it, stripped.
      await page.click('#batch-table tbody tr:nth-child(3) button');
      await page.waitForSelector('#batch-explanation:not([hidden]) mark.attr', { timeout: 60_000 });
      const row = await explanationIn(page, '#batch-explanation');
      assert.match(row.text, /^My dog loves these treats\s+highly recommended$/);
      assertAddsUp(row, false);

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
