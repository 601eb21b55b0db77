#!/usr/bin/env bash
# Cached `gcp-token-agent print-access-token` against `gcloud auth print-access-token`:
# the same service-account key, the same local emulator, alternating runs.
#
#   bench/cli.sh [RUNS]      (default 30; gcloud takes about half a second per call)
source "$(dirname "$0")/common.sh"
runs=${1:-30}

start_emulator --write-key "$work/key.json"
export XDG_CACHE_HOME="$work/cache"

export CLOUDSDK_CONFIG="$work/gcloud"
gcloud config set core/disable_usage_reporting true --quiet >/dev/null 2>&1
gcloud config set component_manager/disable_update_check true --quiet >/dev/null 2>&1
gcloud config set auth/token_host "$emulator_url/token" --quiet >/dev/null 2>&1
gcloud auth activate-service-account --key-file "$work/key.json" --quiet >/dev/null 2>&1

before=$(calls token)
python3 "$root/bench/alternate.py" "$runs" \
  "gcp-token-agent print-access-token" "$agent print-access-token --credentials $work/key.json" \
  "gcloud auth print-access-token" "gcloud auth print-access-token"
echo "token endpoint calls during the run (both tools, warm-up included): $(( $(calls token) - before ))"
