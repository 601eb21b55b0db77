#!/usr/bin/env bash
# Builds a release into dist/ from one release build of the binary:
#
#   scripts/release/release.sh VERSION           e.g. scripts/release/release.sh 0.2.0
#   scripts/release/release.sh --bump VERSION    only writes VERSION into every file that names it
#
# dist/ then holds (TARGET is the host's triple, x86_64-unknown-linux-gnu on the CI machine):
#   gcp-token-agent-VERSION-TARGET.tar.gz   the binary, LICENSE, README.md, shell completions
#                                           (completions/) and man pages (man/man1/)
#   gcp-token-agent-VERSION-TARGET.cdx.json the binary's dependencies, a CycloneDX SBOM
#   gcp-token-agent-VERSION.tgz             the Helm chart (version and appVersion VERSION)
#   gcp-token-agent-VERSION-image.tar       the image as an OCI archive (podman load -i,
#                                           skopeo copy oci-archive:...)
#   SHA256SUMS                              for all of the above
#
# VERSION must already be everywhere it is named: Cargo.toml (and Cargo.lock), the chart's
# version and appVersion, the image tags in deploy/, the README's Install blocks, and a
# `## VERSION` section in CHANGELOG.md. A mismatch is refused and named; `--bump VERSION`
# writes all but the CHANGELOG (commit that, then release). The binary is auditable
# (cargo-auditable) and a static PIE on x86_64 (scripts/release/build-release.sh); the image is built
# from that same binary (scripts/release/build-image.sh). Archives are reproducible: files are sorted,
# owned by 0:0 and dated at the commit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
usage() { echo "usage: scripts/release/release.sh [--bump] VERSION" >&2; exit 64; }
log() { printf 'release: %s\n' "$*" >&2; }

bump=no
if [ "${1:-}" = --bump ]; then bump=yes && shift; fi
[ $# -eq 1 ] || usage
version=$1
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || {
  echo "release: VERSION must be semantic (MAJOR.MINOR.PATCH[-PRE]), not '$version'" >&2
  exit 64
}

chart=charts/gcp-token-agent/Chart.yaml
image_ref=ghcr.io/gcp-token-agent/gcp-token-agent
# Every place a version is named, as "FILE: VALUE" lines.
versions() {
  echo "Cargo.toml: $(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)"
  echo "Cargo.lock: $(grep -A1 '^name = "gcp-token-agent"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')"
  echo "$chart (version): $(sed -n 's/^version: *//p' "$chart")"
  echo "$chart (appVersion): $(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$chart")"
  grep -roh "$image_ref:[^ \"]*" deploy | sed "s#^#deploy/ image tag: #; s#$image_ref:##" | sort -u
  echo "README.md (Install): $(sed -n '/^## Install$/,/^## /s/^VERSION=\([^ ]*\) .*/\1/p' README.md)"
}

if [ "$bump" = yes ]; then
  old=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
  # The README's Install blocks name the version in several forms (v0.2.0, :0.2.0, ...).
  sed -i "/^## Install\$/,/^## /s/${old//./\\.}/$version/g" README.md
  sed -i "0,/^version = \".*\"$/s//version = \"$version\"/" Cargo.toml
  sed -i "/^name = \"gcp-token-agent\"$/{n;s/^version = \".*\"$/version = \"$version\"/}" Cargo.lock
  sed -i "s/^version: .*/version: $version/; s/^appVersion: .*/appVersion: \"$version\"/" "$chart"
  grep -rl "$image_ref:" deploy | xargs sed -i "s#$image_ref:[^ \"]*#$image_ref:$version#g"
  versions >&2
  exit 0
fi

wrong=$(versions | grep -v ": $version\$" || true)
if ! grep -qx "## $version" CHANGELOG.md; then
  wrong="${wrong:+$wrong
}CHANGELOG.md: no '## $version' section (the release notes are taken from it)"
fi
if [ -n "$wrong" ]; then
  printf 'release: these files do not name version %s (scripts/release/release.sh --bump %s writes them):\n%s\n' \
    "$version" "$version" "$wrong" >&2
  exit 64
fi
if ! cargo auditable --version >/dev/null 2>&1 || ! cargo cyclonedx --version >/dev/null 2>&1; then
  echo "release: needs cargo-auditable and cargo-cyclonedx (scripts/setup/install-test-deps.sh installs them)" >&2
  exit 69
fi
command -v helm >/dev/null || { echo "release: needs helm (scripts/setup/install-test-deps.sh installs it)" >&2; exit 69; }

started=$(date +%s)
host=$(rustc -vV | sed -n 's/^host: //p')
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
dist=$root/dist
rm -rf "$dist"
mkdir -p "$dist"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "building the binary (scripts/release/build-release.sh)"
bin_dir=$(bash scripts/release/build-release.sh --quiet)
binary=$bin_dir/gcp-token-agent
got=$("$binary" --version)
[ "$got" = "gcp-token-agent $version" ] || { echo "release: the binary says '$got', not $version" >&2; exit 1; }

log "archive"
name=gcp-token-agent-$version-$host
stage=$work/$name
install -D -m 0755 "$binary" "$stage/gcp-token-agent"
install -m 0644 LICENSE README.md "$stage/"
mkdir -p "$stage/completions" "$stage/man/man1"
"$binary" completions bash >"$stage/completions/gcp-token-agent.bash"
"$binary" completions zsh >"$stage/completions/_gcp-token-agent"
"$binary" completions fish >"$stage/completions/gcp-token-agent.fish"
"$binary" completions elvish >"$stage/completions/gcp-token-agent.elv"
"$binary" completions powershell >"$stage/completions/_gcp-token-agent.ps1"
"$binary" man --out-dir "$stage/man/man1" >/dev/null
chmod 0644 "$stage"/completions/* "$stage"/man/man1/*
tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf - "$name" |
  gzip -9n >"$dist/$name.tar.gz"

log "SBOM (cargo cyclonedx)"
# Normal dependencies of the binary for this target; build scripts, proc macros and dev
# dependencies are not in the binary and stay out.
cargo cyclonedx --quiet --format json --spec-version 1.5 --target "$host" --no-build-deps \
  --override-filename sbom >&2
mv sbom.json "$dist/$name.cdx.json"
# cargo cyclonedx writes one per workspace member; the emulator (a test crate) ships nowhere.
rm -f emulator/sbom.json

log "chart (helm package)"
helm package charts/gcp-token-agent --version "$version" --app-version "$version" \
  --destination "$dist" >&2

log "image (scripts/release/build-image.sh)"
# A dynamic binary (aarch64) needs a glibc base, already in podman's storage:
# GCP_TOKEN_AGENT_IMAGE_BASE names it (the release workflow pulls distroless cc by digest).
bash scripts/release/build-image.sh --binary "$binary" --tag "localhost/gcp-token-agent:$version" \
  --base "${GCP_TOKEN_AGENT_IMAGE_BASE:-scratch}" --archive "$dist/gcp-token-agent-$version-image.tar" >/dev/null

(cd "$dist" && sha256sum -- *.tar.gz *.cdx.json *.tgz *.tar >SHA256SUMS)
log "done in $(($(date +%s) - started)) s:"
(cd "$dist" && stat --format '  %s	%n' -- *) >&2
