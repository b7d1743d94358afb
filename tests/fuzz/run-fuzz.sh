# Run the reader's fuzz target: a seed corpus of valid files, then
# MMS_FUZZ_SECONDS of fuzzing (default 45). Any crash fails the run and
# leaves the input in WORK/crashes for a regression test.
#   run-fuzz.sh FUZZER MAKE_CORPUS WORK
set -euo pipefail
fuzzer=$1 make_corpus=$2 work=$3
secs=${MMS_FUZZ_SECONDS:-45}
rm -rf "$work/seeds"
mkdir -p "$work/seeds" "$work/corpus" "$work/crashes"
"$make_corpus" "$work/seeds"
# Regression inputs kept in the source tree run first, every time.
regress=$(dirname "$0")/regressions
[ -d "$regress" ] && cp "$regress"/* "$work/seeds/" 2>/dev/null || true
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$fuzzer" -max_len=65536 -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$work/crashes/" "$work/corpus" "$work/seeds" \
    2>"$work/log" || { tail -50 "$work/log"; exit 1; }
grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/log"
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
echo "fuzz_reader: $execs inputs in ${secs}s, 0 crashes"
echo "1 passed, 0 failed"
