#!/usr/bin/env node
// Browser benchmark: the page in headless Debian chromium, embedding real review texts.
//
//   node bench/browser_bench.mjs [RUNS]        (default 3 runs per device)
//     --cpu-batches=N      batches of 32 texts per CPU run (default 8)
//     --webgpu-batches=N   batches per WebGPU run (default 1: SwiftShader, a CPU emulation
//                          of a GPU, embeds well under 1 text/s)
//     --budget-s=S         start no further run on a device once its runs took S seconds
//                          (default 300; at least one run always happens)
//     --devices=cpu,webgpu which devices to measure (default both)
//
// Measures, per device: model load (page open -> encoder ready), embedding throughput in
// texts/s at max length 55 and batch 32 (after a warm-up call: 32 texts on CPU, 4 on
// WebGPU, whose kernels are then compiled); plus the size of
// pkg/bertweb_bg.wasm raw and gzipped. Prints the median and min-max of the runs as a table and
// writes bench/results/browser.json. Never fails a build: missing pieces are reported, exit 0.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants as zlib } from 'node:zlib';
import {
  CHROMIUM,
  ROOT,
  WASM,
  embedInPage,
  launch,
  missingPrerequisites,
  openPage,
  waitReady,
  withTimeout,
} from '../tests/browser/harness.mjs';

const MAX_LEN = 55;
const BATCH = 32;
const CSV_PATH = join(ROOT, '..', 'shared', 'data', 'amazon-fine-food', 'sample-2k.csv');
const RESULTS = join(ROOT, 'bench', 'results', 'browser.json');
const LOAD_TIMEOUT = { cpu: 180_000, webgpu: 600_000 };
const EMBED_TIMEOUT = { cpu: 600_000, webgpu: 1_200_000 };
const WARMUP_TEXTS = { cpu: BATCH, webgpu: 4 };

function parseArgs(argv) {
  const opts = { runs: 3, cpuBatches: 8, webgpuBatches: 1, budgetS: 300, devices: ['cpu', 'webgpu'] };
  for (const arg of argv) {
    const [key, value] = arg.split('=');
    if (/^\d+$/.test(arg)) opts.runs = Number(arg);
    else if (key === '--cpu-batches') opts.cpuBatches = Number(value);
    else if (key === '--webgpu-batches') opts.webgpuBatches = Number(value);
    else if (key === '--budget-s') opts.budgetS = Number(value);
    else if (key === '--devices') opts.devices = value.split(',').filter((d) => d === 'cpu' || d === 'webgpu');
    else {
      console.error(`browser_bench: unknown argument ${arg}`);
      process.exit(2);
    }
  }
  for (const k of ['runs', 'cpuBatches', 'webgpuBatches', 'budgetS']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 1) {
      console.error(`browser_bench: ${k} must be a positive integer`);
      process.exit(2);
    }
  }
  return opts;
}

/**
 * RFC 4180 CSV: comma separated, fields optionally in double quotes, "" for a quote inside
 * quotes, line breaks (LF or CRLF) allowed inside quotes.
 * @param {string} text
 * @returns {string[][]}
 */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // BOM
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** Review text as a reader sees it: tags removed, common entities decoded, spaces collapsed. */
export function cleanText(html) {
  return html
    .replace(/<\/?[a-z][^>]*>/gi, ' ')
    .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (m, e) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    })
    .replace(/\s+/g, ' ')
    .trim();
}

function readReviews(count) {
  const rows = parseCsv(readFileSync(CSV_PATH, 'utf8'));
  const column = rows[0]?.indexOf('Text') ?? -1;
  if (column < 0) throw new Error(`${CSV_PATH} has no Text column`);
  const texts = rows
    .slice(1)
    .map((r) => cleanText(r[column] ?? ''))
    .filter((t) => t.length > 0);
  if (texts.length < count) throw new Error(`${CSV_PATH} has only ${texts.length} texts, need ${count}`);
  return texts.slice(0, count);
}

