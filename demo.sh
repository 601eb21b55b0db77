#!/usr/bin/env bash
# gcp-token-agent end to end on a machine with no Google account: every face of the binary
# against the bundled local Google emulator (the same one the tests use).
set -euo pipefail
cd "$(dirname "$0")"

# bench/common.sh builds the binary as it ships (scripts/release/build-release.sh) and starts nothing
# yet. The first build compiles about 300 crates: several minutes on two cores, with cargo's
# progress shown; later runs take seconds.
echo "Building gcp-token-agent and the local Google emulator (release; a first build takes minutes)."
source bench/common.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

start_emulator --write-key "$work/key.json"
export XDG_CACHE_HOME="$work/cache"
echo "local Google emulator at $emulator_url; service-account key at $work/key.json"

step "print-access-token: JWT-bearer grant against the key's token_uri"
"$agent" print-access-token --credentials "$work/key.json"
step "again, answered from the disk cache (token endpoint calls so far: $(calls token))"
"$agent" print-access-token --credentials "$work/key.json" --format json
echo "token endpoint calls now: $(calls token)"

step "print-identity-token --audience https://my-service.example.com (claims decoded)"
"$agent" print-identity-token --credentials "$work/key.json" --audience https://my-service.example.com \
  | cut -d. -f2 | python3 -c 'import base64,json,sys; s=sys.stdin.read().strip(); print(json.dumps(json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))), indent=1))'

step "exec-credential (what kubectl receives)"
KUBERNETES_EXEC_INFO='{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}' \
  "$agent" exec-credential --credentials "$work/key.json" | python3 -m json.tool

step "run --oneshot: write the token files and exit (init containers, Jobs)"
mkdir -p "$work/out"
"$agent" run --oneshot --log-level warn --credentials "$work/key.json" --output-dir "$work/out" --id-token api=https://api.example.com
ls -l "$work/out"

step "run: the sidecar, serving the GCE metadata API on loopback"
"$agent" run --log-level warn --credentials "$work/key.json" --output-dir "$work/out" --numeric-project-id 123456789012 \
  --listen 127.0.0.1:18989 --admin-listen 127.0.0.1:18990 &
pids+=($!)
for _ in $(seq 100); do curl -sf http://127.0.0.1:18990/readyz >/dev/null && break; sleep 0.05; done
echo "\$ curl -H 'Metadata-Flavor: Google' http://127.0.0.1:18989/computeMetadata/v1/instance/service-accounts/default/token"
curl -s -H 'Metadata-Flavor: Google' http://127.0.0.1:18989/computeMetadata/v1/instance/service-accounts/default/token; echo
echo "\$ curl http://127.0.0.1:18990/readyz"
curl -s http://127.0.0.1:18990/readyz
echo "\$ curl -s http://127.0.0.1:18990/metrics | grep refresh_total"
curl -s http://127.0.0.1:18990/metrics | grep '^gcp_token_agent_refresh_total'

step "doctor: the set-up checked, one line per finding (here also the running agent and its files)"
GCE_METADATA_HOST=127.0.0.1:18989 "$agent" doctor --credentials "$work/key.json" --token-dir "$work/out"
step "Docker credential helper: configure-docker, then what Docker asks and gets"
export DOCKER_CONFIG="$work/docker" GOOGLE_APPLICATION_CREDENTIALS="$work/key.json"
mkdir -p "$work/bin"
"$agent" configure-docker --install-links "$work/bin" us-docker.pkg.dev
cat "$DOCKER_CONFIG/config.json"; echo
echo "\$ echo us-docker.pkg.dev | docker-credential-gcp-token-agent get"
echo us-docker.pkg.dev | PATH="$work/bin:$PATH" docker-credential-gcp-token-agent get; echo

step "git credential helper: what git credential fill returns for a Secure Source Manager host"
host=example-123.us-central1.sourcemanager.dev
printf '[credential "https://%s"]\n\thelper = gcp-token-agent\n' "$host" >"$work/gitconfig"
echo "\$ printf 'protocol=https\\nhost=$host\\n\\n' | git credential fill"
printf 'protocol=https\nhost=%s\n\n' "$host" \
  | PATH="$work/bin:$PATH" GIT_CONFIG_GLOBAL="$work/gitconfig" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 git credential fill
echo "(both answered from the same cache as print-access-token: token endpoint calls so far: $(calls token))"

step "done: unmodified Google SDKs work with GCE_METADATA_HOST=GCE_METADATA_IP=GCE_METADATA_ROOT=127.0.0.1:18989"
