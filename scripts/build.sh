#!/usr/bin/env bash
# Builds pkg/ (release, wasm32-unknown-unknown, SIMD128) for the page.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
"$ROOT/scripts/setup_wasm.sh"

# .cargo/config.toml adds +simd128 and getrandom's JS backend for this target.
cargo build --release --lib --target wasm32-unknown-unknown
# The name section (function names for stack traces) is 4 MB of the module, ~0.9 MB gzipped:
# panics still say what went wrong, only their wasm frames lose their names.
wasm-bindgen --target web --out-dir pkg --no-typescript --remove-name-section --remove-producers-section \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/bertweb.wasm"
echo "pkg/: $(du -h pkg/bertweb_bg.wasm | cut -f1) wasm"
