#!/usr/bin/env bash
# kubectl's credential plugin call: cached `gcp-token-agent exec-credential` against
# `gke-gcloud-auth-plugin --use_application_default_credentials`, the same key and emulator,
# alternating runs; then the token-endpoint calls each makes for 10 invocations.
#
#   bench/exec.sh [RUNS]     (default 30)
source "$(dirname "$0")/common.sh"
runs=${1:-30}

start_emulator --write-key "$work/key.json"
export XDG_CACHE_HOME="$work/cache"
export GOOGLE_APPLICATION_CREDENTIALS="$work/key.json"
export KUBERNETES_EXEC_INFO='{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":false}}'
export HOME="$work"

python3 "$root/bench/alternate.py" "$runs" \
  "gcp-token-agent exec-credential" "$agent exec-credential" \
  "gke-gcloud-auth-plugin (ADC mode)" "gke-gcloud-auth-plugin --use_application_default_credentials"

count() {
  local before after
  before=$(calls token)
  for _ in $(seq 10); do "$@" >/dev/null; done
  after=$(calls token)
  echo $((after - before))
}
echo "token endpoint calls for 10 more invocations: gcp-token-agent $(count "$agent" exec-credential)," \
  "gke-gcloud-auth-plugin $(count gke-gcloud-auth-plugin --use_application_default_credentials)"
