#!/usr/bin/env bash
# Builds the page's three wasm modules (wasm32-unknown-unknown, SIMD128): pkg/, pkg/cpu/ and
# pkg/cpu-baseline/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
"$ROOT/scripts/setup_wasm.sh" target
# wasm-bindgen-cli (minutes to compile on a new machine) installs beside the first cargo build;
# its output waits in a log until it is needed.
bindgen_log=$(mktemp)
"$ROOT/scripts/setup_wasm.sh" bindgen >"$bindgen_log" 2>&1 &
bindgen_pid=$!
bindgen_ready() {
  [[ -z "${bindgen_pid:-}" ]] && return 0
  local status=0
  wait "$bindgen_pid" || status=$?
  cat "$bindgen_log"
  rm -f "$bindgen_log"
  bindgen_pid=
  if ((status)); then echo "build: installing wasm-bindgen-cli failed" >&2; exit "$status"; fi
}

# Three modules from one crate, so that each page downloads only what runs there (www/builds.js
# picks): pkg/ runs the model on WebGPU and has no CPU backend (most of it is burn's WebGPU
# kernel compiler); pkg/cpu/ and pkg/cpu-baseline/ run it on the CPU and have no WebGPU.
# pkg/cpu/'s matrix products use relaxed SIMD (vendor/README.md), so it validates only in
# engines that have it; pkg/cpu-baseline/ is the same with plain SIMD128, for the others.
# .cargo/config.toml adds +simd128 and getrandom's JS backend for this target.
# The name section (function names for stack traces) is 4 MB of a module, ~0.9 MB gzipped:
# panics still say what went wrong, only their wasm frames lose their names.
build() {
  local out=$1 profile=$2
  shift 2
  cargo build --locked --lib --target wasm32-unknown-unknown --profile "$profile" --no-default-features "$@"
  local wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/$profile/bertweb.wasm"
  # src/api.rs's start function runs the static constructors itself. Without that call the linker
  # makes every export run them first (its "command" exports, *.command_export in the name
  # section): in the WebGPU build, 47 ms a tokenized review. The names are still there before
  # wasm-bindgen removes them; the constructors' own name shows that they are.
  if ! grep -q __wasm_call_ctors "$wasm" || grep -q command_export "$wasm"; then
    echo "build: $wasm runs the static constructors at every export (or has no names to tell):" >&2
    echo "  src/api.rs's start function must call __wasm_call_ctors" >&2
    exit 1
  fi
  bindgen_ready
  # Nothing to redo when this module was made from this very cargo output by this wasm-bindgen:
  # a build with nothing changed then rewrites nothing (and compress.mjs keeps its copies).
  local made_from
  made_from="$(sha256sum "$wasm" | cut -d' ' -f1) $(wasm-bindgen --version)"
  if [[ -f "$out/bertweb_bg.wasm" && "$(cat "$out/.made-from" 2>/dev/null)" == "$made_from" ]]; then
    return
  fi
  wasm-bindgen --target web --out-dir "$out" --no-typescript --remove-name-section --remove-producers-section "$wasm"
  echo "$made_from" >"$out/.made-from"
}
build pkg wasm-webgpu --features webgpu
build pkg/cpu-baseline release --features cpu
build pkg/cpu wasm-relaxed --features relaxed-simd
# Brotli and gzip copies beside each module, for servers that send them (scripts/serve.mjs).
# No wasm-opt: binaryen 132's -Oz made a module with both backends smaller (16.8 → 13.5 MB) but
# its transfer larger (gzip 3.70 → 3.82 MB, brotli 2.36 → 2.47 MB), in 11 minutes.
node scripts/compress.mjs pkg/bertweb_bg.wasm pkg/cpu/bertweb_bg.wasm pkg/cpu-baseline/bertweb_bg.wasm
