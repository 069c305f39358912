// Several labels per text, through the page's DOM as a user would: a support-ticket CSV whose
// label column holds `billing;refund`-style cells; the page suggests the separator and waits for
// the user to confirm it, counts rows per label, trains a head with a sigmoid per label and
// thresholds chosen on validation, reports micro- and macro-F1 and each label's threshold,
// precision and recall, classifies typed texts and a CSV with every label over its threshold,
// keeps the thresholds in the classifier file and across a reload, and fine-tunes the same way.
//
// Needs pkg/, models/all-MiniLM-L6-v2 and chromium; skips otherwise (fails with CI set).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  classifyTyped,
  closeApp,
  openApp,
  prerequisites,
  screenshot,
  waitClassifier,
  waitReady,
  waitStatus,
  resetStatus,
} from './harness.mjs';

const ready = await prerequisites();
const { skip } = ready;
const tmp = mkdtempSync(join(tmpdir(), 'bertweb-multilabel-'));

/** What each label's texts say; a ticket about several things says each one's part. */
const SAYS = {
  billing: [
    'I was charged twice on my credit card',
    'the invoice shows the wrong amount',
    'my card was billed for a plan I never ordered',
    'why is there an extra fee on my bill',
  ],
  refund: [
    'I want my money back',
    'please refund the full price',
    'when will I get the refund you promised',
    'return the payment to my account',
  ],
  shipping: [
    'the parcel has still not arrived',
    'the delivery is two weeks late',
    'the courier lost my package',
    'tracking says it was shipped to the wrong address',
  ],
};
/** Label sets in turn: one, two, or all three labels. */
const SETS = [
  ['billing'],
  ['refund'],
  ['shipping'],
  ['billing', 'refund'],
  ['refund', 'shipping'],
  ['billing'],
  ['shipping'],
  ['billing', 'refund', 'shipping'],
];

/** `n` tickets: each set's phrases, varied by row; the labels as `a;b` cells. */
function tickets(n) {
  const lines = ['ticket,labels'];
  for (let i = 0; i < n; i++) {
    const set = SETS[i % SETS.length];
    const text = set.map((l, k) => SAYS[l][(i + k) % 4]).join(', and ');
    lines.push(`"Ticket ${i}: ${text}.",${set.join(';')}`);
  }
  return `${lines.join('\n')}\n`;
}

function tableRows(page, selector) {
  return page.$$eval(`${selector} tbody tr`, (rows) =>
    rows.map((r) => [...r.cells].map((c) => c.textContent)),
  );
}

/** The preview's labels and their rows, by label. */
async function classCounts(page) {
  return Object.fromEntries((await tableRows(page, '#classes')).map(([n, c]) => [n, c]));
}

/** Choose the CSV file at `path`; the data status once it settles. */
async function upload(page, path) {
  await resetStatus(page, 'data-status');
  await page.setInputFiles('#csv-file', path);
  return waitStatus(page, 'data-status');
}

/** Press Preprocess; the data status once it settles. */
async function pressPreprocess(page) {
  await resetStatus(page, 'data-status');
  await page.click('#preprocess');
  return waitStatus(page, 'data-status');
}

