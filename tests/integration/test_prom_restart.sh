# Counters that never go backwards across an exporter restart (issue 13,
# item 2): a real Prometheus scrapes mmstat-exporter (its default: per
# program) every second while 50 short processes run under the shim,
# their files folded into rollups as they end (MMSTATS_KEEP auto); half
# way, the exporter is stopped and a new one started on the same port.
# The exporter keeps no state: every total is in the directory (running
# and finished files, and rollups, which the fold protocol fills without
# ever counting a file twice or dropping one), so the new exporter's
# first scrape goes on from the old one's last. Checked: resets() is 0
# for every counter family over the run, and increase() over the run is,
# series by series, exactly what mmstat-read --prometheus --by program
# says was added (the end's totals less those of the scrape the run
# starts from: the same processes ran once before, so every series
# exists when the run starts and increase() needs no extrapolation).
# Synchronised on Prometheus's own count of scrapes. Needs the shim:
# skipped (77) in sanitizer builds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

skip_sanitized "the shim cannot be preloaded"
need_prometheus || { finish; exit 1; }
unset MMSTATS_KEEP # the default, auto: short processes are folded

start_exporter first || { finish; exit 1; }
start_prometheus 1s || { finish; exit 1; }

# last_scrape: the time of Prometheus's last scrape of the exporter, in
# seconds since the epoch (milliseconds: its samples' timestamps).
last_scrape() { query 'timestamp(up{job="mmstats"})'; }
workload() { LD_PRELOAD=$PRELOAD sh -c 'cat /dev/null; ls / >/dev/null'; }
# The program whose start-up folds the files of the others.
sweep() { LD_PRELOAD=$PRELOAD /bin/true; }

# Before the run: the same programs once, so that every series exists at
# the scrape the run starts from.
workload
workload
sweep
wait_scrapes 2
"$READ" --prometheus --by program >"$WORK/base.prom"
t0=$(last_scrape)
[ -n "$t0" ] || fail "no scrape before the run"

# The run: 50 processes, a scrape every two; the exporter restarted after
# the 25th.
N=50
for ((k = 0; k < N; k++)); do
    workload || fail "workload $k: status $?"
    ((k % 2 == 1)) && wait_scrapes 1
    if ((k == N / 2 - 1)); then
        stop_pid "$exp_pid"
        expect_rc "$stop_rc" 0 "first exporter stopped by SIGTERM"
        exp_log=$WORK/second.exporter.log
        "$EXPORTER" --listen "127.0.0.1:$exp_port" 2>"$exp_log" &
        exp_pid=$!
        bg_pids+=("$exp_pid")
        wait_for "$exp_log" 'listening on' 60 "$exp_pid" ||
            fail "second exporter did not start: $(cat "$exp_log")"
    fi
done
sweep
"$READ" --prometheus --by program >"$WORK/end.prom"
want=$(awk '/^mmstats_calls_total\{/ {n += $2} END {print n + 0}' "$WORK/end.prom")
expect_calls_total "$want" "mmstat-read's"
t1=$(last_scrape)
expect_match "$(ls "$MMSTATS_DIR")" '@rollup\.mmstats' "processes folded into rollups"

# The restart is in the run: two start times seen.
starts=$(query 'max_over_time(mmstats_exporter_start_time_seconds[1h]) - min_over_time(mmstats_exporter_start_time_seconds[1h])')
checks=$((checks + 1))
awk -v d="${starts:-0}" 'BEGIN {exit !(d > 0)}' ||
    fail "Prometheus did not see the exporter restart (start times differ by '${starts}')"

# No counter of the stats went backwards, in any family, over the run
# (the exporter's own counters, of the process, start again from 0).
expect_no_resets '__name__!~"mmstats_exporter_.*"'

# increase() over the run, series by series, against mmstat-read's.
range=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", (b - a) * 1000 + 0.5}')
query "increase(mmstats_calls_total[${range}ms])" "$t1" >/dev/null
python3 - "$WORK/base.prom" "$WORK/end.prom" "$WORK/query.json" \
    >"$WORK/increase.out" 2>&1 <<'EOF' || fail "increase(): $(cat "$WORK/increase.out")"
import json, re, sys
def parse(path):
    out = {}
    for line in open(path):
        m = re.match(r'mmstats_calls_total\{(.*)\} (\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
            out[tuple(sorted(labels.items()))] = float(m.group(2))
    return out
base, end = parse(sys.argv[1]), parse(sys.argv[2])
got = {}
for r in json.load(open(sys.argv[3]))["data"]["result"]:
    labels = {k: v for k, v in r["metric"].items() if k not in ("job", "instance")}
    got[tuple(sorted(labels.items()))] = float(r["value"][1])
bad = [k for k in end if k not in base]
if bad:
    print("series new in the run (no exact increase):", bad[:5])
    sys.exit(1)
wrong = [(k, got.get(k), end[k] - base[k]) for k in end
         if got.get(k) != end[k] - base[k]]
for w in wrong[:10]:
    print("series %s: increase() %s, exact %s" % w)
total = sum(end[k] - base[k] for k in end)
print("increase() over the run: %g calls in %d series (exact: %g)"
      % (sum(got.values()), len(got), total))
sys.exit(1 if wrong or total <= 0 else 0)
EOF
checks=$((checks + 1))
cat "$WORK/increase.out"

stop_pid "$prom_pid"
expect_rc "$stop_rc" 0 "prometheus stopped by SIGTERM"
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "second exporter stopped by SIGTERM"
finish
