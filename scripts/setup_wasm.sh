#!/usr/bin/env bash
# Installs what the wasm build needs, idempotently: the wasm32 target, and (with `bindgen`)
# wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock (the CLI and the crate must
# agree). scripts/build.sh runs the two parts apart so that the CLI compiles beside the first
# wasm build, whose last, single-threaded steps leave a core free.
#
#   scripts/setup_wasm.sh [target|bindgen|all]   (default: all)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
what=${1:-all}

if [[ "$what" != bindgen ]] && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

if [[ "$what" != target ]]; then
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
  if [ "$have" != "$want" ]; then
    echo "installing wasm-bindgen-cli $want (found: ${have:-none})"
    # Not --locked: a yanked dependency in the CLI's own lock file breaks that.
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
fi
