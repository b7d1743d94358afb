# mmstat-read --prometheus: text exposition format 0.0.4 accepted by
# promtool (which must be installed: the test fails without it), with
# sanitised names, _total counters, _info strings, histograms with a
# bounded number of cumulative buckets ending at +Inf (log-linear, 8 per
# power of two by default, --hist-buckets), HELP and TYPE once per
# family, and pid/exe/label labels; the shim's calls as labelled
# families (mmstats_calls_total{family,call}), none for a call never
# made; also for --sum, --by exe and --by program.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

if ! command -v promtool >/dev/null; then
    fail "promtool not found: install the Debian package prometheus"
    finish
    exit 1
fi

"$B/examples/basic" 1 2 >/dev/null
"$B/examples/timers" 1 >/dev/null
out=$(MMSTATS_LABEL=blue "$B/examples/model")
mpid=$(basename "${out#writing }" .mmstats)
mpid=${mpid##*-}
out=$("$B/examples/model")
mpid2=${out##*-}
mpid2=${mpid2%.mmstats}
if [ "$SAN" = 0 ]; then
    shim "$PROGS/tool_io" -w 3000 -m 10 -f 2 >/dev/null
    shim sh -c 'cat /dev/null; ls / >/dev/null'
    # The shim makes a call's fields on its first use: __read_chk's come
    # from a program built with -D_FORTIFY_SOURCE.
    shim "$PROGS/pf_fortify" /etc/passwd 16 >/dev/null
fi
start_rate live 1000 0

# families_once FILE WHAT: one HELP and one TYPE line per family, and
# every sample after its family's TYPE line.
families_once() {
    checks=$((checks + 1))
    local bad
    bad=$(awk '
        /^# HELP / { if (help[$3]++) print "HELP twice: " $3; next }
        /^# TYPE / { if (type[$3]++) print "TYPE twice: " $3
                     fam = $3; kind = $4; next }
        /^#/ { next }
        {
            name = $1; sub(/\{.*/, "", name)
            base = name
            if (kind == "histogram") sub(/_(bucket|sum|count)$/, "", base)
            if (base != fam) print "sample " name " outside family " fam
        }
        END { for (f in type) if (!help[f]) print "no HELP: " f }' "$1")
    [ -z "$bad" ] || fail "$2: $bad"
}

"$READ" --prometheus >"$WORK/all.prom"
P=$WORK/all.prom
expect_promtool_ok "$P" "all processes"
families_once "$P" "all processes"
prom=$(cat "$P")
expect_match "$prom" '^# TYPE mmstats_requests_total counter$' "counter TYPE"
expect_match "$prom" "^mmstats_requests_total\{pid=\"$mpid\",exe=\"model\",label=\"blue\"\} 1000$" \
    "counter with pid, exe and label"
expect_match "$prom" "^mmstats_requests_total\{pid=\"$mpid2\",exe=\"model\"\} 1000$" \
    "no label when none is set"
expect_match "$prom" '^mmstats_app_in_flight\{pid="[0-9]+",exe="basic"\} 0$' \
    "gauge, plain"
expect_match "$prom" '^mmstats_app_load\{pid="[0-9]+",exe="basic"\} 0\.9$' \
    "f64 gauge"
expect_match "$prom" '^# TYPE mmstats_last_path_info gauge$' "string: _info"
expect_match "$prom" "^mmstats_last_path_info\{pid=\"$mpid2\",exe=\"model\",value=\"/index\.html\"\} 1$" \
    "string value as a label"
expect_match "$prom" '^mmstats_pool_utilisation\{pid="[0-9]+",exe="timers"\} [0-9.e+-]+$' \
    "struct members as gauges"
expect_match "$prom" '^# TYPE mmstats_latency_seconds histogram$' \
    "ns histogram in seconds"
expect_match "$prom" '^# TYPE mmstats_req_size_bytes histogram$' \
    "bytes histogram"
expect_match "$prom" "^mmstats_rate_ticks_total\{pid=\"$rate_pid\",exe=\"tool_rate\"\} [0-9]+$" \
    "running process"

# hist_ok FILE WHAT: histograms have at most 321 buckets a series (8 per
# power of two + "+Inf"), cumulative, the last "+Inf", equal to _count.
hist_ok() {
    checks=$((checks + 1))
    local bad
    bad=$(awk '
        /^#/ { next }
        /_bucket\{/ {
            key = $1; sub(/,?le="[^"]*"\}$/, "}", key)
            sub(/_bucket\{/, "{", key)
            if (key != cur) { cur = key; n = 0; last = -1 }
            n++; if (n > 321) print "too many buckets: " key
            if ($2 + 0 < last) print "not cumulative: " $1
            last = $2 + 0
            if ($1 ~ /le="\+Inf"/) inf[key] = $2
            lastle[key] = $1
            next
        }
        /_count[{ ]/ {
            key = $1; sub(/_count/, "", key); if (key !~ /\}$/) key = key "{}"
            count[key] = $2
        }
        END {
            for (k in lastle) {
                if (lastle[k] !~ /le="\+Inf"/) print "no +Inf last: " k
                if (inf[k] != count[k]) print "+Inf != _count: " k
            }
        }' "$1")
    [ -z "$bad" ] || fail "$2: histogram series: $bad"
}
hist_ok "$P" "all processes"
expect_match "$prom" "^mmstats_latency_seconds_bucket\{pid=\"$mpid2\",exe=\"model\",le=\"\+Inf\"\} 1000$" \
    "histogram +Inf bucket"
expect_match "$prom" "^mmstats_latency_seconds_count\{pid=\"$mpid2\",exe=\"model\"\} 1000$" \
    "histogram _count"
expect_match "$prom" "^mmstats_latency_seconds_sum\{pid=\"$mpid2\",exe=\"model\"\} [0-9.e+-]+$" \
    "histogram _sum in seconds"
# Bucket bounds: "le" is the highest value of a bucket of the log-linear
# grid (N per power of two: below 2N every integer, above multiples of the
# power's width); only buckets with values and the one below each.
grid_ok() { # FILE N WHAT
    checks=$((checks + 1))
    local bad
    bad=$(awk -v n="$2" '
        /^mmstats_latency_seconds_bucket\{/ && !/\+Inf/ {
            le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
            x = int(le * 1e9 + 0.5) + 1   # the next bucket begins at x
            w = 1; while (x / w >= 2 * n) w *= 2
            if (x % w) print "le " le " is not on the grid of " n
        }' "$1")
    [ -z "$bad" ] || fail "$3: $bad"
}
grid_ok "$P" 8 "default: 8 buckets per power of two"
"$READ" --prometheus --hist-buckets 1 "$MMSTATS_DIR"/model-*"$mpid2".mmstats \
    >"$WORK/b1.prom"
expect_promtool_ok "$WORK/b1.prom" "--hist-buckets 1"
grid_ok "$WORK/b1.prom" 1 "--hist-buckets 1"
n1=$(grep -c '^mmstats_latency_seconds_bucket' "$WORK/b1.prom")
n4=$(grep -c "^mmstats_latency_seconds_bucket{pid=\"$mpid2\"" "$P")
checks=$((checks + 1))
[ "$n4" -gt "$n1" ] || fail "8 buckets per power of two: $n4 buckets, 1: $n1"
rc=0
"$READ" --prometheus --hist-buckets 3 >/dev/null 2>&1 || rc=$?
expect_rc "$rc" 2 "--hist-buckets 3: bad usage"
nb=$(grep -c "^mmstats_req_size_bytes_bucket{" "$P")
checks=$((checks + 1))
[ "$nb" -ge 10 ] && [ "$nb" -le 321 ] || fail "req.size: $nb buckets"

if [ "$SAN" = 0 ]; then
    # The shim's calls: one family per count, the call in labels.
    expect_match "$prom" '^# TYPE mmstats_calls_total counter$' \
        "shim calls"
    expect_match "$prom" '^mmstats_calls_total\{pid="[0-9]+",exe="tool_io",family="io",call="write"\} [0-9]+$' \
        "family and call labels"
    expect_match "$prom" '^mmstats_calls_total\{pid="[0-9]+",exe="pf_fortify",family="io",call="__read_chk"\} [0-9]+$' \
        "call names with underscores"
    expect_match "$prom" '^mmstats_call_bytes_total\{pid="[0-9]+",exe="tool_io",family="io",call="write"\} 3000$' \
        "bytes transferred"
    expect_match "$prom" '^mmstats_call_requested_bytes_total\{pid="[0-9]+",exe="tool_io",family="io",call="write"\} 3000$' \
        "bytes requested"
    expect_match "$prom" '^# TYPE mmstats_call_errors_total counter$' \
        "shim errors"
    expect_match "$prom" '^# TYPE mmstats_mem_alloc_size_bytes histogram$' \
        "shim allocation sizes"
    expect_match "$prom" '^# TYPE mmstats_call_duration_seconds histogram$' \
        "shim durations"
    expect_match "$prom" '^mmstats_call_duration_seconds_count\{pid="[0-9]+",exe="tool_io",family="io",call="write"\} [0-9]+$' \
        "duration of a call"
    expect_no_match "$prom" '^mmstats_io_' "no call in a metric name"
    # One series per process that made the call; none where it was never
    # made (calls 0) nor for a call of no process.
    expect_eq "$(grep -c '^mmstats_calls_total{.*family="io",call="write"}' "$P")" \
        "$(grep -l 'io.write.calls' "$MMSTATS_DIR"/*.mmstats | wc -l)" \
        "one series per process"
    expect_eq "$(grep -c '^mmstats_calls_total{.*} 0$' "$P")" 0 \
        "no series of a call never made"
    # Per program: exe and label; the calls summed.
    "$READ" --prometheus --by program >"$WORK/prog.prom"
    expect_promtool_ok "$WORK/prog.prom" "--by program"
    families_once "$WORK/prog.prom" "--by program"
    hist_ok "$WORK/prog.prom" "--by program"
    expect_eq "$(awk '/^mmstats_call_bytes_total\{exe="tool_io",family="io",call="write"\}/ {print $2}' "$WORK/prog.prom")" \
        "$(awk '/^mmstats_call_bytes_total\{pid="[0-9]+",exe="tool_io",family="io",call="write"\}/ {n += $2} END {print n}' "$P")" \
        "--by program: the calls of a program summed"
    expect_match "$(cat "$WORK/prog.prom")" '^mmstats_requests_total\{exe="model",label="blue"\} 1000$' \
        "--by program: exe and label"
    expect_match "$(cat "$WORK/prog.prom")" '^mmstats_processes\{exe="model"\} 1$' \
        "--by program: processes counted"
fi

# Filters, aggregates.
"$READ" --prometheus -f 'req.*' -f 'pool' "$MMSTATS_DIR"/timers-*.mmstats \
    >"$WORK/f.prom"
expect_promtool_ok "$WORK/f.prom" "filtered"
expect_eq "$(grep '^# TYPE' "$WORK/f.prom" | awk '{print $3}' | sort | tr '\n' ' ')" \
    "mmstats_pool_busy mmstats_pool_idle mmstats_pool_utilisation mmstats_req_count_total mmstats_req_latency_seconds mmstats_req_size_avg100_bytes mmstats_req_size_bytes " \
    "filtered families"
"$READ" --prometheus --sum >"$WORK/sum.prom"
expect_promtool_ok "$WORK/sum.prom" "--sum"
families_once "$WORK/sum.prom" "--sum"
hist_ok "$WORK/sum.prom" "--sum"
expect_match "$(cat "$WORK/sum.prom")" '^mmstats_requests_total 2000$' \
    "--sum: counters summed, no labels"
expect_match "$(cat "$WORK/sum.prom")" '^mmstats_app_in_flight_max 0$' \
    "--sum: gauge max"
"$READ" --prometheus --by exe >"$WORK/by.prom"
expect_promtool_ok "$WORK/by.prom" "--by exe"
families_once "$WORK/by.prom" "--by exe"
hist_ok "$WORK/by.prom" "--by exe"
expect_match "$(cat "$WORK/by.prom")" '^mmstats_requests_total\{exe="model"\} 2000$' \
    "--by exe: per exe"
expect_match "$(cat "$WORK/by.prom")" '^mmstats_latency_seconds_count\{exe="model"\} 2000$' \
    "--by exe: merged histogram"
expect_match "$(cat "$WORK/by.prom")" '^mmstats_last_path_info\{exe="model",value="/index\.html"\} 2$' \
    "--by exe: string values counted"
finish
