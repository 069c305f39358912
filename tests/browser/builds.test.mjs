// Which wasm build runs where (www/builds.js), checked in Node child processes with V8's relaxed
// SIMD switched off and on: the CPU-only build must need relaxed SIMD (its fused
// multiply-adds), the full build must not (it is the fallback), and the probe must tell the two
// engines apart. Node 20's V8 has relaxed SIMD behind --experimental-wasm-relaxed-simd; a Node
// whose V8 no longer has that flag is reported as skipped.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { cpuBuild } from '../../www/builds.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILDS_JS = pathToFileURL(join(ROOT, 'www', 'builds.js')).href;
const ENGINES = { off: '--no-experimental-wasm-relaxed-simd', on: '--experimental-wasm-relaxed-simd' };

/** Runs `script` (an ES module body printing JSON) in Node with relaxed SIMD off or on. */
function inEngine(relaxed, script) {
  const run = spawnSync(process.execPath, [ENGINES[relaxed], '--input-type=module', '-e', script], { encoding: 'utf8' });
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
  assert.deepEqual(off.value, [false, 'full'], 'without relaxed SIMD the CPU runs in the full build');
  assert.deepEqual(inEngine('on', probe).value, [true, 'cpu']);
  assert.equal(cpuBuild(true), 'cpu');
  assert.equal(cpuBuild(false), 'full');
});

test('pkg/cpu/ needs relaxed SIMD; pkg/, its fallback, does not', (t) => {
  const wasm = { cpu: join(ROOT, 'pkg', 'cpu', 'bertweb_bg.wasm'), full: join(ROOT, 'pkg', 'bertweb_bg.wasm') };
  if (!existsSync(wasm.cpu) || !existsSync(wasm.full)) {
    assert.ok(!process.env.CI, 'pkg/ is not built: run scripts/build.sh');
    t.skip('pkg/ is not built (scripts/build.sh)');
    return;
  }
  const validate = `import { readFileSync } from 'node:fs';
    const paths = ${JSON.stringify(wasm)};
    console.log(JSON.stringify(Object.fromEntries(Object.entries(paths).map(([k, p]) => [k, WebAssembly.validate(readFileSync(p))]))));`;
  const off = inEngine('off', validate);
  if (skipIfUnsupported(t, off)) return;
  assert.deepEqual(off.value, { cpu: false, full: true }, 'without relaxed SIMD only the full build validates');
  assert.deepEqual(inEngine('on', validate).value, { cpu: true, full: true });
});
