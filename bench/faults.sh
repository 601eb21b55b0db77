#!/usr/bin/env bash
# Fault matrix: `run` against the local emulator through bench/fault_proxy.py, one fault per
# row, one line per row saying what the agent did. Tokens live FAULTS_TOKEN_LIFETIME seconds
# (default 20, so a 30 s fault outlasts the token and shows expiry, withdrawal and recovery).
# Each fault starts right after a refresh; bench/probe.py samples /readyz, the metadata token
# route (3 s client timeout) and the token file twice a second and asks the emulator whether
# each token is one it issued and still live.
#
#   bench/faults.sh [ROW...]       rows: 5xx 429 reset drip full readonly source term term2
#                                  cli5xx cliresets (default: all)
#
# The credential is an authorized_user file (the emulator's --write-authorized-user) whose
# token_uri points at the proxy: a service-account key cannot go through a proxy, because the
# emulator checks that the assertion's `aud` is its own token URL. Disk-full and read-only rows
# need root (tmpfs and bind mounts); without it they are skipped. Loopback only; every wait is
# bounded; mounts are undone on exit.
source "$(dirname "$0")/common.sh"
lifetime=${FAULTS_TOKEN_LIFETIME:-20}
storm=${FAULTS_STORM_SECONDS:-30}
recover_max=${FAULTS_RECOVER_MAX:-90}
probe="$root/bench/probe.py"
export XDG_CACHE_HOME="$work/cache"   # the CLI rows never touch the user's token cache
mounts=()
faults_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.2
  for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
  # FAULTS_KEEP=DIR keeps every row's agent log, timeline and proxy stats for a closer look.
  if [ -n "${FAULTS_KEEP:-}" ]; then mkdir -p "$FAULTS_KEEP" && cp -r "$work"/. "$FAULTS_KEEP"/ 2>/dev/null || true; fi
  cleanup
}
trap faults_cleanup EXIT

now() { date +%s.%N | cut -c1-14; }

start_emulator --write-authorized-user "$work/user.json" --lifetime "$lifetime"
start_fault_proxy --max-drip 120
mode() { curl -sf -X POST -d "$1" "$proxy_url/proxy/mode" >/dev/null; }


# start_agent DIR OUTDIR [flags...]: starts `run`, waits for /readyz; sets agent_pid, meta, admin.
start_agent() {
  local dir=$1 out=$2
  shift 2
  meta="127.0.0.1:$(free_port)"
  admin="127.0.0.1:$(free_port)"
  "$agent" run --log-level info --credentials "$dir/cred/user.json" --output-dir "$out" \
    --listen "$meta" --admin-listen "$admin" --min-remaining 2s "$@" 2>"$dir/agent.log" &
  agent_pid=$!
  pids+=("$agent_pid")
  for _ in $(seq 300); do curl -sf "http://$admin/readyz" >/dev/null && return 0; sleep 0.05; done
  echo "the agent did not become ready; its log:" >&2
  tail -5 "$dir/agent.log" >&2
  return 1
}

expiry_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["expiry"])' "$1/token.json" 2>/dev/null || true; }

# wait_fresh OUT: returns right after the next refresh lands in OUT/token.json.
wait_fresh() {
  local before
  before=$(expiry_of "$1")
  for _ in $(seq $((lifetime * 4 + 20))); do
    [ "$(expiry_of "$1")" != "$before" ] && return 0
    sleep 0.25
  done
}

# wait_recovered OUT: until /readyz and the metadata API answer 200 and the file is fresh.
wait_recovered() {
  local deadline=$((SECONDS + recover_max))
  while [ $SECONDS -lt $deadline ]; do
    if curl -sf -m 2 "http://$admin/readyz" >/dev/null &&
      curl -sf -m 2 -H 'Metadata-Flavor: Google' "http://$meta/computeMetadata/v1/instance/service-accounts/default/token" >/dev/null &&
      python3 -c 'import json,sys,datetime as d; e=d.datetime.fromisoformat(json.load(open(sys.argv[1]))["expiry"].replace("Z","+00:00")); sys.exit(0 if e.timestamp() > d.datetime.now().timestamp() + 3 else 1)' "$1/token.json" 2>/dev/null; then
      sleep 3 # so the watcher sees it healthy for a few samples
      return 0
    fi
    sleep 0.5
  done
}

metric_sum() { # metric_sum NAME FILTER: sum of the agent's samples of NAME whose labels contain FILTER
  curl -s "http://$admin/metrics" | awk -v n="$1" -v f="$2" 'index($0, n "{") == 1 && index($0, f) { s += $NF } END { print s + 0 }'
}
refresh_errors() { # stage:reason=count, for the row's line
  curl -s "http://$admin/metrics" | python3 -c '
import re, sys
out = []
for line in sys.stdin:
    if line.startswith("gcp_token_agent_refresh_total{") and "result=\"failure\"" in line:
        labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", line))
        out.append(labels.get("stage", "?") + ":" + labels.get("reason", "?") + "=" + line.split()[-1])
print(" ".join(out))'
}

