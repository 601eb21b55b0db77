#!/usr/bin/env bash
# Builds the binary as it ships and prints the directory it is in (cargo's output goes to
# stderr), so a caller runs "$dir/gcp-token-agent":
#
#   dir=$(scripts/build-release.sh [CARGO_ARGS...])     e.g. --quiet, --example google_emulator
#
# On x86_64 Linux with glibc this is a static PIE (`-C target-feature=+crt-static`): the kernel
# maps one file and the binary relocates itself, instead of the dynamic loader finding, mapping
# and binding libc, libm and libgcc_s at every start. That is about 0.3 ms of every cached
# `exec-credential` (README, "Binary size, start-up and memory"), and the binary runs on any
# x86_64 Linux, whatever its glibc. Addresses stay randomised (PIE) and the relocated data
# read-only after start (RELRO); the build is checked to be a PIE.
#
# RUSTFLAGS would also reach build scripts and proc macros, which cannot be linked statically,
# unless cargo is given --target: hence the host's own triple (do not pass another --target),
# and target/<triple>/release/. RUSTFLAGS set here replaces any rustflags from cargo's config
# files, as cargo's precedence goes. Elsewhere (other architectures, where Rust links a static
# glibc binary at a fixed address; no static glibc, `libc.a`, installed), or with
# GCP_TOKEN_AGENT_DYNAMIC=1: the plain dynamic binary in target/release/, what
# `cargo build --release` and `cargo install` give.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
host=$(${RUSTC:-rustc} -vV | sed -n 's/^host: //p')
target_dir=$(cargo metadata --no-deps --format-version 1 --manifest-path "$root/Cargo.toml" |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
build=(cargo build --release --locked --manifest-path "$root/Cargo.toml" --bin gcp-token-agent "$@")

static=yes
if [ "${GCP_TOKEN_AGENT_DYNAMIC:-}" = 1 ]; then
  static=no
elif [[ $host != x86_64-*-linux-gnu ]]; then
  static=no
elif [ "$(${CC:-cc} -print-file-name=libc.a 2>/dev/null)" = libc.a ]; then
  echo "build-release: no static glibc (libc.a; Debian: libc6-dev, Fedora: glibc-static): building the dynamic binary" >&2
  static=no
fi

if [ "$static" = no ]; then
  "${build[@]}" >&2
  echo "$target_dir/release"
  exit 0
fi
if [ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]; then # cargo then ignores RUSTFLAGS
  export CARGO_ENCODED_RUSTFLAGS="$CARGO_ENCODED_RUSTFLAGS"$'\x1f'"-Ctarget-feature=+crt-static"
else
  export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
fi
"${build[@]}" --target "$host" >&2
dir="$target_dir/$host/release"
if command -v readelf >/dev/null && ! readelf -h "$dir/gcp-token-agent" | grep -q 'Type: *DYN'; then
  echo "build-release: $dir/gcp-token-agent is not position-independent; refusing to ship it" >&2
  exit 1
fi
echo "$dir"
