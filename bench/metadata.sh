#!/usr/bin/env bash
# The loopback metadata API under load: wrk with 64 keep-alive connections on the token
# route, requests per second and latency percentiles, and the agent's RSS idle and under load.
#
#   bench/metadata.sh [SECONDS]     (default 10)
source "$(dirname "$0")/common.sh"
seconds=${1:-10}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

start_emulator --write-key "$work/key.json"
"$agent" run --log-level warn --credentials "$work/key.json" --listen 127.0.0.1:18989 --admin-listen 127.0.0.1:18990 &
agent_pid=$!
pids+=("$agent_pid")
for _ in $(seq 100); do curl -sf http://127.0.0.1:18990/readyz >/dev/null && break; sleep 0.05; done

rss() { ps -o rss= -p "$agent_pid" | awk '{printf "%.1f MiB", $1 / 1024}'; }
echo "agent RSS idle: $(rss)"

url=http://127.0.0.1:18989/computeMetadata/v1/instance/service-accounts/default/token
wrk -t2 -c64 -d"${seconds}s" --latency -H 'Metadata-Flavor: Google' "$url" >"$work/wrk.out" &
wrk_pid=$!
sleep $((seconds / 2))
loaded=$(rss)
wait "$wrk_pid"
sed -n '/Thread Stats/,$p' "$work/wrk.out"
echo "agent RSS under load: $loaded"
echo "token endpoint calls: $(calls token)"
