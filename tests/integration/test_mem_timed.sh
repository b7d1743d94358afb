# Timed malloc and free (MMSTATS_TIMING_MEM=1), with each clock: with the
# TSC (the default, where it is invariant) past its calibration at 50 ms
# the mem hooks take their timed fast paths (TSC stamps, the counters,
# window and latency in checked steps, hook_mem.c); with the monotonic
# clock the other paths. mem_timed's 4 threads make malloc/free pairs
# for 300 ms (a mapped block now and then, free(NULL), failing mallocs).
# While it waits, all threads joined: with MMSTATS_TIMING_MEM_SAMPLE=1
# every malloc and free call is in its latency histogram, once (a
# latency lost or counted twice, a batch of them too, fails the count);
# with 1 in 4 timed, a quarter of the calls within 3% (the count's
# standard deviation is ~0.4%: a batch of 4,096 lost or added is ~20%).
# Every call is in its recent_calls counter (and in the 60 s window over
# the calls' seconds; sampled: but for the waiting main thread's last
# few untimed calls, none after exit), each failed malloc in
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
for run in tsc:1 monotonic:1 tsc:4 monotonic:4; do
    clock=${run%:*} every=${run#*:}
    rm -f "$MMSTATS_DIR"/mem_timed-*.mmstats
    coproc MT { MMSTATS_TIMING_MEM=1 MMSTATS_TIMING_MEM_SAMPLE=$every \
        MMSTATS_CLOCK=$clock LD_PRELOAD=$PRELOAD \
        exec "$PROGS/mem_timed" "$T" 20000 300; }
    mt_pid=$MT_PID
    bg_pids+=("$mt_pid")
    ready_line "${MT[0]}" "mem_timed ($run)" ready
    read -r t0 t1 failed mallocs frees <<<"${ready_words[*]}"
    f=$(newest_file mem_timed)
    s1=$((t1 / 1000000000))
    "$READ" --json --windows-at "$(((s1 + 1) * 1000000000))" "$f" >"$J"
    expect_json "$J" "$run: --json"
    for c in malloc free; do
        calls=$(val mem.$c.calls) lat=$(val mem.$c.latency count)
        recent=$(val mem.$c.recent_calls)
        if [ "$every" = 1 ]; then
            expect_eq "$lat" "$calls" "$run: mem.$c.latency, one value per call"
            expect_eq "$recent" "$calls" "$run: mem.$c.recent_calls total"
        else
            expect_eq "$((lat * 400 >= calls * 97 && lat * 400 <= calls * 103))" 1 \
                "$run: mem.$c.latency count $lat, a quarter of $calls calls"
            expect_eq "$((recent <= calls && recent >= calls - 2 * every))" 1 \
                "$run: mem.$c.recent_calls $recent of $calls calls"
            expect_match "$(jpy "$J" "d['processes'][0]['fields']['mem.$c.latency'].get('help', '')")" \
                "1 call in $every" "$run: mem.$c.latency's help says it is sampled"
        fi
        expect_eq "$(jpy "$J" "int(d['processes'][0]['fields']['mem.$c.latency']['value']['max'] <= $t1 - $t0)")" \
            1 "$run: mem.$c.latency max within the threads' time"
        expect_eq "$(jpy "$J" "int(d['processes'][0]['fields']['mem.$c.latency']['value']['sum'] > 0)")" \
            1 "$run: mem.$c.latency sum"
        if [ $((s1 - t0 / 1000000000)) -lt 50 ]; then
            expect_eq "$(jpy "$J" "d['processes'][0]['fields']['mem.$c.recent_calls']['windows']['60s']['count']")" \
                "$recent" "$run: mem.$c 60 s window over the calls' seconds"
        fi
    done
    expect_eq "$(($(val mem.malloc.calls) >= mallocs))" 1 \
        "$run: mem.malloc.calls $(val mem.malloc.calls), the program's $mallocs at least"
    expect_eq "$(($(val mem.free.calls) >= frees))" 1 \
        "$run: mem.free.calls $(val mem.free.calls), the program's $frees at least"
    expect_eq "$(($(val mem.alloc_size count) >= mallocs))" 1 \
        "$run: mem.alloc_size count, the program's $mallocs sizes at least"
    expect_eq "$(val mem.malloc.errors)" "$failed" "$run: mem.malloc.errors"
    expect_eq "$((failed > 0))" 1 "$run: mem_timed made failing mallocs"
    expect_eq "$(dropped "$f")" 0 "$run: nothing dropped"
    eval "exec ${MT[1]}>&-"
    wait "$mt_pid" && rc=0 || rc=$?
    expect_eq "$rc" 0 "$run: mem_timed's exit status"
    "$READ" --json "$f" >"$J"
    expect_eq "$(val mem.live_bytes)" \
        "$(($(val mem.alloc_bytes) - $(val mem.freed_bytes)))" \
        "$run, after exit: mem.live_bytes exact"
    for c in malloc free; do
        expect_eq "$(val mem.$c.recent_calls)" "$(val mem.$c.calls)" \
            "$run, after exit: mem.$c.recent_calls total"
    done
done
finish
