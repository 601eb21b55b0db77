#!/usr/bin/env bash
# `cargo deny check advisories` against the RustSec advisories vendored in
# supply-chain/advisory-db (no GitHub access needed; crates.io is, for `cargo fetch`).
#
#   scripts/check/deny-advisories.sh            # the vendored copy (CI)
#   cargo deny --locked check advisories  # the live database, where GitHub is reachable
#
# cargo-deny reads a database from a git checkout under its db-path; this builds one in a
# temporary directory from the vendored files, committed with the vendored database's own
# date, so cargo-deny's staleness rule measures the real age of the copy. Refresh the copy
# with scripts/check/vendor-advisories.py PATH/TO/advisory-db.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
vendored="$root/supply-chain/advisory-db"
read -r _url commit date <"$vendored/SOURCE"

# Every crate in the lock files must have been looked up when the copy was made.
missing=$(python3 - "$root" <<'PY'
import sys, tomllib
from pathlib import Path
root = Path(sys.argv[1])
covered = set((root / "supply-chain/advisory-db/covered.txt").read_text().split())
names = set()
for lock in ["Cargo.lock", "fuzz/Cargo.lock"]:
    if (root / lock).exists():
        names |= {p["name"] for p in tomllib.loads((root / lock).read_text())["package"]}
print(" ".join(sorted(names - covered)))
PY
)
if [ -n "$missing" ]; then
  echo "deny-advisories: the vendored advisories do not cover: $missing" >&2
  echo "deny-advisories: re-run scripts/check/vendor-advisories.py PATH/TO/advisory-db" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# cargo-deny's directory name for https://github.com/rustsec/advisory-db (a hash of the URL).
db="$work/advisory-db-3157b0e258782691"
mkdir -p "$db"
cp -R "$vendored/." "$db/"
git -C "$db" init -q
git -C "$db" add -A
GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" \
  git -C "$db" -c user.name=vendored -c user.email=vendored@localhost commit -q -m "advisory-db $commit"
# The same policy as deny.toml, reading the database from $work. A copy older than a year
# fails (refresh it); one older than 90 days is reported.
sed "s|^\[advisories\]|[advisories]\ndb-path = \"$work\"\nmaximum-db-staleness = \"P365D\"|" \
  "$root/deny.toml" >"$work/deny.toml"
age_days=$(( ($(date +%s) - $(date -d "$date" +%s)) / 86400 ))
echo "deny-advisories: RustSec database $commit of $date ($age_days days old)"
if [ "$age_days" -gt 90 ]; then
  echo "deny-advisories: warning: the vendored advisories are over 90 days old; refresh them" >&2
fi
cd "$root"
cargo fetch --locked --quiet
cargo deny --offline --locked --config "$work/deny.toml" check advisories
