// A classifier exported for other tools (issue 23): the zip of a folder that transformers.js
// loads with pipeline('text-classification', …) and onnxruntime runs (config.json, the
// tokenizer files, onnx/model.onnx). transformers.js, as npm installed it, runs in headless
// Chromium on onnxruntime-web's wasm, everything served from this machine
// (harness.mjs: runTransformersJs); its scores must be bertweb's own probabilities.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CHROMIUM,
  ROOT,
  closeApp,
  missingTransformersJs,
  openApp,
  pickModelFolder,
  prerequisites,
  runTransformersJs,
  waitClassifier,
} from './harness.mjs';

/** Largest difference allowed between two tools' probabilities of one label. */
const TOLERANCE = 1e-4;
/** What every export holds, at the zip's root. */
const FILES = [
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'onnx/model.onnx',
  'README.md',
];

/**
 * Each text's transformers.js scores in the order of `labels`: its label for every one, once.
 * @param {{label: string, score: number}[]} scores one text's, best first
 * @param {string[]} labels
 */
function scoresByLabel(scores, labels) {
  assert.deepEqual(scores.map((s) => s.label).sort(), [...labels].sort(), 'every label, once');
  return labels.map((l) => /** @type {{score: number}} */ (scores.find((s) => s.label === l)).score);
}

// ---- bertweb's export, in the page ---------------------------------------------------------
// Train a head on a small CSV in the page (as a user would, through window.bertweb.client),
// export it, unzip it here, and classify the same texts with transformers.js: the same
// probabilities as client.classify, within TOLERANCE, and the same best label. Texts are shorter
// than the classifier's max length (55 word pieces) and hold no HTML: transformers.js truncates
// differently (see above) and does not strip HTML as bertweb does before classifying.

const ready = await prerequisites({ transformersJs: true });
const exportSkip = ready.skip;

const POSITIVE = ['Delicious and I love it', 'Great taste', 'Fresh and tasty', 'Excellent value'];
const NEGATIVE = ['Awful and stale', 'Terrible so I threw it away', 'Disgusting taste', 'Broken box'];
const NEUTRAL = ['It is tea', 'Arrived on Tuesday', 'The box holds twelve bags', 'Average as expected'];

/** 24 reviews in the Amazon layout, two classes (scores 5 and 1), as recovery.test.mjs. */
const TWO_CLASSES = `Id,Score,Text\n${[
  ...POSITIVE,
  ...POSITIVE,
  ...POSITIVE,
  ...NEGATIVE,
  ...NEGATIVE,
  ...NEGATIVE,
]
  .map((t, i) => `${i + 1},${i < 12 ? 5 : 1},${t} ${i}`)
  .join('\n')}\n`;
/** 36 texts with their labels as names, three classes. */
const THREE_CLASSES = `text,label\n${[
  ...NEGATIVE.map((t) => [t, 'negative']),
  ...NEUTRAL.map((t) => [t, 'neutral']),
  ...POSITIVE.map((t) => [t, 'positive']),
]
  .flatMap(([t, label]) => [0, 1, 2].map((i) => `${t} ${i},${label}`))
  .join('\n')}\n`;
/** The same texts with several labels each: the sentiment's, and `delivery` for some. */
const SEVERAL_LABELS = `text,labels\n${[
  ...NEGATIVE.map((t) => [t, 'negative']),
  ...NEUTRAL.map((t) => [t, 'neutral;delivery']),
  ...POSITIVE.map((t, i) => [t, i % 2 ? 'positive;delivery' : 'positive']),
]
  .flatMap(([t, labels]) => [0, 1, 2].map((i) => `${t} ${i},${labels}`))
  .join('\n')}\n`;

const TEXTS = [
  'Tasty and fresh, I will buy it again.',
  'Stale, broken and a waste of money.',
  'The package arrived on Monday.',
  'ok',
];

