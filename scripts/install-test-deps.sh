#!/usr/bin/env bash
# Installs the real clients the interop tests run against, on a bare Debian machine.
# Idempotent: each step checks first, so a second run costs about a second.
set -euo pipefail

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

python_deps() {
  if python3 -c 'import google.auth, requests' 2>/dev/null; then return; fi
  log "pip: google-auth requests"
  python3 -m pip install --quiet --disable-pip-version-check google-auth requests
}

apt_deps() {
  # promtool (from prometheus) lints /metrics; wrk drives bench/metadata.sh.
  if command -v promtool >/dev/null && command -v wrk >/dev/null; then return; fi
  log "apt: prometheus wrk"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus wrk >/dev/null
}

node_deps() {
  local dir=tests/interop/node
  if [ -d "$dir/node_modules/google-auth-library" ]; then return; fi
  log "npm: google-auth-library@10 (into $dir)"
  (cd "$dir" && npm install --no-audit --no-fund --no-package-lock --silent)
}

rust_components() {
  if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then return; fi
  log "rustup: rustfmt clippy"
  rustup component add rustfmt clippy
}

check_preinstalled() {
  # gcloud, gke-gcloud-auth-plugin and kubectl come with the machine (TESTING.md); say so
  # clearly if they are missing rather than failing deep inside a test.
  local tool
  for tool in gcloud gke-gcloud-auth-plugin kubectl; do
    command -v "$tool" >/dev/null || log "warning: $tool not on PATH; its interop tests will fail"
  done
}

cd "$(dirname "$0")/.."
rust_components
apt_deps
python_deps
node_deps
check_preinstalled
