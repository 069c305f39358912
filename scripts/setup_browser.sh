#!/usr/bin/env bash
# Make the browser tests and benchmark runnable: Debian's chromium at /usr/bin/chromium and the
# npm devDependencies (playwright-core, which never downloads a browser of its own; transformers.js
# for the export's test). Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$CHROMIUM" ]]; then
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    echo "setup_browser: installing Debian chromium (apt-get install -y chromium)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  else
    echo "setup_browser: $CHROMIUM is missing. Install Debian's chromium as root:" >&2
    echo "    apt-get update && apt-get install -y chromium" >&2
    echo "  (or set CHROMIUM=/path/to/chromium for the browser tests and bench)" >&2
    exit 1
  fi
fi

if ! command -v npm >/dev/null; then
  echo "setup_browser: npm is missing. Install Node.js >= 20 (e.g. apt-get install -y nodejs npm)." >&2
  exit 1
fi

# node_modules is stale when package-lock.json is newer than npm's own record of the install.
# --ignore-scripts: no package needs its install script here. transformers.js's onnxruntime-node
# would download CUDA binaries from NuGet (the tests use onnxruntime-web, whose files are in the
# package); protobufjs's only checks a version scheme. (.npmrc says the same for a bare npm ci.)
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json \
      || ! -d node_modules/playwright-core || ! -d node_modules/@huggingface/transformers ]]; then
  echo "setup_browser: npm ci --ignore-scripts"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
fi
