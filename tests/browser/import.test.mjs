// A Hugging Face BertForSequenceClassification folder is a ready classifier in the page: picked
// as model files, it loads its encoder and its own classifier (pooler, classifier.*, id2label,
// problem_type), and classifies typed text and CSV files with no training, with transformers'
// probabilities (tests/fixtures/tiny-cls/expected.json, from scripts/make_fixtures.py).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, classifyTyped, closeApp, openApp, pickModelFolder, prerequisites } from './harness.mjs';

const ready = await prerequisites();
const { skip } = ready;

const FIXTURE = join(ROOT, 'tests', 'fixtures', 'tiny-cls');
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8'));
/** The page removes HTML from what it classifies; these texts have none to remove. */
const cases = expected.cases.filter((c) => !/[<>&]/.test(c.text));

/** Pick a fixture folder's files as the page's model files. */
const pickFolder = (page, head) => pickModelFolder(page, join(FIXTURE, head));

/** The page's probabilities for the fixture's texts. */
function classify(page) {
  return page.evaluate(
    async (texts) => (await window.bertweb.client.classify(texts)).map((p) => p.probabilities),
    cases.map((c) => c.text),
  );
}

function assertClose(got, want, what) {
  assert.equal(got.length, want.length, what);
  const diff = Math.max(...got.map((g, i) => Math.abs(g - want[i])));
  assert.ok(diff < 1e-4, `${what}: ${JSON.stringify(got)} vs ${JSON.stringify(want)} (${diff})`);
}

describe('a Hugging Face classifier folder', () => {
  let browser;
  let page;
  let log = [];
  before(async () => {
    if (skip) return;
    ready.requireReady();
    ({ browser, page, log } = await openApp());
  });
  after(async () => {
    await closeApp(browser, log);
  });

  test("single-label: ready to classify, with transformers' softmax", { skip }, async () => {
    const status = await pickFolder(page, 'single');
    console.log(`# single-label folder -> ${status.text}`);
    assert.equal(status.kind, 'ok', status.text);
    assert.match(
      status.text,
      /carries its own classifier \(3 labels: negative, neutral, positive\), now in use/,
    );
    assert.match(
      await page.textContent('#classifier-name'),
      /negative \/ neutral \/ positive, BertForSequenceClassification/,
    );

    const probabilities = await classify(page);
    cases.forEach((c, i) => assertClose(probabilities[i], c.single.probs, c.text));
    const typed = cases[1];
    const verdict = await classifyTyped(page, typed.text);
    const top = Math.max(...typed.single.probs);
    assert.equal(verdict, `${typed.single.pred} ${Math.round(top * 100)} %`);
  });

  test('multi-label: a sigmoid per label', { skip }, async () => {
    const status = await pickFolder(page, 'multi');
    assert.equal(status.kind, 'ok', status.text);
    assert.match(status.text, /4 labels: sports, politics, tech, food/);
    const probabilities = await classify(page);
    cases.forEach((c, i) => assertClose(probabilities[i], c.multi.probs, c.text));
    assert.match(await page.textContent('#classifier-name'), /multi-label/);
  });

  test('an encoder-only folder keeps the classifier in use', { skip }, async () => {
    const status = await pickFolder(page, 'single');
    assert.equal(status.kind, 'ok', status.text);
    const encoderOnly = await pickModelFolder(page, join(ROOT, 'tests', 'fixtures', 'tiny'));
    assert.equal(encoderOnly.kind, 'ok', encoderOnly.text);
    assert.doesNotMatch(encoderOnly.text ?? '', /own classifier/);
    assert.match(await page.textContent('#classifier-name'), /trained on another base model/);
  });
});
