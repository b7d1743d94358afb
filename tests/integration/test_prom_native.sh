# Native histograms (issue 13, item 4): mmstat-exporter answers a
# scraper that asks for the protobuf format (Accept:
# application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;
# encoding=delimited) with it, histograms as native ones (schema = the
# file's bits: 6 for the library's timers), and every other scraper
# with the text format. A real Prometheus started with
# --enable-feature=native-histograms scrapes it: the histogram is stored
# as a native one (no _bucket series), counters come through, and
# histogram_quantile() of 0.5, 0.99 and 0.999 over a known distribution
# (tool_step: 10 zeros, 2,000 values evenly over 100-200 us, 20 of 5 ms:
# three spans and the zero bucket) is within 1.8% of the exact
# (nearest-rank) quantile: the bound docs/exporter.md gives for 64
# buckets per power of two (test_promproto pins it). No shim: runs in
# every build.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

need_prometheus || { finish; exit 1; }
start_step
vals=$(python3 -c 'for i in range(200): print(100000 + 500 * i)')
step 10 0
for v in $vals; do
    step 10 "$v"
done
step 20 5000000
total=$step_total
exact() { # Q: the nearest-rank quantile of the values, in seconds
    python3 -c 'import math, sys
v = sorted([0] * 10 + [int(x) for x in sys.argv[2:] for _ in range(10)]
           + [5000000] * 20)
print(v[math.ceil(float(sys.argv[1]) * len(v)) - 1] / 1e9)' "$1" $vals
}

start_exporter native || { finish; exit 1; }

# Content negotiation, by hand.
proto='application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited'
ctype() { # ACCEPT: the Content-Type of /metrics asked for with it
    curl -s --max-time 60 -o "$WORK/metrics.out" -D - ${1:+-H "Accept: $1"} \
        "$exp_url/metrics" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "content-type" {print $2}'
}
expect_match "$(ctype '')" '^text/plain; version=0\.0\.4' "no Accept: text"
expect_match "$(cat "$WORK/metrics.out")" \
    '^mmstats_step_work_seconds_bucket\{.*le=' "no Accept: classic buckets"
expect_match "$(ctype 'text/plain;version=0.0.4;q=1,*/*;q=0.1')" \
    '^text/plain' "Accept text/plain: text"
expect_match "$(ctype "$proto;q=0.5,text/plain;q=0.9")" \
    '^text/plain' "text preferred: text"
expect_match "$(ctype "$proto;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")" \
    '^application/vnd\.google\.protobuf; proto=io\.prometheus\.client\.MetricFamily; encoding=delimited$' \
    "protobuf preferred: protobuf"
checks=$((checks + 1))
grep -q 'mmstats_step_work_seconds' "$WORK/metrics.out" ||
    fail "the protobuf answer does not name the histogram"

start_prometheus 500ms --enable-feature=native-histograms || { finish; exit 1; }
got=
for ((i = 0; i < 3000; i++)); do
    got=$(query 'sum(mmstats_step_ticks_total)')
    [ "$got" = "$total" ] && break
    sleep 0.1
done
expect_eq "$got" "$total" "the counter, scraped as protobuf"
query 'mmstats_step_work_seconds' >/dev/null
expect_match "$(cat "$WORK/query.json")" '"histogram":\[' \
    "mmstats_step_work_seconds stored as a native histogram"
expect_eq "$(query 'count(mmstats_step_work_seconds_bucket)')" "" \
    "no classic _bucket series"
expect_match "$(query 'mmstats_exporter_scrapes_total')" '^[0-9]+$' \
    "the exporter's own metrics, scraped as protobuf"
n=$(query 'histogram_count(sum(mmstats_step_work_seconds))')
expect_eq "$n" 2030 "histogram_count()"

# within GOT WANT WHAT: GOT within 1.8% of WANT.
within() {
    checks=$((checks + 1))
    awk -v g="$1" -v w="$2" 'BEGIN {exit !(g >= 0.982 * w && g <= 1.018 * w)}' ||
        fail "$3: $1, exact $2: more than 1.8% off"
}
for q in 0.5 0.99 0.999; do
    got=$(query "histogram_quantile($q, sum(mmstats_step_work_seconds))")
    want=$(exact "$q")
    echo "native histogram_quantile($q): $got s (exact $want s)"
    within "$got" "$want" "histogram_quantile($q) of the native histogram"
done

stop_pid "$prom_pid"
expect_rc "$stop_rc" 0 "prometheus stopped by SIGTERM"
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "exporter stopped by SIGTERM"
stop_step
finish
