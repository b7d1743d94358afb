# The dashboard works in a real browser: headless Chromium loads it from
# a live mmstat-exporter with live processes, and after a budget of
# virtual time the page has process rows (the running ones: finished ones
# are hidden until asked for), per-process panels with charts drawn from
# data (dygraphs canvases; latency on a log scale; legends that fit), a
# per-call table (calls, errors, bytes, time, % time adding up to 100,
# p50, p99), the aggregate by program, made several updates, and no
# JavaScript error. The table's filter and sort, set from the page's URL:
# ?finished=1&sort=pid&dir=asc shows every file in pid order,
# ?filter=tool_rate only those processes. A screenshot is taken too
# (with MMS_SCREENSHOT=FILE it is copied there: docs/images/dashboard.png
# is made so). Needs Chromium (Debian package chromium, installed by
# scripts/test): fails without it. In sanitizer builds, where the shim
# cannot be preloaded, the live processes are the library's own writers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

need_chromium || { finish; exit 1; }
if [ ! -r /usr/share/javascript/dygraphs/dygraph.min.js ]; then
    fail "dygraphs not found: install the Debian package libjs-dygraphs"
    finish
    exit 1
fi

# Live processes: two busy ones under the shim (or library writers), a
# finished one, and one with a label.
if [ "$SAN" = 0 ]; then
    # Its /dev/null and /dev/zero get per-file records (no exclusions):
    # its panel's top files.
    MMSTATS_FILES_EXCLUDE=none LD_PRELOAD=$PRELOAD "$PROGS/exp_work" -x -r 400 -t 0 &
    bg_pids+=("$!")
    LD_PRELOAD=$PRELOAD "$PROGS/exp_work" -x -r 150 -t 0 &
    bg_pids+=("$!")
fi
start_rate busy 1000 0
start_rate calm 200 0
"$B/examples/model" >/dev/null
MMSTATS_LABEL=blue "$B/examples/timers" 1 >/dev/null
start_exporter browser || { finish; exit 1; }

# Rates need a state kept 0.2 s before: make one for every process now,
# and ask until each has a rate. (Virtual time runs the page's one-second
# polls much faster than real seconds; later states then always have an
# older one to compare with.)
http /api/v1/processes
for f in "$MMSTATS_DIR"/*.mmstats; do
    pid=${f##*-}
    http "/api/v1/processes/${pid%.mmstats}"
done
for f in "$MMSTATS_DIR"/*.mmstats; do
    pid=${f##*-}
    pid=${pid%.mmstats}
    for ((i = 0; i < 1200; i++)); do
        http "/api/v1/processes/$pid"
        [ "$(jpy "$WORK/body" 'd["processes"][0]["rate_interval_s"]')" != None ] &&
            break
        sleep 0.05
    done
done
for ((i = 0; i < 1200; i++)); do
    http /api/v1/processes
    [ "$(jpy "$WORK/body" 'all(p["activity"] is None or
        p["activity"]["interval_s"] is not None for p in d["processes"])')" = True ] &&
        break
    sleep 0.05
done

http /api/v1/processes
nrunning=$(jpy "$WORK/body" 'sum(p["liveness"] == "running"
    for p in d["processes"])')

chrome --virtual-time-budget=12000 --dump-dom >"$WORK/dom.html" \
    2>"$WORK/chrome.err" || true
dom=$(cat "$WORK/dom.html")
checks=$((checks + 1))
[ -s "$WORK/dom.html" ] ||
    fail "chromium dumped no DOM: $(tail -5 "$WORK/chrome.err")"
expect_match "$dom" '<body[^>]* data-ok="1"' "the page updated"
updates=$(sed -n 's/.*data-updates="\([0-9]*\)".*/\1/p' "$WORK/dom.html" |
    head -1)
checks=$((checks + 1))
[ "${updates:-0}" -ge 5 ] || fail "only ${updates:-0} updates in 12 virtual s"
expect_no_match "$dom" 'data-error=' "no JavaScript error"
expect_no_match "$dom" 'data-fetch-errors=' "no failed request"
checks=$((checks + 1))
if grep -Eq 'Uncaught|CONSOLE.*(Error|error)' "$WORK/chrome.err"; then
    fail "console errors: $(grep -E 'Uncaught|CONSOLE' "$WORK/chrome.err" |
        head -5)"
fi
rows=$(rows_of "$WORK/dom.html" | wc -l)
nfiles=$(ls "$MMSTATS_DIR"/*.mmstats | wc -l)
expect_eq "$rows" "$nrunning" "a row per running process"
expect_match "$dom" "data-pid=\"$rate_pid\"" "the running writer's row"
expect_match "$dom" '<span class="state running">running</span>' \
    "running processes"
expect_no_match "$dom" '<span class="state finished">' \
    "finished processes hidden by default"
expect_match "$dom" '<th class="l sortable" data-sort="container" id="th-container" hidden=""' \
    "no container column when no process is in a container"
# Latency on a log scale, drawn; legends that fit their boxes.
expect_match "$dom" 'class="chart" data-log="1" data-points="[1-9]' \
    "the latency chart: log scale, with points"
expect_match "$dom" 'class="legend" data-fits="1"' "legends drawn"
expect_no_match "$dom" 'data-fits="0"' "every legend fits"
panels=$(grep -o '<div class="panel" data-pid="[0-9]*"' "$WORK/dom.html" |
    wc -l)
expect_eq "$panels" 2 "panels for the two busiest processes"
# Charts drawn from data: points in them, and dygraphs' canvases.
drawn=$(grep -Eo 'class="chart( wide)?" data-points="[0-9]+" data-series="[1-9]' \
    "$WORK/dom.html" | sed 's/.*data-points="\([0-9]*\)".*/\1/' |
    awk '$1 >= 3' | wc -l)
