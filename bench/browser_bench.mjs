#!/usr/bin/env node
// Browser benchmark: the page in headless Debian chromium, embedding real review texts.
//
//   node bench/browser_bench.mjs [RUNS]        (default 3 runs per model × configuration)
//     --devices=cpu,webgpu   which devices to measure (default both). cpu means two
//                            configurations: 1 thread and all threads (see --threads)
//     --threads=N            CPU threads of the "all threads" configuration (default: the
//                            cores of this machine, at most 8; 1 drops that configuration)
//     --models=minilm,base   which encoders (default both): minilm is the page's default
//                            model (models/all-MiniLM-L6-v2), base a random-weight BERT-base
//                            (12 layers, hidden 768: the tutorial's model size) in
//                            models/bert-base-random/. When that folder is missing, base is
//                            skipped with the command that creates it, unless --make-base
//     --make-base            create models/bert-base-random first when it is missing, with
//                            `source scripts/env.sh && cargo run --release --example random_bert`
//     --texts=tutorial|all   tutorial (default): the tutorial's preprocessing of the shared
//                            sample (rows with an empty text or score dropped, score 3
//                            dropped, fewer than 50 words as Python's str.split() counts them
//                            on the raw text, HTML tags removed as re.sub('<.*?>', '', text)),
//                            in file order, so real lengths of what the page classifies;
//                            all: every non-empty text, tags removed and entities decoded
//                            (what this bench measured before)
//     --cpu-batches=N        batches of 32 texts per CPU run of minilm (default 24: an
//                            extraction ends with one thread idle for up to a batch, which
//                            hides the steady rate when there are only a few batches per
//                            thread; docs/PERFORMANCE.md)
//     --webgpu-batches=N     batches per WebGPU run of minilm (default 1: SwiftShader, a CPU
//                            emulation of a GPU, is far slower than the CPU path)
//     --base-cpu-batches=N   batches per CPU run of base (default 4)
//     --base-webgpu-batches=N  batches per WebGPU run of base (default 1; 0 skips it); one
//                            batch of BERT-base on SwiftShader takes far longer than a run's
//                            budget, so it is usually cut by --webgpu-timeout-s: the row then
//                            says "> S s"
//     --webgpu-timeout-s=S   give up on a WebGPU warm-up or timed embedding after S seconds
//                            (default 1200)
//     --budget-s=S           start no further run of a row once its runs took S seconds
//                            (default 300; at least one run always happens)
//     --cold-runs=N          cold-start runs (default: RUNS; 0 skips cold start)
//
// Measures, per model × configuration (a fresh page each run, ?device=D&threads=T):
// model load (minilm: page open -> encoder ready; base: fetching its three files in the page
// and client.load, on a page already open), the threads that loaded (client.setThreads
// resolves once the helper workers have the model) and the batches each computed
// (client.setThreads(...).lastRun after the timed embedding: proof the helpers worked),
// embedding throughput in reviews/s at max length 55 and batch 32 through the page's
// length-sorted, multi-threaded extraction (after a warm-up call: 32 texts per thread on CPU,
// 4 on WebGPU, whose kernels are then compiled), and the wasm memory of the worker and each
// helper after it (wasm memory never shrinks: the peak; on WebGPU the GPU's buffers are not
// in it), and the page's tokenizing rate (client.tokenize of the first 1,000 texts, best of 3).
// Cold start: page open -> first classification of a typed review on CPU (the page's default
// model, classifier and threads), (a) in a new browser with an empty profile, (b) on a second
// visit in the same browser (model files in the Cache API, app shell in the service worker's
// cache). Plus the size of
// each build's wasm (pkg/, pkg/cpu/, pkg/cpu-baseline/) raw, gzip -9 and brotli (scripts/build.sh's
// copy). Prints the median and min–max of the runs as tables
// and writes bench/results/browser.json. Never fails a build: missing pieces are reported,
// exit 0.

import { execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants as zlib } from 'node:zlib';
import { precompressedCopies } from '../scripts/serve.mjs';
import {
  CHROMIUM,
  MODEL_DIR,
  ROOT,
  WASM,
  WASM_CPU,
  WASM_CPU_BASELINE,
  classifyTyped,
  launch,
  missingPrerequisites,
  openPage,
  waitClassifier,
  waitReady,
  withTimeout,
} from '../tests/browser/harness.mjs';
import { summary } from './stats.mjs';

export const MAX_LEN = 55;
export const BATCH = 32;
const MAX_WORDS = 50;
const CSV_PATH = join(ROOT, '..', 'shared', 'data', 'amazon-fine-food', 'sample-2k.csv');
const RESULTS = join(ROOT, 'bench', 'results', 'browser.json');
const LOAD_TIMEOUT = { cpu: 180_000, webgpu: 600_000 };
const CPU_EMBED_TIMEOUT = 600_000;
const WARMUP_TEXTS = { cpu: BATCH, webgpu: 4 };
/** Texts of the tokenizing rate (tokenizeRate): enough that one call takes tens of ms. */
const TOKENIZE_TEXTS = 1000;
const BASE_DIR = join(ROOT, 'models', 'bert-base-random');
const MAKE_BASE = 'source scripts/env.sh && cargo run --release --example random_bert';
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json'];
/** What the cold-start runs type into the review box. */
const COLD_TEXT = 'Great coffee, rich and smooth. I will buy it again.';

/**
 * The encoders measured. `dir` is served by the test server under the same path.
 * @typedef {{key: string, name: string, dir: string, url: string, pageDefault: boolean}} Model
 */
const MODELS = {
  minilm: {
    key: 'minilm',
    name: 'all-MiniLM-L6-v2',
    dir: MODEL_DIR,
    url: 'models/all-MiniLM-L6-v2/',
    pageDefault: true,
  },
  base: {
    key: 'base',
    name: 'bert-base-random',
    dir: BASE_DIR,
    url: 'models/bert-base-random/',
    pageDefault: false,
  },
};

function parseArgs(argv) {
  const opts = {
    runs: 3,
    cpuBatches: 24,
    webgpuBatches: 1,
    baseCpuBatches: 4,
    baseWebgpuBatches: 1,
    budgetS: 300,
    webgpuTimeoutS: 1200,
    coldRuns: null,
    threads: Math.max(1, Math.min(cpus().length, 8)),
    devices: ['cpu', 'webgpu'],
    models: ['minilm', 'base'],
    texts: 'tutorial',
    makeBase: false,
  };
  const list = (value, allowed, name) => {
    const items = (value ?? '').split(',').filter(Boolean);
    const bad = items.filter((i) => !allowed.includes(i));
    if (bad.length || !items.length) usage(`${name} takes a comma-separated list of ${allowed.join(', ')}`);
    return items;
  };
  for (const arg of argv) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (/^\d+$/.test(arg)) opts.runs = Number(arg);
    else if (key === '--cpu-batches') opts.cpuBatches = Number(value);
    else if (key === '--webgpu-batches') opts.webgpuBatches = Number(value);
    else if (key === '--base-cpu-batches') opts.baseCpuBatches = Number(value);
    else if (key === '--base-webgpu-batches') opts.baseWebgpuBatches = Number(value);
    else if (key === '--budget-s') opts.budgetS = Number(value);
    else if (key === '--webgpu-timeout-s') opts.webgpuTimeoutS = Number(value);
    else if (key === '--cold-runs') opts.coldRuns = Number(value);
    else if (key === '--threads') opts.threads = Number(value);
    else if (key === '--devices') opts.devices = list(value, ['cpu', 'webgpu'], '--devices');
    else if (key === '--models') opts.models = list(value, Object.keys(MODELS), '--models');
    else if (key === '--texts') opts.texts = list(value, ['tutorial', 'all'], '--texts')[0];
    else if (key === '--make-base' && value === undefined) opts.makeBase = true;
    else usage(`unknown argument ${arg}`);
  }
  opts.coldRuns ??= opts.runs;
  for (const k of [
    'runs',
    'cpuBatches',
    'webgpuBatches',
    'baseCpuBatches',
    'budgetS',
    'webgpuTimeoutS',
    'threads',
  ]) {
    if (!Number.isInteger(opts[k]) || opts[k] < 1) usage(`${k} must be a positive integer`);
  }
  for (const k of ['baseWebgpuBatches', 'coldRuns']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 0) usage(`${k} must be a whole number`);
  }
  opts.threads = Math.min(opts.threads, 8); // the page's pool keeps at most 8 threads
  return opts;
}

