# The shim's time windows: a timed call's "recent_calls" counter carries
# 1/10/60 s windows. shim_windows makes 1000 pwrite calls between two
# readings of CLOCK_MONOTONIC (T0, T1) and waits: windows taken at chosen
# instants (--windows-at) hold exactly the calls of the seconds they
# cover; a plain read, once the calls' seconds are complete, shows all of
# them in the 60 s window. In counting mode (MMSTATS_TIMING=0) calls get
# no window. Needs the shim (skipped, status 77, in sanitizer builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

skip_sanitized "the shim cannot be preloaded in a sanitizer build"

# sw_start WHAT [VAR=VALUE...] ARG...: shim_windows ARG... under the
# shim (with the variables set) as a coprocess, its pid in sw_pid and
# wpid, the words of its "ready" line after "ready" in sw_ready; fails
# the test (naming WHAT) if it does not start. sw_stop closes its input,
# which ends it, and waits for it.
sw_start() {
    local what=$1
    shift
    coproc SW { exec env LD_PRELOAD="$PRELOAD" "$@"; }
    sw_pid=$SW_PID
    sw_in=${SW[1]}
    wpid=$sw_pid
    bg_pids+=("$sw_pid")
    ready_line "${SW[0]}" "shim_windows ($what)" ready
    sw_ready=${ready_words[*]}
}
sw_stop() {
    eval "exec $sw_in>&-"
    wait "$sw_pid" 2>/dev/null || true
}

N=1000
F=io.pwrite.recent_calls
sw_start "timed" "$PROGS/shim_windows" "$N"
read -r t0 t1 failed _ <<<"$sw_ready"
expect_eq "$failed" 0 "shim_windows: failed pwrite calls"
s0=$((t0 / 1000000000))
s1=$((t1 / 1000000000))
J=$WORK/w.json
# win AT: the counts of the 1, 10 and 60 s windows ending at second AT;
# pywin AT: the same from the Python reader (scripts/mmstats.py).
win() {
    "$READ" --json --windows-at "$(($1 * 1000000000))" "$wpid" >"$J"
    jpy "$J" "' '.join(str(d['processes'][0]['fields']['$F']['windows'][k]['count']) for k in ('1s', '10s', '60s'))"
}
pywin() {
    python3 "$PYREAD" --windows-at "$(($1 * 1000000000))" "$wpid" >"$J.py"
    jpy "$J.py" "' '.join(str(d['processes'][0]['fields']['$F']['windows'][k]['count']) for k in ('1s', '10s', '60s'))"
}
expect_eq "$(win "$s0")" "0 0 0" "windows ending before the calls"
read -r w1 w10 w60 <<<"$(win $((s1 + 1)))"
expect_json "$J" "--json --windows-at"
expect_eq "$(jpy "$J" "d['processes'][0]['fields']['$F']['value']")" "$N" \
    "$F total"
expect_eq "$(jpy "$J" "d['processes'][0]['fields']['$F']['flags']")" \
    "['sharded', 'window']" "$F flags"
expect_eq "$(jpy "$J" "d['processes'][0]['fields']['io.pwrite.calls']['value']")" \
    "$N" "io.pwrite.calls"
expect_eq "$w60" "$N" "60 s window over the calls' seconds"
# The calls lie in seconds s0..s1: exact when they fit the window.
if [ $((s1 - s0)) -lt 10 ]; then
    expect_eq "$w10" "$N" "10 s window over the calls' seconds"
fi
if [ "$s0" = "$s1" ]; then
    expect_eq "$w1" "$N" "1 s window over the calls' second"
else
    expect_eq "$((w1 <= N))" 1 "1 s window: at most every call ($w1)"
fi
# A 1 s window of each second s0..s1 in turn adds up to every call.
sum=0
for ((s = s0; s <= s1; s++)); do
    read -r c _ <<<"$(win $((s + 1)))"
    sum=$((sum + c))
done
expect_eq "$sum" "$N" "1 s windows of the calls' seconds, summed"
expect_eq "$(win $((s1 + 61)))" "0 0 0" "windows ending 60 s after the calls"

