#!/usr/bin/env bash
# Latency from a kubelet-style swap of the projected token to the new token file (p50, p99),
# and the agent's idle RSS. Builds in release first.
#
#   bench/rotation.sh [SWAPS]     (default 50)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
release=$(bash scripts/release/build-release.sh --quiet --example rotation_bench)
"$release/examples/rotation_bench" "${1:-50}" "$release/gcp-token-agent"
