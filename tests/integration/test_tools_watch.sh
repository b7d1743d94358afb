# mmstat-read --watch. On tool_step, a writer that changes only when the
# test tells it to: the deltas of the rows add up to exactly what was
# written, the row that saw a step shows it (count, interval percentiles)
# and its rates are its deltas over one interval for every column. On
# tool_rate (ticks, work and a late field that move together): a field
# added while watching gets a column and a new header, and moves as the
# others; the header repeats every 20 rows; default columns are the
# busiest fields; watching stops after --count rows, when the process
# finishes, and on SIGINT or SIGTERM. Nothing here depends on how fast
# the machine is: every wait is for a row, a header or an exit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

rows_of() { grep -E '^[0-9]{2}:[0-9]{2}:[0-9]{2} ' "$1" || true; }

# watch_bg NAME ARGS...: mmstat-read --watch ARGS in the background, its
# output in $WORK/NAME.out; sets wpid.
watch_bg() {
    local name=$1
    shift
    "$READ" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    wpid=$!
    bg_pids+=("$wpid")
}

# stop_watch SIG WHAT: send SIG to the watcher, wait for it (bounded
# against a hang) and check it ended with status 0.
stop_watch() {
    local i rc=0
    kill -"$1" "$wpid"
    for ((i = 0; i < 1200; i++)); do
        kill -0 "$wpid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$wpid" 2>/dev/null; then
        fail "$2: still watching after SIG$1"
        kill -9 "$wpid"
    fi
    wait "$wpid" || rc=$?
    expect_rc "$rc" 0 "$2"
}

# rows_at_least FILE N: wait until FILE has N rows.
rows_at_least() {
    local i
    for ((i = 0; i < 1200; i++)); do
        [ "$(rows_of "$1" | wc -l)" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

# ---- exact deltas, percentiles and rates, on a writer the test drives
start_step
watch_bg s1 --watch=0.1 -f 'step.*' "$step_pid"
rows_at_least "$WORK/s1.out" 1 || fail "watch: no first row"
step 1000 1000 # 1000 ticks, 1000 values of 1 us
# The row that saw them.
wait_for "$WORK/s1.out" '^[0-9:]{8} +1000 ' || fail "watch: the step not seen"
step 250 3000000 # 250 ticks, 250 values of 3 ms
wait_for "$WORK/s1.out" '^[0-9:]{8} +250 ' || fail "watch: second step not seen"
rows_at_least "$WORK/s1.out" "$(($(rows_of "$WORK/s1.out" | wc -l) + 1))" ||
    fail "watch: no row after the steps"
stop_watch TERM "watch stopped by SIGTERM"
expect_match "$(head -1 "$WORK/s1.out")" '^ +-+step\.ticks-+ +-+step\.work-+$' \
    "watch: field names over their columns"
expect_match "$(sed -n 2p "$WORK/s1.out")" '^time +delta +/s +n +/s +p50 +p99$' \
    "watch: column names"
expect_eq "$(rows_of "$WORK/s1.out" | awk '{d += $2; n += $4} END {print d, n}')" \
    "1250 1250" "watch: the deltas add up to what was written"
expect_eq "$(rows_of "$WORK/s1.out" | awk '$2 == 1000 {print $4, $6, $7}')" \
    "1000 1.00us 1.00us" "watch: the first step's row"
expect_eq "$(rows_of "$WORK/s1.out" | awk '$2 == 250 {print $4, $6, $7}')" \
    "250 3.00ms 3.00ms" "watch: the second step's row"
expect_eq "$(rows_of "$WORK/s1.out" | awk '$2 == 0 && ($4 != 0 || $6 != "-") {print}')" \
    "" "watch: rows without a step show nothing"
expect_eq "$(rows_of "$WORK/s1.out" | awk 'NF != 7 {print}')" "" \
    "watch: no extra column"
# Each column's rate is its delta over the same interval: ticks and
# values moved together, so their rates are equal (to the digits shown).
expect_eq "$(rows_of "$WORK/s1.out" | awk '$2 > 0 {
    r = $3 / $5; if (r < 0.999 || r > 1.001) print}')" "" \
    "watch: rates over one interval"
expect_eq "$(rows_of "$WORK/s1.out" | awk '$2 > 0 && !($3 > 0) {print}')" "" \
    "watch: a delta makes a rate"
stop_step

# ---- tool_rate: ticks (10 a tick), work and, once $WORK/late exists,
# late (1 a tick each)
start_rate r1 1000 0 "$WORK/late"
pid=$rate_pid
# Ticks before watching: the default columns are picked by activity.
for ((i = 0; i < 1200; i++)); do
    [ "$(field "$rate_path" rate.ticks)" -gt 0 ] 2>/dev/null && break
    sleep 0.05
done

# ---- a field added while watching: a column and a new header
watch_bg w2 --watch=0.2 -f 'rate.*' "$pid"
rows_at_least "$WORK/w2.out" 1 || fail "watch: no first row"
expect_no_match "$(head -1 "$WORK/w2.out")" 'rate\.late' \
    "watch: no rate.late at first"
touch "$WORK/late"
wait_for "$WORK/w2.out" '-rate\.late-' || fail "watch: rate.late never shown"
n=$(rows_of "$WORK/w2.out" | wc -l)
rows_at_least "$WORK/w2.out" $((n + 2)) || fail "watch: no rows with rate.late"
stop_watch INT "watch stopped by SIGINT"
expect_eq "$(grep -c '^time ' "$WORK/w2.out")" 2 "watch: header printed again"
expect_match "$(grep -- '-rate\.ticks-' "$WORK/w2.out" | tail -1)" \
    'rate\.work-+ +-+rate\.late-+$' "watch: rate.late in the new header"
last=$(rows_of "$WORK/w2.out" | tail -1)
expect_eq "$(awk '{print NF}' <<<"$last")" 9 "watch: rate.late's two columns"
# Columns: time, ticks delta and /s, work n, /s, p50, p99, late delta,
# /s. Every tick adds 10 ticks, a work value and a late: at most one tick
# apart between fields read one after the other.
expect_eq "$(awk '{d = $2 - 10 * $4; e = $8 - $4
    print (d >= -10 && d <= 10 && e >= -1 && e <= 1) ? "ok" : $0}' <<<"$last")" \
    ok "watch: rate.late moves with the others"
