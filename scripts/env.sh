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
# A checkout is its path and the birth time of its .git: a new clone at the path of a deleted
# one (as CI may make) is another checkout (0 where the file system keeps no birth times: then
# it counts as the same one, and its newer files rebuild what they feed).
mkdir -p "$CARGO_TARGET_DIR"
checkout="$ROOT $(stat -c %W "$ROOT/.git" 2>/dev/null || echo 0)"
same_checkout=false
[[ "$(cat "$CARGO_TARGET_DIR/.bertweb-checkout" 2>/dev/null)" == "$checkout" ]] && same_checkout=true
if [[ "$same_checkout" == false ]]; then
  rm -rf "$CARGO_TARGET_DIR"/*/.fingerprint/bertweb-* "$CARGO_TARGET_DIR"/*/*/.fingerprint/bertweb-*
  echo "$checkout" > "$CARGO_TARGET_DIR/.bertweb-checkout"
fi

# vendor/gemm-f32 (a path dependency, under burn's CPU backend) is judged fresh by its files'
# dates, which a new clone sets to now: every clone would rebuild it and the burn crates above
# it (natively and in both CPU wasm builds). Its files get the date recorded with their
# content's hash instead; content that differs from the record (an edit, another commit) is
# dated now, which rebuilds it once.
vendor_hash=$(cd "$ROOT" && find vendor -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
recorded_hash='' recorded_time=''
[[ -f "$CARGO_TARGET_DIR/.bertweb-vendor" ]] \
  && read -r recorded_hash recorded_time _ < "$CARGO_TARGET_DIR/.bertweb-vendor"
[[ "$vendor_hash" == "$recorded_hash" && -n "$recorded_time" ]] || recorded_time=$(date +%s)
find "$ROOT/vendor" -type f -exec touch -d "@$recorded_time" {} +
echo "$vendor_hash $recorded_time" > "$CARGO_TARGET_DIR/.bertweb-vendor"
unset vendor_hash recorded_hash recorded_time checkout same_checkout
