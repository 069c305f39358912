#!/usr/bin/env bash
# Runs every test after all set-up: lint, native tests (with the real default model), the
# wasm build, and browser tests in headless Debian chromium.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
# Each step says when it starts, so a CI log shows where the time went.
step() { echo "== $1 (at $((SECONDS / 60)) min $((SECONDS % 60)) s)"; }
# The native tests run in the background from the wasm build on: they end with the script.
native_pid=
trap 'status=$?; [[ -n "$native_pid" ]] && kill "$native_pid" 2>/dev/null
  echo "== finished in $((SECONDS / 60)) min $((SECONDS % 60)) s, status $status"' EXIT

# The shared target directory keeps every test and example binary ever linked, which once
# filled this machine's disk and killed the linker (docs/PERFORMANCE.md). Drop those not rebuilt
# for three days; cargo relinks any it needs.
find "$CARGO_TARGET_DIR"/{debug,release}/{deps,examples} -maxdepth 1 -type f -executable ! -name '*.so' -mtime +3 -delete 2>/dev/null || true
find "$CARGO_TARGET_DIR"/debug/incremental -mindepth 1 -maxdepth 1 -mtime +3 -exec rm -rf {} + 2>/dev/null || true

step "set-up"
python3 scripts/fetch_model.py
scripts/setup_browser.sh

step "lint: rustfmt, rust-version, Prettier, TypeScript"
cargo fmt --check
python3 scripts/check_rust_version.py
# One style for every script (.prettierrc.json), and the page's JS type-checked (jsconfig.json).
npx --no-install prettier --check --log-level=warn .
npx --no-install tsc -p jsconfig.json

# Clippy lints this crate while the native tests compile (clippy-driver as the wrapper of this
# crate's rustc): a separate `cargo clippy` checked every dependency once more (6 minutes on a
# new machine). The lints are the same; what it does not reach natively is the WebGPU-only
# benchmark (bench/webgpu_profile.rs), and the wasm clippy below covers the library with WebGPU.
# One feature set for every native build, so nothing is compiled twice. No WebGPU: native code
# runs on flex only, and burn's GPU stack need not be compiled again with optimizations.
native_cargo() {
  RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver)" \
    CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
    cargo "$1" --locked --no-default-features --features cli "${@:2}"
}
step "native tests: build, with clippy's lints"
native_cargo test --no-run

# The native tests (mostly single-threaded fine-tuning) run beside the wasm build (mostly
# single-threaded LTO and codegen): the two use different build directories. CI=1 turns a
# missing model or data set into a failure instead of a skip.
step "native tests: run, beside the wasm build"
native_log=$(mktemp)
CI=1 native_cargo test >"$native_log" 2>&1 &
native_pid=$!

step "wasm build"
scripts/build.sh
step "wasm clippy"
# The page's builds (scripts/build.sh): WebGPU without the CPU backend, the CPU without WebGPU.
cargo clippy --locked --lib --target wasm32-unknown-unknown --profile wasm-webgpu --no-default-features --features webgpu -- -D warnings
cargo clippy --locked --lib --target wasm32-unknown-unknown --profile wasm-relaxed --no-default-features --features relaxed-simd -- -D warnings

step "native tests: waiting for them"
native_status=0
wait "$native_pid" || native_status=$?
native_pid=
cat "$native_log"
rm -f "$native_log"
if ((native_status)); then
  echo "native tests failed (status $native_status)" >&2
  exit "$native_status"
fi

step "browser tests"
CI=1 node --test --test-concurrency=1 tests/browser/
