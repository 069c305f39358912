#!/usr/bin/env bash
# Runs every test after all set-up: lint, native tests (with the real default model), the
# wasm build, and browser tests in headless Debian chromium.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
# Each step says when it starts, so a CI log shows where the time went.
step() { echo "== $1 (at $((SECONDS / 60)) min $((SECONDS % 60)) s)"; }
trap 'echo "== finished in $((SECONDS / 60)) min $((SECONDS % 60)) s, status $?"' EXIT

# The shared target directory keeps every test and example binary ever linked (about 180 MB
# each; 1 GB with full debug info, when 74 GB of them filled this machine's disk and killed the
# linker). Drop those not rebuilt for three days; cargo relinks any it needs.
find "$CARGO_TARGET_DIR"/{debug,release}/{deps,examples} -maxdepth 1 -type f -executable ! -name '*.so' -mtime +3 -delete 2>/dev/null || true
find "$CARGO_TARGET_DIR"/debug/incremental -mindepth 1 -maxdepth 1 -mtime +3 -exec rm -rf {} + 2>/dev/null || true

step "set-up"
python3 scripts/fetch_model.py
scripts/setup_browser.sh

step "rustfmt, clippy"
cargo fmt --check
# One feature set for every native build, so nothing is compiled twice.
cargo clippy --all-targets --features cli -- -D warnings

step "native tests: build"
# CI=1 turns a missing model or data set into a failure instead of a skip. No WebGPU: native
# code runs on flex only, and burn's GPU stack (cubecl, wgpu: 55 of the 317 crates the tests
# compiled on a fresh machine) need not be compiled again with optimizations; clippy checks it.
cargo test --no-default-features --features cli --no-run
step "native tests: run"
CI=1 cargo test --no-default-features --features cli

step "wasm build"
scripts/build.sh
step "wasm clippy"
# The page's builds (scripts/build.sh): WebGPU without the CPU backend, the CPU without WebGPU.
cargo clippy --lib --target wasm32-unknown-unknown --profile wasm-webgpu --no-default-features --features webgpu -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown --release --no-default-features --features relaxed-simd -- -D warnings

step "browser tests"
CI=1 node --test --test-concurrency=1 tests/browser/
