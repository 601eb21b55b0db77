#!/usr/bin/env bash
# The long fuzz run: each cargo-fuzz target of fuzz/ under libFuzzer for SECONDS_PER_TARGET
# seconds (default 60), starting from its committed seeds in fuzz/corpus/<target>/. Prints
# each target's executions and verdict; exits non-zero if any target crashed, hung or ran
# out of memory. The CI smoke is `cargo test` (src/fuzz/tests.rs replays the seeds plus
# mutations on stable); this is the coverage-guided run, by hand or on a schedule.
#
#   scripts/check/fuzz.sh                              # every target, 60 s each
#   SECONDS_PER_TARGET=600 scripts/check/fuzz.sh run_config admission_review
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${SECONDS_PER_TARGET:-60}"
# Its own target directory: sanitizer flags would otherwise rebuild the main crate's.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/fuzz}"
# cargo-fuzz passes nightly-only flags (-Zsanitizer); this lets the stable toolchain take them.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# One build for all targets: they share the instrumented library.
cargo fuzz build

# New inputs libFuzzer finds go to a scratch corpus, so the committed seeds stay small;
# the committed directory is read as a second, read-only corpus.
scratch="$CARGO_TARGET_DIR/corpus"
crashed=()
printf '%-20s %8s %12s  %s\n' target seconds executions result
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  log="$CARGO_TARGET_DIR/$target.log"
  if cargo fuzz run "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH: see $log; reproducer in fuzz/artifacts/$target/"
    crashed+=("$target")
  fi
  # libFuzzer's final statistics, else its `Done N runs` line, else its last progress line.
  executions=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  [ -n "$executions" ] || executions=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  [ -n "$executions" ] || executions=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  printf '%-20s %8s %12s  %s\n' "$target" "$seconds" "${executions:-?}" "$result"
done

if [ "${#crashed[@]}" -gt 0 ]; then
  echo "crashed: ${crashed[*]}" >&2
  exit 1
fi
