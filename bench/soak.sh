#!/usr/bin/env bash
# Soak: `run` against the local emulator with 4 s tokens (a refresh about every 2 s) for
# SOAK_SECONDS (default 600), token files and the metadata API on, while bench/probe.py reads
# the token file, token.json and the metadata token route about 20 times a second and asks the
# emulator whether every token it read is one it issued and still live. Every
# SOAK_SAMPLE_SECONDS (default 10) it samples the agent's VmRSS and RssAnon, open fds and
# threads (/proc/PID), the emulator's token-endpoint calls and the agent's
# gcp_token_agent_refresh_total. Prints a summary; exits 1 if any read was bad, the fd count
# grew by SOAK_FD_GROWTH_LIMIT (default 4) or more over the run, or the agent died.
#
#   bench/soak.sh                          SOAK_SECONDS=60 bench/soak.sh     (a quick one)
#
# Knobs: SOAK_SECONDS, SOAK_SAMPLE_SECONDS, SOAK_TOKEN_LIFETIME (the emulator's --lifetime,
# default 4), SOAK_READ_INTERVAL (seconds between reader passes, default 0.05),
# SOAK_FD_GROWTH_LIMIT, SOAK_KEEP (a directory to keep samples.tsv, reader.json and the agent's
# log in). Loopback only; every loop stops by itself.
source "$(dirname "$0")/common.sh"
seconds=${SOAK_SECONDS:-600}
every=${SOAK_SAMPLE_SECONDS:-10}
lifetime=${SOAK_TOKEN_LIFETIME:-4}
read_interval=${SOAK_READ_INTERVAL:-0.05}
fd_limit=${SOAK_FD_GROWTH_LIMIT:-4}
probe="$root/bench/probe.py"

metadata_port=$(free_port)
admin_port=$(free_port)
admin="127.0.0.1:$admin_port"

start_emulator --write-key "$work/key.json" --lifetime "$lifetime"
mkdir "$work/out"
"$agent" run --log-level info --credentials "$work/key.json" --output-dir "$work/out" \
  --listen "127.0.0.1:$metadata_port" --admin-listen "$admin" --min-remaining 1s \
  2>"$work/agent.log" &
agent_pid=$!
pids+=("$agent_pid")
for _ in $(seq 200); do curl -sf "http://$admin/readyz" >/dev/null && break; sleep 0.05; done
curl -sf "http://$admin/readyz" >/dev/null || { echo "the agent did not become ready" >&2; tail "$work/agent.log" >&2; exit 1; }

echo "soak: ${seconds}s, ${lifetime}s tokens, sample every ${every}s, $(nproc) cores, agent pid $agent_pid"
python3 "$probe" soak --dir "$work/out" --metadata "127.0.0.1:$metadata_port" --emulator "$emulator_url" \
  --seconds "$seconds" --interval "$read_interval" --out "$work/reader.json" &
reader_pid=$!
pids+=("$reader_pid")

# refreshes RESULT: the agent's gcp_token_agent_refresh_total for the access token.
refreshes() {
  curl -s "http://$admin/metrics" |
    awk -v r="result=\"$1\"" '/^gcp_token_agent_refresh_total\{/ && index($0, r) && index($0, "token=\"access\"") { n += $NF } END { print n + 0 }'
}
status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$agent_pid/status"; }

