# A group's counters never drop while its processes are folded (issue 13,
# item 2): 40 short processes run under the shim, one after another, each
# start-up folding the files of the ones before into rollups, while a
# scraper fetches /metrics from mmstat-exporter (per program, the
# default) as fast as it answers; no series of mmstats_calls_total may
# ever be lower than at the scrape before, and none may vanish. Before
# the exporter held the directory's fold lock (flock LOCK_SH) over its
# sums, a fold committing between its listing and its sums made a
# finished file vanish before the rollup it had mapped held it: 61 to
# 118 drops in such a run (and resets() in test_prom_fleet under load).
# Needs the shim: skipped (77) in sanitizer builds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

skip_sanitized "the shim cannot be preloaded"
unset MMSTATS_KEEP # the default, auto: short processes are folded

start_exporter folds || { finish; exit 1; }
(
    for ((k = 0; k < 40; k++)); do
        LD_PRELOAD=$PRELOAD sh -c 'cat /dev/null; ls / >/dev/null' ||
            echo "workload $k: status $?"
    done
    LD_PRELOAD=$PRELOAD /bin/true
    echo done
) >"$WORK/workload.out" 2>&1 &
work_pid=$!
bg_pids+=("$work_pid")

# The scraper: until the workload says it is done (and one scrape more),
# bounded against a hang.
python3 - "$exp_url/metrics" "$WORK/workload.out" >"$WORK/scraper.out" 2>&1 <<'EOF' ||
import re, sys, time, urllib.request
url, done_file = sys.argv[1], sys.argv[2]
last, drops, scrapes, deadline = {}, [], 0, time.monotonic() + 600
def is_done():
    with open(done_file) as f:
        return "done" in f.read()
finished = False
while time.monotonic() < deadline:
    finished = is_done()
    text = urllib.request.urlopen(url, timeout=60).read().decode()
    scrapes += 1
    cur = {m.group(1): float(m.group(2)) for m in re.finditer(
        r"^(mmstats_calls_total\{[^}]*\}) (\S+)$", text, re.M)}
    for k, v in last.items():
        if k not in cur:
            drops.append("%s vanished (was %g)" % (k, v))
        elif cur[k] < v:
            drops.append("%s: %g after %g" % (k, cur[k], v))
    last = cur
    if finished:
        break
for d in drops[:10]:
    print("drop:", d)
print("%d scrapes, %d series, %d drops" % (scrapes, len(last), len(drops)))
sys.exit(0 if finished and not drops and scrapes >= 20 and last else 1)
EOF
    fail "counters dropped, or too few scrapes: $(cat "$WORK/scraper.out")"
checks=$((checks + 1))
cat "$WORK/scraper.out"
wait "$work_pid" 2>/dev/null || true
expect_no_match "$(cat "$WORK/workload.out")" 'status' "workload statuses"
expect_match "$(ls "$MMSTATS_DIR")" '@rollup\.mmstats' "processes folded into rollups"

stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "exporter stopped by SIGTERM"
finish
