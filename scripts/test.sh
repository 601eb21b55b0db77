#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, integration and interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The layer table (CONTRIBUTING.md): only allowed edges between top-level modules, no cycle.
python3 scripts/check/check-layers.py
# The static build's code order (scripts/release/link-order.sh) finds the listed functions whatever
# hashes a build puts into their names, in the list's order, and nothing else.
order_test=$(mktemp -d)
printf '%s\n' '# comment' '_ZN3foo3barE' '_RNvNtC3std2fs4read' memcpy '_ZN3foo4quuxE' >"$order_test/list"
cat >"$order_test/map" <<'MAP'
             VMA              LMA     Size Align Out     In      Symbol
          26f240           26f240       6e    16         /x/lib.o:(.text._RNvNtCs1a2B3c_3std2fs4read)
          26f240           26f240       6e     1                 _RNvNtCs1a2B3c_3std2fs4read
          26f300           26f300       10     1                 memcpy
          26f400           26f400       10     1                 _ZN3foo3baz17h0123456789abcdefE
          26f500           26f500       10     1                 _ZN3foo4quux17hfedcba9876543210E.llvm.4242
          26f600           26f600       10     1                 _ZN3foo3bar17h0123456789abcdefE
MAP
order=$(bash scripts/release/link-order.sh select "$order_test/map" "$order_test/list" | tr '\n' ' ')
rm -rf "$order_test"
expected="_ZN3foo3bar17h0123456789abcdefE _RNvNtCs1a2B3c_3std2fs4read memcpy _ZN3foo4quux17hfedcba9876543210E.llvm.4242 "
[ "$order" = "$expected" ] || { echo "link-order.sh select gave: $order" >&2; exit 1; }
# Docs build without warnings. Private items are documented (this is an application crate);
# bare URLs are allowed because the flags' doc comments are also their --help text.
RUSTDOCFLAGS="-D warnings -A rustdoc::private_intra_doc_links -A rustdoc::bare_urls" \
  cargo doc --no-deps --document-private-items --locked --quiet
# Supply chain (deny.toml): licences, banned crates (one crypto backend), crates.io only;
# then RustSec advisories from the copy vendored in supply-chain/ (CI cannot reach GitHub).
cargo deny --locked check licenses bans sources
bash scripts/check/deny-advisories.sh
# Every test, also those plain `cargo test` ignores because they need a tool that
# scripts/setup/install-test-deps.sh installs (#[ignore = "needs TOOL: ..."]): none may be left
# ignored here. The image and release tests need dist/ and run after scripts/release/release.sh.
run_tests() {
  local log
  log=$(mktemp)
  cargo test "$@" 2>&1 | tee "$log"
  if ! grep -q '^test result: ' "$log"; then
    echo "scripts/test.sh: cargo test $* printed no test result" >&2
    exit 1
  fi
  if grep -E '^test result: .* [1-9][0-9]* ignored;' "$log" >&2; then
    echo "scripts/test.sh: tests were left ignored by cargo test $* (see above)" >&2
    exit 1
  fi
  rm -f "$log"
}
run_tests --all-targets --locked -- --include-ignored --skip image:: --skip release::
bash scripts/check/validate-k8s.sh
# The release workflow: actionlint (syntax, expressions, and the shell of run: steps, which it
# hands to the shellcheck linter) and zizmor (injection, credentials, unpinned actions).
actionlint .github/workflows/*.yml
zizmor --quiet --offline .github/workflows/
# The release, from one release build of the binary: scripts/release/release.sh writes dist/ (the
# archive, SBOM, chart and image all ship that binary); then the image run as in a pod, the
# loopback OCI registry, the README's Install blocks and cargo install (tests/it/image.rs and
# tests/it/release.rs, ignored under plain `cargo test`).
bash scripts/release/release.sh "$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)"
run_tests --locked --test it -- --include-ignored image:: release::
