#!/usr/bin/env node
// Explanations (integrated gradients, `attribution.rs`) in headless Debian chromium, through
// the page's own worker (window.bertweb.client.explain, as the page's Why? button calls it),
// with the page's default classifier on the default model: how long one explanation of a
// 55-token text takes on each device, how many quadrature nodes it used (20, doubled while the
// words' pushes miss the change in log-odds by more than 5 % of its scale), and how far
// they miss.
//
//   node bench/browser_explain.mjs [--texts=N] [--devices=cpu,webgpu] [--threads=1,2]
//
// Texts: reviews of shared/data/amazon-fine-food/sample-2k.csv of 60 words or more, in file
// order, so every one is cut at the classifier's 55 tokens. One explanation runs first and is
// not counted (the first call allocates, and gives the helpers the classifier). On the CPU the
// integral's nodes are shared by the worker and its extraction helpers, one per thread
// (`--threads`, each count measured once the helpers have loaded the model). SwiftShader's
// WebGPU times say nothing about a GPU. Prints a table and writes bench/results/browser_explain.json. Never
// fails a build.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT,
  SAMPLE_CSV,
  launch,
  missingPrerequisites,
  openPage,
  waitReady,
  withTimeout,
} from '../tests/browser/harness.mjs';
import { summary } from './stats.mjs';

const RESULTS = join(ROOT, 'bench', 'results', 'browser_explain.json');

function parseArgs(argv) {
  const opts = { texts: 10, devices: ['cpu'], threads: [1, 2] };
  for (const arg of argv) {
    const [key, value] = arg.split('=');
    if (key === '--texts') opts.texts = Number(value);
    else if (key === '--devices') opts.devices = value.split(',');
    else if (key === '--threads') opts.threads = value.split(',').map(Number);
    else {
      console.error(`browser_explain: unknown argument ${arg}`);
      process.exit(2);
    }
  }
  return opts;
}

/** Explain `count` long reviews of the sample in the page; one warm-up first. */
function runInPage(page, count, csv, threads) {
  return page.evaluate(
    async ({ count, csv, threads }) => {
      const { client, classifierReady } = window.bertweb;
      const meta = await classifierReady;
      if (!meta) throw new Error('no default classifier');
      // Answered once the helpers have loaded; on WebGPU there are none.
      const used = (await client.setThreads(threads)).threads;
      const column = await client.csvColumn(new TextEncoder().encode(csv).buffer, 'Text');
      const texts = column.filter((t) => t.split(/\s+/).length >= 60).slice(0, count + 1);
      await client.explain(texts[0]);
      const runs = [];
      for (const text of texts.slice(1)) {
        const started = performance.now();
        const a = await client.explain(text);
        const seconds = (performance.now() - started) / 1000;
        const change = a.log_odds - a.baseline_log_odds;
        runs.push({
          seconds,
          steps: a.steps,
          tokens: a.tokens.length + 2,
          truncated: a.truncated,
          errorPct: Math.abs((100 * a.gap) / change),
          // Of the larger of the change and the pushes' total size: what the nodes double on.
          scalePct: Math.abs(
            (100 * a.gap) /
              Math.max(
                Math.abs(change),
                a.tokens.reduce((s, t) => s + Math.abs(t.value), 0),
              ),
          ),
        });
      }
      return { device: client.info?.device, threads: used, runs };
    },
    { count, csv, threads },
  );
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const missing = await missingPrerequisites({ sample: true });
  if (missing) {
    console.log(`browser_explain: skipped (${missing})`);
    return;
  }
  const csv = readFileSync(SAMPLE_CSV, 'utf8');
  const rows = [];
  console.log(
    '| device | threads | texts | tokens | seconds median (min–max) | nodes median (min–max) | pushes miss the change by, median (max) | … by, of the larger of it and their size |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const device of opts.devices) {
    const browser = await launch({ webgpu: device === 'webgpu' });
    try {
      const { page, openedAt } = await openPage(browser.context, `${browser.url}?device=${device}`);
      await waitReady(page, openedAt, 600_000);
      for (const threads of device === 'cpu' ? opts.threads : [1]) {
        const r = await withTimeout(
          runInPage(page, opts.texts, csv, threads),
          1_800_000,
          `explaining on ${device}`,
        );
        const seconds = summary(r.runs.map((x) => x.seconds));
        const steps = summary(r.runs.map((x) => x.steps));
        const error = summary(r.runs.map((x) => x.errorPct));
        const ofScale = summary(r.runs.map((x) => x.scalePct));
        const tokens = [...new Set(r.runs.map((x) => x.tokens))].join(', ');
        rows.push({
          device: r.device,
          threads: r.threads,
          texts: r.runs.length,
          tokens,
          seconds,
          steps,
          errorPct: error,
          scalePct: ofScale,
          runs: r.runs,
        });
        const f = (s, d) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
        console.log(
          `| ${r.device} | ${r.threads} | ${r.runs.length} | ${tokens} | ${f(seconds, 2)} | ${f(steps, 0)} | ` +
            `${error.median.toFixed(1)} % (${error.max.toFixed(1)} %) | ` +
            `${ofScale.median.toFixed(1)} % (${ofScale.max.toFixed(1)} %) |`,
        );
      }
    } catch (err) {
      console.log(`| ${device} | failed: ${err.message.split('\n')[0]} |`);
      rows.push({ device, error: err.message });
    } finally {
      await browser.close();
    }
  }
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify({ options: opts, date: new Date().toISOString(), rows }, null, 2));
  console.log(`wrote ${RESULTS}`);
}

main().catch((err) => {
  console.error(`browser_explain: ${err.stack ?? err}`);
  process.exit(0);
});
