# Nothing dropped under load: 200 short threads in waves of 8, each
# waiting on a barrier and making 100 writes, with timing on, while two CPU hogs (started here, killed at the end) keep a
# 2-core machine busy. Every new thread's shard needs blocks (its shard,
# cells, the waits' histogram chunks) while other threads grow the file:
# a waiter used to give up on a growth after 20,000 spins and yields and
# drop its record (up to ~40 per run, and once a write of 20,000). Now:
# dropped is 0 and every count exact, in each of RUNS runs. Needs the
# shim (skipped, status 77, in sanitizer builds).
# Without the sync family: with it, this program still drops records in
# about 1 run of 5, on an idle machine too (the write hook's cell in a new
# thread's shard is not found, mmp_record_slow): sync stays off by default
# until that is fixed (docs/preload.md, waits).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
if grep -Eq '^CMAKE_(C|SHARED_LINKER)_FLAGS[A-Z_]*:[A-Z]+=.*-fsanitize' \
    "$B/CMakeCache.txt" 2>/dev/null; then
    echo "SKIP: sanitizer build"
    exit 77
fi
export LC_ALL=C MMSTATS_HOOKS=all,-sync MMSTATS_TIMING=on
RUNS=3

# Two CPU hogs, bounded (timeout) and killed on exit.
hogs=()
trap 'kill "${hogs[@]}" 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in 1 2; do
    timeout 600 sh -c 'while :; do :; done' &
    hogs+=($!)
done

run() { # NAME ITERS: threads 8 ITERS 25 under the shim; f = its file
    local d=$MMSTATS_DIR/$1
    mkdir -p "$d"
    out=$(MMSTATS_DIR=$d LD_PRELOAD=$PRELOAD "$PROGS/threads" 8 "$2" 25) ||
        fail "$1: exit status $?"
    f=$(ls "$d"/threads-*.mmstats 2>/dev/null | head -1)
}
run base 0
base=$(pnum "$f" io.write.calls)
expect_eq "$(dropped "$f")" 0 "base: dropped"
for i in $(seq $RUNS); do
    run run$i 100
    expect_eq "$out" "threads 8 writes 20000 failed 0" "run $i: output"
    expect_eq "$(dropped "$f")" 0 "run $i: dropped"
    expect_eq "$(($(pnum "$f" io.write.calls) - base))" 20000 \
        "run $i: extra io.write.calls"
done
finish
