# mmstat-exporter's endpoints give what mmstat-read gives (the same
# output modules): /metrics is mmstat-read --prometheus --by program by
# default (--per-process: per process, with a host label,
# --include-finished and its grace period; --by exe) plus the
# exporter's own metrics, accepted by promtool; /api/v1/processes is
# --list --json plus each process's activity; /api/v1/processes/PID is
# --json PID plus rates and interval quantiles, right for a writer of
# known rates; /api/v1/aggregate is --json --by/--sum. The cache follows
# the directory: files replaced under the same name are read anew, files
# removed are dropped. Rates are checked on tool_step, a writer that
# changes only when the test tells it to, so they are exact whatever the
# machine's load. And a scrape of 200 processes of 100 fields each is
# correct (its time is reported, not judged: speed is for scripts/bench).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

# jdiff A B WHAT [KEYS...]: the JSON documents in files A and B are equal
# once KEYS are taken out of every object, at any depth.
jdiff() {
    local a=$1 b=$2 what=$3
    shift 3
    checks=$((checks + 1))
    if ! python3 - "$a" "$b" "$@" >"$WORK/jdiff.out" 2>&1 <<'EOF'; then
import json, sys
drop = set(sys.argv[3:])
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in drop}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
a = strip(json.load(open(sys.argv[1])))
b = strip(json.load(open(sys.argv[2])))
def diffs(x, y, path):
    """Where X and Y differ: each path with both values."""
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y), key=str):
            yield from diffs(x.get(k, "<absent>"), y.get(k, "<absent>"),
                             f"{path}.{k}")
    elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (u, v) in enumerate(zip(x, y)):
            yield from diffs(u, v, f"{path}[{i}]")
    elif x != y:
        yield f"{path}: {json.dumps(x)[:200]} versus {json.dumps(y)[:200]}"
if a != b:
    print("\n".join(list(diffs(a, b, ""))[:40]))
    sys.exit(1)
EOF
        fail "$what: the documents differ:"
        sed 's/^/    /' "$WORK/jdiff.out" | head -60 >&2
    fi
}

# own_metrics FILE: FILE without the exporter's own metrics.
own_removed() { grep -v -e '^mmstats_exporter_' -e '^# [A-Z]* mmstats_exporter_' "$1"; }
# gauge FILE NAME: the value of an exporter metric.
gauge() { awk -v n="$2" '$1 == n {print $2}' "$1"; }

