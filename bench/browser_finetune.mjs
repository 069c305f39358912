#!/usr/bin/env node
// Fine-tuning in headless Debian chromium, through the page's own worker (window.bertweb.client,
// as the page's Fine-tune button drives it): for each K (top layers trained) and device, the
// estimate the page shows before the start (`fineTunePlan`: real steps timed on a short run),
// then the run itself, timed, with its test.
//
//   node bench/browser_finetune.mjs [--texts=N] [--epochs=E] [--layers=1,2,6] [--threads=1,2]
//                                   [--devices=cpu,webgpu] [--webgpu-texts=N] [--tutorial]
//
// --threads: the CPU runs on each thread count (the page's worker and its helpers, which
// compute shares of every step); the table then gives each K's speed-up over the first count.
// --all-lengths: keep reviews of any length (the page's preprocessing otherwise drops those of
// 50 words or more), which the shared partial file needs for a training part of about 8,500.
//
// --tutorial: the page's own preprocessing of the shared Reviews.partial.csv.gz (the tutorial's
// split: every kept row, 20 % test) instead of a sample of N texts, for the test AUROC a user
// gets; --texts is then not used.
//
// Measures per K and device: the estimate and the whole run's seconds (caching, every epoch,
// the test) and how far apart they are, the caching pass, the seconds of one epoch (training
// steps + validation) on N training texts (the last 20 % validate), the rate in texts/s over
// an epoch, the final training loss (finite on WebGPU too) and the test AUROC.
// Prints a table and writes bench/results/browser_finetune.json. Never fails a build.

import { gunzipSync } from 'node:zlib';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT,
  launch,
  missingPrerequisites,
  openPage,
  waitReady,
  withTimeout,
} from '../tests/browser/harness.mjs';

const DATA = join(ROOT, '..', 'shared', 'data', 'amazon-fine-food', 'Reviews.partial.csv.gz');
const RESULTS = join(ROOT, 'bench', 'results', 'browser_finetune.json');

function parseArgs(argv) {
  const opts = {
    texts: 200,
    webgpuTexts: 20,
    epochs: 1,
    layers: [1, 2, 6],
    threads: [2],
    devices: ['cpu', 'webgpu'],
    tutorial: false,
    allLengths: false,
  };
  for (const arg of argv) {
    const [key, value] = arg.split('=');
    if (key === '--texts') opts.texts = Number(value);
    else if (key === '--webgpu-texts') opts.webgpuTexts = Number(value);
    else if (key === '--epochs') opts.epochs = Number(value);
    else if (key === '--layers') opts.layers = value.split(',').map(Number);
    else if (key === '--threads') opts.threads = value.split(',').map(Number);
    else if (key === '--devices') opts.devices = value.split(',');
    else if (key === '--tutorial') opts.tutorial = true;
    else if (key === '--all-lengths') opts.allLengths = true;
    else {
      console.error(`browser_finetune: unknown argument ${arg}`);
      process.exit(2);
    }
  }
  return opts;
}