describe('a classifier exported for other tools', () => {
  let browser;
  let page;
  let log = [];
  let tmp;
  before(async () => {
    if (exportSkip) return;
    ready.requireReady();
    tmp = mkdtempSync(join(tmpdir(), 'bertweb-export-'));
    ({ browser, page, log } = await openApp());
    await waitClassifier(page);
  });
  after(async () => {
    await closeApp(browser, log);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /**
   * Train the default head on `csv`, export it, and classify TEXTS with bertweb; the zip is
   * saved through a download (a 90 MB page.evaluate result takes seconds more) and unzipped.
   * @returns {Promise<{folder: string, labels: string[], maxLen: number, predictions: {name: string,
   *   probabilities: number[]}[], seconds: {train: number, export: number}}>}
   */
  async function trainAndExport(name, csv, settings, how = { preset: 'default' }) {
    const [download, result] = await Promise.all([
      page.waitForEvent('download', { timeout: 300_000 }),
      page.evaluate(
        async ({ csv, settings, how, key, texts }) => {
          const { client } = window.bertweb;
          const t0 = performance.now();
          await client.dataset(new Blob([csv]), settings);
          await client.extract({ key });
          const { presets } = await client.defaults();
          const { meta } = how.fineTune
            ? await client.fineTune(how.fineTune)
            : await client.train(presets[how.preset]);
          const predictions = await client.classify(texts);
          const t1 = performance.now();
          const zip = await client.exportForOtherTools();
          const t2 = performance.now();
          const a = document.createElement('a');
          a.href = URL.createObjectURL(new Blob([zip], { type: 'application/zip' }));
          a.download = 'export.zip';
          document.body.append(a);
          a.click();
          a.remove();
          return {
            labels: meta.label_names,
            thresholds: meta.thresholds ?? null,
            maxLen: meta.features.max_len,
            predictions,
            seconds: { train: (t1 - t0) / 1000, export: (t2 - t1) / 1000 },
          };
        },
        { csv, settings, how, key: `export-test-${name}`, texts: TEXTS },
      ),
    ]);
    const zip = join(tmp, `${name}.zip`);
    await download.saveAs(zip);
    const folder = join(tmp, name);
    execFileSync('python3', ['-m', 'zipfile', '-e', zip, folder]);
    return { folder, ...result };
  }

  /** The export holds the files, its config.json the labels, and transformers.js agrees. */
  async function check(name, csv, settings, labelCount, how = undefined) {
    const { folder, labels, thresholds, maxLen, predictions, seconds } = await trainAndExport(
      name,
      csv,
      settings,
      how,
    );
    console.log(
      `# ${name}: trained in ${seconds.train.toFixed(1)} s, exported in ${seconds.export.toFixed(1)} s`,
    );
    assert.equal(labels.length, labelCount);
    for (const f of FILES) assert.ok(existsSync(join(folder, f)), `${f} in the zip`);

    const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['BertForSequenceClassification']);
    assert.deepEqual(config.id2label, Object.fromEntries(labels.map((l, i) => [String(i), l])));
    assert.deepEqual(config.label2id, Object.fromEntries(labels.map((l, i) => [l, i])));
    if (thresholds) {
      // Multi-label: a sigmoid per label in transformers.js; the thresholds bertweb chose.
      assert.equal(config.problem_type, 'multi_label_classification');
      assert.deepEqual(
        config.bertweb_thresholds,
        Object.fromEntries(labels.map((l, i) => [l, thresholds[i]])),
      );
      assert.match(
        readFileSync(join(folder, 'README.md'), 'utf8'),
        /\| thresholds \| a text has a label when/,
      );
    } else {
      assert.equal(config.problem_type, 'single_label_classification');
    }
    assert.equal(config['transformers.js_config']?.dtype, 'fp32');
    // What transformers.js (and the README's Python) truncate texts to: the classifier's length.
    const tokenizerConfig = JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8'));
    assert.equal(tokenizerConfig.model_max_length, maxLen);

    const t0 = performance.now();
    const results = await runTransformersJs(folder, TEXTS, { context: browser.context });
    console.log(`# ${name}: transformers.js in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    TEXTS.forEach((text, i) => {
      const ours = predictions[i];
      const theirs = scoresByLabel(results[i], labels);
      console.log(
        `#   ${JSON.stringify(text)}: ${ours.probabilities.map((p) => p.toFixed(6))} vs ${theirs.map((p) => p.toFixed(6))}`,
      );
      assert.equal(results[i][0].label, ours.name, `${text}: the best label`);
      const diff = Math.max(...theirs.map((p, j) => Math.abs(p - ours.probabilities[j])));
      assert.ok(diff < TOLERANCE, `${text}: ${theirs} vs ${ours.probabilities}`);
    });
  }

  test('the default head on two classes: transformers.js gives its probabilities', { skip: exportSkip }, () =>
    check('two-classes', TWO_CLASSES, {}, 2),
  );

  test('three named classes: transformers.js gives their probabilities', { skip: exportSkip }, () =>
    check(
      'three-classes',
      THREE_CLASSES,
      { columns: { named: { text: 'text', label: 'label' } }, label_mode: 'named' },
      3,
    ),
  );

  test('several labels per text: transformers.js gives each label its sigmoid', { skip: exportSkip }, () =>
    check(
      'several-labels',
      SEVERAL_LABELS,
      { columns: { named: { text: 'text', label: 'labels' } }, label_separator: ';' },
      4,
    ),
  );

  test(
    "the tutorial's head (three ReLU layers, batch norm, standardized features): the same in transformers.js",
    { skip: exportSkip },
    () => check('tutorial', TWO_CLASSES, {}, 2, { preset: 'tutorial' }),
  );

  test('a fine-tuned top layer with the pooler: the same in transformers.js', { skip: exportSkip }, () =>
    check('fine-tuned', TWO_CLASSES, {}, 2, {
      fineTune: { layers: 1, epochs: 1, pooling: 'pooler', validation_fraction: 0.25 },
    }),
  );

  test(
    'the page saves the export as bertweb-classifier-onnx.zip and says what it is',
    { skip: exportSkip },
    async () => {
      assert.equal(await page.isDisabled('#export-download'), false);
      await page.evaluate(() => {
        document.getElementById('keep-status').dataset.kind = 'info';
      });
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 300_000 }),
        page.click('#export-download'),
      ]);
      assert.equal(download.suggestedFilename(), 'bertweb-classifier-onnx.zip');
      const zip = join(tmp, download.suggestedFilename());
      await download.saveAs(zip);
      const folder = join(tmp, 'from-the-button');
      execFileSync('python3', ['-m', 'zipfile', '-e', zip, folder]);
      for (const f of FILES) assert.ok(existsSync(join(folder, f)), `${f} in the zip`);
      // The classifier in use: the last one trained, the fine-tuned one.
      const onnx = (dir) => readFileSync(join(dir, 'onnx', 'model.onnx'));
      assert.ok(onnx(folder).equals(onnx(join(tmp, 'fine-tuned'))), 'the same graph as its export');
      await page.waitForSelector('#keep-status[data-kind="ok"]');
      assert.match(await page.textContent('#keep-status'), /transformers\.js/);
    },
  );

  test(
    "a Hugging Face classifier folder, imported and exported: transformers.js gives transformers' probabilities",
    { skip: exportSkip },
    async () => {
      const fixture = join(ROOT, 'tests', 'fixtures', 'tiny-cls');
      const expected = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8'));
      // Texts within the fixture's 55 word pieces: transformers.js truncates by cutting [SEP]
      // off the end, transformers and bertweb keep it.
      const cases = expected.cases.filter((c) => !c.truncated);
      for (const head of ['single', 'multi']) {
        const loaded = await pickModelFolder(page, join(fixture, head));
        assert.equal(loaded.kind, 'ok', loaded.text);
        const [download] = await Promise.all([
          page.waitForEvent('download', { timeout: 300_000 }),
          page.click('#export-download'),
        ]);
        const zip = join(tmp, `${head}.zip`);
        await download.saveAs(zip);
        const folder = join(tmp, `imported-${head}`);
        execFileSync('python3', ['-m', 'zipfile', '-e', zip, folder]);
        const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
        const { labels, problem_type: problem } = expected.heads[head];
        assert.equal(config.problem_type, problem);
        const results = await runTransformersJs(
          folder,
          cases.map((c) => c.text),
          { context: browser.context },
        );
        cases.forEach((c, i) => {
          const theirs = scoresByLabel(results[i], labels);
          const diff = Math.max(...theirs.map((p, j) => Math.abs(p - c[head].probs[j])));
          assert.ok(diff < TOLERANCE, `${head} ${c.text}: ${theirs} vs ${c[head].probs}`);
        });
        console.log(`# imported ${head}: transformers.js equals transformers on ${cases.length} texts`);
      }
    },
  );
});