function summary(values) {
  const v = values.filter((x) => Number.isFinite(x)).toSorted((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v.at(-1), runs: v };
}

/** One run on one device: fresh page, load, warm-up batch, timed embedding of all texts. */
async function runOnce(browser, device, texts) {
  const { page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=${device}`);
  try {
    const { info, ms: loadMs } = await waitReady(page, openedAt, LOAD_TIMEOUT[device]);
    if (info.device !== device) throw new Error(`asked for ${device}, got ${info.device}: ${info.fallback}`);
    const warmup = texts.slice(0, WARMUP_TEXTS[device]);
    await withTimeout(embedInPage(page, warmup, 'mean', MAX_LEN, BATCH), EMBED_TIMEOUT[device], 'warm-up');
    const { ms } = await withTimeout(
      embedInPage(page, texts, 'mean', MAX_LEN, BATCH),
      EMBED_TIMEOUT[device],
      `embedding ${texts.length} texts`,
    );
    return { loadMs, embedMs: ms, textsPerS: texts.length / (ms / 1000) };
  } catch (err) {
    const errors = log.filter((l) => /error/i.test(l)).slice(-5);
    throw new Error(`${err.message}${errors.length ? `\n  page: ${errors.join('\n  page: ')}` : ''}`);
  } finally {
    await page.close().catch(() => {});
  }
}

function fmt(s, digits) {
  if (!s) return 'n/a';
  digits ??= s.median < 1 ? 3 : 1;
  const f = (x) => x.toFixed(digits);
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

function chromiumVersion() {
  try {
    return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const missing = await missingPrerequisites();
  if (missing) {
    console.log(`browser_bench: skipped, ${missing}`);
    return;
  }

  const raw = readFileSync(WASM);
  const wasm = {
    rawBytes: raw.length,
    gzipBytes: gzipSync(raw, { level: zlib.Z_BEST_COMPRESSION }).length,
  };

  const counts = { cpu: opts.cpuBatches * BATCH, webgpu: opts.webgpuBatches * BATCH };
  const allTexts = readReviews(Math.max(...opts.devices.map((d) => counts[d])));

  const results = {};
  const browser = await launch({ webgpu: true });
  try {
    for (const device of opts.devices) {
      const texts = allTexts.slice(0, counts[device]);
      const runs = [];
      const errors = [];
      const started = performance.now();
      for (let r = 0; r < opts.runs; r++) {
        if (r > 0 && performance.now() - started > opts.budgetS * 1000) {
          console.log(`browser_bench: ${device}: ${opts.budgetS} s budget spent after ${r} runs; stopping there`);
          break;
        }
        process.stdout.write(`browser_bench: ${device} run ${r + 1}/${opts.runs} (${texts.length} texts) … `);
        try {
          const run = await runOnce(browser, device, texts);
          runs.push(run);
          console.log(`load ${(run.loadMs / 1000).toFixed(2)} s, ${run.textsPerS.toFixed(1)} texts/s`);
        } catch (err) {
          errors.push(err.message);
          console.log(`failed: ${err.message}`);
          if (/took longer than/.test(err.message)) break; // no point repeating a timeout
        }
      }
      results[device] = {
        texts: texts.length,
        loadMs: summary(runs.map((r) => r.loadMs)),
        textsPerS: summary(runs.map((r) => r.textsPerS)),
        embedMs: summary(runs.map((r) => r.embedMs)),
        errors,
      };
    }
  } finally {
    await browser.close();
  }

  const rows = [
    ['device', 'texts/run', 'texts/s median (min–max)', 'load s median (min–max)', 'runs ok/asked'],
    ...opts.devices.map((d) => {
      const r = results[d];
      const load = r.loadMs && { median: r.loadMs.median / 1000, min: r.loadMs.min / 1000, max: r.loadMs.max / 1000 };
      return [d, String(r.texts), fmt(r.textsPerS), fmt(load, 2), `${r.textsPerS?.runs.length ?? 0}/${opts.runs}`];
    }),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log('');
  console.log(`bertweb browser bench: max length ${MAX_LEN}, batch ${BATCH}, ${opts.runs} runs, ${chromiumVersion() ?? 'chromium'}`);
  rows.forEach((r, i) => {
    console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
  console.log(`pkg/bertweb_bg.wasm: ${(wasm.rawBytes / 1048576).toFixed(2)} MiB raw, ${(wasm.gzipBytes / 1048576).toFixed(2)} MiB gzip -9`);

  const report = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    chromium: chromiumVersion(),
    node: process.version,
    cpus: cpus().length,
    maxLen: MAX_LEN,
    batch: BATCH,
    runs: opts.runs,
    budgetS: opts.budgetS,
    data: 'shared/data/amazon-fine-food/sample-2k.csv (Text column, HTML stripped, first texts in file order)',
    webgpuAdapter: 'SwiftShader (--use-webgpu-adapter=swiftshader): CPU emulation, not a GPU',
    wasm,
    results,
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${RESULTS.slice(ROOT.length + 1)}`);
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main().catch((err) => {
    console.error(`browser_bench: ${err.stack ?? err}`);
    process.exitCode = 0; // benchmarks report, they never fail a build
  });
}
