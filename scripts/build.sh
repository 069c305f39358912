#!/usr/bin/env bash
# Builds pkg/ and pkg/cpu/ (release, wasm32-unknown-unknown, SIMD128) for the page.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
"$ROOT/scripts/setup_wasm.sh"

# Two modules from one crate: pkg/ has WebGPU and the CPU, pkg/cpu/ only the CPU (with relaxed
# SIMD). Most of the full module is burn's WebGPU kernel compiler, so pages that run on the CPU
# (and every helper worker) load the smaller one; www/builds.js picks.
# .cargo/config.toml adds +simd128 and getrandom's JS backend for this target.
# The name section (function names for stack traces) is 4 MB of the module, ~0.9 MB gzipped:
# panics still say what went wrong, only their wasm frames lose their names.
bindgen() {
  wasm-bindgen --target web --out-dir "$1" --no-typescript --remove-name-section --remove-producers-section \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/bertweb.wasm"
}
cargo build --release --lib --target wasm32-unknown-unknown
bindgen pkg
# The CPU build's matrix products use relaxed SIMD (vendor/README.md); www/builds.js loads
# it only where the engine validates relaxed SIMD.
cargo build --release --lib --target wasm32-unknown-unknown --no-default-features --features relaxed-simd
bindgen pkg/cpu
# Brotli and gzip copies beside each module, for servers that send them (scripts/serve.mjs).
# No wasm-opt: binaryen 132's -Oz made the full module smaller (16.8 → 13.5 MB) but its
# transfer larger (gzip 3.70 → 3.82 MB, brotli 2.36 → 2.47 MB), in 11 minutes.
node scripts/compress.mjs pkg/bertweb_bg.wasm pkg/cpu/bertweb_bg.wasm
