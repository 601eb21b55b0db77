#!/usr/bin/env python3
"""Copies the RustSec advisories for the crates in our lock files into supply-chain/advisory-db.

usage: scripts/check/vendor-advisories.py PATH/TO/advisory-db

PATH is a checkout of https://github.com/rustsec/advisory-db. Only `crates/<name>/` of crates
named in Cargo.lock, emulator and fuzz lock files are copied (a few dozen KiB instead of the
whole database), plus LICENSE.txt. `covered.txt` lists every crate name that was looked up,
with or without advisories, and `SOURCE` records the database commit and its date:
scripts/check/deny-advisories.sh refuses to run when the lock files name a crate that was not
looked up, so a new dependency cannot slip past an old copy.
"""
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "supply-chain" / "advisory-db"
LOCKS = ["Cargo.lock", "fuzz/Cargo.lock"]


def crate_names():
    names = set()
    for lock in LOCKS:
        path = ROOT / lock
        if path.exists():
            names |= {p["name"] for p in tomllib.loads(path.read_text())["package"]}
    return sorted(names)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    source = Path(sys.argv[1])
    if not (source / "crates").is_dir():
        sys.exit(f"{source} is not an advisory-db checkout (no crates/ directory)")
    git = ["git", "-C", str(source), "log", "-1", "--format=%H %cI"]
    commit, date = subprocess.run(git, check=True, capture_output=True, text=True).stdout.split()
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "crates").mkdir(parents=True)
    names = crate_names()
    with_advisories = []
    for name in names:
        if (source / "crates" / name).is_dir():
            shutil.copytree(source / "crates" / name, OUT / "crates" / name)
            with_advisories.append(name)
    shutil.copy(source / "LICENSE.txt", OUT / "LICENSE.txt")
    (OUT / "covered.txt").write_text("".join(f"{n}\n" for n in names))
    (OUT / "SOURCE").write_text(f"https://github.com/rustsec/advisory-db {commit} {date}\n")
    print(f"{len(names)} crates looked up, {len(with_advisories)} with advisories: {', '.join(with_advisories)}")
    print(f"database commit {commit} of {date}")


if __name__ == "__main__":
    main()
