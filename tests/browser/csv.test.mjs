// CSV files: www/csv.js (the downloaded predictions' CSV), in Node; and, in a real browser, the
// page's preview and preprocessing of CSV files a user has (below).

import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { csvField, csvLine, spreadsheetText } from '../../www/csv.js';
import { launch, openPage, prerequisites, screenshot, waitReady, waitStatus } from './harness.mjs';

test('fields are quoted only when they must be', () => {
  assert.equal(csvField('plain text'), 'plain text');
  assert.equal(csvField('a, b'), '"a, b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField('cr\ronly'), '"cr\ronly"');
  assert.equal(csvField(0.5), '0.5');
});

test('a text a spreadsheet would run as a formula gets an apostrophe', () => {
  for (const start of ['=', '+', '-', '@', '\t', '\r']) {
    assert.equal(spreadsheetText(`${start}1+1`), `'${start}1+1`, JSON.stringify(start));
  }
  for (const safe of ['Great coffee', ' =not first', '5 stars', "'already", '']) {
    assert.equal(spreadsheetText(safe), safe);
  }
});

test('a line: texts made safe, then numbers as they are, all quoted as needed', () => {
  assert.equal(
    csvLine(['=HYPERLINK("x")', '-neg'], ['0.250000', '0.750000']),
    `"'=HYPERLINK(""x"")",'-neg,0.250000,0.750000`,
  );
  assert.equal(csvLine(['text', 'label', 'p_a']), 'text,label,p_a');
});

// ---- The page's CSV upload, in a real browser ----------------------------------------------
// Through the page's DOM as a user would: the preview of an uploaded file (delimiter, columns,
// labels and their counts, the label mode suggested, a split column) and its preprocessing,
// with small CSV files written here (tens of rows: preprocessing only, no extraction). Needs
// pkg/, models/all-MiniLM-L6-v2 and chromium; skips otherwise (fails with CI set).

const ready = await prerequisites();

/** The delimiters by name, as the page's select offers them. */
const SEPARATORS = { comma: ',', semicolon: ';', tab: '\t' };

/** A CSV file's text: a header and rows, fields quoted where they hold the delimiter. */
function csvText(header, rows, separator = ',') {
  const field = (v) =>
    String(v).includes(separator) || String(v).includes('"') ? `"${String(v).replaceAll('"', '""')}"` : v;
  return `${[header, ...rows].map((r) => r.map(field).join(separator)).join('\n')}\n`;
}

/**
 * `n` texts with 0/1 labels, half each, alternating; the texts hold commas (and, for the split
 * file, no semicolon or tab), so only the header tells the delimiter.
 */
function binaryRows(n) {
  return Array.from({ length: n }, (_, i) =>
    i % 2
      ? [`great product number ${i}, would buy again`, 1]
      : [`poor product number ${i}, broke after a day`, 0],
  );
}

/** Choose a CSV file with `text` in section 3; returns the data status once it settles. */
async function upload(page, name, text) {
  await page.evaluate(() => {
    document.getElementById('data-status').dataset.kind = 'info';
  });
  await page.setInputFiles('#csv-file', { name, mimeType: 'text/csv', buffer: Buffer.from(text) });
  return waitStatus(page, 'data-status');
}

/** Press Preprocess; returns the data status once it settles. */
async function pressPreprocess(page) {
  await page.evaluate(() => {
    document.getElementById('data-status').dataset.kind = 'info';
  });
  await page.click('#preprocess');
  return waitStatus(page, 'data-status');
}

/** A table's body rows as arrays of cell texts. */
function tableRows(page, selector) {
  return page.$$eval(`${selector} tbody tr`, (rows) =>
    rows.map((r) => [...r.cells].map((c) => c.textContent)),
  );
}

describe('the CSV upload in the page', () => {
  let browser;
  let page;
  let log = [];
  before(async () => {
    if (ready.skip) return;
    ready.requireReady();
    browser = await launch({ webgpu: false });
    let openedAt;
    ({ page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=cpu`));
    await waitReady(page, openedAt, 120_000);
  });
  after(async () => {
    const errors = log.filter((l) => /^\[(pageerror|error|worker error)\]/.test(l));
    if (errors.length) console.log(`# page errors:\n${errors.map((l) => `#   ${l}`).join('\n')}`);
    await browser?.close();
  });

  test(
    '0/1 labels: the classes and their counts, the named label mode, two classes',
    { skip: ready.skip },
    async () => {
      const status = await upload(page, 'binary.csv', csvText(['text', 'label'], binaryRows(40)));
      assert.equal(status.kind, 'ok', status.text);
      assert.equal(await page.textContent('#delimiter-found'), 'Delimiter: comma (detected)');
      assert.equal(await page.inputValue('#text-column'), 'text');
      assert.equal(await page.inputValue('#label-column'), 'label');
      assert.equal(await page.inputValue('#label-mode'), 'named');
      assert.match(await page.textContent('#label-kind'), /classes \(2 distinct values\)/);
      assert.deepEqual((await tableRows(page, '#classes')).sort(), [
        ['0', '20'],
        ['1', '20'],
      ]);
      // Preprocessed as it came: 2 classes, a random 20 % test part, the rows called texts.
      assert.match(status.text, /^binary\.csv: 32 training and 8 test texts, classes (0, 1|1, 0)\.$/);
      const counts = await tableRows(page, '#counts');
      assert.deepEqual(
        counts
          .filter((r) => /^\s*class /.test(r[0]))
          .map((r) => [r[0].trim(), r[1]])
          .sort(),
        [
          ['class 0', '20'],
          ['class 1', '20'],
        ],
      );
      assert.equal(await page.isVisible('#split-line'), false, 'no split column in this file');
    },
  );

  for (const name of ['semicolon', 'tab']) {
    test(`the same data ${name}-separated is detected and preprocessed`, { skip: ready.skip }, async () => {
      const text = csvText(['text', 'label'], binaryRows(40), SEPARATORS[name]);
      const status = await upload(page, `${name}.csv`, text);
      assert.equal(status.kind, 'ok', status.text);
      assert.equal(await page.textContent('#delimiter-found'), `Delimiter: ${name} (detected)`);
      assert.deepEqual(await page.$$eval('#text-column option', (o) => o.map((x) => x.value)), [
        'text',
        'label',
      ]);
      assert.match(status.text, /32 training and 8 test texts, classes (0, 1|1, 0)\./);
    });
  }

  test('a delimiter chosen by hand reads the file again with it', { skip: ready.skip }, async () => {
    await upload(page, 'chosen.csv', csvText(['text', 'label'], binaryRows(40), ';'));
    await page.evaluate(() => {
      document.getElementById('data-status').dataset.kind = 'none';
    });
    await page.selectOption('#delimiter', 'semicolon');
    await page.waitForFunction(() => document.getElementById('data-status').dataset.kind === 'info');
    assert.equal(await page.textContent('#delimiter-found'), 'Delimiter: semicolon (chosen)');
    assert.match(await page.textContent('#data-status'), /read again with the semicolon delimiter/);
    const status = await pressPreprocess(page);
    assert.equal(status.kind, 'ok', status.text);
    assert.match(status.text, /32 training and 8 test texts/);
  });

  test(
    "a split column gives the parts: the test part is exactly the file's test rows",
    { skip: ready.skip },
    async () => {
      // 40 train, 10 validation and 10 test rows; a random 20 % split would test 12.
      const parts = [...Array(40).fill('train'), ...Array(10).fill('validation'), ...Array(10).fill('test')];
      const rows = binaryRows(60).map((r, i) => [...r, parts[i]]);
      const status = await upload(page, 'split.csv', csvText(['text', 'label', 'split'], rows));
      assert.equal(status.kind, 'ok', status.text);
      assert.equal(await page.inputValue('#label-column'), 'label');
      assert.equal(await page.isChecked('#use-split'), true);
      assert.equal(
        await page.textContent('#split-text'),
        'Using the given split column `split`: 40 train, 10 validation, 10 test rows',
      );
      assert.match(status.text, /50 training and 10 test texts/);
      await screenshot(page, 'csv-split-column');
      assert.match(status.text, /test part: the file's 10 test rows, validation: its 10 validation rows/);
      const counts = await tableRows(page, '#counts');
      assert.ok(
        counts.some((r) => r[0] === "Test part: the file's test rows" && r[1] === '10'),
        JSON.stringify(counts),
      );
      assert.ok(
        counts.some(
          (r) => r[0] === "Training part (validation: the file's 10 validation rows)" && r[1] === '50',
        ),
        JSON.stringify(counts),
      );

      // Unchecked: a random stratified split of the 60 rows, as for any file.
      await page.uncheck('#use-split');
      assert.match(await page.textContent('#split-text'), /^Not using the split column `split`/);
      const random = await pressPreprocess(page);
      assert.equal(random.kind, 'ok', random.text);
      assert.match(random.text, /48 training and 12 test texts/);
      assert.doesNotMatch(random.text, /split column/);
    },
  );

  test('many labels: 20 listed, the others counted', { skip: ready.skip }, async () => {
    const rows = Array.from({ length: 25 }, (_, i) => [`text number ${i}`, `topic${i}`]);
    await upload(page, 'topics.csv', csvText(['text', 'label'], rows));
    const listed = await tableRows(page, '#classes');
    assert.equal(listed.length, 21);
    assert.deepEqual(listed.at(-1), ['+5 more', '']);
  });

  test('a file that cannot be read leaves nothing of the previous one', { skip: ready.skip }, async () => {
    const good = await upload(page, 'good.csv', csvText(['text', 'label'], binaryRows(40)));
    assert.equal(good.kind, 'ok', good.text);
    assert.equal(await page.isEnabled('#preprocess'), true);
    for (const [name, bytes] of [
      ['empty.csv', ''],
      ['utf16.csv', Buffer.from([0xff, 0xfe, 0x41, 0x00])],
    ]) {
      const failed = await upload(page, name, bytes);
      assert.equal(failed.kind, 'error', failed.text);
      assert.match(failed.text, new RegExp(`^Error: cannot use ${name.replace('.', '\\.')}: `));
      assert.equal(await page.isDisabled('#preprocess'), true, `${name}: Preprocess is disabled`);
      assert.equal(await page.isVisible('#data-form'), false, `${name}: the previous columns are gone`);
      assert.equal(await page.$$eval('#text-column option', (o) => o.length), 0);
      assert.equal(await page.isVisible('#data-result'), false, `${name}: the previous counts are gone`);
      // Submitting the form anyway (Enter in a field) preprocesses nothing.
      await page.evaluate(() => document.getElementById('data-form').requestSubmit());
      await page.waitForTimeout(300);
      assert.equal(await page.getAttribute('#data-status', 'data-kind'), 'error');
      assert.equal(await page.textContent('#data-status'), failed.text);
      assert.equal(await page.isVisible('#data-result'), false);
    }
    // A good file again works as the first did.
    const again = await upload(page, 'good.csv', csvText(['text', 'label'], binaryRows(40)));
    assert.equal(again.kind, 'ok', again.text);
  });

  test(
    'a file larger than the stream threshold is read as a stream into a sample: memory bounded, cancellable',
    { skip: ready.skip },
    async () => {
      const { aboveBytes, previewBytes } = await page.evaluate(() =>
        window.bertweb.client.defaults().then((d) => d.stream),
      );
      // The Amazon layout, scores 1 to 5, rows numbered so that none repeats: well over the
      // threshold, and several times what fits in wasm memory if read whole with the model.
      const dir = mkdtempSync(join(tmpdir(), 'bertweb-stream-'));
      const path = join(dir, 'large.csv');
      const target = Math.max(300e6, 4 * aboveBytes);
      const out = createWriteStream(path);
      out.write('Id,ProductId,Score,Summary,Text\n');
      let size = 0;
      let rows = 0;
      while (size < target) {
        let block = '';
        for (let i = 0; i < 10_000; i++, rows++) {
          const score = (rows % 5) + 1;
          block += `${rows},B00${rows % 997},${score},"summary ${rows}","Review number ${rows}: ${
            score > 3 ? 'good, tasty, would buy again' : 'stale and not worth it'
          } and a few more words to make it a review of usual length"\n`;
        }
        size += Buffer.byteLength(block);
        if (!out.write(block)) await new Promise((resolve) => out.once('drain', resolve));
      }
      await new Promise((resolve) => out.end(resolve));
      try {
        const before = await page.evaluate(() => window.bertweb.client.memory());
        await page.evaluate(() => {
          document.getElementById('data-status').dataset.kind = 'info';
        });
        await page.setInputFiles('#csv-file', path);
        await page.waitForSelector('#data-layout:not(:empty)');
        // The preview reads only the start of the file, and says so.
        assert.match(
          await page.textContent('#data-layout'),
          new RegExp(
            `in its first ${Math.round(previewBytes / 1e6)} MB \\(of ${Math.round((size + 32) / 1e6)} MB`,
          ),
        );
        // Preprocessing starts at once (the Amazon layout); cancel it after the first chunks.
        await page.waitForSelector('#preprocess-cancel:not([hidden])');
        await page.waitForFunction(() =>
          /MB\/s/.test(document.getElementById('read-rate').textContent ?? ''),
        );
        await page.click('#preprocess-cancel');
        const cancelled = await waitStatus(page, 'data-status');
        assert.equal(cancelled.kind, 'warn', cancelled.text);
        assert.match(cancelled.text, /cancelled/);

        const t0 = Date.now();
        const status = await pressPreprocess(page);
        const seconds = (Date.now() - t0) / 1000;
        assert.equal(status.kind, 'ok', status.text);
        const sample = 100_000;
        assert.match(status.text, new RegExp(`a random sample of 100,000 of its [\\d,]+ usable rows`));
        // The counts are the whole file's; the parts are the sample's.
        const counts = await tableRows(page, '#counts');
        const cell = (step) => counts.find((r) => r[0].startsWith(step)) ?? [];
        assert.equal(cell('Rows read')[1], String(rows), JSON.stringify(counts));
        assert.equal(cell('Labels')[2], `${rows / 5} neutral (score 3)`, JSON.stringify(counts));
        assert.deepEqual(cell('Sample of at most'), [
          `Sample of at most ${sample}`,
          String(sample),
          String((rows * 4) / 5 - sample),
        ]);
        const parts = Number(cell('Training part')[1]) + Number(cell('Test part')[1]);
        assert.equal(parts, sample);

        const after = await page.evaluate(() => window.bertweb.client.memory());
        const grown = after.worker - before.worker;
        console.log(
          `streamed ${(size / 1e6).toFixed(0)} MB (${rows} rows) in ${seconds.toFixed(1)} s; ` +
            `worker wasm memory ${(before.worker / 2 ** 20).toFixed(0)} → ${(after.worker / 2 ** 20).toFixed(0)} MiB`,
        );
        // The sample (100,000 rows of ~150 bytes, held as cells, then as texts) and a chunk,
        // not the file.
        assert.ok(grown < 128 * 2 ** 20, `wasm memory grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
        // Wasm memory never shrinks: the worker's whole peak, the model's included, is less
        // than the file it read.
        assert.ok(after.worker < size, `${after.worker} bytes of wasm memory for a ${size}-byte file`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
