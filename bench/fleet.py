#!/usr/bin/env python3
"""Drives and measures bench/fleet.sh: many `run` agents, one emulator, an outage, recovery.

usage: fleet.py --dirs D1,D2,... --pids P1,P2,... --emulator URL --proxy URL --lifetime L
                [--settle S] [--steady S] [--outage S] [--recover-max S] [--interval S]
                [--started UNIX_TIME]

Each agent writes DIR/token.json; a refresh is seen as a change of that file's mtime (stat
every --interval, 0.1 s: the mtime itself is exact, the poll only has to be faster than the
refreshes). The emulator's /emulator/calls "token" counter is sampled on the same tick, and
bench/fault_proxy.py's "faulted" counter for the attempts it refused.

Phases, all bounded: wait until every agent has a token (at most 60 s); settle --settle
seconds; measure --steady seconds; switch the proxy to answer 503 to everything for --outage
seconds (longer than a token life, so every token expires); switch it back and watch until
every agent has a fresh token (at most --recover-max seconds), then one more token life.

Prints: upstream token calls per agent per token life in the steady window; the refresh
intervals of all agents there (seconds and % of the token life: the agent refreshes at a
jittered 45-55 %); how far apart the agents' k-th refreshes are, round by round since their
common start (jitter should widen it); mints per second in the steady window (peak against
mean); attempts during the outage; after recovery the peak mints (the most in any 1 s
window of the 0.1 s samples, and the most between two samples), when each
agent got its fresh token, and the agents' memory. Never asserts a figure; exits 1 only if
an agent died or never got a token.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import time
from datetime import datetime
from urllib.parse import urlparse


class Http:
    """One keep-alive loopback connection; get() returns parsed JSON or None."""

    def __init__(self, url):
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def request(self, method, path, body=None):
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                self.conn.request(method, path, body=body)
                response = self.conn.getresponse()
                data = response.read()
                return json.loads(data) if response.status == 200 and data[:1] in (b"{", b"[") else data
            except (OSError, http.client.HTTPException, ValueError):
                self.conn = None
        return None


class Fleet:
    """The polling loop's state: refresh events per agent and counter samples."""

    def __init__(self, args):
        self.args = args
        self.dirs = args.dirs.split(",")
        self.pids = [int(p) for p in args.pids.split(",")]
        self.emulator = Http(args.emulator)
        self.proxy = Http(args.proxy)
        self.mtimes = [None] * len(self.dirs)
        self.events = [[] for _ in self.dirs]  # per agent: times (s) token.json changed
        self.calls = []  # (time, emulator token calls, proxy faulted)

    def tick(self):
        for i, d in enumerate(self.dirs):
            try:
                m = os.stat(os.path.join(d, "token.json")).st_mtime_ns
            except FileNotFoundError:
                continue
            if m != self.mtimes[i]:
                self.mtimes[i] = m
                self.events[i].append(m / 1e9)
        calls = self.emulator.request("GET", "/emulator/calls")
        stats = self.proxy.request("GET", "/proxy/stats")
        if isinstance(calls, dict) and isinstance(stats, dict):
            self.calls.append((time.time(), calls.get("token", 0), stats.get("faulted", 0)))

    def run_for(self, seconds, until=None):
        """Polls for `seconds`, or less if until() becomes true; returns when it stopped."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.monotonic()
            self.tick()
            if until and until():
                break
            rest = self.args.interval - (time.monotonic() - started)
            if rest > 0:
                time.sleep(rest)
        return time.time()

    def counter_at(self, t, column=1):
        """The counter's value at the last sample taken at or before t."""
        best = None
        for sample in self.calls:
            if sample[0] <= t:
                best = sample[column]
        return best if best is not None else (self.calls[0][column] if self.calls else 0)

    def peak_rates(self, t0, t1, column=1):
        """(most calls in any 1 s window, most calls between two ticks and that gap) in [t0, t1]."""
        window = [s for s in self.calls if t0 - self.args.interval <= s[0] <= t1]
        best_1s, best_tick, tick_gap = 0, 0, self.args.interval
        for i, (t, v, *_) in enumerate(window):
            if i and v - window[i - 1][column] > best_tick:
                best_tick, tick_gap = v - window[i - 1][column], t - window[i - 1][0]
            j = i
            while j + 1 < len(window) and window[j + 1][0] - t <= 1.0:
                j += 1
            if window[j][0] - t >= 0.9:
                best_1s = max(best_1s, window[j][column] - v)
        return best_1s, best_tick, tick_gap

    def mem(self):
        """(median VmRSS KiB, median RssAnon KiB, total RssAnon KiB, agents alive)."""
        rss, anon = [], []
        for pid in self.pids:
            try:
                fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
            except (FileNotFoundError, ProcessLookupError):
                continue
            rss.append(int(fields["VmRSS"].split()[0]))
            anon.append(int(fields["RssAnon"].split()[0]))
        if not rss:
            return 0, 0, 0, 0
        return statistics.median(rss), statistics.median(anon), sum(anon), len(rss)


