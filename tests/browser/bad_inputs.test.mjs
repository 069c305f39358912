// Every crafted file of the fuzz corpus that once crashed something (tests/fuzz/*/crash-*),
// given to the page as a user would give it: classifier files, tokenizers and model files
// loaded, CSV files preprocessed with their settings. Each is refused with an error named by its
// kind, or works; none crashes the worker, and the page still classifies afterwards. Prints the
// table of what each one gets (the native side: `cargo test --test errors -- --nocapture`).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, closeApp, openApp, prerequisites } from './harness.mjs';

const ready = await prerequisites();
const { skip } = ready;

const FUZZ = join(ROOT, 'tests', 'fuzz');
const TINY = join(ROOT, 'tests', 'fixtures', 'tiny');

/** The crash seeds of one fuzz target, by name. */
function crashes(target) {
  return readdirSync(join(FUZZ, target))
    .filter((name) => name.startsWith('crash-'))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(join(FUZZ, target, name)) }));
}

/** `bytes` as a plain array, to hand to page.evaluate. */
const array = (bytes) => Array.from(bytes);

/** The encoder target's input: a little-endian u32 length, config.json, model.safetensors. */
function splitEncoderInput(bytes) {
  const n = bytes.readUInt32LE(0);
  return { config: bytes.subarray(4, 4 + n), weights: bytes.subarray(4 + n) };
}

/** The data target's input: a line of JSON ({settings, test_fraction_bits}), then the CSV. */
function splitDataInput(bytes) {
  const at = bytes.indexOf(10);
  const line = at < 0 ? bytes : bytes.subarray(0, at);
  const csv = at < 0 ? Buffer.alloc(0) : bytes.subarray(at + 1);
  let wrapper = {};
  try {
    wrapper = JSON.parse(line.toString('utf8'));
  } catch {
    // Unreadable settings are the defaults, as the fuzz target reads them.
  }
  const settings = wrapper?.settings ?? {};
  // Bits, so that NaN and infinities (which JSON cannot write) are tried too.
  const bits = wrapper?.test_fraction_bits;
  if (typeof bits === 'number' || typeof bits === 'string') {
    const view = new DataView(new ArrayBuffer(8));
    view.setBigUint64(0, BigInt(bits));
    settings.test_fraction = view.getFloat64(0);
  }
  return { settings, csv };
}

describe('crafted files in the page', () => {
  let browser;
  let page;
  let log = [];
  const rows = [];
  before(async () => {
    if (skip) return;
    ready.requireReady();
    ({ browser, page, log } = await openApp());
  });
  after(async () => {
    if (rows.length) {
      console.log('# | file | in the page |');
      for (const [file, outcome] of rows) console.log(`# | ${file} | ${outcome.replaceAll('|', '\\|')} |`);
    }
    await closeApp(browser, log, /^\[(pageerror|worker error)\]/);
  });

  /**
   * Run `op` on the page's client with `args` (no code crosses into the page: its CSP forbids
   * eval); its outcome as a table cell, checked: a named error of a kind the wasm lists, never
   * a crash of the instance.
   * @param {string} file
   * @param {'load' | 'classifier' | 'dataset'} op
   */
  async function outcome(file, op, args) {
    const result = await page.evaluate(
      async ({ op, args }) => {
        const { client } = window.bertweb;
        const buffer = (a) => new Uint8Array(a).buffer;
        const crashes = [];
        const stop = client.onProgress((p) => p.stage === 'restarted' && crashes.push(p.message));
        try {
          if (op === 'load') {
            const { config, weights, tokenizer } = args;
            const info = await client.load(
              { config: buffer(config), weights: buffer(weights), tokenizer: buffer(tokenizer) },
              'cpu',
            );
            return { ok: `loaded (${info.dim} dimensions)`, crashes };
          }
          if (op === 'classifier') {
            const { mismatch } = await client.setClassifier(buffer(args));
            if (mismatch) return { ok: `loaded, with a warning: ${mismatch}`, crashes };
            const [p] = await client.classify(['great coffee']);
            return { ok: `classifies (${p.name})`, crashes };
          }
          const summary = await client.dataset(new Blob([buffer(args.csv)]), args.settings);
          return { ok: `preprocessed: ${summary.counts.train} train, ${summary.counts.test} test`, crashes };
        } catch (err) {
          return { name: err.name, message: err.message, crashes };
        } finally {
          stop();
        }
      },
      { op, args },
    );
    const kinds = await page.evaluate(async () => (await window.bertweb.client.defaults()).errorKinds);
    assert.deepEqual(result.crashes, [], `${file}: the worker crashed`);
    if (result.ok === undefined) {
      assert.ok(kinds.includes(result.name), `${file}: ${result.name} is not a kind the page knows`);
      assert.notEqual(result.name, 'InternalError', `${file}: ${result.message}`);
    }
    const cell = result.ok ?? `${result.name}: ${result.message}`;
    rows.push([file, cell]);
    return cell;
  }

  const tiny = {
    config: array(readFileSync(join(TINY, 'config.json'))),
    weights: array(readFileSync(join(TINY, 'model.safetensors'))),
    tokenizer: array(readFileSync(join(TINY, 'tokenizer.json'))),
  };

  test('model files: config.json and model.safetensors, then tokenizer.json', { skip }, async () => {
    for (const { name, bytes } of crashes('encoder')) {
      const { config, weights } = splitEncoderInput(bytes);
      await outcome(`encoder/${name}`, 'load', { ...tiny, config: array(config), weights: array(weights) });
    }
    for (const { name, bytes } of crashes('tokenizer')) {
      await outcome(`tokenizer/${name}`, 'load', { ...tiny, tokenizer: array(bytes) });
    }
  });

  test('classifier files, then classifying with them', { skip }, async () => {
    assert.equal(await outcome('the tiny model', 'load', tiny), 'loaded (32 dimensions)');
    for (const { name, bytes } of crashes('classifier')) {
      await outcome(`classifier/${name}`, 'classifier', array(bytes));
    }
  });

  test('CSV files with their settings', { skip }, async () => {
    for (const { name, bytes } of crashes('data')) {
      const { settings, csv } = splitDataInput(bytes);
      await outcome(`data/${name}`, 'dataset', { csv: array(csv), settings });
    }
  });

  test('the page still works: a good classifier on the tiny model classifies', { skip }, async () => {
    await outcome('the tiny model again', 'load', tiny);
    const good = array(readFileSync(join(FUZZ, 'classifier', 'seed-default.bin')));
    const cell = await outcome('classifier/seed-default.bin', 'classifier', good);
    assert.match(cell, /^classifies \(/);
  });
});