# A plain read, once the calls' last second is complete (bounded wait:
# the reader's clock passes it within a second or two).
got=
for ((i = 0; i < 600; i++)); do
    "$READ" --json "$sw_pid" >"$J"
    now=$(jpy "$J" "d['processes'][0]['snapshot_mono_ns'] // 1000000000")
    if [ "$now" -gt "$s1" ]; then
        got=$(jpy "$J" "d['processes'][0]['fields']['$F']['windows']['60s']['count']")
        break
    fi
    sleep 0.1
done
expect_eq "$got" "$N" "plain --json: the 60 s window while it waits"
t=$("$READ" "$sw_pid")
expect_match "$t" "^ +$F +$N calls +rate/s 1s:[0-9.]+ 10s:[0-9.]+ 60s:[0-9.]+$" \
    "text: $F with its rates"
sw_stop

# Calls for 1.5 s from the program's start, with each clock: with the TSC
# (the default, where it is invariant) past its calibration at 50 ms the
# timed path keeps TSC counts and second boundaries in TSC counts. Every
# call counted, in its latency histogram and in a second of [T0, T1]:
# the 1 s windows of those seconds add up to every call; no latency
# longer than the calls' whole time.
for clock in tsc monotonic; do
    sw_start "$clock, 1.5 s" MMSTATS_CLOCK="$clock" "$PROGS/shim_windows" 1000 1500
    read -r t0 t1 failed made _ <<<"$sw_ready"
    expect_eq "$failed" 0 "$clock: failed pwrite calls"
    s0=$((t0 / 1000000000))
    s1=$((t1 / 1000000000))
    "$READ" --json --windows-at "$(((s1 + 1) * 1000000000))" "$sw_pid" >"$J"
    L=io.pwrite.latency
    expect_eq "$(jpy "$J" "d['processes'][0]['fields']['io.pwrite.calls']['value']")" \
        "$made" "$clock: io.pwrite.calls"
    expect_eq "$(jpy "$J" "d['processes'][0]['fields']['$F']['value']")" \
        "$made" "$clock: $F total"
    expect_eq "$(jpy "$J" "d['processes'][0]['fields']['$F']['windows']['60s']['count']")" \
        "$made" "$clock: 60 s window over the calls' seconds"
    expect_eq "$(jpy "$J" "d['processes'][0]['fields']['$L']['value']['count']")" \
        "$made" "$clock: $L count"
    expect_eq "$(jpy "$J" "int(d['processes'][0]['fields']['$L']['value']['max'] <= $t1 - $t0)")" \
        1 "$clock: $L max within the calls' time"
    expect_eq "$(jpy "$J" "int(0 < d['processes'][0]['fields']['$L']['value']['sum'] <= $t1 - $t0)")" \
        1 "$clock: $L sum within the calls' time"
    # The calls span seconds: each thread's windowed cell holds its
    # first second and (format 3.2) a RING block for the others. Both
    # readers see the same windows in every second.
    sum=0
    for ((s = s0; s <= s1 + 1; s++)); do
        w=$(win $((s + 1)))
        expect_eq "$(pywin $((s + 1)))" "$w" "$clock: Python's windows at $((s - s0 + 1))"
        read -r c _ <<<"$w"
        sum=$((sum + c))
    done
    expect_eq "$sum" "$made" "$clock: 1 s windows of the calls' seconds, summed"
    sw_stop
done

# Counting mode: no window field, the calls counted all the same.
sw_start "counting" MMSTATS_TIMING=0 "$PROGS/shim_windows" 10
"$READ" --json "$sw_pid" >"$J"
expect_eq "$(jpy "$J" "[k for k in d['processes'][0]['fields'] if k.endswith('.recent_calls')]")" \
    "[]" "counting mode: no window field"
expect_eq "$(jpy "$J" "d['processes'][0]['fields']['io.pwrite.calls']['value']")" \
    10 "counting mode: io.pwrite.calls"
sw_stop
finish
