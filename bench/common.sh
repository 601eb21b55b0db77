# Shared by the bench scripts: build once, start the local Google emulator, clean up.
# shellcheck shell=bash
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The binary as it ships (scripts/release/build-release.sh: a static PIE on x86_64 Linux), run as
# installed: copied, as `install`, a package or an image layer would. The linker's own output
# file starts measurably slower (about 25 more page faults a start here) until it is rewritten,
# and a rebuild of target/ while a bench runs cannot swap the binary under it.
# Cargo's progress goes to stderr: a first build takes minutes.
release=$(bash "$root/scripts/release/build-release.sh" --example google_emulator)
work=$(mktemp -d)
agent="$work/gcp-token-agent"
install -m 0755 "$release/gcp-token-agent" "$agent"
pids=()
# alive PID...: true while any of them still runs.
alive() {
  local pid
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}
# Nothing outlives the script: SIGTERM, up to 2 s to exit, a second SIGTERM (the agent aborts
# its drain on it instead of waiting out --shutdown-grace), up to 3 s more, then SIGKILL.
cleanup() {
  local pid _
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 20); do alive "${pids[@]}" || break; sleep 0.1; done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 30); do alive "${pids[@]}" || break; sleep 0.1; done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# free_port: a loopback port free right now, for a listener a script starts.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_emulator [emulator flags...]: starts it, sets $emulator_url.
start_emulator() {
  "$release/examples/google_emulator" "$@" >"$work/emulator.out" &
  pids+=($!)
  for _ in $(seq 100); do
    emulator_url=$(sed -n 's/^emulator listening on //p' "$work/emulator.out")
    [ -n "$emulator_url" ] && return 0
    sleep 0.05
  done
  echo "the emulator did not start" >&2
  exit 1
}

# calls ROUTE: how many requests the emulator received on ROUTE.
calls() {
  curl -s "$emulator_url/emulator/calls" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', 0))"
}

# start_fault_proxy [proxy flags...]: bench/fault_proxy.py in front of the emulator, sets
# $proxy_url.
start_fault_proxy() {
  python3 "$root/bench/fault_proxy.py" "$emulator_url" --lifetime 3600 "$@" >"$work/proxy.out" &
  pids+=($!)
  for _ in $(seq 100); do
    proxy_url=$(sed -n 's/^fault proxy listening on //p' "$work/proxy.out")
    [ -n "$proxy_url" ] && return 0
    sleep 0.05
  done
  echo "the fault proxy did not start" >&2
  exit 1
}

# proxied_credential DIR: the emulator's user credential ($work/user.json, from
# start_emulator --write-authorized-user) with its token_uri on the proxy, as DIR/cred/user.json.
proxied_credential() {
  mkdir -p "$1/cred"
  python3 - "$work/user.json" "$proxy_url/token" "$1/cred/user.json" <<'PY'
import json, os, sys
doc = json.load(open(sys.argv[1]))
doc["token_uri"] = sys.argv[2]
fd = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(doc).encode())
os.close(fd)
PY
}