samples="$work/samples.tsv"
printf 't\trss_kb\tanon_kb\tfds\tthreads\ttoken_calls\trefresh_ok\trefresh_fail\tready\n' >"$samples"
start=$SECONDS
died=0
while :; do
  if ! kill -0 "$agent_pid" 2>/dev/null; then died=1; break; fi
  ready=$(curl -s -o /dev/null -w '%{http_code}' "http://$admin/readyz")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$((SECONDS - start))" "$(status_kb VmRSS)" "$(status_kb RssAnon)" \
    "$(find "/proc/$agent_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)" "$(status_kb Threads)" "$(calls token)" \
    "$(refreshes success)" "$(refreshes failure)" "$ready" >>"$samples"
  [ $((SECONDS - start)) -ge "$seconds" ] && break
  sleep "$every"
done
wait "$reader_pid" || true
# SOAK_KEEP=DIR keeps the samples, the reader's verdicts and the agent's log.
if [ -n "${SOAK_KEEP:-}" ]; then mkdir -p "$SOAK_KEEP" && cp "$samples" "$work/reader.json" "$work/agent.log" "$SOAK_KEEP"/; fi

python3 - "$samples" "$work/reader.json" "$fd_limit" "$died" "$work/agent.log" <<'EOF'
import csv, json, statistics, sys
samples_path, reader_path, fd_limit, died, log_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
rows = list(csv.DictReader(open(samples_path), delimiter="\t"))
col = lambda k: [int(r[k]) for r in rows if r[k]]
reader = json.load(open(reader_path))
t, rss, anon, fds, threads = col("t"), col("rss_kb"), col("anon_kb"), col("fds"), col("threads")
calls = col("token_calls")[-1] - col("token_calls")[0]
ok = col("refresh_ok")[-1] - col("refresh_ok")[0]
fail = col("refresh_fail")[-1]
not_ready = sum(1 for r in rows if r["ready"] != "200")
mib = lambda kb: f"{kb / 1024:.1f} MiB"
head, tail = statistics.median(fds[:3]), statistics.median(fds[-3:])
n = len(t)
mean_t, mean_f = sum(t) / n, sum(fds) / n
var = sum((x - mean_t) ** 2 for x in t)
slope = sum((x - mean_t) * (y - mean_f) for x, y in zip(t, fds)) / var if var else 0.0
grew = tail - head >= fd_limit and slope > 0
mean_a = sum(anon) / n
anon_slope = sum((x - mean_t) * (y - mean_a) for x, y in zip(t, anon)) / var if var else 0.0
warnings = sum(1 for line in open(log_path) if " WARN " in line or " ERROR " in line)
print(f"duration:            {t[-1]} s ({n} samples)")
print(f"refreshes:           {ok} successful, {fail} failed (agent's refresh_total)")
print(f"upstream calls:      {calls} token-endpoint calls, {calls / ok:.2f} per refresh" if ok else f"upstream calls: {calls}")
print(f"RSS (VmRSS):         start {mib(rss[0])}, end {mib(rss[-1])}, max {mib(max(rss))}")
half = anon[n // 2]
print(f"RssAnon:             start {mib(anon[0])}, end {mib(anon[-1])}, max {mib(max(anon))} "
      f"(second half {anon[-1] - half:+d} KiB; whole-run slope {anon_slope * 3600 / 1024:+.2f} MiB/h)")
print(f"open fds:            start {fds[0]}, end {fds[-1]}, max {max(fds)} (slope {slope * 3600:+.1f}/h)")
print(f"threads:             start {threads[0]}, end {threads[-1]}, max {max(threads)}")
c = reader["counts"]
print(f"reads:               {c['file_reads']} token file, {c['json_reads']} token.json, {c['metadata_reads']} metadata API; "
      f"{c['distinct_tokens']} distinct tokens, {c['oracle_checks']} checked with the emulator")
print(f"metadata latency:    p50 {reader['metadata_ms'].get('p50')} ms, p99 {reader['metadata_ms'].get('p99')} ms, "
      f"max {reader['metadata_ms'].get('max')} ms; lowest expires_in served {reader['min_expires_in']} s")
bad = {k: v for k, v in reader["bad"].items() if v}
print(f"bad reads:           {reader['bad_total']}" + (f" {bad}" if bad else ""))
if reader["first_bad"]:
    print(f"first bad reads:     {reader['first_bad'][:10]}")
print(f"/readyz not 200:     {not_ready} of {n} samples; agent log warnings/errors: {warnings}")
failed = []
if reader["bad_total"]:
    failed.append("bad reads")
if grew:
    failed.append(f"fds grew {head:.0f} -> {tail:.0f}")
if died:
    failed.append("the agent died")
print("result:              " + ("FAIL: " + "; ".join(failed) if failed else "ok"))
sys.exit(1 if failed else 0)
EOF