def spread(values):
    """'min / median / max, stddev' of a list of seconds."""
    if not values:
        return "none"
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"min {min(values):.2f}, median {statistics.median(values):.2f}, max {max(values):.2f}, stddev {sd:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dirs", required=True)
    parser.add_argument("--pids", required=True)
    parser.add_argument("--emulator", required=True)
    parser.add_argument("--proxy", required=True)
    parser.add_argument("--lifetime", type=float, required=True)
    parser.add_argument("--settle", type=float)
    parser.add_argument("--steady", type=float)
    parser.add_argument("--outage", type=float)
    parser.add_argument("--recover-max", type=float, default=120)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--started", type=float, help="when the first agent was launched (Unix time)")
    args = parser.parse_args()
    life = args.lifetime
    settle = args.settle if args.settle is not None else life
    steady = args.steady if args.steady is not None else 2 * life
    outage = args.outage if args.outage is not None else 1.5 * life
    fleet = Fleet(args)
    n = len(fleet.dirs)

    t_begin = time.time()
    all_have = lambda: all(fleet.events)
    fleet.run_for(60, until=all_have)
    if not all_have():
        missing = sum(1 for e in fleet.events if not e)
        print(f"{missing} of {n} agents wrote no token within 60 s", file=sys.stderr)
        return 1
    first = [e[0] for e in fleet.events]
    launched = args.started or t_begin
    print(f"all {n} agents had a token {max(first) - launched:.1f} s after the first was launched "
          f"(first tokens written {min(first) - launched:.2f} to {max(first) - launched:.2f} s after it)")

    fleet.run_for(settle)
    t_s0 = time.time()
    t_s1 = fleet.run_for(steady)
    rss, anon, anon_total, alive = fleet.mem()
    calls = fleet.counter_at(t_s1) - fleet.counter_at(t_s0)
    lives = (t_s1 - t_s0) / life
    print(f"\nsteady state, {t_s1 - t_s0:.0f} s window ({lives:.1f} token lives of {life:.0f} s), "
          f"after {settle:.0f} s settling:")
    print(f"  upstream token calls: {calls}, {calls / n / lives:.2f} per agent per token life "
          f"(refresh at 45-55 % of the life: about 2)")
    intervals = []
    for e in fleet.events:
        intervals += [b - a for a, b in zip(e, e[1:]) if t_s0 <= b <= t_s1]
    print(f"  refresh intervals, all agents ({len(intervals)}): {spread(intervals)} s")
    print(f"     as % of the token life: {spread([100 * x / life for x in intervals])}")
    # Round k: every agent's k-th token since the common start.
    rounds = min(len([t for t in e if t <= t_s1]) for e in fleet.events)
    print("  the agents' k-th token, seconds after the first agent's first token (all started together):")
    start = min(first)
    for k in range(rounds):
        ts = [e[k] - start for e in fleet.events]
        print(f"     k={k}: {spread(ts)}; all {n} within {max(ts) - min(ts):.2f} s")
    buckets = {}
    for e in fleet.events:
        for t in e:
            if t_s0 <= t < t_s1:
                buckets[int(t - t_s0)] = buckets.get(int(t - t_s0), 0) + 1
    per_second = [buckets.get(s, 0) for s in range(int(t_s1 - t_s0))]
    if per_second:
        print(f"  refreshes per whole second: mean {statistics.mean(per_second):.1f}, "
              f"peak {max(per_second)}, seconds with none {per_second.count(0)} of {len(per_second)}")
    print(f"  memory: VmRSS median {rss / 1024:.1f} MiB, RssAnon median {anon / 1024:.1f} MiB, "
          f"RssAnon total {anon_total / 1024:.0f} MiB; {alive} of {n} agents alive")

    fleet.proxy.request("POST", "/proxy/mode", json.dumps({"mode": "status", "status": 503}).encode())
    t_o0 = time.time()
    t_o1 = fleet.run_for(outage)
    fleet.proxy.request("POST", "/proxy/mode", json.dumps({"mode": "pass"}).encode())
    t_rec = time.time()
    attempts = fleet.counter_at(t_rec, 2) - fleet.counter_at(t_o0, 2)
    expired = 0
    for d in fleet.dirs:
        try:
            with open(os.path.join(d, "token.json")) as f:
                expiry = json.load(f)["expiry"]
            if datetime.fromisoformat(expiry.replace("Z", "+00:00")).timestamp() <= t_o1:
                expired += 1
        except (OSError, ValueError, KeyError):
            pass
    print(f"\noutage: every token request answered 503 for {t_o1 - t_o0:.0f} s "
          f"({(t_o1 - t_o0) / life:.1f} token lives)")
    print(f"  attempts refused: {attempts}, {attempts / n:.1f} per agent "
          f"(backoff 1 s doubling to 60 s, jittered); tokens on disk expired by its end: {expired} of {n}")

    fresh = lambda: all(any(t > t_rec for t in e) for e in fleet.events)
    t_all = fleet.run_for(args.recover_max, until=fresh)
    got = [min((t for t in e if t > t_rec), default=None) for e in fleet.events]
    waits = [g - t_rec for g in got if g is not None]
    fleet.run_for(life)
    t_end = time.time()
    best_1s, best_tick, tick_gap = fleet.peak_rates(t_rec, t_end)
    steady_rate = calls / (t_s1 - t_s0)
    print(f"\nrecovery (upstream answering again), watched for {t_end - t_rec:.0f} s:")
    print(f"  agents with a fresh token: {len(waits)} of {n}" + ("" if len(waits) == n else
          f" (NOT ALL, after waiting {t_all - t_rec:.0f} s)"))
    print(f"  time to each agent's fresh token: {spread(waits)} s")
    print(f"  peak mints: {best_1s} in the busiest 1 s window, {best_tick} between two samples "
          f"{tick_gap:.2f} s apart; steady state was {steady_rate:.1f}/s; a synchronized fleet "
          f"would send {n} at once")
    calls_rec = fleet.counter_at(t_end) - fleet.counter_at(t_rec)
    print(f"  upstream token calls since recovery: {calls_rec} ({calls_rec / n:.1f} per agent)")
    rss, anon, anon_total, alive = fleet.mem()
    print(f"  memory at the end: VmRSS median {rss / 1024:.1f} MiB, RssAnon median {anon / 1024:.1f} MiB; "
          f"{alive} of {n} agents alive")
    return 0 if alive == n and len(waits) == n else 1


if __name__ == "__main__":
    sys.exit(main())
