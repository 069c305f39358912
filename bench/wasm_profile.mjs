#!/usr/bin/env node
// The page's CPU extraction in Node: the page's wasm and its extraction loop (www/pool.js) on
// V8 without a browser: texts/s, and where the time goes, by wasm function. Quicker and
// steadier than the browser bench for trying a change to the CPU path; browser_bench.mjs gives
// the figures to report. Node 20's V8 (11.3) is older than Chromium's; on this machine the two
// gave nearly the same rates (docs/PERFORMANCE.md).
//
//   node bench/wasm_profile.mjs [--pkg=DIR] [--texts=N] [--runs=N] [--profile] [--top=N]
//     --pkg=DIR   a wasm-bindgen output for `--target web` (default pkg/cpu: the page's CPU
//                 build, relaxed SIMD). The page's builds have no function names; for a
//                 profile that names them, bind the last wasm build again with names:
//                   source scripts/env.sh && wasm-bindgen --target web --no-typescript \
//                     --out-dir /tmp/named $CARGO_TARGET_DIR/wasm32-unknown-unknown/release/bertweb.wasm
//                 and pass --pkg=/tmp/named
//     --texts=N   tutorial texts of the shared sample to embed (default 256), in the page's
//                 length-sorted batches of 32 at max length 55, one thread
//     --runs=N    timed runs (default 3); prints each and the median
//     --profile   sample the last run with V8's profiler (100 µs) and print the functions
//                 with the most self time; writes bench/results/wasm_profile.cpuprofile
//                 (open it in Chromium's DevTools, Performance panel)
//     --top=N     functions listed (default 25)
//
// Node 20 has relaxed SIMD behind a V8 flag: set here when the engine lacks it.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { BATCH, MAX_LEN, parseCsv, tutorialTexts } from './browser_bench.mjs';
import { MODEL_DIR, ROOT, SAMPLE_CSV } from '../tests/browser/harness.mjs';
import { relaxedSimd } from '../www/builds.js';
import { runExtraction } from '../www/pool.js';

if (!relaxedSimd()) setFlagsFromString('--experimental-wasm-relaxed-simd');

const RESULTS = join(ROOT, 'bench', 'results');
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json'];

function parseArgs(argv) {
  const opts = { pkg: join(ROOT, 'pkg', 'cpu'), texts: 256, runs: 3, profile: false, top: 25 };
  for (const arg of argv) {
    const [key, value] = arg.split('=');
    if (key === '--pkg') opts.pkg = resolve(value);
    else if (key === '--texts') opts.texts = Number(value);
    else if (key === '--runs') opts.runs = Number(value);
    else if (key === '--profile') opts.profile = true;
    else if (key === '--top') opts.top = Number(value);
    else fail(`unknown argument ${arg}`);
  }
  if (!(opts.texts >= 1 && opts.runs >= 1)) fail('--texts and --runs must be at least 1');
  return opts;
}

function fail(message) {
  console.error(`wasm_profile: ${message}`);
  process.exit(2);
}

/** One extraction as the page's worker runs it on one thread (www/pool.js); its seconds. */
async function extract(wasm, encoder, texts) {
  const extraction = new wasm.Extraction(encoder, texts, 'mean', MAX_LEN, BATCH);
  const lane = {
    local: true,
    ready: Promise.resolve(encoder.modelId),
    embed: (batch) => encoder.embed(batch, 'mean', MAX_LEN),
    fail: () => {},
  };
  const start = performance.now();
  await runExtraction(extraction, [lane], { cancelled: () => null, onDone: () => {} });
  const seconds = (performance.now() - start) / 1000;
  extraction.finish().free();
  return seconds;
}

/** Self time by function name, largest first, as [name, share] pairs. */
function selfTimes(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byName = new Map();
  for (const id of profile.samples) {
    const name = nodes.get(id).callFrame.functionName || '(anonymous)';
    byName.set(name, (byName.get(name) ?? 0) + 1);
  }
  return [...byName].sort((a, b) => b[1] - a[1]).map(([name, n]) => [name, n / profile.samples.length]);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const wasmFile = join(opts.pkg, 'bertweb_bg.wasm');
  if (!existsSync(wasmFile)) fail(`${wasmFile} is missing: build it with scripts/build.sh`);
  if (MODEL_FILES.some((f) => !existsSync(join(MODEL_DIR, f))))
    fail(`the default model is missing in ${MODEL_DIR}: python3 scripts/fetch_model.py fetches it`);
  if (!existsSync(SAMPLE_CSV)) fail(`${SAMPLE_CSV} is missing (the shared data)`);
  const glue = await import(pathToFileURL(join(opts.pkg, 'bertweb.js')).href);
  try {
    glue.initSync({ module: readFileSync(wasmFile) });
  } catch (err) {
    fail(
      `${wasmFile} does not run in Node ${process.versions.node}${relaxedSimd() ? '' : ', which has no relaxed SIMD (the CPU build needs it; try --pkg=pkg)'}: ${err.message}`,
    );
  }
  const file = (name) => readFileSync(join(MODEL_DIR, name));
  const encoder = await glue.Encoder.load(
    file('config.json'),
    file('model.safetensors'),
    file('tokenizer.json'),
    'cpu',
  );
  const texts = tutorialTexts(parseCsv(readFileSync(SAMPLE_CSV, 'utf8'))).texts.slice(0, opts.texts);

  await extract(glue, encoder, texts.slice(0, BATCH)); // warm-up: the optimizing tier
  const rates = [];
  let profile = null;
  const session = new Session();
  session.connect();
  for (let run = 1; run <= opts.runs; run++) {
    const sampled = opts.profile && run === opts.runs;
    if (sampled) {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
    }
    const seconds = await extract(glue, encoder, texts);
    if (sampled) ({ profile } = await session.post('Profiler.stop'));
    rates.push(texts.length / seconds);
    console.log(
      `run ${run}: ${texts.length} texts in ${seconds.toFixed(2)} s, ${rates.at(-1).toFixed(1)} texts/s${sampled ? ' (profiled)' : ''}`,
    );
  }
  const sorted = rates.toSorted((a, b) => a - b);
  console.log(
    `median ${sorted[sorted.length >> 1].toFixed(1)} texts/s (${sorted[0].toFixed(1)}–${sorted.at(-1).toFixed(1)}), ` +
      `${opts.pkg}, Node ${process.versions.node}, 1 thread, batch ${BATCH}, max length ${MAX_LEN}`,
  );
  if (profile) {
    console.log('\nself time  function');
    for (const [name, share] of selfTimes(profile).slice(0, opts.top)) {
      console.log(`${(100 * share).toFixed(1).padStart(8)} %  ${name.replace(/::h[0-9a-f]{16}$/, '')}`);
    }
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'wasm_profile.cpuprofile'), JSON.stringify(profile));
    console.log(`wrote ${join(RESULTS, 'wasm_profile.cpuprofile')}`);
  }
  encoder.free();
}

await main();
