// Which wasm build runs where (www/builds.js), checked in Node child processes with V8's relaxed
// SIMD switched off and on: pkg/cpu/ must need relaxed SIMD (its fused multiply-adds),
// pkg/cpu-baseline/ (its fallback) and pkg/ (WebGPU) must not, and the probe must tell the two
// engines apart. Node 20's V8 has relaxed SIMD behind --experimental-wasm-relaxed-simd; a Node
// whose V8 no longer has that flag is reported as skipped.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { cpuBuild } from '../../www/builds.js';
import { FIXTURE, MODEL_DIR, WASM, WASM_CPU_BASELINE } from './harness.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILDS_JS = pathToFileURL(join(ROOT, 'www', 'builds.js')).href;
const ENGINES = { off: '--no-experimental-wasm-relaxed-simd', on: '--experimental-wasm-relaxed-simd' };

/** Runs `script` (an ES module body printing JSON) in Node with relaxed SIMD off or on. */
function inEngine(relaxed, script) {
  const run = spawnSync(process.execPath, [ENGINES[relaxed], '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  if (run.status !== 0 && /bad option/.test(run.stderr)) return { unsupported: run.stderr.trim() };
  assert.equal(run.status, 0, run.stderr);
  return { value: JSON.parse(run.stdout) };
}

function skipIfUnsupported(t, result) {
  if (result.unsupported) t.skip(`this Node has no relaxed SIMD flag: ${result.unsupported}`);
  return Boolean(result.unsupported);
}

test('the probe finds relaxed SIMD exactly where the engine has it', (t) => {
  const probe = `const m = await import(${JSON.stringify(BUILDS_JS)}); console.log(JSON.stringify([m.relaxedSimd(), m.cpuBuild()]));`;
  const off = inEngine('off', probe);
  if (skipIfUnsupported(t, off)) return;
  assert.deepEqual(
    off.value,
    [false, 'cpu-baseline'],
    'without relaxed SIMD the CPU runs in the baseline build',
  );
  assert.deepEqual(inEngine('on', probe).value, [true, 'cpu']);
  assert.equal(cpuBuild(true), 'cpu');
  assert.equal(cpuBuild(false), 'cpu-baseline');
});

test('pkg/cpu/ needs relaxed SIMD; pkg/cpu-baseline/, its fallback, and pkg/ do not', (t) => {
  const wasm = {
    cpu: join(ROOT, 'pkg', 'cpu', 'bertweb_bg.wasm'),
    'cpu-baseline': join(ROOT, 'pkg', 'cpu-baseline', 'bertweb_bg.wasm'),
    webgpu: join(ROOT, 'pkg', 'bertweb_bg.wasm'),
  };
  if (!Object.values(wasm).every((path) => existsSync(path))) {
    assert.ok(!process.env.CI, 'pkg/ is not built: run scripts/build.sh');
    t.skip('pkg/ is not built (scripts/build.sh)');
    return;
  }
  const validate = `import { readFileSync } from 'node:fs';
    const paths = ${JSON.stringify(wasm)};
    console.log(JSON.stringify(Object.fromEntries(Object.entries(paths).map(([k, p]) => [k, WebAssembly.validate(readFileSync(p))]))));`;
  const off = inEngine('off', validate);
  if (skipIfUnsupported(t, off)) return;
  assert.deepEqual(
    off.value,
    { cpu: false, 'cpu-baseline': true, webgpu: true },
    'without relaxed SIMD all but pkg/cpu/ validate',
  );
  assert.deepEqual(inEngine('on', validate).value, { cpu: true, 'cpu-baseline': true, webgpu: true });
});

test('pkg/cpu-baseline/ runs the model in an engine without relaxed SIMD; pkg/ has no CPU backend', (t) => {
  const needed = [WASM, WASM_CPU_BASELINE, FIXTURE, join(MODEL_DIR, 'model.safetensors')];
  const missing = needed.filter((path) => !existsSync(path));
  if (missing.length) {
    assert.ok(
      !process.env.CI,
      `missing ${missing.join(', ')}: run scripts/build.sh and scripts/fetch_model.py`,
    );
    t.skip(`missing ${missing.join(', ')}`);
    return;
  }
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8'));
  const cases = fixture.cases.filter((c) => c.text.trim()).slice(0, 2);
  // Each build's glue and module in the child, with the default model's files.
  const run = `import { readFileSync } from 'node:fs';
    const load = async (dir) => {
      const glue = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'pkg')).href)} + dir + '/bertweb.js');
      glue.initSync({ module: readFileSync(${JSON.stringify(join(ROOT, 'pkg'))} + dir + '/bertweb_bg.wasm') });
      return glue;
    };
    const model = (f) => readFileSync(${JSON.stringify(MODEL_DIR)} + '/' + f);
    const files = [model('config.json'), model('model.safetensors'), model('tokenizer.json')];
    const baseline = await load('/cpu-baseline');
    const encoder = await baseline.Encoder.load(...files, 'cpu');
    const vectors = await encoder.embed(${JSON.stringify(cases.map((c) => c.text))}, 'mean', ${fixture.max_len});
    const webgpu = await load('');
    const refusal = await webgpu.Encoder.load(...files, 'cpu').then(() => null, (e) => e.message);
    console.log(JSON.stringify({ device: encoder.device, vectors: [...vectors], refusal }));`;
  const off = inEngine('off', run);
  if (skipIfUnsupported(t, off)) return;
  const { device, vectors, refusal } = off.value;
  assert.equal(device, 'cpu');
  const dim = cases[0].mean.length;
  cases.forEach((c, i) => {
    const diff = Math.max(...c.mean.map((v, j) => Math.abs(v - vectors[i * dim + j])));
    assert.ok(diff <= 1e-3, `"${c.text}": the baseline build's vector differs from the reference by ${diff}`);
  });
  assert.match(refusal ?? '', /WebGPU build of bertweb \(pkg\/\): load pkg\/cpu\/bertweb\.js for the CPU/);
});