# --------------------------------------------- finished files: equalities
FIN=$WORK/fin
mkdir -m 700 "$FIN"
MMSTATS_DIR=$FIN MMSTATS_LABEL=blue "$B/examples/model" >/dev/null
MMSTATS_DIR=$FIN "$B/examples/model" >"$WORK/model.out"
MMSTATS_DIR=$FIN "$B/examples/timers" 1 >/dev/null
MMSTATS_DIR=$FIN "$B/examples/basic" 1 2 >/dev/null
model_pid=$(sed -n 's/.*-\([0-9]*\)\.mmstats$/\1/p' "$WORK/model.out")
# The finished files written back now: on a filesystem with delayed
# allocation (ext4) a sparse file's blocks on disk ("disk_bytes") grow when
# it is written back (an extent block), which could fall between the
# exporter's read and mmstat-read's (seen once in a few hundred runs).
sync -- "$FIN"/*.mmstats

start_exporter fin --dir "$FIN" --per-process --include-finished --host testhost ||
    { finish; exit 1; }
http /metrics
expect_eq "$code" 200 "/metrics"
cp "$WORK/body" "$WORK/fin.prom"
expect_promtool_ok "$WORK/fin.prom" "/metrics"
"$READ" -d "$FIN" --prometheus --host testhost >"$WORK/read.prom"
checks=$((checks + 1))
own_removed "$WORK/fin.prom" | diff - "$WORK/read.prom" >"$WORK/diff.out" ||
    fail "/metrics is not mmstat-read --prometheus: $(head -10 "$WORK/diff.out")"
expect_match "$(cat "$WORK/fin.prom")" \
    "^mmstats_requests_total\{pid=\"$model_pid\",exe=\"model\",host=\"testhost\"\} 1000$" \
    "host label"
expect_match "$(cat "$WORK/fin.prom")" \
    'mmstats_requests_total\{pid="[0-9]+",exe="model",label="blue",host="testhost"\} 1000$' \
    "label and host labels"
expect_eq "$(gauge "$WORK/fin.prom" mmstats_exporter_files)" 4 "files seen"
expect_eq "$(gauge "$WORK/fin.prom" mmstats_exporter_files_failed)" 0 \
    "files failed"
expect_eq "$(gauge "$WORK/fin.prom" mmstats_exporter_processes)" 4 \
    "processes exported (finished, with --include-finished)"
expect_match "$(cat "$WORK/fin.prom")" \
    '^mmstats_exporter_scrape_duration_seconds [0-9.e-]+$' "scrape duration"
expect_match "$(cat "$WORK/fin.prom")" \
    '^mmstats_exporter_build_info\{version="0\.1\.0"\} 1$' "build info"

# The JSON API against mmstat-read --json.
http /api/v1/processes
cp "$WORK/body" "$WORK/list.json"
expect_json "$WORK/list.json" "/api/v1/processes"
"$READ" -d "$FIN" --list --json >"$WORK/read-list.json"
jdiff "$WORK/list.json" "$WORK/read-list.json" \
    "/api/v1/processes vs --list --json" activity container
expect_eq "$(jpy "$WORK/list.json" \
    '[p["activity"] for p in d["processes"]]')" "[None, None, None, None]" \
    "finished processes: no activity"

http "/api/v1/processes/$model_pid"
cp "$WORK/body" "$WORK/p1.json"
expect_json "$WORK/p1.json" "/api/v1/processes/PID"
"$READ" -d "$FIN" --json "$model_pid" >"$WORK/read-p.json"
jdiff "$WORK/p1.json" "$WORK/read-p.json" "/api/v1/processes/PID vs --json" \
    snapshot_real_ns snapshot_mono_ns windows rate interval rate_interval_s
expect_eq "$(jpy "$WORK/p1.json" '[d["processes"][0]["rate_interval_s"],
    d["processes"][0]["fields"]["requests"]["rate"],
    d["processes"][0]["fields"]["latency"]["interval"]]')" \
    "[None, None, None]" "first request: no rates yet"
expect_eq "$(jpy "$WORK/p1.json" \
    '"rate" in d["processes"][0]["fields"]["in_flight"]')" False \
    "gauges have no rate"
# A rate needs a state 0.2 s old: asked until there is one.
for ((i = 0; i < 1200; i++)); do
    http "/api/v1/processes/$model_pid?filter=req*&filter=latency"
    [ "$(jpy "$WORK/body" 'd["processes"][0]["rate_interval_s"]')" != None ] &&
        break
    sleep 0.05
done
cp "$WORK/body" "$WORK/p2.json"
expect_eq "$(jpy "$WORK/p2.json" 'sorted(d["processes"][0]["fields"])')" \
    "['latency', 'requests']" "filter parameters"
expect_eq "$(jpy "$WORK/p2.json" '[d["processes"][0]["rate_interval_s"] >= 0.2,
    d["processes"][0]["fields"]["requests"]["rate"],
    d["processes"][0]["fields"]["latency"]["rate"],
    d["processes"][0]["fields"]["latency"]["interval"]["count"]]')" \
    "[True, 0, 0, 0]" "second request: rates of a finished process"

for by in exe label sum; do
    http "/api/v1/aggregate?by=$by"
    cp "$WORK/body" "$WORK/agg-$by.json"
    if [ "$by" = sum ]; then
        "$READ" -d "$FIN" --json --sum >"$WORK/read-agg.json"
    else
        "$READ" -d "$FIN" --json --by "$by" >"$WORK/read-agg.json"
    fi
    jdiff "$WORK/agg-$by.json" "$WORK/read-agg.json" \
        "/api/v1/aggregate?by=$by vs mmstat-read" windows
done
http "/api/v1/aggregate?filter=req*"
cp "$WORK/body" "$WORK/agg-f.json"
"$READ" -d "$FIN" --json --by exe -f 'req*' >"$WORK/read-agg.json"
jdiff "$WORK/agg-f.json" "$WORK/read-agg.json" \
    "/api/v1/aggregate (by exe by default) with a filter" windows
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "exporter stopped"

# metrics_as_read NAME BY WHAT: the exporter's /metrics (own metrics
# left out) into $WORK/NAME.prom is mmstat-read --prometheus --by BY.
metrics_as_read() {
    http /metrics
    own_removed "$WORK/body" >"$WORK/$1.prom"
    "$READ" -d "$FIN" --prometheus --by "$2" >"$WORK/read-$1.prom"
    checks=$((checks + 1))
    diff "$WORK/$1.prom" "$WORK/read-$1.prom" >"$WORK/diff.out" ||
        fail "$3 is not mmstat-read --by $2: $(head -10 "$WORK/diff.out")"
}

# --by exe: every file (finished ones too), no host label.
start_exporter byexe --dir "$FIN" --by exe || true
metrics_as_read by exe "--by exe"
expect_match "$(cat "$WORK/by.prom")" '^mmstats_requests_total\{exe="model"\} 2000$' \
    "--by exe: per exe"
stop_pid "$exp_pid"

# The default: per program (exe and label), every file, no host label.
start_exporter prog --dir "$FIN" || true
metrics_as_read prog program "the default"
expect_match "$(cat "$WORK/prog.prom")" '^mmstats_requests_total\{exe="model",label="blue"\} 1000$' \
    "default: per program, with its label"
expect_match "$(cat "$WORK/prog.prom")" '^mmstats_requests_total\{exe="model"\} 1000$' \
    "default: per program, no label"
expect_no_match "$(cat "$WORK/prog.prom")" 'host=|pid=' "default: no host or pid label"
stop_pid "$exp_pid"

# --per-process: running processes only by default; a grace period with
# a value.
start_exporter running --dir "$FIN" --per-process || true
http /metrics
expect_eq "$(gauge "$WORK/body" mmstats_exporter_processes)" 0 \
    "finished processes are not exported by default"
expect_no_match "$(cat "$WORK/body")" '^mmstats_requests_total' \
    "no samples of finished processes"
http /api/v1/processes
expect_eq "$(jpy "$WORK/body" 'len(d["processes"])')" 4 \
    "the list still shows every file"
stop_pid "$exp_pid"
start_exporter grace --dir "$FIN" --per-process --include-finished=1 || true
n=
for ((i = 0; i < 1200; i++)); do
    http /metrics
    n=$(gauge "$WORK/body" mmstats_exporter_processes)
    [ "$n" = 0 ] && break
    sleep 0.05
done
expect_eq "$n" 0 "--include-finished=1: gone a second after finishing"
stop_pid "$exp_pid"

# ------------------------------------------------ running writers, rates
# tool_step writes only when told: between two of the exporter's kept
# states exactly what the test added, so the rates times their interval
# are exact.
start_step
start_exporter live --per-process --host h || true
# detail: rate_interval_s, the ticks' and the work's rates, the interval's
# count, p50 and p99, liveness.
detail() {
    http "/api/v1/processes/$step_pid"
    jpy "$WORK/body" '"%r %r %r %r %r %r %s" % (
        d["processes"][0]["rate_interval_s"],
        d["processes"][0]["fields"]["step.ticks"]["rate"],
        d["processes"][0]["fields"]["step.work"]["rate"],
        (d["processes"][0]["fields"]["step.work"]["interval"] or {}).get("count"),
        (d["processes"][0]["fields"]["step.work"]["interval"] or {}).get("quantiles", {}).get("p50"),
        (d["processes"][0]["fields"]["step.work"]["interval"] or {}).get("quantiles", {}).get("p99"),
        d["processes"][0]["liveness"])' 2>/dev/null || echo "unreadable"
}
read -r ivl _ <<<"$(detail)"
expect_eq "$ivl" None "first request: no rate yet"
step 5000 1000
for ((i = 0; i < 1200; i++)); do
    read -r ivl ticks works n p50 p99 live <<<"$(detail)"
    [ "$ivl" != None ] && break
    sleep 0.05
done
echo "rates over ${ivl}s: step.ticks $ticks/s, step.work $works/s, p50 $p50 p99 $p99"
checks=$((checks + 1))
awk -v i="$ivl" -v t="$ticks" -v w="$works" -v n="$n" -v a="$p50" -v b="$p99" \
    'function near(x, y) { return x > y * 0.999999 && x < y * 1.000001 }
    BEGIN { exit !(i >= 0.2 && near(t * i, 5000) && near(w * i, 5000) &&
                   n == 5000 && a > 990 && a < 1010 && b > 990 && b < 1010) }' ||
    fail "rates of 5000 ticks: interval $ivl, ticks $ticks/s, work $works/s, n $n, p50 $p50, p99 $p99"
expect_eq "$live" running "liveness"
# The list's activity: against the state just kept, or the one before it
# if that is not 0.2 s old yet: 700 or 5700 counted, either exactly.
step 700 1000
for ((i = 0; i < 1200; i++)); do
    http /api/v1/processes
    act=$(jpy "$WORK/body" '[(p["activity"]["counters_per_s"] *
        p["activity"]["interval_s"], p["activity"]["calls_per_s"])
        for p in d["processes"] if p["pid"] == '"$step_pid"' and
        p["activity"]["interval_s"] is not None]')
    [ "$act" != "[]" ] && break
    sleep 0.05
done
expect_eq "$(python3 -c 'import sys; v = eval(sys.argv[1])
print([any(abs(c - k) < 1e-6 * k for k in (700, 5700)) and calls == 0
       for c, calls in v])' "$act")" "[True]" "activity of a running process"
http /metrics
expect_match "$(cat "$WORK/body")" \
    "^mmstats_step_ticks_total\{pid=\"$step_pid\",exe=\"tool_step\",host=\"h\"\} 5700$" \
    "running process exported"
stop_step

if [ "$SAN" = 0 ]; then
    # The shim's counts, exact: 100 writes and no other.
    LD_PRELOAD=$PRELOAD "$PROGS/exp_work" -n 100 -r 2000 -t 0 &
    work_pid=$!
    bg_pids+=("$work_pid")
    v=
    for ((i = 0; i < 1200; i++)); do
        http /metrics
        v=$(awk -v p="$work_pid" \
            'index($0, "mmstats_calls_total{pid=\"" p "\"") == 1 &&
             index($0, "family=\"io\",call=\"write\"}") {print $2}' \
            "$WORK/body")
        [ "$v" = 100 ] && break
        sleep 0.05
    done
    expect_eq "$v" 100 "the shim's io.write.calls of exp_work -n 100"
fi

# The cache: a file replaced under its name is read anew; files removed
# are dropped.
cp "$FIN"/model-http_stats-"$model_pid".mmstats "$MMSTATS_DIR/swap-1.mmstats"
http /api/v1/processes
expect_eq "$(jpy "$WORK/body" '[p["exe"] for p in d["processes"]
    if p["path"].endswith("/swap-1.mmstats")]')" "['model']" "a new file"
cp "$FIN"/timers-*.mmstats "$MMSTATS_DIR/.swap.tmp"
mv "$MMSTATS_DIR/.swap.tmp" "$MMSTATS_DIR/swap-1.mmstats"
http /api/v1/processes
expect_eq "$(jpy "$WORK/body" '[p["exe"] for p in d["processes"]
    if p["path"].endswith("/swap-1.mmstats")]')" "['timers']" \
    "a file replaced under the same name"
http /metrics
before=$(gauge "$WORK/body" mmstats_exporter_open_files)
expect_eq "$before" "$(ls "$MMSTATS_DIR"/*.mmstats | wc -l)" \
    "one open file per stats file"
rm "$MMSTATS_DIR/swap-1.mmstats"
http /metrics
expect_eq "$(gauge "$WORK/body" mmstats_exporter_open_files)" \
    "$((before - 1))" "a removed file is dropped"
# A file truncated under the exporter's mapping: refused, no SIGBUS.
cp "$FIN"/model-http_stats-"$model_pid".mmstats "$MMSTATS_DIR/trunc-1.mmstats"
http /metrics
truncate -s 8192 "$MMSTATS_DIR/trunc-1.mmstats"
http /metrics
expect_eq "$code" 200 "/metrics with a file truncated under the mapping"
expect_eq "$(gauge "$WORK/body" mmstats_exporter_files_failed)" 1 \
    "a truncated file counts as failed"
rm "$MMSTATS_DIR/trunc-1.mmstats"
echo garbage >"$MMSTATS_DIR/bad-1.mmstats"
chmod 600 "$MMSTATS_DIR/bad-1.mmstats"
http /metrics
expect_eq "$code" 200 "/metrics with a corrupt file"
expect_eq "$(gauge "$WORK/body" mmstats_exporter_files_failed)" 1 \
    "a corrupt file counts as failed"
rm "$MMSTATS_DIR/bad-1.mmstats"
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "exporter stopped"
kill_bg

# ------------------------------------------------------------ scrape time
# scrape_times NAME: scrape exp_url 5 times (after one to warm the cache);
# sets worst_ms and median_ms (curl's total), and dur_ms (the exporter's
# own measure, median).
scrape_times() {
    local ts=() ds=() i
    http /metrics
    for i in 1 2 3 4 5; do
        t=$(curl -s --max-time 120 -o "$WORK/body" -w '%{time_total}' \
            "$exp_url/metrics")
        ts+=("$(awk -v t="$t" 'BEGIN {printf "%.1f", t * 1000}')")
        ds+=("$(gauge "$WORK/body" mmstats_exporter_scrape_duration_seconds |
            awk '{printf "%.1f", $1 * 1000}')")
    done
    worst_ms=$(printf '%s\n' "${ts[@]}" | sort -g | tail -1)
    median_ms=$(printf '%s\n' "${ts[@]}" | sort -g | sed -n 3p)
    dur_ms=$(printf '%s\n' "${ds[@]}" | sort -g | sed -n 3p)
    bytes=$(wc -c <"$WORK/body")
    echo "$1: $(gauge "$WORK/body" mmstats_exporter_processes) processes," \
        "$bytes bytes: scrape median $median_ms ms, worst $worst_ms ms" \
        "(exporter's own measure: median $dur_ms ms)"
}
MANY=$WORK/many
mkdir -m 700 "$MANY"
MMSTATS_DIR=$MANY "$PROGS/exp_many" -H -t 0 200 100 >"$WORK/many.out" 2>&1 &
bg_pids+=("$!")
if wait_for "$WORK/many.out" '^ready 200$' 200 "$!"; then
    start_exporter many --dir "$MANY" --per-process || true
    scrape_times "200 processes x 100 counters"
    expect_eq "$(gauge "$WORK/body" mmstats_exporter_processes)" 200 \
        "200 processes exported"
    expect_eq "$(grep -c '^mmstats_load_g3_f30_total{' "$WORK/body")" 200 \
        "a series per process"
    stop_pid "$exp_pid"
else
    fail "exp_many 200 100 did not start: $(cat "$WORK/many.out")"
fi
kill_bg
# The same with a quarter of the fields histograms (41 series each):
# reported, not judged.
rm -rf "$MANY"
mkdir -m 700 "$MANY"
MMSTATS_DIR=$MANY "$PROGS/exp_many" -t 0 200 100 >"$WORK/many.out" 2>&1 &
bg_pids+=("$!")
if wait_for "$WORK/many.out" '^ready 200$' 200 "$!"; then
    start_exporter many2 --dir "$MANY" --per-process || true
    scrape_times "200 processes x (75 counters + 25 histograms)"
    stop_pid "$exp_pid"
else
    fail "exp_many 200 100 (histograms) did not start: $(cat "$WORK/many.out")"
fi
kill_bg
finish
