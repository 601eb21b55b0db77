#!/usr/bin/env bash
# Latency from a kubelet-style swap of the projected token to the new token file (p50, p99),
# and the agent's idle RSS. Builds in release first.
#
#   bench/rotation.sh [SWAPS]     (default 50)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --quiet --bin gcp-token-agent --example rotation_bench
target/release/examples/rotation_bench "${1:-50}" target/release/gcp-token-agent
