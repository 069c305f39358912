// @ts-check
// The wasm builds (scripts/build.sh) and which one runs the model where.

/**
 * Three builds of one crate (scripts/build.sh), so that a page downloads only what runs there.
 * `webgpu` (pkg/) runs the model on WebGPU and has no CPU backend; most of it is burn's WebGPU
 * kernel compiler. `cpu` (pkg/cpu/) and `cpu-baseline` (pkg/cpu-baseline/) run it on the CPU
 * and have no WebGPU. `cpu` uses relaxed SIMD's fused multiply-add in its matrix products, which
 * makes them faster (vendor/README.md, bench/wasm_profile.mjs; figures in docs/PERFORMANCE.md),
 * so it validates only in engines that have relaxed SIMD; `cpu-baseline` is the same with plain
 * SIMD128, for the others.
 * @type {Record<import('./protocol.js').Build, {glue: string, wasm: string}>}
 */
export const BUILDS = {
  webgpu: build('../pkg/'),
  cpu: build('../pkg/cpu/'),
  'cpu-baseline': build('../pkg/cpu-baseline/'),
};

/**
 * A build's wasm-bindgen glue and module, as absolute URLs (the helpers import the glue).
 * @param {string} dir
 */
function build(dir) {
  /** @param {string} file */
  const at = (file) => new URL(dir + file, import.meta.url).href;
  return { glue: at('bertweb.js'), wasm: at('bertweb_bg.wasm') };
}

/**
 * A module with one function that returns f32x4.relaxed_madd of three zero vectors: it
 * validates exactly where the engine has relaxed SIMD, the instruction pkg/cpu/ relies on.
 */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // \0asm, version 1
  0x01,
  0x05,
  0x01,
  0x60,
  0x00,
  0x01,
  0x7b, // types: [] -> [v128]
  0x03,
  0x02,
  0x01,
  0x00, // one function of type 0
  0x0a,
  0x3d,
  0x01,
  0x3b,
  0x00, // code: one body of 59 bytes, no locals
  0xfd,
  0x0c,
  ...new Array(16).fill(0), // v128.const 0
  0xfd,
  0x0c,
  ...new Array(16).fill(0),
  0xfd,
  0x0c,
  ...new Array(16).fill(0),
  0xfd,
  0x85,
  0x02, // f32x4.relaxed_madd
  0x0b, // end
]);

/** Whether this engine runs relaxed SIMD (Chromium 114+; not Node 20 without a flag). */
export function relaxedSimd() {
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

/** Asked once: the engine does not change while the page runs. */
const HAS_RELAXED_SIMD = relaxedSimd();

/**
 * The build that runs the model on the CPU: `cpu` where the engine has relaxed SIMD, else
 * `cpu-baseline`.
 * @param {boolean} [hasRelaxedSimd]
 * @returns {'cpu' | 'cpu-baseline'}
 */
export function cpuBuild(hasRelaxedSimd = HAS_RELAXED_SIMD) {
  return hasRelaxedSimd ? 'cpu' : 'cpu-baseline';
}
