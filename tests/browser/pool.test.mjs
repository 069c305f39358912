// The extraction pool's scheduling and its automatic thread count, in Node with stand-ins for
// the wasm Extraction and the workers (the browser tests run the real ones).

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { WEBGPU_BATCH, autoThreads, batchSizeFor, runExtraction } from '../../www/pool.js';

const MINILM_WEIGHTS = 90_868_376;
const BASE_WEIGHTS = 438_000_000;

const realNavigator = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
function machine(hardwareConcurrency, deviceMemory) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { hardwareConcurrency, deviceMemory },
    configurable: true,
  });
}
afterEach(() => {
  if (realNavigator) Object.defineProperty(globalThis, 'navigator', realNavigator);
});

test('automatic threads: one per core, as many model copies as fit in a quarter of the memory', () => {
  machine(2, 8);
  assert.equal(autoThreads(MINILM_WEIGHTS), 2);
  assert.equal(autoThreads(BASE_WEIGHTS), 2);
  machine(8, 8);
  assert.equal(autoThreads(MINILM_WEIGHTS), 8);
  assert.equal(autoThreads(BASE_WEIGHTS), 2, 'a BERT-base copy takes about 1 GB');
  machine(32, 8);
  assert.equal(autoThreads(MINILM_WEIGHTS), 8, 'at most MAX_THREADS');
  machine(8, undefined); // no navigator.deviceMemory: 4 GB assumed
  assert.equal(autoThreads(MINILM_WEIGHTS), 5);
  assert.equal(autoThreads(BASE_WEIGHTS), 1, 'never fewer than one');
  machine(6, 8);
  assert.equal(autoThreads(0), 6, 'no model yet: cores only');
});

test("batch size: the caller's, else large batches on WebGPU and small ones on the CPU", () => {
  assert.equal(WEBGPU_BATCH, 128);
  assert.equal(batchSizeFor('webgpu', undefined, 16), 128);
  assert.equal(batchSizeFor('cpu', undefined, 16), 16);
  assert.equal(batchSizeFor('cpu', undefined, 32), 32);
  assert.equal(batchSizeFor(undefined, undefined, 32), 32, 'no encoder yet: the CPU default');
  assert.equal(batchSizeFor('webgpu', 4, 16), 4, 'a chosen size is kept on every device');
  assert.equal(batchSizeFor('cpu', 8.7, 16), 8);
  assert.equal(batchSizeFor('webgpu', 0, 16), 128, 'no usable choice: the device default');
  assert.equal(batchSizeFor('cpu', Number.NaN, 16), 16);
});

/** An Extraction stand-in: `count` batches whose vectors are their own numbers. */
function fakeExtraction(count) {
  const filled = new Array(count).fill(0);
  const queue = [...Array(count).keys()];
  return {
    filled,
    total: count,
    batches: count,
    get done() {
      return filled.filter(Boolean).length;
    },
    claim: () => queue.shift(),
    release: (b) => queue.unshift(b),
    batchTexts: (b) => [`text ${b}`],
    fill(b, modelId, vectors) {
      assert.equal(modelId, 'm');
      assert.deepEqual(vectors, [b]);
      filled[b] += 1;
      return this.done;
    },
  };
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const batchOf = (texts) => Number(texts[0].split(' ')[1]);

test('a helper keeps a second batch queued while the main worker computes; every batch is filled once', async () => {
  const extraction = fakeExtraction(12);
  let inFlight = 0;
  let most = 0;
  const events = [];
  const local = {
    local: true,
    ready: Promise.resolve('m'),
    // The main worker's own batch blocks its thread, as wasm does.
    embed: async (texts) => {
      events.push('local starts');
      const end = Date.now() + 15;
      while (Date.now() < end);
      return [batchOf(texts)];
    },
  };
  const helper = {
    local: false,
    ready: Promise.resolve('m').then((m) => m),
    embed: async (texts) => {
      events.push('helper starts');
      most = Math.max(most, ++inFlight);
      await wait(15);
      inFlight -= 1;
      return [batchOf(texts)];
    },
    fail: () => assert.fail('the helper did not fail'),
  };
  const batches = await runExtraction(extraction, [local, helper], {
    cancelled: () => null,
    onDone: () => {},
  });
  assert.deepEqual(extraction.filled, new Array(12).fill(1));
  assert.equal(batches[0] + batches[1], 12);
  assert.ok(batches[1] > 0, 'the helper took part');
  assert.equal(most, 2, 'two batches in flight on the helper');
  assert.deepEqual(
    events.slice(0, 3),
    ['helper starts', 'helper starts', 'local starts'],
    'the helper has its first batches before the main worker blocks on its own',
  );
});

test('a failing helper hands its batches back and the main worker finishes them', async () => {
  const extraction = fakeExtraction(6);
  let failed = 0;
  const local = { local: true, ready: Promise.resolve('m'), embed: async (texts) => [batchOf(texts)] };
  const helper = {
    local: false,
    ready: Promise.resolve('m'),
    embed: async () => {
      await wait(5);
      throw new Error('out of memory');
    },
    fail: () => {
      failed += 1;
    },
  };
  const batches = await runExtraction(extraction, [local, helper], {
    cancelled: () => null,
    onDone: () => {},
  });
  assert.deepEqual(extraction.filled, new Array(6).fill(1));
  assert.deepEqual(batches, [6, 0]);
  assert.ok(failed >= 1);
});
