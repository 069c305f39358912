// Labeling in the page, through its DOM as a user would: a CSV of the shared sample's reviews
// with no labels; class names typed; every proposed review labeled with the number keys from its
// known score. The page's choice of reviews (class names, then uncertainty with typicality and
// diversity) reaches the target accuracy on the whole pool with fewer labels than a random
// choice with the same seed; the labels survive a reload, download as a CSV and go on to the
// normal training path.
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
  closeApp,
  openApp,
  prerequisites,
  resetStatus,
  screenshot,
  waitReady,
  waitStatus,
} from './harness.mjs';

const ready = await prerequisites({ sample: true });
const { skip } = ready;
const tmp = mkdtempSync(join(tmpdir(), 'bertweb-label-'));

/** Reviews of each class in the pool: as many negative (1–2 stars) as positive (4–5). */
const PER_CLASS = 100;
/** Labels given with each strategy. */
const LABELS = 40;
/** The accuracy on the whole pool both strategies are measured to. */
const TARGET = 0.65;
const CLASSES = ['negative', 'positive'];

function csvField(s) {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * The first PER_CLASS reviews of each class in the shared sample (read by the page's own CSV
 * reader), their truth by text, and a CSV of the texts alone.
 * @param {import('playwright-core').Page} page
 */
async function pool(page) {
  const csv = readFileSync(SAMPLE_CSV, 'utf8');
  const { texts, scores } = await page.evaluate(async (csv) => {
    const bytes = () => new TextEncoder().encode(csv).buffer;
    const { client } = window.bertweb;
    return {
      texts: await client.csvColumn(bytes(), 'Text'),
      scores: await client.csvColumn(bytes(), 'Score'),
    };
  }, csv);
  /** @type {Map<string, number>} */
  const truth = new Map();
  const taken = [0, 0];
  texts.forEach((text, i) => {
    const score = Number(scores[i]);
    const label = score <= 2 ? 0 : score >= 4 ? 1 : -1;
    if (label < 0 || taken[label] >= PER_CLASS || truth.has(text) || text.includes('\n')) return;
    taken[label] += 1;
    truth.set(text, label);
  });
  const lines = ['id,Text', ...[...truth.keys()].map((t, i) => `${i + 1},${csvField(t)}`)];
  const path = join(tmp, 'unlabeled.csv');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return { truth, path };
}

/** The page's labeling state (`window.bertweb.labeling()`). */
function snapshot(page) {
  return page.evaluate(() => window.bertweb.labeling());
}

/**
 * Choose the file, name the classes (none: from the labels so far) and the strategy, press
 * Start; the status once settled.
 */
async function start(page, path, strategy, classes = CLASSES.join(', ')) {
  await page.evaluate(() => {
    document.getElementById('label-section').open = true;
  });
  await resetStatus(page, 'label-status');
  await page.setInputFiles('#label-file', []); // the same file again must be a change too
  await page.setInputFiles('#label-file', path);
  // The columns of this file (the text column guessed from its name).
  const name = path.split('/').pop();
  await page.waitForFunction(
    (name) => document.getElementById('label-status').textContent.startsWith(`${name}:`),
    name,
  );
  assert.match(await page.inputValue('#label-text-column'), /^text$/i);
  await page.fill('#label-classes', classes);
  await page.selectOption('#label-strategy', strategy);
  await resetStatus(page, 'label-status');
  await page.click('#label-start');
  const status = await waitStatus(page, 'label-status', 300_000);
  assert.equal(status.kind, 'ok', status.text);
  await waitCard(page);
}

/** Wait until a text is proposed (or all are labeled). */
function waitCard(page) {
  return page.waitForSelector('#label-card[data-state="ready"], #label-card[data-state="done"]', {
    timeout: 120_000,
  });
}

/**
 * Label proposed reviews with the keys, from their scores, until `labels` are given; the
 * accuracy on the whole pool of the head the page trained after each batch.
 * @returns {Promise<[number, number][]>} (labels, accuracy) pairs
 */
async function labelUntil(page, truth, labels) {
  /** @type {[number, number][]} */
  const curve = [];
  let seen = -1;
  for (;;) {
    await waitCard(page);
    const s = await snapshot(page);
    // The head retrains after each batch: one point per batch.
    if (s.predicted.length && s.labels.length !== seen && s.labels.length % 5 === 0) {
      seen = s.labels.length;
      const right = s.predicted.filter((p, i) => p === truth.get(s.texts[i])).length;
      curve.push([s.labels.length, right / s.texts.length]);
    }
    if (s.labels.length >= labels) return curve;
    const text = await page.textContent('#label-text');
    const label = truth.get(text ?? '');
    assert.ok(label !== undefined, `a proposed text of the pool: ${text}`);
    await page.keyboard.press(String(label + 1));
    await page.waitForSelector(`#label-counts[data-labeled="${s.labels.length + 1}"]`);
  }
}

/** The first label count whose accuracy reaches TARGET (Infinity if none). */
function reached(curve) {
  return curve.find(([, accuracy]) => accuracy >= TARGET)?.[0] ?? Infinity;
}

describe('labeling in the page', () => {
  let browser;
  let page;
  let log = [];
  before(async () => {
    if (skip) return;
    ready.requireReady();
    ({ browser, page, log } = await openApp());
    // Starting again over a session with labels asks first: yes.
    page.on('dialog', (dialog) => dialog.accept());
  });
  after(() => closeApp(browser, log));

  test(
    'the page chooses reviews that teach more than random ones; labels are kept, downloaded, trained on',
    { skip, timeout: 900_000 },
    async () => {
      const { truth, path } = await pool(page);
      assert.equal(truth.size, 2 * PER_CLASS);

      // Random choice first, then the page's own, both seeded the same.
      await start(page, path, 'random');
      assert.equal(await page.getAttribute('#label-why', 'data-source'), 'random');
      const random = await labelUntil(page, truth, LABELS);
      await start(page, path, 'smart');
      assert.equal(await page.getAttribute('#label-why', 'data-source'), 'class_names');
      const smart = await labelUntil(page, truth, LABELS);
      console.log(`# random: ${JSON.stringify(random)}`);
      console.log(`# chosen: ${JSON.stringify(smart)}`);
      console.log(`# labels to reach ${TARGET}: chosen ${reached(smart)}, random ${reached(random)}`);
      assert.ok(reached(smart) < reached(random), `chosen ${reached(smart)}, random ${reached(random)}`);

      // The accuracy so far, cross-validated on the labels, and its curve.
      const accuracy = await page.getAttribute('#label-accuracy', 'data-accuracy');
      assert.ok(Number(accuracy) > 0 && Number(accuracy) <= 1, `accuracy ${accuracy}`);
      assert.ok(Number(await page.getAttribute('#label-history', 'data-points')) >= 2);
      await screenshot(page, 'labeling');

      // Skip and undo from the keyboard.
      const before = await snapshot(page);
      const shown = await page.textContent('#label-text');
      await page.keyboard.press('s');
      await page.waitForSelector(`#label-counts[data-skipped="${before.skipped.length + 1}"]`);
      await page.keyboard.press('u');
      await page.waitForSelector(`#label-counts[data-skipped="${before.skipped.length}"]`);
      assert.equal(await page.textContent('#label-text'), shown, 'undo shows the skipped text again');

      // A reload keeps every label.
      await page.reload();
      await waitReady(page, performance.now(), 120_000);
      await page.evaluate(() => window.bertweb.labelingReady);
      await page.waitForSelector(`#label-counts[data-labeled="${LABELS}"]`, { timeout: 60_000 });
      const after = await snapshot(page);
      assert.deepEqual(after.labels, before.labels);

      // The labeled CSV, downloaded.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#label-download')]);
      const lines = readFileSync(await download.path(), 'utf8')
        .trim()
        .split(/\r?\n/);
      assert.equal(lines[0], 'text,label');
      assert.ok(lines.length >= LABELS + 1, `${lines.length} lines`);

      // And on to the normal training path: the data section previews the labeled CSV.
      await resetStatus(page, 'data-status');
      await page.click('#label-train');
      const data = await waitStatus(page, 'data-status');
      assert.notEqual(data.kind, 'error', data.text);
      assert.equal(await page.inputValue('#label-column'), 'label');
    },
  );

  test(
    'a file that labels some texts already: its labels count, its values name the classes',
    { skip },
    async () => {
      const lines = ['text,sentiment'];
      for (let i = 0; i < 24; i++) {
        const good = i % 2 === 0;
        const text = good
          ? `Lovely snack number ${i}, fresh and tasty`
          : `Stale box number ${i}, it tasted awful`;
        lines.push(`${csvField(text)},${i < 6 ? (good ? 'positive' : 'negative') : ''}`);
      }
      const path = join(tmp, 'some-labeled.csv');
      writeFileSync(path, `${lines.join('\n')}\n`);
      await start(page, path, 'smart', '');
      assert.equal(await page.inputValue('#label-given-column'), 'sentiment');
      assert.equal(await page.inputValue('#label-classes'), 'positive, negative');
      assert.equal(await page.getAttribute('#label-counts', 'data-labeled'), '6');
      const s = await snapshot(page);
      assert.equal(s.texts.length, 24);
      assert.deepEqual(
        s.labels.map(([row, c]) => [s.texts[row].startsWith('Lovely'), c]),
        [true, false, true, false, true, false].map((good) => [good, good ? 0 : 1]),
      );
    },
  );
});
