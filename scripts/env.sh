# Sourced by the other scripts: one cargo target directory outside the clone, so repeated
# runs (and fresh clones on the same machine) reuse builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bertweb-target}"
export PATH="$HOME/.cargo/bin:$PATH"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

# Cargo names this crate's build outputs without the checkout's path, and judges them fresh
# from the source files of whichever checkout built them last: a new clone sharing the target
# directory could be tested against another checkout's build. When the checkout changes,
# forget this crate's fingerprints (dependencies stay built; only bertweb is compiled again).
mkdir -p "$CARGO_TARGET_DIR"
if [[ "$(cat "$CARGO_TARGET_DIR/.bertweb-checkout" 2>/dev/null)" != "$ROOT" ]]; then
  rm -rf "$CARGO_TARGET_DIR"/*/.fingerprint/bertweb-* "$CARGO_TARGET_DIR"/*/*/.fingerprint/bertweb-*
  echo "$ROOT" > "$CARGO_TARGET_DIR/.bertweb-checkout"
fi
