# mmstat-read --prometheus: text exposition format 0.0.4 accepted by
# promtool (which must be installed: the test fails without it), with
# sanitised names, _total counters, _info strings, histograms with a
# bounded number of cumulative buckets ending at +Inf, HELP and TYPE once
# per family, and pid/exe/label labels; also for --sum and --by exe.
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

# promtool_ok FILE WHAT: promtool check metrics accepts FILE.
promtool_ok() {
    checks=$((checks + 1))
    if ! promtool check metrics <"$1" >"$WORK/promtool.out" 2>&1; then
        fail "$2: promtool check metrics rejects it:"
        head -20 "$WORK/promtool.out" | sed 's/^/    /' >&2
    fi
}

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
promtool_ok "$P" "all processes"
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

# hist_ok FILE WHAT: histograms have at most 41 buckets a series (40 +
# "+Inf"), cumulative, the last "+Inf", equal to _count.
hist_ok() {
    checks=$((checks + 1))
    local bad
    bad=$(awk '
        /^#/ { next }
        /_bucket\{/ {
            key = $1; sub(/,?le="[^"]*"\}$/, "}", key)
            sub(/_bucket\{/, "{", key)
            if (key != cur) { cur = key; n = 0; last = -1 }
            n++; if (n > 41) print "too many buckets: " key
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
expect_match "$prom" "^mmstats_latency_seconds_bucket\{pid=\"$mpid2\",exe=\"model\",le=\"1\.023e-06\"\} [0-9]+$" \
    "bucket bounds at powers of two, in seconds"
nb=$(grep -c "^mmstats_req_size_bytes_bucket{" "$P")
checks=$((checks + 1))
[ "$nb" -ge 10 ] && [ "$nb" -le 41 ] || fail "req.size: $nb buckets"

if [ "$SAN" = 0 ]; then
    # The shim's names: dots and the leading underscores of __read_chk.
    expect_match "$prom" '^# TYPE mmstats_io_write_calls_total counter$' \
        "shim counter"
    expect_match "$prom" '^# TYPE mmstats_io___read_chk_calls_total counter$' \
        "names with underscores"
    expect_match "$prom" '^mmstats_io_write_bytes_total\{pid="[0-9]+",exe="tool_io"\} 3000$' \
        "shim bytes"
    expect_match "$prom" '^# TYPE mmstats_mem_alloc_size_bytes histogram$' \
        "shim allocation sizes"
    expect_match "$prom" '^# TYPE mmstats_io_write_latency_seconds histogram$' \
        "shim latency"
    # The one family with the most series: one per process that has it.
    expect_eq "$(grep -c '^mmstats_io_write_calls_total{' "$P")" \
        "$(grep -l 'io.write.calls' "$MMSTATS_DIR"/*.mmstats | wc -l)" \
        "one series per process"
fi

# Filters, aggregates.
"$READ" --prometheus -f 'req.*' -f 'pool' "$MMSTATS_DIR"/timers-*.mmstats \
    >"$WORK/f.prom"
promtool_ok "$WORK/f.prom" "filtered"
expect_eq "$(grep '^# TYPE' "$WORK/f.prom" | awk '{print $3}' | sort | tr '\n' ' ')" \
    "mmstats_pool_busy mmstats_pool_idle mmstats_pool_utilisation mmstats_req_count_total mmstats_req_latency_seconds mmstats_req_size_avg100_bytes mmstats_req_size_bytes " \
    "filtered families"
"$READ" --prometheus --sum >"$WORK/sum.prom"
promtool_ok "$WORK/sum.prom" "--sum"
families_once "$WORK/sum.prom" "--sum"
hist_ok "$WORK/sum.prom" "--sum"
expect_match "$(cat "$WORK/sum.prom")" '^mmstats_requests_total 2000$' \
    "--sum: counters summed, no labels"
expect_match "$(cat "$WORK/sum.prom")" '^mmstats_app_in_flight_max 0$' \
    "--sum: gauge max"
"$READ" --prometheus --by exe >"$WORK/by.prom"
promtool_ok "$WORK/by.prom" "--by exe"
families_once "$WORK/by.prom" "--by exe"
hist_ok "$WORK/by.prom" "--by exe"
expect_match "$(cat "$WORK/by.prom")" '^mmstats_requests_total\{exe="model"\} 2000$' \
    "--by exe: per exe"
expect_match "$(cat "$WORK/by.prom")" '^mmstats_latency_seconds_count\{exe="model"\} 2000$' \
    "--by exe: merged histogram"
expect_match "$(cat "$WORK/by.prom")" '^mmstats_last_path_info\{exe="model",value="/index\.html"\} 2$' \
    "--by exe: string values counted"
finish
