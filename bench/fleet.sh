#!/usr/bin/env bash
# A fleet of sidecars against one upstream: N `run` agents (token files only: --listen off,
# --admin-listen off, each its own --output-dir) share one emulator issuing short tokens
# (FLEET_TOKEN_LIFETIME, default 20 s). All start together (the worst case: a node or a
# Deployment coming up at once). After one token life of settling, bench/fleet.py measures a
# steady window (2 token lives), then makes every token request fail with 503 for an outage
# longer than a token life (1.5 lives), then lets the upstream answer again. It prints:
#
#   * upstream token calls per agent per token life in steady state (about 2 is expected:
#     a refresh at a jittered 45-55 % of the life);
#   * the spread of refresh intervals across agents (min/median/max/stddev, from each agent's
#     token.json mtime), and how far apart the agents' k-th refreshes drift, round by round
#     from the common start: with jitter they spread, without it they would stay together;
#   * the refused attempts per agent during the outage (backoff);
#   * after recovery, the peak mints per second (emulator call counter sampled every 0.1 s),
#     and the time each agent took to get a fresh token;
#   * the agents' VmRSS and RssAnon.
#
#   bench/fleet.sh [N]        (default 100; about 20 s + 3.5 token lives + the recovery)
#
# The outage is made by bench/fault_proxy.py between the agents and the emulator: the
# standalone emulator has no HTTP route to script faults (only /emulator/calls), and a
# service-account key cannot go through a proxy (the emulator checks that the assertion's
# `aud` is its own token URL), so the agents use the emulator's authorized_user credential
# with its token_uri on the proxy, as bench/faults.sh does. Loopback only; every wait is
# bounded; every process is stopped on exit.
source "$(dirname "$0")/common.sh"
n=${1:-100}
lifetime=${FLEET_TOKEN_LIFETIME:-20}
export XDG_CACHE_HOME="$work/cache" # --no-cache below; never the user's cache anyway

start_emulator --write-authorized-user "$work/user.json" --lifetime "$lifetime"
start_fault_proxy
proxied_credential "$work"

echo "fleet: $n agents, ${lifetime} s tokens, one emulator, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
dirs=() agent_pids=()
started=$(date +%s.%N)
for i in $(seq -w "$n"); do
  d="$work/fleet/$i"
  mkdir -p "$d/out"
  "$agent" run --log-level warn --credentials "$work/cred/user.json" --output-dir "$d/out" --no-cache \
    --listen off --admin-listen off 2>"$d/agent.log" &
  pids+=($!)
  agent_pids+=($!)
  dirs+=("$d/out")
done

code=0
python3 "$root/bench/fleet.py" --started "$started" --lifetime "$lifetime" --emulator "$emulator_url" --proxy "$proxy_url" \
  --dirs "$(IFS=,; echo "${dirs[*]}")" --pids "$(IFS=,; echo "${agent_pids[*]}")" || code=$?
dead=0
for k in "${!agent_pids[@]}"; do
  kill -0 "${agent_pids[$k]}" 2>/dev/null && continue
  dead=$((dead + 1))
  [ "$dead" = 1 ] && { echo "an agent exited; its log:" >&2; tail -3 "${dirs[$k]%/out}/agent.log" >&2; }
done
[ "$dead" = 0 ] || echo "$dead of $n agents exited" >&2
exit "$code"
