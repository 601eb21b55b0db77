#!/usr/bin/env bash
# Builds the binary as it ships and prints the directory it is in (cargo's output goes to
# stderr), so a caller runs "$dir/gcp-token-agent":
#
#   dir=$(scripts/release/build-release.sh [CARGO_ARGS...])     e.g. --quiet, --example google_emulator
#
# On x86_64 Linux with glibc this is a static PIE (`-C target-feature=+crt-static`): the kernel
# maps one file and the binary relocates itself, instead of the dynamic loader finding, mapping
# and binding libc, libm and libgcc_s at every start. That is a measurable part of every cached
# `exec-credential` (docs/performance.md, "Binary size, start-up and memory"), and the binary runs on any
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
#
# The static build also orders its code (scripts/release/link-order.sh): the functions a cached CLI
# call runs are linked first, together. That needs lld (rustc's default linker for x86_64
# Linux since 1.90) and a second link when the binary's symbol names change (a first build,
# a dependency update): lld writes a map of the names at every link, and the ordering file
# for the next link is made from it. GCP_TOKEN_AGENT_LINK_ORDER=0 skips the ordering.
#
# With cargo-auditable installed (scripts/setup/install-test-deps.sh installs it) the build is
# auditable: the binary carries its dependency list (crate names, versions, sources) in a
# section of its own, which `cargo audit bin`, Trivy and Grype read to match advisories against
# what was really linked. About 4 KB; GCP_TOKEN_AGENT_AUDITABLE=0 builds without it.
# scripts/release/release.sh requires it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
host=$(${RUSTC:-rustc} -vV | sed -n 's/^host: //p')
target_dir=$(cargo metadata --no-deps --format-version 1 --manifest-path "$root/Cargo.toml" |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
cargo=(cargo)
if [ "${GCP_TOKEN_AGENT_AUDITABLE:-1}" != 0 ] && cargo auditable --version >/dev/null 2>&1; then
  cargo=(cargo auditable)
fi
build=("${cargo[@]}" build --release --locked --manifest-path "$root/Cargo.toml" --bin gcp-token-agent "$@")

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
dir="$target_dir/$host/release"
minor=$(${RUSTC:-rustc} -V | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
if [ "${GCP_TOKEN_AGENT_LINK_ORDER:-1}" = 0 ] || [ "${minor:-0}" -lt 90 ]; then
  "${build[@]}" --target "$host" >&2
else
  # Examples and flags such as --quiet go to the first build, which builds the library and
  # every dependency; the binary is linked by `cargo rustc`, which passes the link arguments
  # to it alone. Keeping them off the first build keeps the binary fresh between runs.
  flags=() targets=()
  while [ $# -gt 0 ]; do
    case $1 in
    --example) targets+=("$1" "$2") && shift 2 ;;
    *) flags+=("$1") && shift ;;
    esac
  done
  args=(--release --locked --manifest-path "$root/Cargo.toml" --target "$host" "${flags[@]}")
  "${cargo[@]}" build "${args[@]}" --lib "${targets[@]}" >&2
  order_dir="$target_dir/$host/link-order"
  mkdir -p "$order_dir"
  link() {
    "${cargo[@]}" rustc "${args[@]}" --bin gcp-token-agent -- \
      -C link-arg=-Wl,--symbol-ordering-file="$1",--no-warn-symbol-ordering \
      -C link-arg=-Wl,-Map="$order_dir/map",--no-demangle >&2
  }
  # The ordering file in use, named by its content: cargo relinks when the name changes.
  named() { echo "$order_dir/$(sha256sum <"$1" | cut -c1-16).order"; }
  current=$(cat "$order_dir/current" 2>/dev/null || true)
  if [ ! -f "$current" ]; then
    current=$(named /dev/null)
    : >"$current"
  fi
  link "$current"
  bash "$root/scripts/release/link-order.sh" select "$order_dir/map" >"$order_dir/next"
  wanted=$(named "$order_dir/next")
  mv "$order_dir/next" "$wanted"
  if [ "$wanted" != "$current" ]; then
    link "$wanted"
    echo "$wanted" >"$order_dir/current"
  fi
  find "$order_dir" -name '*.order' ! -path "$wanted" -delete
  echo "build-release: $(wc -l <"$wanted") symbols of scripts/release/hot-functions.txt linked first" >&2
fi
if command -v readelf >/dev/null && ! readelf -h "$dir/gcp-token-agent" | grep -q 'Type: *DYN'; then
  echo "build-release: $dir/gcp-token-agent is not position-independent; refusing to ship it" >&2
  exit 1
fi
echo "$dir"
