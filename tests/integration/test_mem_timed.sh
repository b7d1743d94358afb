# Timed malloc and free (MMSTATS_TIMING_MEM=1), with each clock: with the
# TSC (the default, where it is invariant) past its calibration at 50 ms
# the mem hooks take their timed fast paths (TSC stamps, the counters,
# window and latency in checked steps, hook_mem.c); with the monotonic
# clock the other paths. mem_timed's 4 threads make malloc/free pairs
# for 300 ms (a mapped block now and then, free(NULL), failing mallocs).
# While it waits, all threads joined: every malloc and free call is in
# its latency histogram and its recent_calls counter (and in the 60 s
# window over the calls' seconds), each failed malloc in
# mem.malloc.errors, the program's calls at least in the calls counters
# and mem.alloc_size, no latency longer than the threads' whole time;
# nothing dropped. After exit: mem.live_bytes exact. Needs the shim
# (skipped, status 77, in sanitizer builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized

T=4
J=$WORK/m.json
val() { # FIELD [KEY]: FIELD's value in $J (KEY of a histogram's)
    jpy "$J" "(lambda v: v['${2:-}'] if '${2:-}' else v)(d['processes'][0]['fields']['$1']['value'])"
}
for clock in tsc monotonic; do
    rm -f "$MMSTATS_DIR"/mem_timed-*.mmstats
    coproc MT { MMSTATS_TIMING_MEM=1 MMSTATS_CLOCK=$clock LD_PRELOAD=$PRELOAD \
        exec "$PROGS/mem_timed" "$T" 20000 300; }
    mt_pid=$MT_PID
    bg_pids+=("$mt_pid")
    read -r -t 300 word t0 t1 failed mallocs frees <&"${MT[0]}" &&
        [ "$word" = ready ] || fail "mem_timed ($clock) did not start"
    f=$(newest_file mem_timed)
    s1=$((t1 / 1000000000))
    "$READ" --json --windows-at "$(((s1 + 1) * 1000000000))" "$f" >"$J"
    expect_json "$J" "$clock: --json"
    for c in malloc free; do
        calls=$(val mem.$c.calls)
        expect_eq "$(val mem.$c.latency count)" "$calls" \
            "$clock: mem.$c.latency, one value per call"
        expect_eq "$(val mem.$c.recent_calls)" "$calls" \
            "$clock: mem.$c.recent_calls total"
        expect_eq "$(jpy "$J" "int(d['processes'][0]['fields']['mem.$c.latency']['value']['max'] <= $t1 - $t0)")" \
            1 "$clock: mem.$c.latency max within the threads' time"
        expect_eq "$(jpy "$J" "int(d['processes'][0]['fields']['mem.$c.latency']['value']['sum'] > 0)")" \
            1 "$clock: mem.$c.latency sum"
        if [ $((s1 - t0 / 1000000000)) -lt 50 ]; then
            expect_eq "$(jpy "$J" "d['processes'][0]['fields']['mem.$c.recent_calls']['windows']['60s']['count']")" \
                "$calls" "$clock: mem.$c 60 s window over the calls' seconds"
        fi
    done
    expect_eq "$(($(val mem.malloc.calls) >= mallocs))" 1 \
        "$clock: mem.malloc.calls $(val mem.malloc.calls), the program's $mallocs at least"
    expect_eq "$(($(val mem.free.calls) >= frees))" 1 \
        "$clock: mem.free.calls $(val mem.free.calls), the program's $frees at least"
    expect_eq "$(($(val mem.alloc_size count) >= mallocs))" 1 \
        "$clock: mem.alloc_size count, the program's $mallocs sizes at least"
    expect_eq "$(val mem.malloc.errors)" "$failed" "$clock: mem.malloc.errors"
    expect_eq "$((failed > 0))" 1 "$clock: mem_timed made failing mallocs"
    expect_eq "$(dropped "$f")" 0 "$clock: nothing dropped"
    eval "exec ${MT[1]}>&-"
    wait "$mt_pid" && rc=0 || rc=$?
    expect_eq "$rc" 0 "$clock: mem_timed's exit status"
    "$READ" --json "$f" >"$J"
    expect_eq "$(val mem.live_bytes)" \
        "$(($(val mem.alloc_bytes) - $(val mem.freed_bytes)))" \
        "$clock, after exit: mem.live_bytes exact"
done
finish
