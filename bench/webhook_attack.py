#!/usr/bin/env python3
"""Hostile bodies at the webhook's /mutate while a real review is sent every 0.2 s.

CONCURRENCY threads each loop over three shapes for SECONDS: the ~8 MB `[0,0,...]` body of
the original report (over the 3 MiB cap), a 2.9 MB review whose pod is a million zeros (under
the cap, past the parse limit), and a review whose pod holds 250 000 zeros (parsed: the most
an accepted pod can cost). Prints how each shape was answered and whether the real reviews
kept being admitted. Used by bench/webhook.sh; no figure is asserted.
"""
import argparse
import http.client
import json
import ssl
import threading
import time


def review_with_pad(review, zeros):
    doc = json.loads(json.dumps(review))
    doc["request"]["uid"] = "attack"
    doc["request"]["object"]["metadata"].setdefault("annotations", {})["x"] = "PAD"
    text = json.dumps(doc)
    return text.replace('"PAD"', "{\"pad\":[" + "0," * zeros + "0]}", 1).encode()


def post(host, port, ctx, body, timeout=30):
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=timeout)
    try:
        conn.request("POST", "/mutate", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--review", required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    hostport = args.url.split("//", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=args.ca)
    review = json.load(open(args.review))
    shapes = {
        "8 MB [0,...]": ("[" + "0," * 4_000_000 + "0]").encode(),
        "2.9 MB pod of zeros": review_with_pad(review, 1_450_000),
        "0.5 MB pod of zeros (parsed)": review_with_pad(review, 250_000),
    }
    outcomes = {name: {} for name in shapes}
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def attacker():
        while time.monotonic() < deadline:
            for name, body in shapes.items():
                try:
                    status, data = post(host, int(port), ctx, body)
                    if status == 200:
                        answer = json.loads(data)["response"]
                        key = f"200 allowed={answer.get('allowed')} code={answer.get('status', {}).get('code')}"
                    else:
                        key = str(status)
                except Exception as e:  # a refused body may close the connection mid-write
                    key = type(e).__name__
                with lock:
                    outcomes[name][key] = outcomes[name].get(key, 0) + 1

    real = {"admitted": 0, "other": 0}
    body = json.dumps(review).encode()

    def checker():
        while time.monotonic() < deadline:
            try:
                status, data = post(host, int(port), ctx, body, timeout=10)
                ok = status == 200 and json.loads(data)["response"].get("allowed") is True
            except Exception:
                ok = False
            real["admitted" if ok else "other"] += 1
            time.sleep(0.2)

    threads = [threading.Thread(target=attacker) for _ in range(args.concurrency)]
    threads.append(threading.Thread(target=checker))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, counts in outcomes.items():
        print(f"  {name}: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    print(f"  real reviews meanwhile: {real['admitted']} admitted, {real['other']} not")


if __name__ == "__main__":
    main()