function usage(message) {
  console.error(`browser_bench: ${message} (see the header of bench/browser_bench.mjs)`);
  process.exit(2);
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

/** Whitespace as Python's str.split() sees it (src/data.rs `is_py_space`). */
const PY_SPACE = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** Number of words as Python's `len(text.split())` counts them. */
export function wordCount(text) {
  return text.split(PY_SPACE).filter((w) => w.length > 0).length;
}

/**
 * The tutorial's preprocessing of an Amazon Fine Food CSV (src/data.rs `preprocess` without
 * its shuffle and split), in file order: drop empty text or score, drop score 3 and scores
 * that are not 1–5, keep fewer than 50 words (counted on the raw text, as the tutorial does),
 * strip tags with re.sub('<.*?>', '', text).
 * @param {string[][]} rows header first
 */
export function tutorialTexts(rows) {
  const text = rows[0]?.indexOf('Text') ?? -1;
  const score = rows[0]?.indexOf('Score') ?? -1;
  if (text < 0 || score < 0) throw new Error(`${CSV_PATH} has no Text and Score columns`);
  const counts = { rows: rows.length - 1, droppedEmpty: 0, droppedScore: 0, droppedLong: 0, kept: 0 };
  const texts = [];
  for (const r of rows.slice(1)) {
    const t = r[text] ?? '';
    const s = (r[score] ?? '').trim();
    if (wordCount(t) === 0 || !s) {
      counts.droppedEmpty++;
      continue;
    }
    const value = Number(s);
    if (!Number.isInteger(value) || value < 1 || value > 5 || value === 3) {
      counts.droppedScore++;
      continue;
    }
    if (wordCount(t) >= MAX_WORDS) {
      counts.droppedLong++;
      continue;
    }
    texts.push(t.replace(/<.*?>/g, ''));
  }
  counts.kept = texts.length;
  return { texts, counts };
}

/** The review texts the bench embeds, in file order; at most `count` of them. */
function readReviews(mode, count) {
  const rows = parseCsv(readFileSync(CSV_PATH, 'utf8'));
  let texts;
  let counts = null;
  let description;
  if (mode === 'all') {
    const column = rows[0]?.indexOf('Text') ?? -1;
    if (column < 0) throw new Error(`${CSV_PATH} has no Text column`);
    texts = rows
      .slice(1)
      .map((r) => cleanText(r[column] ?? ''))
      .filter((t) => t.length > 0);
    description =
      'shared/data/amazon-fine-food/sample-2k.csv (Text column, HTML stripped, first texts in file order)';
  } else {
    ({ texts, counts } = tutorialTexts(rows));
    description =
      "shared/data/amazon-fine-food/sample-2k.csv, the tutorial's preprocessing (empty text/score " +
      `and score 3 dropped, fewer than ${MAX_WORDS} words, tags stripped), first texts in file order`;
  }
  return { texts: texts.slice(0, count), available: texts.length, counts, description };
}

/** Fetch a model folder in the page and make it the encoder on `device`. */
function loadInPage(page, base, device) {
  return page.evaluate(
    async ({ base, names, device }) => {
      const [config, weights, tokenizer] = await Promise.all(
        names.map(async (name) => {
          const response = await fetch(new URL(name, base));
          if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
          return response.arrayBuffer();
        }),
      );
      return window.bertweb.client.load({ config, weights, tokenizer }, device);
    },
    { base, names: MODEL_FILES, device },
  );
}

/** Time one client.embed in the page; returns ms and whether every value is a finite number. */
function timeEmbed(page, texts) {
  return page.evaluate(
    async ({ texts, maxLen, batchSize }) => {
      const { client } = window.bertweb;
      const t0 = performance.now();
      const flat = await client.embed(texts, 'mean', maxLen, { batchSize });
      const ms = performance.now() - t0;
      return { ms, values: flat.length, finite: flat.every(Number.isFinite) };
    },
    { texts, maxLen: MAX_LEN, batchSize: BATCH },
  );
}

/** Mean word pieces per text (with [CLS] and [SEP]) at the bench's max length. */
function meanTokens(page, texts) {
  return page.evaluate(
    async ({ texts, maxLen }) => {
      const tokenized = await window.bertweb.client.tokenize(texts, maxLen);
      return tokenized.reduce((sum, t) => sum + t.ids.length, 0) / tokenized.length;
    },
    { texts, maxLen: MAX_LEN },
  );
}

/**
 * The page's tokenizing rate in texts/s: client.tokenize of `texts` at the bench's max length,
 * best of 3 calls (the worker's messages are in it, as in the page). The WebGPU build has its
 * Rust at opt-level "z" and the CPU builds at 3 (Cargo.toml), so this shows what that costs.
 */
function tokenizeRate(page, texts) {
  return page.evaluate(
    async ({ texts, maxLen }) => {
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await window.bertweb.client.tokenize(texts, maxLen);
        best = Math.min(best, performance.now() - t0);
      }
      return texts.length / (best / 1000);
    },
    { texts, maxLen: MAX_LEN },
  );
}

