#!/usr/bin/env node
// Fine-tuning in headless Debian chromium: for each K (top layers trained) and device, one
// epoch of fine-tuning on a sample of the shared reviews, driving the wasm API (the same
// FineTuner the page uses) on an empty page of the app's origin.
//
//   node bench/browser_finetune.mjs [--texts=N] [--layers=1,2,6] [--devices=cpu,webgpu]
//                                   [--webgpu-texts=N]
//
// Measures per K and device: the caching pass (frozen lower layers, once), the seconds of one
// epoch (training steps + validation) on N training texts (the last 20 % validate), the
// rate in texts/s over the epoch, and the peak size of the wasm memory.
// Prints a table and writes bench/results/browser_finetune.json. Never fails a build.

import { gunzipSync } from 'node:zlib';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, launch, missingPrerequisites, withTimeout } from '../tests/browser/harness.mjs';

const DATA = join(ROOT, '..', 'shared', 'data', 'amazon-fine-food', 'Reviews.partial.csv.gz');
const RESULTS = join(ROOT, 'bench', 'results', 'browser_finetune.json');

function parseArgs(argv) {
  const opts = { texts: 200, webgpuTexts: 20, layers: [1, 2, 6], devices: ['cpu', 'webgpu'] };
  for (const arg of argv) {
    const [key, value] = arg.split('=');
    if (key === '--texts') opts.texts = Number(value);
    else if (key === '--webgpu-texts') opts.webgpuTexts = Number(value);
    else if (key === '--layers') opts.layers = value.split(',').map(Number);
    else if (key === '--devices') opts.devices = value.split(',');
    else {
      console.error(`browser_finetune: unknown argument ${arg}`);
      process.exit(2);
    }
  }
  return opts;
}

/** One epoch of fine-tuning K layers on `texts` reviews, in the page. */
async function runInPage(page, { device, layers, texts, csv }) {
  return page.evaluate(
    async ({ device, layers, texts, csv }) => {
      const m = await import('/pkg/bertweb.js');
      const wasm = await m.default();
      const bytes = async (path) => new Uint8Array(await (await fetch(path)).arrayBuffer());
      const dir = '/models/all-MiniLM-L6-v2/';
      const encoder = await m.Encoder.load(
        await bytes(`${dir}config.json`),
        await bytes(`${dir}model.safetensors`),
        await bytes(`${dir}tokenizer.json`),
        device,
      );
      // A small test part, so nearly all sampled rows train, yet large enough for the split to
      // put both classes in it; the sample is the count of rows before the split.
      const testFraction = Math.max(0.05, 8 / texts);
      const dataset = m.Dataset.load(new TextEncoder().encode(csv), {
        sample_size: Math.ceil(texts / (1 - testFraction)),
        test_fraction: testFraction,
      });
      const tuner = new m.FineTuner(encoder, dataset, { layers, epochs: 1 });
      const t0 = performance.now();
      let cachedAt = null;
      let report = null;
      while (!tuner.finished) {
        const step = await tuner.step();
        if (step.phase !== 'caching' && cachedAt === null) cachedAt = performance.now();
        if (step.epoch_report) report = step.epoch_report;
      }
      const end = performance.now();
      const trainTexts = dataset.summary().counts.train;
      const ran = encoder.device;
      tuner.free();
      dataset.free();
      // Wasm memory only grows, so its size at the end is the run's peak.
      const wasmMiB = wasm.memory.buffer.byteLength / 2 ** 20;
      encoder.free();
      return {
        device: ran,
        trainTexts,
        cachingS: ((cachedAt ?? end) - t0) / 1000,
        epochS: (end - (cachedAt ?? t0)) / 1000,
        trainLoss: report?.train_loss ?? null,
        valAuroc: report?.val_auroc ?? null,
        wasmMiB,
      };
    },
    { device, layers, texts, csv },
  );
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const missing = await missingPrerequisites();
  if (missing) {
    console.log(`browser_finetune: skipped, ${missing}`);
    return;
  }
  const csv = gunzipSync(readFileSync(DATA)).toString('utf8');
  const rows = [];
  console.log(
    '| device | K | texts (80 % train, 20 % val) | caching s | s / epoch | texts/s | peak wasm MiB |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const device of opts.devices) {
    const texts = device === 'webgpu' ? opts.webgpuTexts : opts.texts;
    const { context, url, close } = await launch({ webgpu: device === 'webgpu' });
    try {
      for (const layers of opts.layers) {
        const page = await context.newPage();
        await page.goto(`${url}/bench/blank.html`);
        try {
          const r = await withTimeout(
            runInPage(page, { device, layers, texts, csv }),
            1_800_000,
            `fine-tuning ${layers} layers on ${device}`,
          );
          // The epoch trains on 80 % of the texts and validates the other 20 %.
          const rate = r.trainTexts / r.epochS;
          rows.push({ device, layers, ...r, trainTextsPerS: rate });
          console.log(
            `| ${device} | ${layers} | ${r.trainTexts} | ${r.cachingS.toFixed(1)} | ${r.epochS.toFixed(1)} | ${rate.toFixed(2)} | ${r.wasmMiB.toFixed(0)} |`,
          );
        } catch (err) {
          console.log(`| ${device} | ${layers} | failed: ${err.message.split('\n')[0]} |`);
          rows.push({ device, layers, error: err.message });
        } finally {
          await page.close();
        }
      }
    } finally {
      await close();
    }
  }
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify({ options: opts, rows }, null, 2));
  console.log(`wrote ${RESULTS}`);
}

main().catch((err) => {
  console.error(`browser_finetune: ${err.stack ?? err}`);
  process.exit(0);
});
