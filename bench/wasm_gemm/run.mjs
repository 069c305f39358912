// The timing half of bench/wasm_gemm/run.sh: node run.mjs RUNS NAME=WASM...
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { relaxedSimd } from '../../www/builds.js';

// Node 20's V8 has relaxed SIMD behind a flag (later versions ship it); set before compiling.
// Where it stays off, the relaxed variant is reported as not running.
if (!relaxedSimd()) setFlagsFromString('--experimental-wasm-relaxed-simd');

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'wasm_gemm.json');
// [m, k, n, products per timed run, what it is]
const SHAPES = [
  [1344, 384, 384, 4, 'query/key/value/output'],
  [1344, 384, 1536, 2, 'feed-forward in'],
  [1344, 1536, 384, 2, 'feed-forward out'],
  [42, 32, 42, 2000, 'attention scores, one head'],
  [42, 42, 32, 2000, 'attention × values, one head'],
];

const [runs, ...specs] = process.argv.slice(2);
const variants = [];
for (const spec of specs) {
  const [name, path] = spec.split('=');
  try {
    const { instance } = await WebAssembly.instantiate(readFileSync(path), {});
    variants.push({ name, ...instance.exports });
  } catch (error) {
    console.log(`${name}: does not run in this engine (${error.message})`);
  }
}

const rows = SHAPES.map(([m, k, n, reps, what]) => {
  const gflops = variants.map(({ setup, run }) => {
    setup(m, k, n);
    run(reps); // warm-up: the engine's optimizing tier
    let best = Infinity;
    for (let i = 0; i < Number(runs); i++) {
      const start = performance.now();
      run(reps);
      best = Math.min(best, (performance.now() - start) / reps);
    }
    return (2 * m * k * n) / best / 1e6;
  });
  return { shape: `${m}×${k}×${n}`, what, gflops };
});

const cell = (text, width) => String(text).padEnd(width);
console.log(`GFLOP/s (best of ${runs}), Node ${process.versions.node} (V8 ${process.versions.v8})`);
console.log([cell('m×k×n', 14), cell('what', 30), ...variants.map((v) => cell(v.name, 17))].join(' '));
for (const row of rows) {
  console.log(
    [cell(row.shape, 14), cell(row.what, 30), ...row.gflops.map((g) => cell(g.toFixed(1), 17))].join(' '),
  );
}
mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(
  RESULTS,
  JSON.stringify(
    {
      node: process.versions.node,
      v8: process.versions.v8,
      runs: Number(runs),
      variants: variants.map((v) => v.name),
      rows,
    },
    null,
    2,
  ),
);
console.log(`wrote ${RESULTS}`);
