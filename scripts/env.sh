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

# vendor/gemm-f32 (a path dependency, under burn's CPU backend) is judged by its files' mtimes
# too. A new clone dates them now, so each clone rebuilt it and the burn crates above it in the
# native test build and both CPU wasm builds (the native test build of a new clone: 12 minutes
# with them, 3 without).
# Its files get back the time this content was first seen, which the builds are newer than,
# unless the content is new or the checkout that recorded it has changed it since (its edits
# may be what was built); then they are dated now, which rebuilds it.
vendor_hash() { (cd "$1" && find vendor -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1); }
vendor_seen="$CARGO_TARGET_DIR/.bertweb-vendor"
seen_hash='' seen_time='' seen_root=''
[[ -f "$vendor_seen" ]] && read -r seen_hash seen_time seen_root < "$vendor_seen"
vendor_now=$(vendor_hash "$ROOT")
if [[ -z "$seen_hash" ]]; then
  # The first record: the builds there are were judged against this checkout's dates.
  seen_time=$(find "$ROOT/vendor" -type f -printf '%T@\n' | sort -n | tail -1 | cut -d. -f1)
else
  if [[ "$vendor_now" != "$seen_hash" || ( "$same_checkout" == false && -d "$seen_root/vendor"
        && "$(vendor_hash "$seen_root")" != "$vendor_now" ) ]]; then
    seen_time=$(date +%s)
  fi
  [[ "$same_checkout" == true && "$vendor_now" == "$seen_hash" ]] \
    || find "$ROOT/vendor" -type f -exec touch -d "@$seen_time" {} +
fi
echo "$vendor_now $seen_time $ROOT" > "$vendor_seen"
unset -f vendor_hash
unset vendor_seen seen_hash seen_time seen_root vendor_now checkout same_checkout
