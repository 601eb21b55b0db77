#!/usr/bin/env bash
# Hostile clients at the agent's admin listener (on `[::]` in a pod: anything in the cluster
# reaches it). `run` against the local emulator; then, for each attack, 200 connections:
#
#   1. headers: each sends 300 KiB of request headers within 3 s, in 10 KiB pieces;
#   2. slowloris: each sends part of a request head and then a byte a second;
#   3. pipelining: each sends 2 000 pipelined `GET /metrics` and never reads an answer.
#
# Meanwhile `/healthz` is asked every 100 ms on a connection of its own (1 s client timeout, as
# the kubelet's default probe). Prints the agent's VmRSS before and its peak (VmHWM) after each
# attack, and the /healthz latency max and failures. No figure is asserted.
#
#   bench/listeners.sh [CONNECTIONS]
source "$(dirname "$0")/common.sh"
connections=${1:-200}
start_emulator --write-authorized-user "$work/user.json" --lifetime 3600
meta="127.0.0.1:$(free_port)"
admin="127.0.0.1:$(free_port)"
"$agent" run --log-level warn --credentials "$work/user.json" --listen "$meta" --admin-listen "$admin" 2>"$work/agent.log" &
agent_pid=$!
pids+=("$agent_pid")
for _ in $(seq 200); do curl -sf "http://$admin/readyz" >/dev/null && break; sleep 0.05; done
status_kb() { awk -v k="$1:" '$1 == k { printf "%.1f MiB", $2 / 1024 }' "/proc/$agent_pid/status"; }
echo "agent admin listener $admin, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "idle: VmRSS $(status_kb VmRSS), VmHWM $(status_kb VmHWM)"

for attack in headers slowloris pipelining; do
  python3 - "$admin" "$connections" "$attack" <<'PY'
import socket, sys, threading, time
addr, count, attack = sys.argv[1], int(sys.argv[2]), sys.argv[3]
host, port = addr.rsplit(":", 1)
port = int(port)
stop = time.monotonic() + 8
outcomes = {}
lock = threading.Lock()

def note(key):
    with lock:
        outcomes[key] = outcomes.get(key, 0) + 1

def attacker(n):
    try:
        s = socket.create_connection((host, port), timeout=10)
        if attack == "headers":
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            for i in range(30):
                s.sendall(b"X-Pad-%d: " % i + b"a" * 10230 + b"\r\n")
                time.sleep(0.1)
            s.sendall(b"\r\n")
            data = s.recv(64)
            note(data.split(b"\r\n")[0].decode() or "closed")
        elif attack == "slowloris":
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            while time.monotonic() < stop:
                s.sendall(b"a")
                time.sleep(1)
            note("held to the end")
        else:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 2000)
            time.sleep(max(0, stop - time.monotonic()))
            note("sent, never read")
    except OSError as e:
        note(type(e).__name__)

probe = {"max": 0.0, "failed": 0, "n": 0}
def prober():
    while time.monotonic() < stop + 1:
        t0 = time.monotonic()
        try:
            c = socket.create_connection((host, port), timeout=1)
            c.settimeout(1)
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            ok = c.recv(64).startswith(b"HTTP/1.1 200")
            c.close()
        except OSError:
            ok = False
        probe["n"] += 1
        probe["max"] = max(probe["max"], time.monotonic() - t0)
        probe["failed"] += 0 if ok else 1
        time.sleep(0.1)

threads = [threading.Thread(target=attacker, args=(n,)) for n in range(count)]
threads.append(threading.Thread(target=prober))
for t in threads: t.start()
for t in threads: t.join()
print(f"{attack}: {count} connections: " + ", ".join(f"{k} x{v}" for k, v in sorted(outcomes.items())))
print(f"  /healthz meanwhile: {probe['n']} probes, max {probe['max']*1000:.1f} ms, failed {probe['failed']}")
PY
  echo "  agent after $attack: VmRSS $(status_kb VmRSS), peak VmHWM $(status_kb VmHWM)"
done
