#!/usr/bin/env bash
# The admission webhook under load: `gcp-token-agent webhook` with a self-signed certificate
# (openssl, for 127.0.0.1) and bench/fake_apiserver.py as its Kubernetes API (plain HTTP on
# loopback, through a kubeconfig in the temporary directory; it serves /version and the
# ServiceAccount team-a/api annotated with a Google service account). The review is the
# tests' tests/fixtures/admission/pod.json: a Pod labelled gcp-token-agent.io/inject=true,
# service account team-a/api, an id-tokens annotation; every answer must be allowed with a
# JSONPatch whose agent arguments name the account's Google service account. Two runs:
#
#   1. a steady RATE reviews/s (default 100) for SECONDS (default 20) from bench/webhook_load.py
#      (Python, 4 keep-alive TLS connections, open loop, every answer decoded and checked):
#      reviews/s, latency p50/p90/p99, failures; the goal p99 < 10 ms is printed beside it;
#   2. unthrottled for max reviews/s: `wrk -t2 -c16 --latency` with bench/webhook_wrk.lua
#      (each answer checked for "allowed":true and a patch), or webhook_load.py --rate 0
#      without wrk.
#
# Between the two, an attack: bench/webhook_attack.py sends 4 concurrent hostile bodies (the
# ~8 MB `[0,0,...]` of the original report, a 2.9 MB pod of a million zeros, a pod of 250 000
# zeros that is parsed) for 10 s while a real review goes in every 0.2 s.
#
# Also the webhook's VmRSS/RssAnon idle and after each run, its peak (VmHWM) after the steady
# load and after the attack (what the chart's memory limit is sized from), its admissions_total
# counters and the ServiceAccount GETs the fake API server answered (the webhook caches an
# account 30 s). No figure is asserted.
#
#   bench/webhook.sh [RATE] [SECONDS]
source "$(dirname "$0")/common.sh"
rate=${1:-100}
seconds=${2:-20}
command -v openssl >/dev/null || { echo "needs openssl" >&2; exit 1; }
review="$root/tests/fixtures/admission/pod.json"
# The KSA's annotation, read through the fake API server, must reach the injected agent's args.
gsa_arg=--service-account=api@my-project.iam.gserviceaccount.com
provider=//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/k8s

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

python3 "$root/bench/fake_apiserver.py" team-a/api=api@my-project.iam.gserviceaccount.com >"$work/api.out" &
pids+=($!)
api_url=""
for _ in $(seq 100); do
  api_url=$(sed -n 's/^fake apiserver listening on //p' "$work/api.out")
  [ -n "$api_url" ] && break
  sleep 0.05
done
[ -n "$api_url" ] || { echo "the fake API server did not start" >&2; exit 1; }
cat >"$work/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster:
    server: $api_url
contexts:
- name: bench
  context:
    cluster: bench
    user: bench
current-context: bench
users:
- name: bench
  user:
    token: bench-token
EOF

KUBECONFIG="$work/kubeconfig" "$agent" webhook --log-level warn --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
  --agent-image example.com/gcp-token-agent:bench --workload-identity-provider "$provider" \
  --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --ready-file "$work/ready.json" 2>"$work/webhook.log" &
webhook_pid=$!
pids+=("$webhook_pid")
for _ in $(seq 200); do [ -s "$work/ready.json" ] && break; sleep 0.05; done
[ -s "$work/ready.json" ] || { echo "the webhook did not start:" >&2; cat "$work/webhook.log" >&2; exit 1; }
listen=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listen"])' "$work/ready.json")
admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_listen"])' "$work/ready.json")
for _ in $(seq 100); do curl -sf "http://$admin/readyz" >/dev/null && break; sleep 0.05; done
url="https://$listen/mutate"

status_kb() { awk -v k="$1:" '$1 == k { printf "%.1f MiB", $2 / 1024 }' "/proc/$webhook_pid/status"; }
rss() { echo "VmRSS $(status_kb VmRSS), RssAnon $(status_kb RssAnon), peak VmHWM $(status_kb VmHWM)"; }
echo "webhook: $url, $(nproc) cores shared with the clients, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "webhook RSS idle: $(rss)"

echo
code=0
python3 "$root/bench/webhook_load.py" --url "$url" --ca "$work/tls.crt" --review "$review" \
  --rate "$rate" --seconds "$seconds" --connections 4 --label "run 1, " --expect="$gsa_arg" | tee "$work/steady.out" || code=$?
p99=$(sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p' "$work/steady.out" | head -1)
echo "  goal for reference: p99 < 10 ms at ${rate} reviews/s; measured p99 ${p99:-?} ms"
echo "webhook RSS after run 1: $(rss)"

echo
echo "attack: 4 concurrent hostile bodies for 10 s, a real review every 0.2 s"
python3 "$root/bench/webhook_attack.py" --url "$url" --ca "$work/tls.crt" --review "$review" --seconds 10 --concurrency 4
echo "webhook RSS after the attack: $(rss)"

echo
if command -v wrk >/dev/null; then
  echo "run 2, unthrottled: wrk -t2 -c16 -d10s --latency, one review body (constant uid), answers checked in Lua"
  wrk -t2 -c16 -d10s --latency -s "$root/bench/webhook_wrk.lua" "$url" -- "$review" >"$work/wrk.out" &
  wrk_pid=$!
  sleep 5
  loaded=$(rss)
  wait "$wrk_pid"
  grep -E 'Requests/sec|^ +(50|90|99)%|answers allowed|e\.g\.|Non-2xx|Socket errors' "$work/wrk.out" | sed 's/^ */  /'
  grep -q 'failures: 0$' "$work/wrk.out" || code=1
  echo "webhook RSS under unthrottled load: $loaded"
else
  echo "(wrk not found: run 2 with the Python client, which bounds the figure itself)"
  python3 "$root/bench/webhook_load.py" --url "$url" --ca "$work/tls.crt" --review "$review" \
    --rate 0 --seconds 10 --connections 8 --label "run 2, " --expect="$gsa_arg" || code=$?
fi
echo "webhook RSS after run 2: $(rss)"

echo
echo "webhook admissions: $(curl -s "http://$admin/metrics" | awk '/^gcp_token_agent_admissions_total\{/ { printf "%s ", $0 }')"
echo "fake API server requests: $(curl -s "$api_url/fake/stats")"
exit "$code"
