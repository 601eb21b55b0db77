#!/usr/bin/env python3
"""Start-up cost of short-lived commands, ours against a peer's, alternating runs.

usage: startup.py [--perf] RUNS NAME_A "COMMAND A" NAME_B "COMMAND B" [NAME_C "C" NAME_D "D" ...]

Commands come in pairs (ours, then the peer's); each is split like a shell would (no shell is
started, so none is measured) and must exit 0. After one warm-up run of every command, each
round runs every command once, in turn, so all see the same machine state. Per run:

* wall time, from fork to reaping the child (time.perf_counter around Popen and os.wait4);
* max RSS: %M of GNU time (/usr/bin/time -f %M), from a separate run of the command under it.
  Without GNU time, ru_maxrss of os.wait4 on the plain run, which covers the child and every
  descendant it reaped but is floored at this Python's own RSS: Python spawns with vfork, and
  exec records the old (shared) address space's peak, so values below that floor are not
  seen (the floor is printed);
* with --perf, another run of the same command under `perf stat -x, -e task-clock,page-faults`
  (the counters follow children), for task-clock in ms and page faults. perf's own start-up is
  not in these counters, but it would be in that run's wall time, which is why wall time
  comes from the plain run.

Prints per command the medians, and per pair the ratios peer / ours; last, the harness's own
floor: the median wall time of `true` through the same Popen and wait4, which every wall figure
above includes. Never asserts a figure.
"""
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

# Where the printed tokens go: /dev/null, opened once, as a shell's `>/dev/null` does.
SINK = open("/dev/null", "wb")

GNU_TIME = "/usr/bin/time"


def run_plain(argv):
    """One run: (wall seconds, max RSS KiB)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=SINK, stderr=subprocess.PIPE)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    if child.returncode != 0:
        sys.exit(f"{argv[0]} failed ({child.returncode}): {stderr.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss


def run_time(argv, scratch):
    """One run under GNU time: max RSS KiB (%M)."""
    out = os.path.join(scratch, "time.out")
    done = subprocess.run([GNU_TIME, "-f", "%M", "-o", out, "--"] + argv,
                          stdout=SINK, stderr=subprocess.PIPE)
    if done.returncode != 0:
        sys.exit(f"time {argv[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    with open(out) as f:
        return int(f.read().split()[-1])


def run_perf(argv, scratch):
    """One run under perf stat: (task-clock ms, page faults)."""
    out = os.path.join(scratch, "perf.csv")
    done = subprocess.run(["perf", "stat", "-x,", "-e", "task-clock,page-faults", "-o", out, "--"] + argv,
                          stdout=SINK, stderr=subprocess.PIPE)
    if done.returncode != 0:
        sys.exit(f"perf stat {argv[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    values = {}
    with open(out) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) >= 3 and fields[2] in ("task-clock", "page-faults"):
                values[fields[2]] = float(fields[0]) if fields[0][:1].isdigit() else float("nan")
    return values.get("task-clock", float("nan")), values.get("page-faults", float("nan"))


def main():
    args = sys.argv[1:]
    use_perf = bool(args) and args[0] == "--perf"
    if use_perf:
        args = args[1:]
    if len(args) < 5 or (len(args) - 1) % 4 != 0:
        sys.exit(__doc__)
    runs = int(args[0])
    names = args[1::2]
    commands = [shlex.split(c) for c in args[2::2]]
    use_time = os.access(GNU_TIME, os.X_OK)
    samples = {name: {"wall": [], "rss": [], "clock": [], "faults": []} for name in names}
    with tempfile.TemporaryDirectory() as scratch:
        for argv in commands:  # warm-up: page cache, first-run caches
            run_plain(argv)
        for _ in range(runs):
            for name, argv in zip(names, commands):
                wall, rss = run_plain(argv)
                samples[name]["wall"].append(wall * 1000)
                if use_time:
                    rss = run_time(argv, scratch)
                samples[name]["rss"].append(rss / 1024)
                if use_perf:
                    clock, faults = run_perf(argv, scratch)
                    samples[name]["clock"].append(clock)
                    samples[name]["faults"].append(faults)
    med = {name: {k: statistics.median(v) if v else None for k, v in s.items()} for name, s in samples.items()}
    width = max(len(n) for n in names) + 2
    header = f"{'command':<{width}} {'wall ms':>9} {'p90 ms':>9} {'max RSS MiB':>12}"
    if use_perf:
        header += f" {'task-clock ms':>14} {'page faults':>12}"
    if use_time:
        rss_from = f"max RSS from {GNU_TIME} -f %M"
    else:
        floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rss_from = f"max RSS from wait4 (no {GNU_TIME}): floored at this Python's {floor:.1f} MiB"
    print(f"medians over {runs} runs each (alternating); {rss_from}:")
    print(header)
    for name in names:
        m, walls = med[name], sorted(samples[name]["wall"])
        p90 = walls[min(len(walls) - 1, int(len(walls) * 0.9))]
        line = f"{name:<{width}} {m['wall']:>9.2f} {p90:>9.2f} {m['rss']:>12.1f}"
        if use_perf:
            line += f" {m['clock']:>14.2f} {m['faults']:>12.0f}"
        print(line)
    print("ratios, peer / ours:")
    for ours, peer in zip(names[0::2], names[1::2]):
        a, b = med[ours], med[peer]
        parts = [f"wall {b['wall'] / a['wall']:.1f}x", f"max RSS {b['rss'] / a['rss']:.1f}x"]
        if use_perf:
            parts += [f"task-clock {b['clock'] / a['clock']:.1f}x", f"page faults {b['faults'] / a['faults']:.1f}x"]
        print(f"  {peer} / {ours}: " + ", ".join(parts))
    floor = statistics.median(run_plain(["true"])[0] * 1000 for _ in range(max(runs, 20)))
    print(f"this harness's floor (spawn and reap `true`), in every wall figure above: {floor:.2f} ms")


if __name__ == "__main__":
    main()
