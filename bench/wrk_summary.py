#!/usr/bin/env python3
"""Summarises alternating wrk rounds of two servers: medians over the rounds and the ratio.

usage: wrk_summary.py NAME_A FILE_A[,FILE_A...] NAME_B FILE_B[,FILE_B...]

Each FILE is the output of one `wrk --latency` round. Prints, per server, the median over its
rounds of requests/s, latency p50 and p99, each round's requests/s, the errors wrk reported
(non-2xx answers, socket errors), then the ratio of median throughputs (A / B).
"""
import re
import statistics
import sys

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def millis(text):
    """wrk's '1.23ms' / '812.00us' / '1.02s' in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse(path):
    """requests/s, p50 ms, p99 ms and error counts of one wrk output."""
    text = open(path).read()
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (rps and p50 and p99):
        sys.exit(f"{path}: not a `wrk --latency` output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(rps.group(1)),
        "p50": millis(p50.group(1)),
        "p99": millis(p99.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket": sum(int(g) for g in socket.groups()) if socket else 0,
    }


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    names = (sys.argv[1], sys.argv[3])
    rounds = [[parse(p) for p in sys.argv[i].split(",")] for i in (2, 4)]
    medians = []
    for name, runs in zip(names, rounds):
        rps = statistics.median(r["rps"] for r in runs)
        medians.append(rps)
        p50 = statistics.median(r["p50"] for r in runs)
        p99 = statistics.median(r["p99"] for r in runs)
        each = " ".join(f"{r['rps']:,.0f}" for r in runs)
        errors = sum(r["non2xx"] + r["socket"] for r in runs)
        print(f"{name:>8}: median {rps:>9,.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
              f"   ({len(runs)} rounds: {each} req/s; non-2xx + socket errors: {errors})")
    print(f"   ratio: {names[0]} / {names[1]} throughput = {medians[0] / medians[1]:.2f}")


if __name__ == "__main__":
    main()
