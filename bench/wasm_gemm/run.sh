#!/usr/bin/env bash
# Matrix-product kernels alone in wasm: GFLOP/s of gemm-f32 as published (crates.io) against
# our vendored copy (vendor/gemm-f32, plain SIMD128 and relaxed-SIMD FMA), on the matrix shapes
# of a MiniLM batch (32 texts × 42 tokens = 1344 rows) and of its attention heads, in Node's V8.
# Prints a table; writes bench/results/wasm_gemm.json.
#
#   bench/wasm_gemm/run.sh [RUNS]   (default 5 timed runs per shape; the best is reported,
#                                    since the kernel's speed is what is measured, not noise;
#                                    the matrices are made before the timing)
#
# Each variant builds into its own target directory under $CARGO_TARGET_DIR (once; nothing
# after). Dependencies resolve from the app's Cargo.lock, so the bench measures the versions
# the page runs.
set -euo pipefail
shopt -s inherit_errexit # a failed build inside $(…) stops the script too
source "$(dirname "$0")/../../scripts/env.sh"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1
cd "$ROOT/bench/wasm_gemm"
export RUSTFLAGS="-C target-feature=+simd128"
vendored="patch.crates-io.gemm-f32.path=\"$ROOT/vendor/gemm-f32\""
build() { # NAME [cargo args...]
  local name=$1
  shift
  cp "$ROOT/Cargo.lock" Cargo.lock
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR/wasm-gemm-bench/$name" \
    cargo build --quiet --release --target wasm32-unknown-unknown "$@"
  echo "$name=$CARGO_TARGET_DIR/wasm-gemm-bench/$name/wasm32-unknown-unknown/release/wasm_gemm_bench.wasm"
}
modules=()
modules+=("$(build upstream)")
modules+=("$(build vendored --config "$vendored")")
modules+=("$(build vendored-relaxed --config "$vendored" --features gemm-f32/relaxed-simd)")
node run.mjs "${1:-5}" "${modules[@]}"