/** The estimate, then a run of fine-tuning K layers on `texts` reviews, in the page's worker. */
async function runInPage(page, { layers, texts, epochs, csv, tutorial, threads, allLengths }) {
  return page.evaluate(
    async ({ layers, texts, epochs, csv, tutorial, threads, allLengths }) => {
      const { client } = window.bertweb;
      if (client.info.device === 'cpu') await client.setThreads(threads);
      // A small test part, so nearly all sampled rows train, yet large enough for the split to
      // put both classes in it; the sample is the count of rows before the split.
      const testFraction = Math.max(0.05, 8 / texts);
      const summary = await client.dataset(
        new Blob([csv]),
        tutorial
          ? {}
          : {
              sample_size: Math.ceil(texts / (1 - testFraction)),
              test_fraction: testFraction,
              ...(allLengths ? { max_words: null } : {}),
            },
      );
      const settings = { layers, epochs };
      const p0 = performance.now();
      const plan = await client.fineTunePlan(settings);
      const planS = (performance.now() - p0) / 1000;
      /** When each phase first ended: caching, then each epoch's validation. */
      let cachedAt = null;
      const epochEnds = [];
      let lastLoss = null;
      let shared = null;
      const t0 = performance.now();
      const { report } = await client.fineTune(settings, {
        onProgress: (p) => {
          if (p.stage === 'finetune' && p.step === null) shared = p.threads;
          if (p.stage !== 'finetune' || !p.step) return;
          const now = performance.now();
          if (p.step.worked === 'caching' && p.step.phase !== 'caching') cachedAt = now;
          if (p.step.epoch_report) {
            epochEnds.push(now);
            lastLoss = p.step.epoch_report.train_loss;
          }
        },
      });
      const end = performance.now();
      const trainStart = cachedAt ?? t0;
      return {
        device: client.info.device,
        threads: shared,
        trainTexts: summary.counts.train,
        estimateS: plan.seconds,
        planS,
        probeSteps: plan.rates.steps,
        probeThreads: plan.threads,
        actualS: (end - t0) / 1000,
        cachingS: (trainStart - t0) / 1000,
        epochS: epochEnds.length ? (epochEnds[0] - trainStart) / 1000 : null,
        trainLoss: lastLoss,
        testAuroc: report.auroc,
      };
    },
    { layers, texts, epochs, csv, tutorial, threads, allLengths },
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
    '| device | threads | K | train texts | epochs | estimate s | actual s | estimate off by | speed-up | probe s | caching s | s / epoch | train texts/s | train loss | test AUROC |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const device of opts.devices) {
    const texts = device === 'webgpu' ? opts.webgpuTexts : opts.texts;
    const browser = await launch({ webgpu: device === 'webgpu' });
    const runs = device === 'cpu' ? opts.threads : [1];
    try {
      for (const [layers, threads] of opts.layers.flatMap((k) => runs.map((t) => [k, t]))) {
        const { page, openedAt, log } = await openPage(browser.context, `${browser.url}?device=${device}`);
        try {
          await waitReady(page, openedAt, 600_000);
          const r = await withTimeout(
            runInPage(page, {
              layers,
              texts,
              epochs: opts.epochs,
              csv,
              tutorial: opts.tutorial,
              threads,
              allLengths: opts.allLengths,
            }),
            3_600_000,
            `fine-tuning ${layers} layers on ${device} with ${threads} threads`,
          );
          // An epoch trains on 80 % of the texts and validates the other 20 %.
          const rate = r.epochS ? (0.8 * r.trainTexts) / r.epochS : null;
          const off = (r.estimateS - r.actualS) / r.actualS;
          // Against the same K and device on the first thread count measured.
          const base = rows.find((b) => b.device === device && b.layers === layers && !b.error);
          const speedup = base ? base.actualS / r.actualS : 1;
          rows.push({
            device,
            layers,
            epochs: opts.epochs,
            ...r,
            trainTextsPerS: rate,
            estimateOff: off,
            speedup,
          });
          const f = (v, d = 1) => (v === null || v === undefined ? '–' : v.toFixed(d));
          console.log(
            `| ${r.device} | ${r.threads} | ${layers} | ${r.trainTexts} | ${opts.epochs} | ${f(r.estimateS)} | ${f(r.actualS)} | ` +
              `${off >= 0 ? '+' : ''}${(off * 100).toFixed(0)} % | ${f(speedup, 2)}× | ${f(r.planS)} | ${f(r.cachingS)} | ` +
              `${f(r.epochS)} | ${f(rate, 2)} | ${f(r.trainLoss, 4)} | ${f(r.testAuroc, 3)} |`,
          );
        } catch (err) {
          console.log(`| ${device} | ${threads} | ${layers} | failed: ${err.message.split('\n')[0]} |`);
          rows.push({ device, layers, threads, error: err.message });
        } finally {
          const warnings = log.filter((l) => /^\[(worker )?(warning|error)\]|^\[pageerror\]/.test(l));
          if (warnings.length) console.log(`page warnings: ${warnings.join(' | ')}`);
          await page.close();
        }
      }
    } finally {
      await browser.close();
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
