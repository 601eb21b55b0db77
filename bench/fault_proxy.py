#!/usr/bin/env python3
"""A loopback HTTP proxy in front of the local Google emulator that injects faults on command.

The standalone emulator (examples/google_emulator.rs) exposes only its call counters over HTTP
(`/emulator/calls`); its scripted faults (emulator/src/faults.rs) are reachable from
Rust tests only. bench/faults.sh therefore points the agent at this proxy and switches its mode:

    python3 bench/fault_proxy.py UPSTREAM_URL        # prints "fault proxy listening on URL"

    POST /proxy/mode  {"mode": "pass"}                       forward everything (the default)
                      {"mode": "status", "status": 503}      answer every request with that status
                      {"mode": "rate_limit", "retry_after": 5}   429 with Retry-After
                      {"mode": "reset"}                      close the connection with a TCP RST
                      {"mode": "drip", "interval": 2}        headers at once, then one body byte
                                                             per interval (bounded: --max-drip)
                      {"mode": "slow", "delay": 5}           wait, then forward normally
    GET  /proxy/stats  {"mode", "forwarded", "faulted", "ok", "last_ok_at", "faulted_times"}

Binds 127.0.0.1 only. Every request thread is bounded in time (--max-drip, --max-delay), and
the whole proxy exits by itself after --lifetime seconds, so nothing outlives a run.
"""

import argparse
import collections
import json
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"mode": "pass", "status": 503, "retry_after": 5, "interval": 2.0, "delay": 5.0}
STATS = {"forwarded": 0, "faulted": 0, "ok": 0, "last_ok_at": None,
         "faulted_times": collections.deque(maxlen=500)}
# Never through an HTTP(S)_PROXY from the environment: the emulator is on loopback.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "host", "content-length"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""
    max_drip = 120.0
    max_delay = 60.0

    def log_message(self, *_):  # quiet: the bench prints its own lines
        pass

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, payload, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def control(self):
        if self.path == "/proxy/stats":
            with LOCK:
                out = dict(STATS, mode=STATE["mode"], faulted_times=list(STATS["faulted_times"]))
            return self.answer(200, json.dumps(out).encode(), [("Content-Type", "application/json")])
        if self.path == "/proxy/mode" and self.command == "POST":
            wanted = json.loads(self.body() or b"{}")
            with LOCK:
                STATE.update(wanted)
            return self.answer(200, b"ok\n")
        return self.answer(404, b"unknown control route\n")

    def forward(self, body):
        request = urllib.request.Request(self.upstream + self.path, data=body or None, method=self.command)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP:
                request.add_header(name, value)
        try:
            with OPENER.open(request, timeout=30) as response:
                return response.status, list(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return error.code, list(error.headers.items()), error.read()

    def relay(self, status, headers, payload):
        kept = [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP]
        self.answer(status, payload, kept)

    def handle_any(self):
        if self.path.startswith("/proxy/"):
            return self.control()
        body = self.body()
        with LOCK:
            mode = dict(STATE)
        kind = mode["mode"]
        if kind == "pass":
            return self.pass_through(body)
        with LOCK:
            STATS["faulted"] += 1
            STATS["faulted_times"].append(round(time.time(), 3))
        if kind == "status":
            err = json.dumps({"error": "server_error", "error_description": "injected by fault_proxy"})
            return self.answer(int(mode["status"]), err.encode(), [("Content-Type", "application/json")])
        if kind == "rate_limit":
            err = json.dumps({"error": "rate_limit_exceeded", "error_description": "injected"})
            headers = [("Content-Type", "application/json"), ("Retry-After", str(int(mode["retry_after"])))]
            return self.answer(429, err.encode(), headers)
        if kind == "reset":
            # SO_LINGER with a zero timeout turns close() into a RST.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return None
        if kind == "slow":
            time.sleep(min(float(mode["delay"]), self.max_delay))
            return self.pass_through(body)
        if kind == "drip":
            return self.drip(body, float(mode["interval"]))
        return self.answer(500, b"unknown proxy mode\n")

    def pass_through(self, body):
        with LOCK:
            STATS["forwarded"] += 1
        status, headers, payload = self.forward(body)
        if 200 <= status < 300:
            with LOCK:
                STATS["ok"] += 1
                STATS["last_ok_at"] = time.time()
        self.relay(status, headers, payload)

    def drip(self, body, interval):
        """The real answer's headers at once, then its body one byte per interval."""
        status, headers, payload = self.forward(body)
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.flush()
        deadline = time.monotonic() + self.max_drip
        try:
            for i in range(len(payload)):
                if time.monotonic() > deadline:
                    break
                self.wfile.write(payload[i:i + 1])
                self.wfile.flush()
                time.sleep(interval)
        except OSError:
            pass  # the client gave up: that is the point
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("upstream", help="the emulator's URL, e.g. http://127.0.0.1:PORT")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=3600, help="exit after this many seconds")
    parser.add_argument("--max-drip", type=float, default=120)
    parser.add_argument("--max-delay", type=float, default=60)
    args = parser.parse_args()
    Handler.upstream = args.upstream.rstrip("/")
    Handler.max_drip = args.max_drip
    Handler.max_delay = args.max_delay
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    host, port = server.server_address
    print(f"fault proxy listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