checks=$((checks + 1))
[ "$drawn" -ge 3 ] || fail "only $drawn charts with 3 points or more"
canvases=$(grep -o '<canvas' "$WORK/dom.html" | wc -l)
checks=$((checks + 1))
[ "$canvases" -ge 3 ] || fail "only $canvases canvases: charts not drawn"
expect_match "$dom" '<td class="l exe">tool_rate</td>' \
    "the aggregate by program"
if [ "$SAN" = 0 ]; then
    expect_match "$dom" 'exp_work' "the shim's processes"
    expect_match "$dom" '<div class="files" data-rows="[1-9]' \
        "a panel's top files (the shim's per-file records)"
    expect_match "$dom" '<td class="l path" title="/dev/null">/dev/null</td>' \
        "the top files' row of /dev/null"
    expect_match "$dom" '<div class="threads" data-rows="[1-9]' \
        "a panel's threads (/api/v1/processes/PID/threads)"
    # The per-call table of a panel: io.write made, and the shares of
    # time of its calls add up to 100%.
    expect_match "$dom" '<div class="calltable" data-rows="[1-9]' \
        "a panel's per-call table"
    expect_match "$dom" '<tr data-call="io.write"><td class="l">io.write</td><td>[0-9.]+[kM]?</td>' \
        "its io.write row, with its calls"
    sums=$(python3 -c 'import re, sys
dom = open(sys.argv[1]).read()
for t in re.findall(r"<div class=\"calltable\".*?</table>", dom, re.S):
    pct = [float(x) for x in re.findall(r"data-pct=\"([0-9.]+)\"", t)]
    if pct:
        print("%.1f" % sum(pct))' \
        "$WORK/dom.html" | sort -u | tr '\n' ' ')
    expect_eq "$sums" "100.0 " \
        "% time of each per-call table (with timed calls) adds up to 100"
fi

# Every file, finished ones too, sorted by pid.
PAGE='/?finished=1&sort=pid&dir=asc' chrome --virtual-time-budget=6000 \
    --dump-dom >"$WORK/dom2.html" 2>"$WORK/chrome3.err" || true
expect_eq "$(rows_of "$WORK/dom2.html" | wc -l)" "$nfiles" \
    "?finished=1: a row per stats file"
expect_match "$(cat "$WORK/dom2.html")" \
    '<span class="state finished">finished</span>' "finished processes shown"
expect_eq "$(rows_of "$WORK/dom2.html" | tr '\n' ' ')" \
    "$(rows_of "$WORK/dom2.html" | sort -n | tr '\n' ' ')" "sorted by pid"
expect_match "$(cat "$WORK/dom2.html")" '<th data-sort="pid" class="sortable" data-dir="asc">' \
    "the pid column says it sorts"
# A filter: the two tool_rate processes only.
PAGE='/?filter=tool_rate' chrome --virtual-time-budget=6000 \
    --dump-dom >"$WORK/dom3.html" 2>"$WORK/chrome4.err" || true
expect_eq "$(rows_of "$WORK/dom3.html" | sort -n | tr '\n' ' ')" \
    "$(printf '%s\n' "$(pid_of "$(cat "$WORK/busy.rate")")" \
        "$(pid_of "$(cat "$WORK/calm.rate")")" | sort -n | tr '\n' ' ')" \
    "?filter=tool_rate: its processes only"
echo "dashboard: $rows rows, $panels panels, $drawn charts with data," \
    "$canvases canvases, $updates updates"

# A screenshot, as a person would see it.
chrome --virtual-time-budget=20000 --screenshot="$WORK/dashboard.png" \
    >/dev/null 2>"$WORK/chrome2.err" || true
checks=$((checks + 1))
if [ "$(head -c 8 "$WORK/dashboard.png" 2>/dev/null | od -An -tx1 | tr -d ' ')" \
    != 89504e470d0a1a0a ] || [ "$(wc -c <"$WORK/dashboard.png")" -lt 20000 ]; then
    fail "no screenshot: $(tail -3 "$WORK/chrome2.err")"
elif [ -n "${MMS_SCREENSHOT:-}" ]; then
    cp "$WORK/dashboard.png" "$MMS_SCREENSHOT"
    echo "screenshot: $MMS_SCREENSHOT"
fi

stop_pid "$exp_pid" 10
expect_rc "$stop_rc" 0 "exporter stopped by SIGTERM"
finish
