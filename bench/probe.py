#!/usr/bin/env python3
"""Readers and judges for bench/soak.sh and bench/faults.sh. Loopback only; never prints a token.

Is a token real and unexpired? The emulator answers that itself: its IAM Credentials route
(emulator/src/iam.rs) authenticates the caller's bearer token against its ledger of
issued tokens before anything else, answering 401 for a token it never issued or one past
its expiry. So `live()` posts an empty body to generateAccessToken for an account that does
not exist: 401 means "not issued, or expired"; any other answer (400 for the empty body)
means the emulator knows the token and it is live. Nothing is minted by the check.

    probe.py soak  --dir D --metadata H:P --emulator URL --seconds N [--interval S] --out F
    probe.py watch --dir D --metadata H:P --admin H:P --emulator URL --seconds N --out F
                   [--stop-file F]
    probe.py row   --timeline F --events F [--proxy-stats F]
"""

import argparse
import hashlib
import http.client
import json
import os
import re
import sys
import time
from datetime import datetime
from urllib.parse import urlparse

TOKEN_ROUTE = "/computeMetadata/v1/instance/service-accounts/default/token"
ORACLE_PATH = ("/v1/projects/-/serviceAccounts/"
               "probe-nobody@emulator-project.iam.gserviceaccount.com:generateAccessToken")
# The emulator's access tokens (emulator/src/issue.rs): a fixed prefix and 48 letters
# or digits. Anything else read from the token file is torn or foreign.
TOKEN_SHAPE = re.compile(r"^ya29\.emu-[A-Za-z0-9]{48}$")


def short(token):
    return hashlib.sha256(token.encode()).hexdigest()[:10] if token else None


class Oracle:
    """Asks the emulator whether a token is one it issued and still live (see module doc)."""

    def __init__(self, url):
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None
        self.known = set()  # tokens the emulator accepted at least once

    def live(self, token):
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                self.conn.request("POST", ORACLE_PATH, body=b"",
                                  headers={"Authorization": f"Bearer {token}"})
                response = self.conn.getresponse()
                response.read()
                ok = response.status != 401
                if ok:
                    self.known.add(token)
                return ok
            except (OSError, http.client.HTTPException):
                self.conn = None
        return None  # the emulator did not answer: not counted against the agent


def get(hostport, path, timeout, headers=None):
    """One request on a fresh connection: (status or 0 on timeout or -1 on refusal, body, seconds)."""
    host, port = hostport.rsplit(":", 1)
    start = time.monotonic()
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), time.monotonic() - start
    except TimeoutError:
        return 0, b"", time.monotonic() - start
    except ConnectionRefusedError:
        return -1, b"", time.monotonic() - start
    except (OSError, http.client.HTTPException):
        return -2, b"", time.monotonic() - start
    finally:
        conn.close()


def metadata_token(hostport, timeout):
    status, body, took = get(hostport, TOKEN_ROUTE, timeout, {"Metadata-Flavor": "Google"})
    token, expires_in = None, None
    if status == 200:
        try:
            answer = json.loads(body)
            token, expires_in = answer.get("access_token"), answer.get("expires_in")
        except ValueError:
            pass
    return status, token, expires_in, took


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None


def rfc3339(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def soak(args):
    oracle = Oracle(args.emulator)
    counts = {"file_reads": 0, "json_reads": 0, "metadata_reads": 0, "oracle_checks": 0,
              "distinct_tokens": 0}
    bad = {"file_missing": 0, "file_empty": 0, "file_torn": 0, "json_invalid": 0,
           "json_expired": 0, "metadata_non200": 0, "metadata_bad_body": 0,
           "token_never_issued": 0, "token_expired": 0}
    bad_times = []
    seen = set()
    latencies = []
    min_expires_in = None
    deadline = time.monotonic() + args.seconds
    token_path = os.path.join(args.dir, "token")
    json_path = os.path.join(args.dir, "token.json")

    def flag(kind):
        bad[kind] += 1
        if len(bad_times) < 50:
            bad_times.append([round(time.time(), 3), kind])

    def judge(token):
        counts["oracle_checks"] += 1
        verdict = oracle.live(token)
        if verdict is False:
            flag("token_expired" if token in oracle.known else "token_never_issued")

    while time.monotonic() < deadline:
        started = time.monotonic()
        tokens = set()
        text = read_text(token_path)
        counts["file_reads"] += 1
        if text is None:
            flag("file_missing")
        elif text == "":
            flag("file_empty")
        elif not TOKEN_SHAPE.match(text):
            flag("file_torn")
        else:
            tokens.add(text)
        raw = read_text(json_path)
        counts["json_reads"] += 1
        try:
            doc = json.loads(raw) if raw is not None else None
            if not (isinstance(doc, dict) and TOKEN_SHAPE.match(doc.get("access_token", ""))
                    and doc.get("token_type") == "Bearer"):
                raise ValueError
            if rfc3339(doc["expiry"]) <= time.time():
                flag("json_expired")
            tokens.add(doc["access_token"])
        except (ValueError, KeyError, TypeError):
            flag("json_invalid")
        status, token, expires_in, took = metadata_token(args.metadata, 5)
        counts["metadata_reads"] += 1
        latencies.append(took)
        if status != 200:
            flag("metadata_non200")
        elif not (token and TOKEN_SHAPE.match(token) and isinstance(expires_in, int)):
            flag("metadata_bad_body")
        else:
            tokens.add(token)
            min_expires_in = expires_in if min_expires_in is None else min(min_expires_in, expires_in)
        for t in tokens:
            judge(t)
            seen.add(t)
        rest = args.interval - (time.monotonic() - started)
        if rest > 0:
            time.sleep(rest)
    counts["distinct_tokens"] = len(seen)
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)
    out = {"counts": counts, "bad": bad, "bad_total": sum(bad.values()), "first_bad": bad_times,
           "metadata_ms": {"p50": pick(0.5), "p99": pick(0.99), "max": pick(1.0)} if latencies else {},
           "min_expires_in": min_expires_in}
    with open(args.out, "w") as f:
        json.dump(out, f)


