// www/csv.js, the downloaded predictions' CSV, in Node.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvField, csvLine, spreadsheetText } from '../../www/csv.js';

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
