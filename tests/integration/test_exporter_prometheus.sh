# A real Prometheus server scrapes mmstat-exporter every second: the
# counter of a workload of known size arrives exact, rate() over it agrees
# with the samples Prometheus stored (however fast the workload and the
# scrapes went), the latency histogram gives histogram_quantile() a value,
# and the PromQL of docs/exporter.md works. Both servers on loopback
# ports, stopped with SIGTERM at the end (status 0). The workload runs
# under the shim (exp_work: N writes at a known pace); in sanitizer
# builds, where the shim cannot be preloaded, tool_rate (the library's
# own counters) stands in for it. Needs prometheus and promtool (Debian
# package prometheus, installed by scripts/test): fails without them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

need_prometheus || { finish; exit 1; }

start_exporter prom --per-process --include-finished || { finish; exit 1; }

start_prometheus 1s || { finish; exit 1; }

# The target is scraped before the workload starts: Prometheus then sees
# all of it, from the first write on.
up=
for ((i = 0; i < 3000; i++)); do
    up=$(query 'up{job="mmstats"}')
    [ "$up" = 1 ] && break
    sleep 0.1
done
expect_eq "$up" 1 "the target is up"

if [ "$SAN" = 0 ]; then
    N=600 # writes, 50 a second: 12 s
    LD_PRELOAD=$PRELOAD "$PROGS/exp_work" -n "$N" -r 50 -t 0 &
    work_pid=$!
    bg_pids+=("$work_pid")
    metric=mmstats_calls_total
    hist=mmstats_call_duration_seconds_bucket
    call=',family="io",call="write"'
else
    N=12000 # tool_rate 1000 for 12 s, then finished
    start_rate work 1000 12
    work_pid=$rate_pid
    metric=mmstats_rate_ticks_total
    hist=mmstats_rate_work_seconds_bucket
    call=
fi
sel="$metric{pid=\"$work_pid\"$call}"

# The counter, exact, once the workload is done (bounded against a hang).
v=
for ((i = 0; i < 3000; i++)); do
    v=$(query "$sel")
    [ "$v" = "$N" ] && break
    sleep 0.1
done
expect_eq "$v" "$N" "the counter in Prometheus"
expect_match "$(query mmstats_exporter_scrape_duration_seconds)" \
    '^[0-9.e-]+$' "the exporter's own metrics"
curl -s --max-time 60 "$exp_url/metrics" >"$WORK/metrics.prom"
expect_promtool_ok "$WORK/metrics.prom" "/metrics"

# rate() at a moment while the workload ran, against the samples stored:
# between the first and the last sample of the window the counter grew
# by DELTA in DT seconds; rate() extrapolates that to the window's edges,
# so it is DELTA / DT within a factor of two, whatever the pace.
W=6
curl -s --max-time 60 -G --data-urlencode "query=$sel[10m]" \
    "$PROM/api/v1/query" >"$WORK/raw.json"
read -r t_mid raw < <(python3 -c 'import json, sys
n, w = int(sys.argv[2]), float(sys.argv[3])
vals = [(float(t), float(v)) for t, v in
        json.load(open(sys.argv[1]))["data"]["result"][0]["values"]]
for t, v in vals:
    if not 0.4 * n <= v <= n:
        continue
    win = [(u, x) for u, x in vals if t - w < u <= t]
    if len(win) >= 2 and win[-1][1] > win[0][1]:
        print(t, (win[-1][1] - win[0][1]) / (win[-1][0] - win[0][0]))
        break
else:
    print("none 0")' "$WORK/raw.json" "$N" "$W" 2>/dev/null || echo "none 0")
checks=$((checks + 1))
if [ "${t_mid:-none}" = none ]; then
    fail "no two samples a window apart while the workload ran: $(head -c 600 "$WORK/raw.json")"
else
    r=$(query "rate($sel[${W}s])" "$t_mid")
    echo "rate($metric[${W}s]) at $t_mid: $r (samples: $raw a second)"
    awk -v r="$r" -v w="$raw" 'BEGIN {exit !(r >= 0.5 * w && r <= 2 * w)}' ||
        fail "rate() $r, the samples say $raw"
    q=$(query "histogram_quantile(0.99, sum by (le) (rate($hist{pid=\"$work_pid\"$call}[${W}s])))" "$t_mid")
    echo "p99 from the histogram: $q s"
    checks=$((checks + 1))
    awk -v q="$q" 'BEGIN {exit !(q > 0 && q < 1)}' ||
        fail "histogram_quantile: '$q'"
    s=$(query "sum by (exe) (rate($metric{pid=\"$work_pid\"$call}[${W}s]))" "$t_mid")
    checks=$((checks + 1))
    awk -v s="$s" -v r="$r" 'BEGIN {exit !(s == r)}' ||
        fail "sum by (exe) (rate(...)): '$s', not '$r'"
fi

# Both stop cleanly.
stop_pid "$prom_pid"
expect_rc "$stop_rc" 0 "prometheus stopped by SIGTERM"
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "exporter stopped by SIGTERM"
finish
