#!/usr/bin/env bash
# The loopback metadata API under load, side by side with nginx serving the same bytes.
#
# The agent runs `run` with one access token and one ID token (--id-token demo=...). Its token
# route's answer is fetched once with curl and saved; nginx (2 workers, its own config in a
# temporary directory, 127.0.0.1 only, access log off) serves exactly those bytes as a static
# file at the same path, with `Content-Type: application/json` and `Metadata-Flavor: Google`,
# and answers 403 without the `Metadata-Flavor: Google` request header, as the agent does.
# Then `wrk -t2 -c64 --latency` alternates between them, ROUNDS rounds each of SECONDS
# (agent, nginx, agent, ...); printed per server: the median over its rounds of requests/s,
# latency p50 and p99, and the throughput ratio agent / nginx. Also the agent's VmRSS and
# RssAnon (/proc/PID/status) idle with both tokens held, and its VmRSS under load.
# wrk, the agent and nginx share the machine's cores; nothing here asserts a figure.
#
#   bench/metadata.sh [SECONDS] [ROUNDS]     (default 10 s, 3 rounds each)
set -euo pipefail
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$nginx_bin" ] || { echo "needs nginx (apt-get install nginx-light)" >&2; exit 1; }
source "$(dirname "$0")/common.sh"
seconds=${1:-10}
rounds=${2:-3}

agent_port=$(free_port)
admin_port=$(free_port)
nginx_port=$(free_port)
route=/computeMetadata/v1/instance/service-accounts/default/token

start_emulator --write-key "$work/key.json"
export XDG_CACHE_HOME="$work/cache"
"$agent" run --log-level warn --credentials "$work/key.json" --id-token demo=https://example.com \
  --listen "127.0.0.1:$agent_port" --admin-listen "127.0.0.1:$admin_port" 2>"$work/agent.log" &
agent_pid=$!
pids+=("$agent_pid")
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null || { echo "the agent did not become ready:" >&2; cat "$work/agent.log" >&2; exit 1; }

status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$agent_pid/status"; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f MiB", kb / 1024 }'; }
sleep 1 # let the first refresh's allocations settle
echo "metadata: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "agent RSS idle, one access token and one ID token held: VmRSS $(mib "$(status_kb VmRSS)"), RssAnon $(mib "$(status_kb RssAnon)")"

# The same answer bytes for nginx: the agent's token route body, fetched once.
mkdir -p "$work/nginx/www$(dirname "$route")" "$work/nginx/tmp" "$work/nginx/logs"
curl -sf -D "$work/agent.headers" -o "$work/nginx/www$route" -H 'Metadata-Flavor: Google' "http://127.0.0.1:$agent_port$route"
user_line=""
if [ "$(id -u)" = 0 ]; then
  # As root, nginx's workers run as nobody: they must be able to reach and read the file.
  user_line="user nobody nogroup;"
  chmod 711 "$work"
  chmod -R a+rX "$work/nginx/www"
fi
cat >"$work/nginx/nginx.conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  server_tokens off;
  etag off;
  max_ranges 0;
  keepalive_requests 100000000;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/nginx/www;
    location = $route {
      if (\$http_metadata_flavor != "Google") { return 403; }
      default_type application/json;
      add_header Metadata-Flavor Google always;
    }
  }
}
EOF
"$nginx_bin" -p "$work/nginx" -e "$work/nginx/logs/error.log" -c "$work/nginx/nginx.conf" &
pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null -H 'Metadata-Flavor: Google' "http://127.0.0.1:$nginx_port$route" && break; sleep 0.05; done
curl -sf -D "$work/nginx.headers" -o "$work/nginx.body" -H 'Metadata-Flavor: Google' "http://127.0.0.1:$nginx_port$route" ||
  { echo "nginx did not start:" >&2; cat "$work/nginx/logs/error.log" >&2; exit 1; }
cmp -s "$work/nginx.body" "$work/nginx/www$route" || { echo "nginx does not serve the saved bytes" >&2; exit 1; }
headers() { tr -d '\r' <"$1" | sed -n '2,$p' | grep -v '^$' | tr '\n' ';' | sed 's/;$//; s/;/; /g'; }
noflavor() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$route"; }
echo "without the Metadata-Flavor header: agent $(noflavor "$agent_port"), nginx $(noflavor "$nginx_port")"
echo "body: $(wc -c <"$work/nginx.body") bytes, the same for both"
echo "agent headers: $(headers "$work/agent.headers")"
echo "nginx headers: $(headers "$work/nginx.headers")"

agent_files=() nginx_files=() loaded_kb=0
for i in $(seq "$rounds"); do
  for who in agent nginx; do
    port=$agent_port
    [ "$who" = nginx ] && port=$nginx_port
    out="$work/wrk.$who.$i"
    wrk -t2 -c64 -d"${seconds}s" --latency -H 'Metadata-Flavor: Google' "http://127.0.0.1:$port$route" >"$out" &
    wrk_pid=$!
    if [ "$who" = agent ]; then
      sleep $((seconds / 2))
      kb=$(status_kb VmRSS)
      [ "$kb" -gt "$loaded_kb" ] && loaded_kb=$kb
    fi
    wait "$wrk_pid"
    if [ "$who" = agent ]; then agent_files+=("$out"); else nginx_files+=("$out"); fi
  done
done
echo "wrk -t2 -c64 --latency, ${seconds} s per round, alternating agent/nginx, $(nproc) cores shared by all:"
python3 "$root/bench/wrk_summary.py" agent "$(IFS=,; echo "${agent_files[*]}")" nginx "$(IFS=,; echo "${nginx_files[*]}")"
echo "agent VmRSS under load (max of mid-round samples): $(mib "$loaded_kb"); idle again: VmRSS $(mib "$(status_kb VmRSS)"), RssAnon $(mib "$(status_kb RssAnon)")"
echo "token endpoint calls: $(calls token) (the access token and the ID token; none per request)"
