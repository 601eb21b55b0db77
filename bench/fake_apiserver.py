#!/usr/bin/env python3
"""A tiny stand-in for the Kubernetes API that `gcp-token-agent webhook` reads, for bench/webhook.sh.

usage: fake_apiserver.py [--lifetime SECONDS] NAMESPACE/NAME=GSA_EMAIL ...

Plain HTTP on 127.0.0.1 (an ephemeral port); prints `fake apiserver listening on URL`. Serves
what the webhook asks of a cluster: GET /version (v1.33, so `--sidecar-mode auto` picks
native sidecars), GET /api, and GET /api/v1/namespaces/NS/serviceaccounts/NAME for the
accounts given on the command line, each annotated iam.gke.io/gcp-service-account; any other
account is 404, as a real API server answers. Requests without a bearer token get 401.
GET /fake/stats (no token needed) returns the request counts by kind. Exits by itself after
--lifetime seconds (default 3600).
"""
import argparse
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCOUNTS = {}
COUNTS = {"serviceaccount_get": 0, "version": 0, "other": 0, "unauthorized": 0}
LOCK = threading.Lock()
SA_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/?]+)$")


def status(code, reason):
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def send_json(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def count(self, kind):
        with LOCK:
            COUNTS[kind] += 1

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/fake/stats":
            with LOCK:
                return self.send_json(200, dict(COUNTS))
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            self.count("unauthorized")
            return self.send_json(401, status(401, "Unauthorized"))
        if path == "/version":
            self.count("version")
            return self.send_json(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0",
                                        "platform": "linux/amd64"})
        if path == "/api":
            self.count("other")
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"]})
        match = SA_PATH.match(path)
        if match:
            self.count("serviceaccount_get")
            namespace, name = match.groups()
            gsa = ACCOUNTS.get((namespace, name))
            if gsa is None:
                return self.send_json(404, status(404, "NotFound"))
            return self.send_json(200, {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": namespace, "uid": "0000-bench",
                             "resourceVersion": "1",
                             "annotations": {"iam.gke.io/gcp-service-account": gsa}},
            })
        self.count("other")
        return self.send_json(404, status(404, "NotFound"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("accounts", nargs="*", help="NAMESPACE/NAME=GSA_EMAIL")
    parser.add_argument("--lifetime", type=float, default=3600)
    args = parser.parse_args()
    for spec in args.accounts:
        key, _, gsa = spec.partition("=")
        namespace, _, name = key.partition("/")
        ACCOUNTS[(namespace, name)] = gsa
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    host, port = server.server_address
    print(f"fake apiserver listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
