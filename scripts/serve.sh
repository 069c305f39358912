#!/usr/bin/env bash
# Builds everything the page needs and serves it on 127.0.0.1 (PORT, default 8080).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
python3 scripts/fetch_model.py
scripts/build.sh
exec node scripts/serve.mjs "${PORT:-8080}"
