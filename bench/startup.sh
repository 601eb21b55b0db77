#!/usr/bin/env bash
# Start-up cost of the cached CLI paths, side by side with the tools people use today, the
# same service-account key and local emulator for both:
#
#   gcp-token-agent exec-credential     vs  gke-gcloud-auth-plugin --use_application_default_credentials
#   gcp-token-agent print-access-token  vs  gcloud auth print-access-token (configured as bench/cli.sh does)
#
# bench/startup.py alternates the four commands for RUNS rounds and prints per command the
# median wall time (plain run), max RSS (a run under /usr/bin/time -f %M; without GNU time,
# wait4's ru_maxrss, floored at Python's own RSS) and, when `perf stat -e task-clock` works
# here, median task-clock (ms) and page faults (a perf-wrapped run); then the ratios peer / ours
# and the harness's own floor. Then the exec-credential pair warm, back to back under
# `perf stat -r`. Last, what start-up has to do for our binary before main: its relocation
# entries (readelf -d), whether it is a static PIE, and its stripped size.
#
#   bench/startup.sh [RUNS]      (default 20; gcloud takes about 0.7 s a call, three calls a round)
source "$(dirname "$0")/common.sh"
runs=${1:-20}
for tool in gcloud gke-gcloud-auth-plugin; do
  command -v "$tool" >/dev/null || { echo "needs $tool on PATH" >&2; exit 1; }
done

start_emulator --write-key "$work/key.json"
export XDG_CACHE_HOME="$work/cache"
export HOME="$work"
export GOOGLE_APPLICATION_CREDENTIALS="$work/key.json"
export KUBERNETES_EXEC_INFO='{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":false}}'
export CLOUDSDK_CONFIG="$work/gcloud"
gcloud config set core/disable_usage_reporting true --quiet >/dev/null 2>&1
gcloud config set component_manager/disable_update_check true --quiet >/dev/null 2>&1
gcloud config set auth/token_host "$emulator_url/token" --quiet >/dev/null 2>&1
gcloud auth activate-service-account --key-file "$work/key.json" --quiet >/dev/null 2>&1

perf_flag=()
if ! command -v perf >/dev/null; then
  echo "perf is missing (apt-get install linux-perf): task-clock and page-fault columns skipped"
elif ! perf stat -e task-clock true >/dev/null 2>&1; then
  echo "perf stat -e task-clock does not work here (perf_event_paranoid or no perf events): columns skipped"
else
  perf_flag=(--perf)
fi

echo "startup: $runs alternating rounds, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
python3 "$root/bench/startup.py" "${perf_flag[@]}" "$runs" \
  "gcp-token-agent exec-credential" "$agent exec-credential" \
  "gke-gcloud-auth-plugin (ADC)" "gke-gcloud-auth-plugin --use_application_default_credentials" \
  "gcp-token-agent print-access-token" "$agent print-access-token" \
  "gcloud auth print-access-token" "gcloud auth print-access-token"
echo "token endpoint calls during the run (all four commands, warm-up included): $(calls token)"

# Warm, back to back: `perf stat -r` runs one command many times in a row from a small C
# process, so caches stay warm and the spawner costs little. The alternating rounds above are
# the colder case, as under kubectl (another large process ran just before each call).
if [ ${#perf_flag[@]} -gt 0 ]; then
  warm() {
    perf stat -r "$1" -e task-clock -- "${@:2}" 2>&1 >/dev/null |
      awk '/task-clock/ { t = $1 } /elapsed/ { e = $1 * 1000 } END { printf "%.2f %.2f\n", e, t }'
  }
  echo
  echo "warm, perf stat -r (means): wall ms, task-clock ms"
  read -r ours_wall ours_clock < <(warm $((runs * 10)) "$agent" exec-credential)
  read -r peer_wall peer_clock < <(warm $((runs * 3)) gke-gcloud-auth-plugin --use_application_default_credentials)
  echo "  gcp-token-agent exec-credential x$((runs * 10)): $ours_wall, $ours_clock"
  echo "  gke-gcloud-auth-plugin (ADC) x$((runs * 3)):     $peer_wall, $peer_clock"
  awk -v a="$ours_wall" -v b="$peer_wall" -v c="$ours_clock" -v d="$peer_clock" \
    'BEGIN { if (a > 0 && c > 0) printf "  plugin / ours: wall %.1fx, task-clock %.1fx\n", b / a, d / c }'
fi

# What start-up does before main: each relative relocation is a write into the binary's
# relocated data at every start (a copy-on-write page fault per page touched), done by the
# dynamic loader, or by a static PIE itself.
dynamic=$(readelf -d "$agent")
interpreter=$(readelf -lW "$agent" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
tag() { awk -v t="($1)" '$2 == t { $1 = ""; $2 = ""; sub(/^ +/, ""); print }' <<<"$dynamic" | head -1; }
bytes() { tag "$1" | awk '{ print $1 + 0 }'; }
echo
echo "our binary ($agent):"
if [ -n "$interpreter" ]; then
  linking="dynamic, loaded by $interpreter"
elif readelf -h "$agent" | grep -q 'Type: *DYN'; then
  linking="static PIE (no program interpreter, no shared library)"
else
  linking="static, at a fixed address (not a PIE)"
fi
echo "  linking: $linking"
for t in RELACOUNT RELASZ RELRSZ RELRENT FLAGS FLAGS_1; do
  value=$(tag "$t")
  echo "  $t: ${value:-absent}"
done
if [ -n "$(tag RELASZ)" ]; then
  echo "  RELA entries: $(($(bytes RELASZ) / 24)) of 24 bytes, of which RELATIVE (RELACOUNT): $(tag RELACOUNT)"
fi
if [ -n "$(tag RELRSZ)" ]; then
  echo "  RELR (packed relative relocations): $(($(bytes RELRSZ) / 8)) words of 8 bytes"
fi
echo "  relocations by type: $(readelf -rW "$agent" | awk '$3 ~ /^R_/ { n[$3]++ } END { for (t in n) printf "%s %d; ", t, n[t] }')"
strip -o "$work/stripped" "$agent"
size() { stat -c %s "$1" | awk '{ printf "%d bytes (%.1f MiB)", $1, $1 / 1048576 }'; }
echo "  size: $(size "$agent") as built; stripped: $(size "$work/stripped")" \
  "($(($(stat -c %s "$agent") - $(stat -c %s "$work/stripped"))) bytes more removed by strip; Cargo.toml's release profile already strips)"