results=()
# row_begin NAME: a fresh agent (own credential copy and output dir) and its watcher.
row_begin() {
  row=$1
  dir="$work/$row"
  out=${2:-$dir/out}
  mkdir -p "$dir" "$out"
  proxied_credential "$dir"
  start_agent "$dir" "$out" || return 1
  python3 "$probe" watch --dir "$out" --metadata "$meta" --admin "$admin" --emulator "$emulator_url" \
    --seconds $((storm + recover_max + lifetime * 3 + 60)) --stop-file "$dir/stop" --out "$dir/timeline.jsonl" &
  watch_pid=$!
  pids+=("$watch_pid")
  wait_fresh "$out"
  t_fault=$(now)
  expiry_at_fault=$(python3 -c 'import json,sys,datetime as d; print(d.datetime.fromisoformat(json.load(open(sys.argv[1]))["expiry"].replace("Z","+00:00")).timestamp())' "$out/token.json")
}

# row_end "FAULT TEXT" [extra json fields]: clears, waits for recovery, judges, records the line.
row_end() {
  local fault=$1 extra=${2:-}
  wait_recovered "$out"
  local writes errors
  writes=$(metric_sum gcp_token_agent_file_writes_total 'result="failure"')
  errors=$(refresh_errors)
  if [ "$row" = source ]; then
    extra="$extra, \"source_reloads\": \"success $(metric_sum gcp_token_agent_source_reloads_total 'result="success"'), failure $(metric_sum gcp_token_agent_source_reloads_total 'result="failure"')\""
  fi
  touch "$dir/stop"
  wait "$watch_pid" 2>/dev/null || true
  kill -TERM "$agent_pid" 2>/dev/null || true
  local code=0
  wait "$agent_pid" || code=$?
  curl -s "$proxy_url/proxy/stats" >"$dir/proxy.json"
  printf '{"fault": %s, "clear": %s, "file_write_failures": "%s", "errors": "%s", "sigterm_exit": "%s", "expiry_at_fault": %s%s}\n' \
    "$t_fault" "$t_clear" "$writes" "$errors" "$code" "$expiry_at_fault" "$extra" >"$dir/events.json"
  local line
  line=$(python3 "$probe" row --timeline "$dir/timeline.jsonl" --events "$dir/events.json" --proxy-stats "$dir/proxy.json" |
    sed -n 's/^sentence=//p')
  results+=("| $fault | $line |")
  echo "| $fault | $line |"
}

storm_row() { # storm_row NAME "FAULT TEXT" MODE_JSON [SECONDS]
  row_begin "$1" || return 0
  mode "$3"
  sleep "${4:-$storm}"
  mode '{"mode": "pass"}'
  t_clear=$(now)
  row_end "$2" ', "proxy_row": true'
}

row_5xx() { storm_row 5xx "upstream 503 storm, ${storm} s" '{"mode": "status", "status": 503}'; }
row_429() { storm_row 429 "429 storm with Retry-After: 5, ${storm} s" '{"mode": "rate_limit", "retry_after": 5}'; }
row_reset() { storm_row reset "connection resets (RST, no answer), ${storm} s" '{"mode": "reset"}'; }
row_drip() {
  # Headers at once, then a body byte every 2 s (~2 min for one answer; the agent's request
  # timeout is 30 s). The window is longer than that timeout, so attempts start inside it.
  storm_row drip "slow drip: 1 body byte / 2 s, $((storm + 10)) s window" '{"mode": "drip", "interval": 2}' $((storm + 10))
}

can_mount() { [ "$(id -u)" = 0 ] && mkdir -p "$work/mnt-probe" && mount -t tmpfs -o size=16k tmpfs "$work/mnt-probe" 2>/dev/null && umount "$work/mnt-probe"; }

row_full() {
  if ! can_mount; then
    results+=("| output dir disk full | skipped: cannot mount a tmpfs here (needs root) |")
    return 0
  fi
  local mnt="$work/full/out"
  mkdir -p "$mnt"
  mount -t tmpfs -o size=16k,mode=0755 tmpfs "$mnt"
  mounts+=("$mnt")
  row_begin full "$mnt" || return 0
  dd if=/dev/zero of="$mnt/filler" bs=1k count=64 2>/dev/null || true   # ENOSPC ends it
  sleep "$storm"
  rm -f "$mnt/filler"
  t_clear=$(now)
  row_end "output dir full (16 KiB tmpfs filled), ${storm} s"
}

row_readonly() {
  if ! can_mount; then
    results+=("| output dir read-only | skipped: cannot bind-mount here (needs root; chmod does not stop root) |")
    return 0
  fi
  row_begin readonly || return 0
  # As root, chmod a-w would not stop the agent: remount the directory read-only instead.
  mount --bind "$out" "$out"
  mounts+=("$out")
  mount -o remount,bind,ro "$out"
  sleep "$storm"
  umount "$out"
  t_clear=$(now)
  row_end "output dir read-only (ro bind mount), ${storm} s"
}

row_source() {
  row_begin source || return 0
  cp "$dir/cred/user.json" "$dir/user.saved"
  rm "$dir/cred/user.json"
  sleep "$storm"
  cp "$dir/user.saved" "$dir/cred/user.json"
  t_clear=$(now)
  row_end "credential file deleted, recreated ${storm} s later"
}

