#!/usr/bin/env python3
"""Times two commands side by side: alternating runs, so both see the same machine state.

usage: alternate.py RUNS NAME_A "COMMAND A" NAME_B "COMMAND B"

Commands are split like a shell would (no shell is started, so none is timed). Each must
exit 0. Prints per-command median, p90 and min, and the ratio of medians (B / A).
"""
import shlex
import statistics
import subprocess
import sys
import time

# Where the printed tokens go: /dev/null, opened once, as a shell's `>/dev/null` does.
SINK = open("/dev/null", "wb")


def timed(argv):
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=SINK, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return elapsed


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    runs = int(sys.argv[1])
    names = (sys.argv[2], sys.argv[4])
    commands = (shlex.split(sys.argv[3]), shlex.split(sys.argv[5]))
    for argv in commands:  # warm-up: page cache, first-run caches
        timed(argv)
    samples = ([], [])
    for _ in range(runs):
        for i in (0, 1):
            samples[i].append(timed(commands[i]))
    medians = []
    for name, values in zip(names, samples):
        values.sort()
        median = statistics.median(values)
        medians.append(median)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        print(f"{name:>34}: median {median * 1000:8.2f} ms   p90 {p90 * 1000:8.2f} ms   min {values[0] * 1000:8.2f} ms   ({runs} runs)")
    print(f"{'ratio (' + names[1] + ' / ' + names[0] + ')':>34}: {medians[1] / medians[0]:.1f}x")


if __name__ == "__main__":
    main()
