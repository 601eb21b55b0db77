#!/usr/bin/env bash
# The metadata API's latency when tokens live no longer than --min-remaining and when the
# volume under --output-dir is slow. `run` against the local emulator issuing 60 s tokens
# (the default --min-remaining is 60 s too: every served token is "near expiry", every
# request may ask for an early refresh, and the owner declines); a client asks for the token
# RATE times a second (default 4) for SECONDS (default 120) on one keep-alive connection with a
# 3 s timeout (gcloud's metadata check and many SDK probes use about that), and prints the
# latency max, p50 and p99 (a timeout counts as 3 s), how many took over 50 ms and how many
# timed out. Two runs:
#
#   1. as is;
#   2. under `strace -f --seccomp-bpf -e trace=fsync -e inject=fsync:delay_enter=2s` (every
#      fsync held 2 s: a slow volume; --seccomp-bpf stops the agent at fsync only, so tracing
#      costs nothing elsewhere;
#      the static release binary traces fine). Token files are written off the serving thread,
#      so the API's figures should match run 1.
#
# No figure is asserted.
#
#   bench/latency.sh [SECONDS] [RATE]
source "$(dirname "$0")/common.sh"
seconds=${1:-120}
rate=${2:-4}
command -v strace >/dev/null || { echo "needs strace (apt-get install strace)" >&2; exit 1; }
start_emulator --write-authorized-user "$work/user.json" --lifetime 60


# measure LABEL [WRAPPER...]: one run of the agent (under WRAPPER when given) and the client.
measure() {
  local label=$1
  shift
  local dir="$work/$label" meta admin top
  mkdir -p "$dir/out"
  meta="127.0.0.1:$(free_port)"
  admin="127.0.0.1:$(free_port)"
  "$@" "$agent" run --log-level info --credentials "$work/user.json" --output-dir "$dir/out" \
    --listen "$meta" --admin-listen "$admin" 2>"$dir/agent.log" &
  top=$!
  pids+=("$top")
  # The token route, not /readyz: before this release an agent whose tokens live no longer
  # than --min-remaining never became ready.
  local route="http://$meta/computeMetadata/v1/instance/service-accounts/default/token"
  for _ in $(seq 400); do curl -sf -H 'Metadata-Flavor: Google' "$route" >/dev/null && break; sleep 0.05; done
  curl -sf -H 'Metadata-Flavor: Google' "$route" >/dev/null || { echo "$label: the agent did not start" >&2; tail -5 "$dir/agent.log" >&2; exit 1; }
  echo "  $label: /readyz $(curl -s -o /dev/null -w '%{http_code}' "http://$admin/readyz") once serving"
  python3 - "$meta" "$seconds" "$rate" "$label" <<'PY'
import http.client, sys, time
addr, seconds, rate, label = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
host, port = addr.rsplit(":", 1)
path = "/computeMetadata/v1/instance/service-accounts/default/token"
conn = None
lat, timeouts, errors = [], 0, 0
start = time.monotonic()
n = 0
while True:
    due = start + n / rate
    if due - start >= seconds:
        break
    time.sleep(max(0.0, due - time.monotonic()))
    n += 1
    t0 = time.monotonic()
    try:
        if conn is None:
            conn = http.client.HTTPConnection(host, int(port), timeout=3)
        conn.request("GET", path, headers={"Metadata-Flavor": "Google"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            errors += 1
        lat.append(time.monotonic() - t0)
    except TimeoutError:
        timeouts += 1  # counted at the client's 3 s in the percentiles
        lat.append(3.0)
        conn = None
    except (OSError, http.client.HTTPException):
        errors += 1
        conn = None
lat.sort()
def pct(p):
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000 if lat else float("nan")
slow = sum(1 for x in lat if x > 0.05)
print(f"{label}: {n} requests in {seconds:.0f} s; max {lat[-1]*1000 if lat else float('nan'):.1f} ms, "
      f"p50 {pct(50):.2f} ms, p99 {pct(99):.2f} ms; over 50 ms: {slow}; 3 s timeouts: {timeouts}; errors: {errors}")
PY
  # A tracer that exits leaves its tracee running: stop the agent itself first (the children
  # file is a list of pids: split on purpose).
  # shellcheck disable=SC2046
  kill $(cat "/proc/$top/task/$top/children" 2>/dev/null) "$top" 2>/dev/null || true
  wait "$top" 2>/dev/null || true
  echo "  $label: early-refresh asks $(grep -c 'asking for an early refresh' "$dir/agent.log"), token mints $(grep -c '"refreshed"\|refreshed' "$dir/agent.log")"
}

echo "metadata API latency, 60 s tokens, default --min-remaining (60 s), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
measure plain
measure slow-fsync strace -f -qq --seccomp-bpf -o /dev/null -e trace=fsync -e inject=fsync:delay_enter=2s
