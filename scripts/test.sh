#!/usr/bin/env bash
# Runs every test after all set-up: lint, native tests (with the real default model), the
# wasm build, and browser tests in headless Debian chromium.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

python3 scripts/fetch_model.py
scripts/setup_browser.sh

echo "== rustfmt, clippy"
cargo fmt --check
# One feature set for every native build, so nothing is compiled twice.
cargo clippy --all-targets --features cli -- -D warnings

echo "== native tests"
# CI=1 turns a missing model or data set into a failure instead of a skip.
CI=1 cargo test --features cli

echo "== wasm build"
scripts/build.sh
cargo clippy --lib --target wasm32-unknown-unknown --release -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown --release --no-default-features --features relaxed-simd -- -D warnings

echo "== browser tests"
CI=1 node --test --test-concurrency=1 tests/browser/