def watch(args):
    """One sample per interval: readiness, the metadata token, the token file, each judged."""
    oracle = Oracle(args.emulator)
    deadline = time.monotonic() + args.seconds
    with open(args.out, "a", buffering=1) as out:
        while time.monotonic() < deadline:
            if args.stop_file and os.path.exists(args.stop_file):
                break
            started = time.monotonic()
            sample = {"t": round(time.time(), 3)}
            sample["ready"] = get(args.admin, "/readyz", 2)[0]
            status, token, expires_in, took = metadata_token(args.metadata, args.metadata_timeout)
            sample.update(meta=status, meta_s=round(took, 2), meta_tok=short(token), meta_exp=expires_in)
            if token:
                sample["meta_live"] = oracle.live(token)
            text = read_text(os.path.join(args.dir, "token"))
            sample["file_tok"] = short(text)
            if text is not None:
                sample["file_shape_ok"] = bool(TOKEN_SHAPE.match(text))
            if text:
                sample["file_live"] = oracle.live(text)
            raw = read_text(os.path.join(args.dir, "token.json"))
            try:
                sample["file_expiry"] = rfc3339(json.loads(raw)["expiry"])
            except (TypeError, ValueError, KeyError):
                sample["file_expiry"] = None
            out.write(json.dumps(sample) + "\n")
            rest = args.interval - (time.monotonic() - started)
            if rest > 0:
                time.sleep(rest)


def row(args):
    """Judges one fault row from its timeline and prints 'key=value' facts, one per line."""
    samples = [json.loads(line) for line in open(args.timeline) if line.strip()]
    events = json.load(open(args.events))
    t0, t1 = events["fault"], events["clear"]
    before = [s for s in samples if s["t"] < t0]
    during = [s for s in samples if t0 <= s["t"] < t1]
    after = [s for s in samples if s["t"] >= t1]
    facts = {}
    expiry = events.get("expiry_at_fault") or next(
        (s.get("file_expiry") for s in reversed(before) if s.get("file_expiry")), None)
    if expiry:
        facts["token_left_at_fault_s"] = round(expiry - t0, 1)
    healthy = lambda s: s["ready"] == 200 and s["meta"] == 200 and s.get("meta_live") and s.get("file_live")
    # Readiness and the API while the fault lasted.
    ready_during = [s for s in during if s["ready"] == 200]
    facts["ready_200_during_s"] = round(ready_during[-1]["t"] - t0, 1) if ready_during else None
    facts["ready_all_during"] = bool(during) and len(ready_during) == len(during)
    served = [s for s in during if s["meta"] == 200 and s.get("meta_live")]
    facts["meta_200_during_s"] = round(served[-1]["t"] - t0, 1) if served else None
    facts["meta_all_during"] = bool(during) and len(served) == len(during)
    fails = [s for s in during + after if s["meta"] != 200]
    if fails:
        codes = sorted({s["meta"] for s in fails})
        facts["meta_fail_codes"] = ",".join({0: "timeout", -1: "refused", -2: "reset"}.get(c, str(c)) for c in codes)
        facts["meta_fail_from_s"] = round(fails[0]["t"] - t0, 1)
    # Tokens the emulator rejected: from the API (never acceptable) and from the file.
    api_bad = [s for s in samples if s["meta"] == 200 and s.get("meta_live") is False]
    # The emulator's ledger expiry is whole seconds (floor(now) + lifetime) while it answers
    # expires_in = lifetime, so a client's idea of the expiry can be up to 1 s later: a
    # rejection in that last second (expires_in 0) is the emulator's rounding, not the agent.
    facts["api_served_rejected"] = len([s for s in api_bad if (s.get("meta_exp") or 0) > 0])
    facts["api_served_rejected_last_second"] = len([s for s in api_bad if (s.get("meta_exp") or 0) == 0])
    file_bad = [s for s in samples if s.get("file_tok") and s.get("file_live") is False]
    facts["file_rejected_s"] = round(len(file_bad) * args.interval, 1)
    # Recovery: first fully healthy sample after the fault cleared, staying healthy.
    recovered = None
    for i, s in enumerate(after):
        if healthy(s) and all(healthy(x) for x in after[i:i + 3]):
            recovered = round(s["t"] - t1, 1)
            break
    facts["recovered_s"] = recovered
    facts["fault_s"] = round(t1 - t0, 1)
    for key, value in events.items():
        if key not in ("fault", "clear", "expiry_at_fault", "proxy_row"):
            facts[key] = value
    if events.get("proxy_row") and args.proxy_stats and os.path.exists(args.proxy_stats):
        stats = json.load(open(args.proxy_stats))
        times = [t for t in stats.get("faulted_times", []) if t0 - 1 <= t <= t1 + 1]
        facts["upstream_attempts_during"] = len(times)
        gaps = [round(b - a, 1) for a, b in zip(times, times[1:])]
        facts["attempt_gaps_s"] = "/".join(str(g) for g in gaps) if gaps else "-"
    facts["file_torn_samples"] = len([s for s in samples if s.get("file_shape_ok") is False])
    for key, value in facts.items():
        print(f"{key}={value}")
    print("sentence=" + sentence(facts))


