#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, integration and interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The layer rule (CONTRIBUTING.md): no import cycle between top-level modules.
python3 scripts/check-layers.py
# Docs build without warnings. Private items are documented (this is an application crate);
# bare URLs are allowed because the flags' doc comments are also their --help text.
RUSTDOCFLAGS="-D warnings -A rustdoc::private_intra_doc_links -A rustdoc::bare_urls" \
  cargo doc --no-deps --document-private-items --locked --quiet
# Supply chain (deny.toml): licences, banned crates (one crypto backend), crates.io only;
# then RustSec advisories from the copy vendored in supply-chain/ (CI cannot reach GitHub).
cargo deny --locked check licenses bans sources
bash scripts/deny-advisories.sh
cargo test --all-targets --locked
bash scripts/validate-k8s.sh
