#!/usr/bin/env node
// The page's CPU extraction in Node (the same wasm and V8 as Chromium, without a browser):
// texts/s, and where the time goes, by wasm function. Quicker and steadier than the browser
// bench for trying a change to the CPU path; browser_bench.mjs gives the figures to report.
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
// Node 20 has relaxed SIMD behind a V8 flag, set here before the module compiles.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { parseCsv, tutorialTexts } from './browser_bench.mjs';
import { MODEL_DIR, ROOT } from '../tests/browser/harness.mjs';

setFlagsFromString('--experimental-wasm-relaxed-simd');

const CSV_PATH = join(ROOT, '..', 'shared', 'data', 'amazon-fine-food', 'sample-2k.csv');
const RESULTS = join(ROOT, 'bench', 'results');
const MAX_LEN = 55;
const BATCH = 32;

function parseArgs(argv) {
  const opts = { pkg: join(ROOT, 'pkg', 'cpu'), texts: 256, runs: 3, profile: false, top: 25 };
  for (const arg of argv) {
    const [key, value] = arg.split('=');
    if (key === '--pkg') opts.pkg = resolve(value);
    else if (key === '--texts') opts.texts = Number(value);
    else if (key === '--runs') opts.runs = Number(value);
    else if (key === '--profile') opts.profile = true;
    else if (key === '--top') opts.top = Number(value);
    else {
      console.error(`wasm_profile: unknown argument ${arg}`);
      process.exit(2);
    }
  }
  return opts;
}

/** One extraction as the page's worker runs it: claim a batch, embed it, fill it. */
async function extract(wasm, encoder, texts) {
  const extraction = new wasm.Extraction(encoder, texts, 'mean', MAX_LEN, BATCH);
  const start = performance.now();
  for (let batch = extraction.claim(); batch !== undefined; batch = extraction.claim()) {
    const vectors = await encoder.embed(extraction.batchTexts(batch), 'mean', MAX_LEN);
    extraction.fill(batch, encoder.modelId, vectors);
  }
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
  const glue = await import(pathToFileURL(join(opts.pkg, 'bertweb.js')).href);
  glue.initSync({ module: readFileSync(join(opts.pkg, 'bertweb_bg.wasm')) });
  const file = (name) => readFileSync(join(MODEL_DIR, name));
  const encoder = await glue.Encoder.load(file('config.json'), file('model.safetensors'), file('tokenizer.json'), 'cpu');
  const texts = tutorialTexts(parseCsv(readFileSync(CSV_PATH, 'utf8'))).texts.slice(0, opts.texts);

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
    console.log(`run ${run}: ${texts.length} texts in ${seconds.toFixed(2)} s, ${rates.at(-1).toFixed(1)} texts/s${sampled ? ' (profiled)' : ''}`);
  }
  const sorted = rates.toSorted((a, b) => a - b);
  console.log(`median ${sorted[sorted.length >> 1].toFixed(1)} texts/s (${sorted[0].toFixed(1)}–${sorted.at(-1).toFixed(1)}), ` +
    `${opts.pkg}, Node ${process.versions.node}, 1 thread, batch ${BATCH}, max length ${MAX_LEN}`);
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