expect_eq "$(awk '{print $6, $7}' <<<"$last")" "1.00us 1.00us" \
    "watch: tool_rate's interval percentiles"

# ---- the header repeats every 20 rows; --count
rc=0
timeout 600 "$READ" --watch=0.02 --count 25 -f rate.ticks "$pid" \
    >"$WORK/w3.out" 2>&1 || rc=$?
expect_rc "$rc" 0 "watch --count 25"
expect_eq "$(rows_of "$WORK/w3.out" | wc -l)" 25 "watch: 25 rows"
expect_eq "$(grep -c '^time ' "$WORK/w3.out")" 2 "watch: header every 20 rows"
expect_eq "$(sed -n 24p "$WORK/w3.out" | awk '{print $1}')" time \
    "watch: second header after row 20"

# ---- default columns: the busiest counters and histograms
rc=0
timeout 600 "$READ" --watch=0.3 --count 1 "$pid" >"$WORK/w4.out" 2>&1 || rc=$?
expect_rc "$rc" 0 "watch, default columns"
expect_match "$(head -1 "$WORK/w4.out")" 'rate\.ticks' "default: busiest counter"
expect_match "$(head -1 "$WORK/w4.out")" 'rate\.work' "default: histogram"

# ---- it stops when the process finishes
watch_bg w5 --watch=0.2 "$pid"
rows_at_least "$WORK/w5.out" 1 || fail "watch: no row before the end"
stop_rate "$pid"
rc=0
for ((i = 0; i < 1200; i++)); do
    kill -0 "$wpid" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$wpid" 2>/dev/null && fail "watch: did not stop at the end"
wait "$wpid" || rc=$?
expect_rc "$rc" 0 "watch until the process finishes"
expect_match "$(cat "$WORK/w5.err")" "tool_rate-$pid\.mmstats: process finished$" \
    "watch: says why it stopped"
# A finished process: nothing to watch.
rc=0
e=$(timeout 600 "$READ" --watch "$rate_path" 2>&1) || rc=$?
expect_rc "$rc" 0 "watch a finished file"
expect_match "$e" 'process finished, nothing to watch$' "watch a finished file: message"
finish
