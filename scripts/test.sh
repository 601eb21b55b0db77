#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, integration and interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
bash scripts/validate-k8s.sh
