#!/usr/bin/env bash
# Builds the binary as it ships and prints the directory it is in (cargo's output goes to
# stderr), so a caller runs "$dir/gcp-token-agent":
#
#   dir=$(scripts/build-release.sh [CARGO_ARGS...])     e.g. --quiet, --example google_emulator
#
# On Linux with glibc this is a static PIE (`-C target-feature=+crt-static`): the kernel maps one
# file and the binary relocates itself, instead of the dynamic loader finding, mapping and
# binding libc, libm and libgcc_s at every start. That is about a third of the wall time of a
# cached `exec-credential` (README, "Binary size, start-up and memory"), and the binary runs on
# any Linux of its architecture, whatever its glibc. Addresses stay randomised (PIE) and the
# relocated data read-only after start (RELRO).
#
# RUSTFLAGS would also reach build scripts and proc macros, which cannot be linked statically,
# unless cargo is given --target: hence the host's own triple, and target/<triple>/release/.
# GCP_TOKEN_AGENT_DYNAMIC=1, or any other platform, builds the plain dynamic binary in
# target/release/ (what `cargo build --release` and `cargo install` give).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
host=$(rustc -vV | sed -n 's/^host: //p')
build=(cargo build --release --locked --manifest-path "$root/Cargo.toml" --bin gcp-token-agent "$@")
if [[ $host == *-linux-gnu* ]] && [ "${GCP_TOKEN_AGENT_DYNAMIC:-}" != 1 ]; then
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" "${build[@]}" --target "$host" >&2
  echo "$target_dir/$host/release"
else
  "${build[@]}" >&2
  echo "$target_dir/release"
fi