# ask_on_demand FILE SCOPE: a metadata token request for another scope set (an on-demand mint).
ask_on_demand() {
  curl -s -o /dev/null -m 60 -w '%{http_code} %{time_total}\n' -H 'Metadata-Flavor: Google' \
    "http://$meta/computeMetadata/v1/instance/service-accounts/default/token?scopes=$2" >"$1" 2>/dev/null || true
}

# term_row NAME SLOW GRACE SECOND_SIGNAL: SIGTERM while on-demand mints wait on a slow upstream.
term_row() {
  local name=$1 slow=$2 grace=$3 second=$4 d="$work/$1"
  mkdir -p "$d/out"
  row=$name dir=$d
  proxied_credential "$d"
  start_agent "$d" "$d/out" --shutdown-grace "${grace}s" || return 0
  mode "{\"mode\": \"slow\", \"delay\": $slow}"
  local scopes=(https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/sqlservice.login openid)
  local i asks=()
  for i in 0 1 2; do
    ask_on_demand "$d/ask$i" "${scopes[$i]}" &
    asks+=($!)
  done
  sleep 1
  local t_term t_exit code=0 late
  t_term=$(now)
  kill -TERM "$agent_pid"
  if [ "$second" = yes ]; then
    sleep 0.5
    kill -TERM "$agent_pid" 2>/dev/null || true
  else
    sleep 0.5
    late=$(curl -s -o /dev/null -m 3 -w '%{http_code}' -H 'Metadata-Flavor: Google' \
      "http://$meta/computeMetadata/v1/instance/service-accounts/default/token" 2>/dev/null || true)
  fi
  wait "$agent_pid" || code=$?
  t_exit=$(now)
  for i in "${asks[@]}"; do wait "$i" || true; done
  mode '{"mode": "pass"}'
  local answers
  answers=$(for i in 0 1 2; do cat "$d/ask$i"; done | awk '{ c = ($1 == "000") ? "no answer" : $1; printf "%s%s at %.1f s", (NR > 1 ? ", " : ""), c, $2 - 1 }')
  local took
  took=$(python3 -c "print(f'{$t_exit - $t_term:.1f}')")
  local what
  if [ "$second" = yes ]; then
    what="second SIGTERM 0.5 s after the first: exit $code, $(python3 -c "print(f'{$took - 0.5:.1f}')") s after the second; in-flight (time after the first SIGTERM): $answers"
    results+=("| two SIGTERMs, 3 on-demand mints in flight (upstream ${slow} s slow), --shutdown-grace ${grace}s | $what |")
  else
    what="in-flight (time after SIGTERM): $answers; a new request 0.5 s after SIGTERM: ${late:-000} ($( [ "${late:-000}" = 000 ] && echo refused || echo answered)); exit $code, $took s after SIGTERM"
    results+=("| SIGTERM, 3 on-demand mints in flight (upstream ${slow} s slow), --shutdown-grace ${grace}s | $what |")
  fi
  echo "${results[-1]}"
}
row_term() { term_row term 5 10 no; term_row term_over 20 3 no; }
row_term2() { term_row term2 20 10 yes; }

# CLI rows: one command against a broken upstream, its exit code and time.
cli_row() { # cli_row NAME "FAULT TEXT" MODE_JSON COMMAND...
  local name=$1 fault=$2 m=$3 d="$work/$1"
  shift 3
  mkdir -p "$d/out"
  proxied_credential "$d"
  mode "$m"
  local start code=0 took
  start=$(now)
  "$agent" "$@" --credentials "$d/cred/user.json" >"$d/stdout" 2>"$d/stderr" || code=$?
  took=$(python3 -c "print(f'{$(now) - $start:.1f}')")
  mode '{"mode": "pass"}'
  local last
  last=$(grep -v '^\s*$' "$d/stderr" | tail -1 | cut -c1-160 | sed 's/|/\\|/g')
  results+=("| $fault | exit $code after $took s; stdout $(wc -c <"$d/stdout") bytes; last stderr line: \`$last\` |")
  echo "${results[-1]}"
}
row_cli5xx() {
  cli_row cli5xx "CLI \`print-access-token --no-cache\` during a 503 storm" '{"mode": "status", "status": 503}' \
    print-access-token --no-cache
}
row_cliresets() {
  cli_row cliresets "CLI \`run --oneshot\` during connection resets" '{"mode": "reset"}' \
    run --oneshot --output-dir "$work/cliresets/out" --listen off --admin-listen off
}

rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(5xx 429 reset drip full readonly source term term2 cli5xx cliresets)
echo "fault matrix: ${lifetime}s tokens, ${storm}s faults, --min-remaining 2s, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
for r in "${rows[@]}"; do
  case $r in
    5xx | 429 | reset | drip | full | readonly | source | term | term2 | cli5xx | cliresets) "row_$r" ;;
    *) echo "unknown row $r" >&2; exit 64 ;;
  esac
done
echo
echo "| fault | what the agent did |"
echo "|---|---|"
printf '%s\n' "${results[@]}"
