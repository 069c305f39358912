#!/usr/bin/env bash
# Installs what the wasm build needs, idempotently: the wasm32 target and wasm-bindgen-cli at
# exactly the wasm-bindgen version in Cargo.lock (the CLI and the crate must agree).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (found: ${have:-none})"
  # Not --locked: a yanked dependency in the CLI's own lock file breaks that.
  cargo install wasm-bindgen-cli --version "$want" --force
fi
