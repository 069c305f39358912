#!/usr/bin/env python3
"""Checks that Cargo.toml's `rust-version` is true: no package in Cargo.lock declares a newer
`rust-version` than ours, and the installed `rustc` is not older than it.

  python3 scripts/check_rust_version.py [--manifest-path PATH] [--metadata FILE]

--manifest-path  the Cargo.toml to check (default: the one beside this script's folder)
--metadata       read `cargo metadata --format-version 1 --locked --all-features` output from
                 FILE (or - for stdin) instead of running it

Every package that a build for this machine or for wasm32 uses counts: `--all-features`
makes cargo metadata list them all, so a dependency of the wasm build or of one feature cannot
raise the floor unseen. Exits 1 with what to change when a check fails; standard library only.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path


def version_tuple(text):
    """'1.88' or '1.95.0' (or '1.96.0-nightly') -> (1, 88, 0); None when it is not a version."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not m:
        return None
    return (int(m[1]), int(m[2]), int(m[3] or 0))


def show(v):
    return ".".join(map(str, v))


def main():
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest-path", default=str(root / "Cargo.toml"))
    ap.add_argument("--metadata")
    args = ap.parse_args()
    manifest = Path(args.manifest_path).resolve()

    if args.metadata:
        raw = sys.stdin.read() if args.metadata == "-" else Path(args.metadata).read_text()
    else:
        # Only the platforms bertweb builds for: others' packages would be downloaded for nothing.
        host = re.search(r"^host: (\S+)$", subprocess.run(["rustc", "-vV"], capture_output=True,
                                                         text=True).stdout, re.M)
        platforms = [host[1]] if host else []
        platforms.append("wasm32-unknown-unknown")
        cmd = ["cargo", "metadata", "--format-version", "1", "--locked", "--all-features",
               "--manifest-path", str(manifest)]
        for platform in platforms:
            cmd += ["--filter-platform", platform]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"check_rust_version: `{' '.join(cmd[:6])}` failed:\n{run.stderr.strip()}")
        raw = run.stdout
    meta = json.loads(raw)

    members = set(meta["workspace_members"])
    ours = [p for p in meta["packages"] if p["id"] in members]
    problems = []
    for crate in ours:
        declared = crate.get("rust_version")
        if not declared:
            problems.append(f"{crate['name']}: Cargo.toml declares no rust-version")
            continue
        floor = version_tuple(declared)

        needs = []
        for p in meta["packages"]:
            v = p.get("rust_version")
            if p["id"] in members or not v or version_tuple(v) is None:
                continue
            needs.append((version_tuple(v), p["name"], p["version"], v))
        needs.sort(key=lambda n: (-n[0][0], -n[0][1], -n[0][2], n[1]))
        above = [n for n in needs if n[0] > floor]
        if above:
            names = ", ".join(f"{n} {ver} ({v})" for _, n, ver, v in above[:8])
            more = f" and {len(above) - 8} more" if len(above) > 8 else ""
            problems.append(
                f"{crate['name']} declares rust-version = \"{declared}\", but Cargo.lock has "
                f"packages that need a newer Rust: {names}{more}.\n"
                f"  Set rust-version = \"{above[0][3]}\" in {manifest} (and say why in its "
                f"comment), or go back to dependency versions that build with {declared}.")

        # The toolchain cargo would use here (rustup's override for this folder, if any).
        try:
            out = subprocess.run(["rustc", "--version"], capture_output=True, text=True,
                                 cwd=manifest.parent, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            problems.append(f"cannot run `rustc --version`: {e}")
            continue
        installed = version_tuple(out.split()[1]) if len(out.split()) > 1 else None
        if installed is None:
            problems.append(f"cannot read the Rust version from `rustc --version`: {out.strip()}")
        elif installed < floor:
            problems.append(
                f"rustc is {show(installed)} ({out.strip()}), older than {crate['name']}'s "
                f"rust-version {declared}: run `rustup update stable` (or install "
                f"{declared} with rustup).")
        elif not problems:
            top = [f"{n} {ver}" for v, n, ver, _ in needs if v == needs[0][0]] if needs else []
            print(f"check_rust_version: {crate['name']} rust-version {declared} holds: "
                  + (f"the most any of {len(needs)} dependencies declares is {needs[0][3]} "
                     f"({', '.join(top[:4])}{', …' if len(top) > 4 else ''}); " if top else "")
                  + f"rustc is {show(installed)}")

    if problems:
        print("check_rust_version: " + "\ncheck_rust_version: ".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
