#!/usr/bin/env python3
"""AdmissionReview load for bench/webhook.sh: a fixed rate (or as fast as it goes), each answer checked.

usage: webhook_load.py --url https://127.0.0.1:PORT/mutate --ca CERT.pem --review REVIEW.json
                       [--rate 100] [--seconds 20] [--connections 4] [--label TEXT] [--expect TEXT]

--connections keep-alive HTTPS connections (http.client over TLS, verified against --ca) are
opened before the clock starts. With --rate R > 0 the i-th review is sent at start + i/R
(open loop: a slow answer does not delay the schedule, as long as a connection is free);
--rate 0 sends back to back on every connection (closed loop; then the figure is bounded by
this Python client as much as by the webhook). Every review gets its own uid. Latency is
from sending the request to having read the whole answer; the lag from the scheduled time to
the send is reported too, so a client that fell behind is visible.

An answer counts as good when it is HTTP 200, an admission.k8s.io/v1 AdmissionReview whose
response has the request's uid, `allowed: true`, `patchType: JSONPatch` and a base64 `patch`
that decodes to a non-empty JSON array (containing --expect's text, if given). Failures are counted by reason and the first few are
printed. Never asserts a latency.
"""
import argparse
import base64
import http.client
import json
import ssl
import statistics
import sys
import threading
import time
from urllib.parse import urlparse


def check(status, body, uid, expect):
    """None if the answer is a good mutation (whose patch contains `expect`), else the reason."""
    if status != 200:
        return f"HTTP {status}: {body[:120]!r}"
    try:
        review = json.loads(body)
        response = review["response"]
    except (ValueError, KeyError, TypeError):
        return f"not an AdmissionReview: {body[:120]!r}"
    if review.get("apiVersion") != "admission.k8s.io/v1" or review.get("kind") != "AdmissionReview":
        return "wrong apiVersion/kind"
    if response.get("uid") != uid:
        return "uid not echoed"
    if response.get("allowed") is not True:
        return f"not allowed: {json.dumps(response.get('status'))[:160]}"
    if response.get("patchType") != "JSONPatch" or not isinstance(response.get("patch"), str):
        return "no base64 JSONPatch"
    try:
        patch = json.loads(base64.b64decode(response["patch"], validate=True))
    except ValueError:
        return "patch is not base64 JSON"
    if not isinstance(patch, list) or not patch:
        return "patch is not a non-empty list"
    if expect and expect not in json.dumps(patch):
        return f"patch lacks {expect}"
    return None


def percentile(values, q):
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--review", required=True)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--label", default="")
    parser.add_argument("--expect", help="text the decoded patch must contain")
    args = parser.parse_args()

    url = urlparse(args.url)
    context = ssl.create_default_context(cafile=args.ca)
    review = json.load(open(args.review))
    review["request"]["uid"] = "@UID@"
    template = json.dumps(review, separators=(",", ":"))
    total = int(args.rate * args.seconds) if args.rate > 0 else None
    lock = threading.Lock()
    state = {"next": 0}
    latencies, lags, failures, examples = [], [], {}, []

    def connect():
        conn = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=10)
        conn.connect()
        return conn

    conns = [connect() for _ in range(args.connections)]
    start = time.perf_counter()
    stop_at = start + args.seconds

    def worker(conn):
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if total is not None:
                if i >= total:
                    return
                scheduled = start + i / args.rate
                pause = scheduled - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            else:
                scheduled = time.perf_counter()
                if scheduled >= stop_at:
                    return
            uid = f"bench-{i:08d}"
            body = template.replace("@UID@", uid).encode()
            sent = time.perf_counter()
            try:
                conn.request("POST", url.path, body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as e:
                status, answer = 0, str(e).encode()
                conn.close()
                conn = connect()
            done = time.perf_counter()
            why = check(status, answer, uid, args.expect)
            with lock:
                latencies.append(done - sent)
                lags.append(sent - scheduled)
                if why:
                    failures[why.split(":")[0]] = failures.get(why.split(":")[0], 0) + 1
                    if len(examples) < 5:
                        examples.append(why)

    threads = [threading.Thread(target=worker, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()

    latencies.sort()
    lags.sort()
    ms = lambda x: x * 1000
    mode = f"fixed {args.rate:g}/s" if total is not None else "unthrottled"
    print(f"{args.label}{mode}, {args.connections} keep-alive connections, {elapsed:.1f} s: "
          f"{len(latencies)} reviews, {len(latencies) / elapsed:,.0f} reviews/s")
    print(f"  latency p50 {ms(percentile(latencies, 0.5)):.2f} ms, p90 {ms(percentile(latencies, 0.9)):.2f} ms, "
          f"p99 {ms(percentile(latencies, 0.99)):.2f} ms, max {ms(latencies[-1]) if latencies else 0:.2f} ms"
          f"{'  (mean ' + format(ms(statistics.mean(latencies)), '.2f') + ' ms)' if latencies else ''}")
    if total is not None:
        late = sum(1 for x in lags if x > 0.005)
        print(f"  send lag behind schedule: p99 {ms(percentile(lags, 0.99)):.2f} ms; {late} sent more than 5 ms late")
    bad = sum(failures.values())
    print(f"  answers allowed with a patch: {len(latencies) - bad}; failures: {bad}"
          + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(failures.items())) + ")" if bad else ""))
    for e in examples:
        print(f"    e.g. {e}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