/**
 * One run of one model on one configuration: fresh page, load, helpers loaded, warm-up,
 * timed embedding of all texts, then the batches per thread and the wasm memory.
 */
async function runOnce(browser, model, config, texts, opts, wantTokens, tokenizeTexts) {
  const { device, threads } = config;
  const url = `${browser.url}?device=${device}&threads=${threads}`;
  const { page, log, openedAt } = await openPage(browser.context, url);
  const embedTimeout = device === 'webgpu' ? opts.webgpuTimeoutS * 1000 : CPU_EMBED_TIMEOUT;
  try {
    let { info, ms: loadMs } = await waitReady(page, openedAt, LOAD_TIMEOUT[device]);
    if (info.device !== device) throw new Error(`asked for ${device}, got ${info.device}: ${info.fallback}`);
    // The default classifier loads after the model: let it finish before anything is timed.
    await withTimeout(
      page.evaluate(() =>
        window.bertweb.classifierReady.then(
          () => true,
          () => false,
        ),
      ),
      60_000,
      'the default classifier',
    );
    if (!model.pageDefault) {
      const t0 = performance.now();
      info = await withTimeout(
        loadInPage(page, `${browser.url}${model.url}`, device),
        LOAD_TIMEOUT[device],
        `loading ${model.name}`,
      );
      loadMs = performance.now() - t0;
      if (info.device !== device)
        throw new Error(`asked for ${device}, got ${info.device}: ${info.fallback}`);
    }
    // Resolves once the helpers hold the model, so the timed run has every thread.
    const t1 = performance.now();
    const pool = await withTimeout(
      page.evaluate((n) => window.bertweb.client.setThreads(n), threads),
      LOAD_TIMEOUT.cpu,
      'loading the helper workers',
    );
    const helpersMs = performance.now() - t1;
    // A warm-up batch for every thread, so no helper's first (slower) call is timed.
    const warmup = texts.slice(0, WARMUP_TEXTS[device] * pool.threads);
    await withTimeout(timeEmbed(page, warmup), embedTimeout, 'warm-up');
    const tokens = wantTokens ? await meanTokens(page, texts) : null;
    const tokenizePerS = await tokenizeRate(page, tokenizeTexts);
    const run = await withTimeout(timeEmbed(page, texts), embedTimeout, `embedding ${texts.length} texts`);
    if (run.values !== texts.length * info.dim)
      throw new Error(`got ${run.values} values for ${texts.length} texts of dim ${info.dim}`);
    if (!run.finite) throw new Error('the embeddings contain NaN or infinity');
    const { lastRun } = await page.evaluate((n) => window.bertweb.client.setThreads(n), threads);
    const memory = await page.evaluate(() => window.bertweb.client.memory());
    return {
      loadMs,
      helpersMs,
      embedMs: run.ms,
      textsPerS: texts.length / (run.ms / 1000),
      tokenizePerS,
      threads: pool.threads,
      wanted: pool.wanted,
      lastRun,
      memory,
      tokens,
      layers: info.layers,
      dim: info.dim,
    };
  } catch (err) {
    const errors = log.filter((l) => /error|warn/i.test(l)).slice(-5);
    throw new Error(`${err.message}${errors.length ? `\n  page: ${errors.join('\n  page: ')}` : ''}`);
  } finally {
    await page.close().catch(() => {});
  }
}

