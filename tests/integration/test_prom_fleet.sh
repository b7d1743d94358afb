# Prometheus at fleet scale (issue 13, items 2 and 3): a real Prometheus
# scrapes mmstat-exporter (its default: per program) every 0.5 s while
# 20 short processes run under the shim, one after another, their files
# folded into rollups as they end (MMSTATS_KEEP auto). Then, for every
# counter family, resets() over the run is 0; the last sample of
# mmstats_calls_total summed is the exact total mmstat-read --sum gives;
# and the head series (/api/v1/status/tsdb) stay at most 1,000 (the
# figure is printed; docs/exporter.md reports it). Synchronised on
# Prometheus's own count of scrapes, not on sleeps. Needs the shim:
# skipped (77) in sanitizer builds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

skip_sanitized "the shim cannot be preloaded"
need_prometheus || { finish; exit 1; }
unset MMSTATS_KEEP # the default, auto: short processes are folded

start_exporter fleet || { finish; exit 1; }
start_prometheus 500ms || { finish; exit 1; }

wait_scrapes 2

# The fleet: 20 short processes, each waiting for a scrape or so before
# the next starts (two scrapes between the first and the last).
N=20
for ((k = 0; k < N; k++)); do
    LD_PRELOAD=$PRELOAD sh -c 'cat /dev/null; ls / >/dev/null' ||
        fail "workload $k: status $?"
    ((k % 4 == 3)) && wait_scrapes 1
done
# One more process so that the last ones are folded too (each start-up
# sweeps), then scrapes after everything.
MMSTATS_EAGER=1 LD_PRELOAD=$PRELOAD /bin/true
"$READ" --prometheus --sum >"$WORK/sum.prom"
want=$(awk '/^mmstats_calls_total\{/ {n += $2} END {print n + 0}' "$WORK/sum.prom")
expect_calls_total "$want" "mmstat-read --sum's"
checks=$((checks + 1))
[ "${want:-0}" -gt 0 ] || fail "no calls counted"
expect_match "$(ls "$MMSTATS_DIR")" '@rollup\.mmstats' "processes folded into rollups"

# No counter went backwards, in any family, over the whole run.
expect_no_resets
inc=$(query 'sum(increase(mmstats_calls_total[1h]))')
echo "increase(mmstats_calls_total) over the run: $inc (exact: $want;" \
    "increase() extrapolates from the first sample of each series)"

# Bounded series.
curl -s --max-time 60 "$PROM/api/v1/status/tsdb" >"$WORK/tsdb.json"
series=$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["data"]["headStats"]["numSeries"])' \
    "$WORK/tsdb.json" 2>/dev/null || echo none)
echo "head series after $N processes: $series"
checks=$((checks + 1))
[ "$series" != none ] && [ "$series" -le 1000 ] ||
    fail "head series: $series (at most 1000)"

stop_pid "$prom_pid"
expect_rc "$stop_rc" 0 "prometheus stopped by SIGTERM"
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "exporter stopped by SIGTERM"
finish