def sentence(f):
    """What the agent did, in words, from the facts of `row`."""
    parts = []
    if f.get("token_left_at_fault_s") is not None:
        parts.append(f"token had {f['token_left_at_fault_s']:.0f} s left at the fault")
    if f["meta_all_during"]:
        parts.append("metadata API served a live token throughout")
    elif f["meta_200_during_s"] is not None:
        parts.append(f"metadata API served the last token until +{f['meta_200_during_s']:.0f} s")
    if f.get("meta_fail_codes"):
        parts.append(f"then answered {f['meta_fail_codes']} from +{f['meta_fail_from_s']:.0f} s")
    if f["ready_all_during"]:
        parts.append("/readyz 200 throughout")
    elif f["ready_200_during_s"] is not None:
        parts.append(f"/readyz 200 until +{f['ready_200_during_s']:.0f} s")
    else:
        parts.append("/readyz not 200 during the fault")
    if f["api_served_rejected"]:
        parts.append(f"SERVED A TOKEN THE EMULATOR REJECTED ({f['api_served_rejected']} samples)")
    if f["api_served_rejected_last_second"]:
        parts.append(f"{f['api_served_rejected_last_second']} answers in a token's last second (emulator rounding)")
    if f["file_rejected_s"]:
        parts.append(f"token file held an expired token for ~{f['file_rejected_s']:.0f} s")
    if f["file_torn_samples"]:
        parts.append(f"TORN TOKEN FILE in {f['file_torn_samples']} samples")
    if f.get("upstream_attempts_during") is not None:
        n = f["upstream_attempts_during"]
        gaps = f" (gaps {f['attempt_gaps_s']} s)" if n > 1 else ""
        parts.append(f"{n} upstream attempt{'s' if n != 1 else ''} during the fault{gaps}")
    if f["recovered_s"] is not None:
        parts.append(f"recovered {f['recovered_s']:.0f} s after the fault cleared")
    else:
        parts.append("DID NOT RECOVER in the observation window")
    for key in ("file_write_failures", "errors", "source_reloads"):
        if f.get(key) not in (None, "", "0"):
            parts.append(f"{key.replace('_', ' ')}: {f[key]}")
    if f.get("sigterm_exit") not in (None, "0"):
        parts.append(f"EXIT {f['sigterm_exit']} ON SIGTERM AFTER THE ROW")
    return "; ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("soak")
    s.add_argument("--dir", required=True)
    s.add_argument("--metadata", required=True)
    s.add_argument("--emulator", required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--interval", type=float, default=0.05)
    s.add_argument("--out", required=True)
    w = sub.add_parser("watch")
    w.add_argument("--dir", required=True)
    w.add_argument("--metadata", required=True)
    w.add_argument("--admin", required=True)
    w.add_argument("--emulator", required=True)
    w.add_argument("--seconds", type=float, required=True)
    w.add_argument("--interval", type=float, default=0.5)
    w.add_argument("--metadata-timeout", type=float, default=3)
    w.add_argument("--stop-file")
    w.add_argument("--out", required=True)
    r = sub.add_parser("row")
    r.add_argument("--timeline", required=True)
    r.add_argument("--events", required=True)
    r.add_argument("--proxy-stats")
    r.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    {"soak": soak, "watch": watch, "row": row}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