/**
 * One cold start: page open -> the page's default model and classifier loaded -> a typed
 * review classified. Afterwards waits for the service worker, so the next visit can use it.
 */
async function visit(browser) {
  const { page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=cpu`);
  try {
    const { info, ms: readyMs } = await waitReady(page, openedAt, LOAD_TIMEOUT.cpu);
    await waitClassifier(page);
    const classifierMs = performance.now() - openedAt;
    const verdict = await classifyTyped(page, COLD_TEXT);
    const ms = performance.now() - openedAt;
    await withTimeout(
      page.evaluate(() => window.bertweb.serviceWorker.then(() => true)),
      60_000,
      'the service worker',
    );
    const cached = await page.evaluate(
      async () => (await (await caches.open('bertweb-models-v1')).keys()).length,
    );
    return { ms, readyMs, classifierMs, verdict, threads: info.threads, modelFilesCached: cached };
  } catch (err) {
    const errors = log.filter((l) => /error/i.test(l)).slice(-5);
    throw new Error(`${err.message}${errors.length ? `\n  page: ${errors.join('\n  page: ')}` : ''}`);
  } finally {
    await page.close().catch(() => {});
  }
}

async function coldStart(runs) {
  const fresh = [];
  const cached = [];
  const errors = [];
  for (let r = 0; r < runs; r++) {
    process.stdout.write(`browser_bench: cold start run ${r + 1}/${runs} … `);
    let browser;
    try {
      browser = await launch({ webgpu: false }); // a new, empty profile
      const first = await visit(browser);
      fresh.push(first);
      const second = await visit(browser);
      cached.push(second);
      console.log(
        `fresh profile ${(first.ms / 1000).toFixed(2)} s, second visit ${(second.ms / 1000).toFixed(2)} s (${second.verdict})`,
      );
    } catch (err) {
      errors.push(err.message);
      console.log(`failed: ${err.message}`);
    } finally {
      await browser?.close();
    }
  }
  const describe = (visits) => ({
    toVerdictMs: summary(visits.map((v) => v.ms)),
    modelReadyMs: summary(visits.map((v) => v.readyMs)),
    classifierReadyMs: summary(visits.map((v) => v.classifierMs)),
    threads: visits[0]?.threads ?? null,
    verdicts: visits.map((v) => v.verdict),
    modelFilesCachedAfter: visits.map((v) => v.modelFilesCached),
  });
  return {
    text: COLD_TEXT,
    device: 'cpu',
    freshProfile: describe(fresh),
    secondVisit: describe(cached),
    errors,
  };
}

function fmt(s, digits) {
  if (!s) return 'n/a';
  digits ??= s.median < 1 ? 3 : 1;
  const f = (x) => x.toFixed(digits);
  return s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

const seconds = (s) => s && { median: s.median / 1000, min: s.min / 1000, max: s.max / 1000 };
const mib = (bytes) => (bytes / 1048576).toFixed(0);

function printTable(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  rows.forEach((r, i) => {
    console.log(
      r
        .map((cell, c) => cell.padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    );
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

export function chromiumVersion() {
  try {
    return execFileSync(CHROMIUM, ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

export function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

const hasModel = (dir) => MODEL_FILES.every((f) => existsSync(join(dir, f)));

/** Make models/bert-base-random when asked to and it is missing; say why base is skipped otherwise. */
function baseModelMissing(opts) {
  if (hasModel(BASE_DIR)) return null;
  if (!opts.makeBase) {
    return `models/bert-base-random is missing: create it with \`${MAKE_BASE}\` (or pass --make-base)`;
  }
  console.log(`browser_bench: creating models/bert-base-random: ${MAKE_BASE}`);
  try {
    execSync(MAKE_BASE, { cwd: ROOT, shell: '/bin/bash', stdio: 'inherit' });
  } catch (err) {
    return `creating models/bert-base-random failed (${err.message})`;
  }
  return hasModel(BASE_DIR) ? null : `${MAKE_BASE} did not write models/bert-base-random`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const missing = await missingPrerequisites();
  if (missing) {
    console.log(`browser_bench: skipped, ${missing}`);
    return;
  }

  const size = async (path) => {
    const raw = readFileSync(path);
    // Brotli at quality 11 is slow (a build step): the copy scripts/build.sh wrote, when it is
    // current.
    const br = (await precompressedCopies(path)).find((c) => c.encoding === 'br');
    return {
      rawBytes: raw.length,
      gzipBytes: gzipSync(raw, { level: zlib.Z_BEST_COMPRESSION }).length,
      brotliBytes: br?.size ?? null,
    };
  };
  // By build, as www/builds.js names them.
  const wasm = {
    webgpu: await size(WASM),
    cpu: await size(WASM_CPU),
    'cpu-baseline': await size(WASM_CPU_BASELINE),
  };

  const skipped = [];
  const models = opts.models
    .map((k) => MODELS[k])
    .filter((m) => {
      const why = m.key === 'base' ? baseModelMissing(opts) : null;
      if (why) {
        console.log(`browser_bench: skipping ${m.name}: ${why}`);
        skipped.push({ model: m.name, reason: why });
      }
      return !why;
    });
  const configs = [];
  if (opts.devices.includes('cpu')) {
    configs.push({ key: 'cpu', device: 'cpu', threads: 1 });
    if (opts.threads > 1)
      configs.push({ key: `cpu-${opts.threads}threads`, device: 'cpu', threads: opts.threads });
  }
  if (opts.devices.includes('webgpu')) configs.push({ key: 'webgpu', device: 'webgpu', threads: 1 });
  const batches = {
    minilm: { cpu: opts.cpuBatches, webgpu: opts.webgpuBatches },
    base: { cpu: opts.baseCpuBatches, webgpu: opts.baseWebgpuBatches },
  };
  const plan = [];
  for (const model of models) {
    for (const config of configs) {
      const n = batches[model.key][config.device];
      if (n > 0) plan.push({ model, config, count: n * BATCH });
      else
        skipped.push({
          model: model.name,
          config: config.key,
          reason: `--${model.key === 'base' ? 'base-' : ''}${config.device}-batches=0`,
        });
    }
  }

  const data = readReviews(opts.texts, Math.max(0, ...plan.map((p) => p.count)));
  // Every configuration tokenizes the same texts, however few it embeds.
  const tokenizeTexts = readReviews(opts.texts, TOKENIZE_TEXTS).texts;
  for (const p of plan) {
    if (p.count > data.texts.length) {
      console.log(
        `browser_bench: ${p.model.name} ${p.config.key}: only ${data.texts.length} texts, not ${p.count}`,
      );
      p.count = data.texts.length;
    }
  }

  const rows = [];
  if (plan.length) {
    const browser = await launch({ webgpu: true });
    try {
      for (const { model, config, count } of plan) {
        const texts = data.texts.slice(0, count);
        const runs = [];
        const errors = [];
        const started = performance.now();
        const label = `${model.name} ${config.key}`;
        for (let r = 0; r < opts.runs; r++) {
          if (r > 0 && performance.now() - started > opts.budgetS * 1000) {
            console.log(
              `browser_bench: ${label}: ${opts.budgetS} s budget spent after ${r} runs; stopping there`,
            );
            break;
          }
          process.stdout.write(
            `browser_bench: ${label} run ${r + 1}/${opts.runs} (${texts.length} texts) … `,
          );
          try {
            const run = await runOnce(browser, model, config, texts, opts, runs.length === 0, tokenizeTexts);
            runs.push(run);
            const memory = [run.memory.worker, ...run.memory.helpers]
              .map((b) => (b == null ? '?' : mib(b)))
              .join('+');
            console.log(
              `load ${(run.loadMs / 1000).toFixed(2)} s, ${run.textsPerS.toFixed(2)} reviews/s, ` +
                `${run.threads} thread(s), batches per thread [${run.lastRun.join(', ')}], memory ${memory} MiB`,
            );
            if (run.threads !== config.threads)
              console.log(`browser_bench: ${label}: only ${run.threads} of ${config.threads} threads loaded`);
          } catch (err) {
            errors.push(err.message);
            console.log(`failed: ${err.message}`);
            if (/took longer than/.test(err.message)) break; // no point repeating a timeout
          }
        }
        const last = runs.at(-1);
        rows.push({
          model: model.name,
          config: config.key,
          device: config.device,
          threadsAsked: config.threads,
          threads: last?.threads ?? null,
          layers: last?.layers ?? null,
          dim: last?.dim ?? null,
          texts: texts.length,
          meanTokens: runs[0]?.tokens ?? null,
          loadMs: summary(runs.map((r) => r.loadMs)),
          helpersMs: summary(runs.map((r) => r.helpersMs)),
          textsPerS: summary(runs.map((r) => r.textsPerS)),
          tokenizePerS: summary(runs.map((r) => r.tokenizePerS)),
          embedMs: summary(runs.map((r) => r.embedMs)),
          lastRun: runs.map((r) => r.lastRun),
          memory: last?.memory ?? null,
          memoryTotalBytes: summary(
            runs.map((r) => r.memory.worker + r.memory.helpers.reduce((a, b) => a + (b ?? 0), 0)),
          ),
          runsOk: runs.length,
          errors,
        });
      }
    } finally {
      await browser.close();
    }
  }

  const cold = opts.coldRuns > 0 ? await coldStart(opts.coldRuns) : null;

  console.log('');
  console.log(
    `bertweb browser bench: reviews/s at max length ${MAX_LEN}, batch ${BATCH}, up to ${opts.runs} runs, ` +
      `${chromiumVersion() ?? 'chromium'}, ${cpus().length} cores, WebGPU on SwiftShader (CPU)`,
  );
  console.log(
    `texts: ${opts.texts} (${data.available} available${data.texts.length ? `, first ${Math.max(...rows.map((r) => r.texts), 0)} used` : ''})`,
  );
  printTable([
    [
      'model',
      'config',
      'texts',
      'tokens',
      'reviews/s median (min–max)',
      'tokenized/s',
      'load s',
      'batches/thread',
      'peak wasm MiB',
      'runs',
    ],
    ...rows.map((r) => {
      const timedOut = !r.runsOk && r.errors.find((e) => /took longer than/.test(e));
      // A timed-out embedding still bounds the rate: fewer than texts / limit per second.
      const limit = timedOut && /^embedding .* took longer than (\d+) s/.exec(timedOut);
      const rate = limit
        ? `< ${(r.texts / Number(limit[1])).toFixed(3)} (over ${limit[1]} s)`
        : timedOut
          ? `timed out: ${timedOut.split('\n')[0]}`
          : fmt(r.textsPerS, r.textsPerS && r.textsPerS.median < 10 ? 2 : 1);
      const memory = r.memory
        ? [r.memory.worker, ...r.memory.helpers].map((b) => (b == null ? '?' : mib(b))).join('+')
        : 'n/a';
      return [
        r.model,
        r.config,
        String(r.texts),
        r.meanTokens == null ? 'n/a' : r.meanTokens.toFixed(1),
        rate,
        fmt(r.tokenizePerS, 0),
        fmt(seconds(r.loadMs), 2),
        r.lastRun.length ? r.lastRun.at(-1).join('+') : 'n/a',
        memory,
        `${r.runsOk}/${opts.runs}`,
      ];
    }),
  ]);
  for (const s of skipped) console.log(`skipped: ${s.model}${s.config ? ` ${s.config}` : ''}: ${s.reason}`);
  if (cold) {
    console.log('');
    console.log(
      `cold start on CPU, page open -> first classification of a typed review (${opts.coldRuns} runs; ` +
        `the page's default threads: ${cold.freshProfile.threads ?? '?'}):`,
    );
    printTable([
      ['visit', 'to verdict s', 'model ready s', 'classifier ready s'],
      ...[
        ['fresh profile', cold.freshProfile],
        ['second visit (cached)', cold.secondVisit],
      ].map(([name, c]) => [
        name,
        fmt(seconds(c.toVerdictMs), 2),
        fmt(seconds(c.modelReadyMs), 2),
        fmt(seconds(c.classifierReadyMs), 2),
      ]),
    ]);
  }
  const sizeMiB = (n) => `${(n / 1048576).toFixed(2)} MiB`;
  for (const [name, w] of [
    ['pkg/bertweb_bg.wasm (WebGPU)', wasm.webgpu],
    ['pkg/cpu/bertweb_bg.wasm (CPU, relaxed SIMD)', wasm.cpu],
    ['pkg/cpu-baseline/bertweb_bg.wasm (CPU, SIMD128)', wasm['cpu-baseline']],
  ]) {
    const br =
      w.brotliBytes === null
        ? 'no current .br copy (scripts/build.sh writes it)'
        : `${sizeMiB(w.brotliBytes)} brotli (what scripts/serve.mjs sends)`;
    console.log(`${name}: ${sizeMiB(w.rawBytes)} raw, ${sizeMiB(w.gzipBytes)} gzip -9, ${br}`);
  }

  // `results` keeps its old shape (the default model per configuration); `rows` has them all.
  const results = Object.fromEntries(
    rows.filter((r) => r.model === MODELS.minilm.name).map((r) => [r.config, r]),
  );
  const report = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    chromium: chromiumVersion(),
    node: process.version,
    cpus: cpus().length,
    loadAverage: loadavg(),
    maxLen: MAX_LEN,
    batch: BATCH,
    runs: opts.runs,
    budgetS: opts.budgetS,
    webgpuTimeoutS: opts.webgpuTimeoutS,
    texts: opts.texts,
    textsAvailable: data.available,
    preprocessing: data.counts,
    data: data.description,
    webgpuAdapter: 'SwiftShader (--use-webgpu-adapter=swiftshader): CPU emulation, not a GPU',
    memory:
      'rows[].memory: wasm memory in bytes of the worker and of each helper after the timed embedding; ' +
      'it never shrinks, so it is the peak (GPU buffers are not in it)',
    lastRun:
      'rows[].lastRun: per run, the batches each thread computed in the timed embedding (worker first)',
    wasm,
    results,
    rows,
    skipped,
    coldStart: cold,
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
