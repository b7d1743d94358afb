# Quantiles that hold (issue 13, item 4): tool_step records a known
# distribution (2,000 values evenly spread over 100-200 us: a narrow
# band, the hard case for buckets whose width grows with the value), a
# real Prometheus scrapes mmstat-exporter with its default buckets (8 per
# power of two), and histogram_quantile(0.99, ...) and (0.5, ...) are
# within 10% of the exact quantiles (nearest rank). The figures for
# --hist-buckets 4 are printed beside them, not judged (the p99 is about
# 10% off: why the default is 8). No shim: runs in every build.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

need_prometheus || { finish; exit 1; }
start_step
vals=$(python3 -c 'for i in range(200): print(100000 + 500 * i)')
for v in $vals; do
    step 10 "$v"
done
exact() { # Q: the nearest-rank quantile of the values, in seconds
    python3 -c 'import math, sys
v = sorted(int(x) for x in sys.argv[2:] for _ in range(10))
print(v[math.ceil(float(sys.argv[1]) * len(v)) - 1] / 1e9)' "$1" $vals
}

# hq ARGS...: histogram_quantile(0.99) and (0.5) in Prometheus over
# mmstat-exporter ARGS, into hq_99 and hq_50.
hq() {
    hq_99= hq_50=
    start_exporter hq "$@" || return
    start_prometheus 500ms || return
    local i sel='sum by (le) (mmstats_step_work_seconds_bucket)'
    for ((i = 0; i < 3000; i++)); do
        hq_99=$(query "histogram_quantile(0.99, $sel)")
        [ -n "$hq_99" ] && [ "$hq_99" != NaN ] && break
        sleep 0.1
    done
    hq_50=$(query "histogram_quantile(0.5, $sel)")
    stop_pid "$prom_pid"
    stop_pid "$exp_pid"
}
# near GOT WANT WHAT: GOT within 10% of WANT.
near() {
    checks=$((checks + 1))
    awk -v g="$1" -v w="$2" 'BEGIN {exit !(g >= 0.9 * w && g <= 1.1 * w)}' ||
        fail "$3: $1, exact $2: more than 10% off"
}
w99=$(exact 0.99)
w50=$(exact 0.5)
hq --hist-buckets 4
echo "--hist-buckets 4: p99 $hq_99 s, p50 $hq_50 s (exact $w99, $w50)"
hq
echo "default (8): p99 $hq_99 s, p50 $hq_50 s (exact $w99, $w50)"
near "$hq_99" "$w99" "histogram_quantile(0.99)"
near "$hq_50" "$w50" "histogram_quantile(0.5)"
stop_step
finish