describe('several labels per text in the page', () => {
  let browser;
  let page;
  let log = [];
  before(async () => {
    if (skip) return;
    ready.requireReady();
    ({ browser, page, log } = await openApp());
  });
  after(() => closeApp(browser, log));

  test(
    'suggest the separator, train, report, classify, keep, fine-tune',
    { skip, timeout: 600_000 },
    async () => {
      // Upload: the separator is suggested and checked, and nothing is preprocessed until the
      // user confirms it.
      const csv = join(tmp, 'tickets.csv');
      writeFileSync(csv, tickets(160));
      const suggested = await upload(page, csv);
      assert.equal(suggested.kind, 'warn', suggested.text);
      assert.match(suggested.text, /look like several per text, separated by `;`/);
      assert.equal(await page.isChecked('#multi-label'), true);
      assert.equal(await page.inputValue('#label-separator'), ';');
      assert.equal(await page.isVisible('#data-result'), false, 'not preprocessed before the user confirms');
      await page.waitForFunction(() =>
        /any number per text/.test(document.getElementById('label-kind').textContent),
      );
      const perLabel = await classCounts(page);
      assert.deepEqual(perLabel, { billing: '80', refund: '80', shipping: '80' });

      const data = await pressPreprocess(page);
      assert.equal(data.kind, 'ok', data.text);
      assert.match(
        data.text,
        /128 training and 32 test texts, labels \(any number per text\) billing, refund, shipping\./,
      );
      const counts = await tableRows(page, '#counts');
      assert.ok(
        counts.some((r) => r[0].trim() === 'label refund' && r[1] === '80'),
        JSON.stringify(counts),
      );

      await resetStatus(page, 'extract-status');
      await page.click('#extract');
      const extracted = await waitStatus(page, 'extract-status', 180_000);
      assert.equal(extracted.kind, 'ok', extracted.text);

      // A head: a sigmoid per label, thresholds, the report of labels.
      await page.selectOption('#preset', 'linear');
      await resetStatus(page, 'train-status');
      await page.click('#train');
      const trained = await waitStatus(page, 'train-status');
      assert.equal(trained.kind, 'ok', trained.text);
      assert.match(await page.textContent('#head-diagram'), /Dense 3, sigmoid/);
      assert.equal(await page.textContent('#report-n'), '32');
      assert.equal(await page.textContent('#report-accuracy-label'), 'Exact match');
      assert.equal(await page.isVisible('#report-micro'), true);
      const micro = Number(await page.textContent('#report-micro'));
      console.log(`head: test micro-F1 ${micro}, macro-F1 ${await page.textContent('#report-f1')}`);
      assert.ok(micro > 0.8, `micro-F1 ${micro}`);
      assert.equal(await page.isVisible('#confusion'), false);
      assert.match(
        await page.textContent('#report-calibration'),
        /^temperature [\d.]+, fitted on the validation part/,
      );
      const labels = await tableRows(page, '#per-class');
      assert.deepEqual(
        labels.map((r) => r[0]),
        ['billing', 'refund', 'shipping'],
      );
      for (const r of labels) {
        const threshold = Number(r[1]);
        assert.ok(threshold > 0 && threshold < 1, `threshold ${r[1]}`);
      }
      await screenshot(page, 'multilabel-report');
      assert.match(
        await page.textContent('#classifier-name'),
        /any number of labels per text, test micro-F1/,
      );

      // Typed texts: every label over its threshold, with its probability.
      const both = await classifyTyped(page, 'I was charged twice on my card and I want my money back');
      assert.match(both, /^(\w+ \d+ %)(, \w+ \d+ %)*$|^no label over its threshold/);
      assert.match(both, /billing|refund/);
      assert.doesNotMatch(await classifyTyped(page, 'the courier lost my package'), /billing/);

      // A CSV: a labels column, one row per text.
      const batchCsv = join(tmp, 'batch.csv');
      writeFileSync(batchCsv, 'id,Text\n1,the parcel is late\n2,please refund me\n3,hello\n');
      await page.setInputFiles('#batch-file', batchCsv);
      await page.waitForFunction(() => document.getElementById('batch-column').value === 'Text');
      await resetStatus(page, 'classify-status');
      await page.click('#batch-run');
      const batch = await waitStatus(page, 'classify-status');
      assert.equal(batch.kind, 'ok', batch.text);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#batch-download')]);
      const lines = readFileSync(await download.path(), 'utf8')
        .trim()
        .split(/\r?\n/);
      assert.equal(lines[0], 'text,labels,p_billing,p_refund,p_shipping');
      assert.equal(lines.length, 4);

      // The file keeps the thresholds; a reload keeps the classifier.
      const [file] = await Promise.all([page.waitForEvent('download'), page.click('#classifier-download')]);
      const bytes = readFileSync(await file.path());
      const headerLength = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
      const stored = JSON.parse(header.__metadata__.bertweb);
      assert.equal(stored.shape.multi_label, true);
      assert.deepEqual(
        stored.thresholds.map((t) => t.toFixed(3)),
        labels.map((r) => r[1]),
      );
      await page.reload();
      await waitReady(page, performance.now(), 120_000);
      await waitClassifier(page);
      assert.match(await page.textContent('#classifier-name'), /any number of labels per text/);

      // Fine-tuning takes the same labels: one layer, one epoch.
      await upload(page, csv);
      assert.equal((await pressPreprocess(page)).kind, 'ok');
      await resetStatus(page, 'extract-status');
      await page.click('#extract');
      assert.match((await waitStatus(page, 'extract-status')).text, /cache/);
      await page.check('input[name="train-mode"][value="finetune"]');
      await page.fill('#ft-layers', '1');
      await page.fill('#ft-epochs', '1');
      await page.fill('#ft-batch', '16');
      await resetStatus(page, 'train-status');
      await page.click('#finetune');
      const tuned = await waitStatus(page, 'train-status', 300_000);
      assert.equal(tuned.kind, 'ok', tuned.text);
      assert.equal(await page.textContent('#report-accuracy-label'), 'Exact match');
      assert.equal(await page.$$eval('#per-class tbody tr', (r) => r.length), 3);
    },
  );

  test('0/1 label columns: found, confirmed, counted, preprocessed', { skip }, async () => {
    const lines = ['comment,toxic,obscene,insult'];
    for (let i = 0; i < 60; i++)
      lines.push(`"comment number ${i}, some words",${i % 2},${i % 3 === 0 ? 1 : 0},${i % 5 === 0 ? 1 : 0}`);
    const csv = join(tmp, 'flags.csv');
    writeFileSync(csv, `${lines.join('\n')}\n`);
    const suggested = await upload(page, csv);
    assert.equal(suggested.kind, 'warn', suggested.text);
    assert.match(suggested.text, /`toxic`, `obscene`, `insult` look like one label each/);
    assert.equal(await page.isChecked('#flag-labels'), true);
    assert.equal(await page.isChecked('#multi-label'), false);
    await page.waitForFunction(() =>
      /from the 0\/1 columns/.test(document.getElementById('label-kind').textContent),
    );
    const perLabel = await classCounts(page);
    assert.deepEqual(perLabel, { toxic: '30', obscene: '20', insult: '12' });
    const data = await pressPreprocess(page);
    assert.equal(data.kind, 'ok', data.text);
    assert.match(
      data.text,
      /48 training and 12 test comments, labels \(any number per text\) insult, obscene, toxic\./,
    );
    // Unchecked: one class per text from the label column, as any file.
    await page.uncheck('#flag-labels');
    const single = await pressPreprocess(page);
    assert.equal(single.kind, 'ok', single.text);
    assert.match(single.text, /, classes /);
  });
});
