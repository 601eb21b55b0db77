#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, integration and interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Supply chain (deny.toml): licences, banned crates (one crypto backend), crates.io only.
# Advisories need the RustSec database from GitHub, which CI cannot reach: SECURITY.md says how
# to run `cargo deny check advisories` where it can.
cargo deny --locked check licenses bans sources
cargo test --all-targets --locked
bash scripts/validate-k8s.sh
