# mmstat-read --watch on tool_rate, a writer with known rates (1000
# ticks/s, 100 histogram values/s of 1000 ns): the rates shown are within
# 20% of the truth, the interval percentiles are the values recorded, a
# field added while watching gets a column and a new header, the header
# repeats every 20 rows, and watching stops after --count rows, when the
# process finishes, and on SIGINT or SIGTERM. Watching is timed by
# nature: the checks allow for a slow machine.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

rows_of() { grep -E '^[0-9]{2}:[0-9]{2}:[0-9]{2} ' "$1" || true; }

# in_range VALUE LOW HIGH WHAT
in_range() {
    checks=$((checks + 1))
    awk -v v="$1" -v lo="$2" -v hi="$3" \
        'BEGIN { exit !(v ~ /^[0-9.]+$/ && v + 0 >= lo && v + 0 <= hi) }' ||
        fail "$4: $1 not in [$2, $3]"
}

start_rate r1 1000 30 "$WORK/late"
pid=$rate_pid

# ---- two intervals of one second: rates and percentiles
rc=0
timeout 30 "$READ" --watch=1 --count 2 -f 'rate.*' "$pid" >"$WORK/w1.out" \
    2>"$WORK/w1.err" || rc=$?
expect_rc "$rc" 0 "watch --count 2"
expect_eq "$(rows_of "$WORK/w1.out" | wc -l)" 2 "watch: two rows"
expect_match "$(head -1 "$WORK/w1.out")" '^ +-+rate\.ticks-+ +-+rate\.work-+$' \
    "watch: field names over their columns"
expect_match "$(sed -n 2p "$WORK/w1.out")" '^time +delta +/s +n +/s +p50 +p99$' \
    "watch: column names"
while read -r _ delta rate n nrate p50 p99 rest; do
    # The rates are what matters (within 20%); the deltas also depend on
    # how punctually the interval ended.
    in_range "$rate" 800 1200 "watch: rate.ticks per second"
    in_range "$nrate" 80 120 "watch: rate.work per second"
    in_range "$delta" 700 1600 "watch: rate.ticks delta in about 1 s"
    in_range "$n" 70 160 "watch: rate.work values in about 1 s"
    expect_eq "$p50 $p99" "1.00us 1.00us" "watch: interval percentiles"
    expect_eq "$rest" "" "watch: no extra column"
done < <(rows_of "$WORK/w1.out")

# ---- a field added while watching: a column and a new header
timeout 30 "$READ" --watch=0.5 --count 4 -f 'rate.*' "$pid" \
    >"$WORK/w2.out" 2>"$WORK/w2.err" &
wpid=$!
wait_for "$WORK/w2.out" '^[0-9]{2}:' 10 || fail "watch: no first row"
touch "$WORK/late"
rc=0
wait "$wpid" || rc=$?
expect_rc "$rc" 0 "watch with a field added"
expect_eq "$(rows_of "$WORK/w2.out" | wc -l)" 4 "watch: four rows"
expect_eq "$(grep -c '^time ' "$WORK/w2.out")" 2 "watch: header printed again"
expect_no_match "$(head -1 "$WORK/w2.out")" 'rate\.late' \
    "watch: no rate.late at first"
expect_match "$(grep -- '-rate\.ticks-' "$WORK/w2.out" | tail -1)" \
    'rate\.work-+ +-+rate\.late-+$' "watch: rate.late in the new header"
last=$(rows_of "$WORK/w2.out" | tail -1)
expect_eq "$(awk '{print NF}' <<<"$last")" 9 "watch: rate.late's two columns"
in_range "$(awk '{print $9}' <<<"$last")" 80 120 "watch: rate.late per second"

# ---- the header repeats every 20 rows
rc=0
timeout 30 "$READ" --watch=0.02 --count 25 -f rate.ticks "$pid" \
    >"$WORK/w3.out" 2>&1 || rc=$?
expect_rc "$rc" 0 "watch --count 25"
expect_eq "$(rows_of "$WORK/w3.out" | wc -l)" 25 "watch: 25 rows"
expect_eq "$(grep -c '^time ' "$WORK/w3.out")" 2 "watch: header every 20 rows"
expect_eq "$(sed -n 24p "$WORK/w3.out" | awk '{print $1}')" time \
    "watch: second header after row 20"

# ---- default columns: the busiest counters and histograms
rc=0
timeout 30 "$READ" --watch=0.3 --count 1 "$pid" >"$WORK/w4.out" 2>&1 || rc=$?
expect_rc "$rc" 0 "watch, default columns"
expect_match "$(head -1 "$WORK/w4.out")" 'rate\.ticks' "default: busiest counter"
expect_match "$(head -1 "$WORK/w4.out")" 'rate\.work' "default: histogram"

# ---- SIGINT and SIGTERM stop it cleanly
for sig in INT TERM; do
    "$READ" --watch=0.2 "$pid" >"$WORK/s$sig.out" 2>&1 &
    wpid=$!
    bg_pids+=("$wpid")
    wait_for "$WORK/s$sig.out" '^[0-9]{2}:' 10 || fail "SIG$sig: no row"
    kill -"$sig" "$wpid"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$wpid" 2>/dev/null || break
        sleep 0.05
    done
    rc=0
    if kill -0 "$wpid" 2>/dev/null; then
        fail "SIG$sig: still watching after 5 s"
    else
        wait "$wpid" || rc=$?
    fi
    expect_rc "$rc" 0 "watch stopped by SIG$sig"
done
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true

# ---- it stops when the process finishes
start_rate r2 1000 1.5
rc=0
SECONDS=0
timeout 20 "$READ" --watch=0.5 "$rate_pid" >"$WORK/w5.out" \
    2>"$WORK/w5.err" || rc=$?
expect_rc "$rc" 0 "watch until the process finishes"
checks=$((checks + 1))
[ "$SECONDS" -lt 15 ] || fail "watch: did not stop at the end ($SECONDS s)"
expect_match "$(cat "$WORK/w5.err")" "tool_rate-$rate_pid\.mmstats: process finished$" \
    "watch: says why it stopped"
checks=$((checks + 1))
[ "$(rows_of "$WORK/w5.out" | wc -l)" -ge 1 ] || fail "watch: no row before the end"
wait "$rate_pid" || true
# A finished process: nothing to watch.
rc=0
e=$(timeout 10 "$READ" --watch "$rate_path" 2>&1) || rc=$?
expect_rc "$rc" 0 "watch a finished file"
expect_match "$e" 'process finished, nothing to watch$' "watch a finished file: message"
finish
