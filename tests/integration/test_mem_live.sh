# mem.live_bytes and mem.peak_bytes, gauges kept per thread (format
# 3.1's GAUGE_SUM: readers sum the threads' cells), which each thread
# publishes lazily from its own cells (hook_mem.c): the peak is the sum
# of the threads' peaks, an upper bound. 8 producer threads allocate, hold,
# free, leak and hand blocks to a consumer thread that frees them
# (mem_live). Once every thread has exited, while main (which allocates
# nothing then) waits: live bytes equal alloc_bytes - freed_bytes to
# within main's own unpublished bytes (glibc's few allocations in main:
# under 4 KiB), and at least the bytes leaked; the peak is at least what
# the producers held at once, less what each of the 9 threads may not
# have published yet (8 KiB + 2 x 64 KiB). After exit: live bytes exact.
# Needs the shim (skipped, status 77, in sanitizer builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized

expect_true() { # PYTHON-EXPR WHAT
    checks=$((checks + 1))
    [ "$(python3 -c "print($1)")" = True ] || fail "$2 ($1)"
}
mem_fields() { # FILE: alloc freed live peak
    "$READ" "$1" | awk '$1 == "mem.alloc_bytes" {a = $2}
        $1 == "mem.freed_bytes" {f = $2} $1 == "mem.live_bytes" {l = $2}
        $1 == "mem.peak_bytes" {p = $2} END {print a + 0, f + 0, l + 0, p + 0}'
}

P=8
N=400
LAG=$(((8 + 2 * 64) * 1024))
for round in 1 2; do
    coproc ML { LD_PRELOAD=$PRELOAD exec "$PROGS/mem_live" "$P" "$N"; }
    ml_pid=$ML_PID
    bg_pids+=("$ml_pid")
    read -r -t 300 word pid held leaked failed <&"${ML[0]}" &&
        [ "$word" = ready ] || fail "mem_live did not start"
    expect_eq "$failed" 0 "round $round: mem_live's failed allocations"
    f=$(newest_file mem_live)
    read -r alloc freed live peak < <(mem_fields "$f")
    expect_true "0 <= $live - ($alloc - $freed) < 4096 or 0 <= ($alloc - $freed) - $live < 4096" \
        "round $round, threads gone: live $live, alloc - freed $((alloc - freed))"
    expect_true "$live >= $leaked" \
        "round $round: live $live, at least the $leaked bytes leaked"
    expect_true "$peak >= $held - $((P + 1)) * $LAG and $peak <= $alloc" \
        "round $round: peak $peak, held $held at once, $alloc allocated"
    eval "exec ${ML[1]}>&-"
    wait "$ml_pid" && rc=0 || rc=$?
    expect_eq "$rc" 0 "round $round: mem_live's exit status"
    read -r alloc freed live peak < <(mem_fields "$f")
    expect_eq "$live" "$((alloc - freed))" \
        "round $round, after exit: mem.live_bytes exact"
    if [ "$round" = 1 ]; then # kept per thread: no process-wide word
        "$READ" --json "$f" >"$WORK/live.json"
        for g in live peak; do
            expect_eq "$(jpy "$WORK/live.json" "(lambda v: (v['kind'], 'gauge_sum' in v['flags']))(d['processes'][0]['fields']['mem.${g}_bytes'])")" \
                "('gauge', True)" "mem.${g}_bytes: a gauge kept per thread"
        done
    fi
    rm -f "$f"
done
finish
