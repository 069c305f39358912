#!/usr/bin/env bash
# Builds pkg/ (release, wasm32-unknown-unknown, SIMD128) for the page.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
"$ROOT/scripts/setup_wasm.sh"

# .cargo/config.toml adds +simd128 and getrandom's JS backend for this target.
cargo build --release --lib --target wasm32-unknown-unknown
wasm-bindgen --target web --out-dir pkg --no-typescript \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/bertweb.wasm"
echo "pkg/: $(du -h pkg/bertweb_bg.wasm | cut -f1) wasm"
