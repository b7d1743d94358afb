# The heap profile against a program with known sites (progs/heap_sites):
# leak_here keeps 10 MiB in 1,000 blocks, churn_here allocates and frees
# 100 MiB in 4 KiB blocks, big_here one 32 MiB block, freed. mmstat-read
# --heap must name leak_here first by live bytes (within 10%), churn_here
# first by allocated bytes (within 10%, live 0) and big_here live 0: in
# a live read while the program waits (synchronised on its "ready" line)
# and after it exited; with 8 threads, with frees from another thread,
# in a fork child (its own sites only); as JSON and folded stacks.
#
# Estimates have a relative error of about sqrt(R / bytes) for a site of
# small blocks (R the mean sample distance): 22% for 10 MiB at the
# default 512 KiB. The checks use R = 8 KiB (about 2%), so that a 10%
# bound fails on a wrong estimate, not on chance.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

skip_sanitized "the shim cannot be preloaded in a sanitizer build"
export MMSTATS_HEAP_SAMPLE=8K
SITES=$PROGS/heap_sites
MIB=1048576

# check_heap JSON WHAT [CHILD]: the known answers in mmstat-read --heap
# --json output JSON (of heap_sites, or of its fork child).
check_heap() {
    local got
    got=$(python3 - "$1" "${3:-}" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
child = sys.argv[2] in ("child", "clone")
h = d["heaps"][0]["heap"]
# A clone() child runs on a stack the program gave it (static here), which
# the caching walker cannot bound: its samples go to backtrace, counted.
if sys.argv[2] == "clone":
    h["slow_stacks"] = 0
MIB = 1 << 20
out = []
def fn(site):
    return site["stack"][0]["function"] if site["stack"] else "(other)"
def near(v, want):
    return abs(v - want) <= want / 10
def site(name):
    return [s for s in h["by_allocated"] if fn(s) == name]
if h["reentered"] or h["untracked"] or h["slow_stacks"] or h["negative_sites"]:
    out.append("reentered %d untracked %d slow stacks %d negative sites %d" % (h["reentered"], h["untracked"], h["slow_stacks"], h["negative_sites"]))
top_live = h["by_live"][0] if h["by_live"] else None
if child:
    if not top_live or fn(top_live) != "child_here" or not near(top_live["live_bytes"], 5 * MIB):
        out.append("child: top live %s" % (top_live and (fn(top_live), top_live["live_bytes"])))
    # The parent's sites are not the child's: nothing of leak_here,
    # churn_here or big_here (the child freed leak_here's blocks).
    for name in ("leak_here", "churn_here", "big_here"):
        if site(name):
            out.append("child: has %s %s" % (name, site(name)[0]["bytes"]))
else:
    if not top_live or fn(top_live) != "leak_here" or not near(top_live["live_bytes"], 10 * MIB):
        out.append("top live %s" % (top_live and (fn(top_live), top_live["live_bytes"])))
    elif not near(top_live["live_allocs"], 1000):
        out.append("leak_here live allocs %d" % top_live["live_allocs"])
    top = h["by_allocated"][0]
    if fn(top) != "churn_here" or not near(top["bytes"], 100 * MIB) or top["live_bytes"] != 0:
        out.append("top allocated %s %d live %d" % (fn(top), top["bytes"], top["live_bytes"]))
    elif not near(top["allocs"], 25600):
        out.append("churn_here allocs %d" % top["allocs"])
    big = site("big_here")
    if len(big) != 1 or big[0]["live_bytes"] != 0 or not near(big[0]["bytes"], 32 * MIB):
        out.append("big_here %s" % [(s["bytes"], s["live_bytes"]) for s in big])
    lines = [f.get("line") for f in (top_live or {"stack": []})["stack"][:1]]
    if not (top_live and top_live["stack"][0]["file"] or "").endswith("heap_sites.c"):
        out.append("leak_here: no source file %s" % (top_live and top_live["stack"][0]))
print("; ".join(out) or "ok")
EOF
)
    expect_eq "$got" ok "$2"
}

# run_paused NAME ARGS...: heap_sites ARGS -p under the shim; once it says
# ready, its profile read live into $WORK/NAME.live.json, then it exits
# and is read again into $WORK/NAME.json.
run_paused() {
    local name=$1 pid word
    shift
    coproc HS { LD_PRELOAD=$PRELOAD exec "$SITES" "$@" -p; }
    bg_pids+=("$HS_PID")
    pid=$HS_PID
    if ! read -r -t 120 word _ <&"${HS[0]}" || [ "$word" != ready ]; then
        fail "$name: heap_sites did not get ready"
        return
    fi
    "$READ" --heap --json "$pid" >"$WORK/$name.live.json" ||
        fail "$name: live read"
    "$READ" --heap "$pid" >"$WORK/$name.live.txt" || fail "$name: live text"
    [ -z "$during" ] || "$during" "$pid"
    echo go >&"${HS[1]}"
    wait "$pid" || fail "$name: heap_sites status $?"
    "$READ" --heap --json "$(newest_file heap_sites)" >"$WORK/$name.json" ||
        fail "$name: read after exit"
}

# The exporter's top sites, while heap_sites waits (if it was built).
exporter_heap() {
    local pid=$1
    start_exporter heap || return
    http "/api/v1/processes/$pid/heap"
    expect_eq "$code" 200 "exporter: /api/v1/processes/PID/heap status"
    cp "$WORK/body" "$WORK/exporter.json"
    expect_eq "$(jpy "$WORK/exporter.json" "(d['pid'] == $pid, d['heap']['by_live'][0]['stack'][0]['function'], d['heap']['by_allocated'][0]['stack'][0]['function'], len(d['heap']['by_allocated']) <= 20)")" \
        "(True, 'leak_here', 'churn_here', True)" "exporter: top sites"
    expect_code "/api/v1/processes/$pid/bogus" 404 "exporter: other subpaths"
    expect_code "/api/v1/processes/999999999/heap" 404 "exporter: no such pid"
    stop_pid "$exp_pid"
}
during=
if [ -x "$B/tools/mmstat-exporter" ]; then
    . "$(dirname "$0")/exporter_lib.sh"
    during=exporter_heap
fi

# ---- one thread: live, then finished
run_paused one
during=
check_heap "$WORK/one.live.json" "one thread, live"
check_heap "$WORK/one.json" "one thread, finished"
t=$(cat "$WORK/one.live.txt")
expect_match "$t" '^heap_sites \(pid [0-9]+, running\)$' "text: the process"
expect_match "$(grep -A2 '^top sites by live' <<<"$t" | tail -1)" \
    ' leak_here \(heap_sites\.c:[0-9]+\)$' "text: leak_here first by live bytes"
expect_match "$(grep -A2 '^top sites by allocated' <<<"$t" | tail -1)" \
    '^ +0 +0 .* churn_here \(heap_sites\.c:[0-9]+\)$' \
    "text: churn_here first by allocated bytes, nothing live"
expect_match "$t" '^ +main \(heap_sites\.c:[0-9]+\)$' "text: stacks, main"

# ---- exact process-level live bytes: the gauge after exit (the exiting
# thread publishes its batch) is allocated - freed, to the byte
f=$(newest_file heap_sites)
live=$(field "$f" mem.live_bytes)
alloc=$(field "$f" mem.alloc_bytes)
freed=$(field "$f" mem.freed_bytes)
expect_eq "$live" "$((alloc - freed))" "mem.live_bytes exact after exit"

# ---- folded stacks: outermost first, live bytes (or allocated)
"$READ" --heap --folded "$f" >"$WORK/folded.txt"
expect_match "$(cat "$WORK/folded.txt")" '^_start;.*;main;leak_here [0-9]+$' \
    "folded: leak_here's stack, live bytes"
expect_eq "$(grep -c 'churn_here\|big_here' "$WORK/folded.txt")" 0 \
    "folded: nothing live elsewhere"
"$READ" --heap --folded=alloc "$f" >"$WORK/folded_alloc.txt"
expect_match "$(cat "$WORK/folded_alloc.txt")" ';main;churn_here [0-9]+$' \
    "folded=alloc: churn_here"
# The sampled estimate of the 142 MiB allocated (10 leaked, 100 churned in
# 4 KiB blocks, one 32 MiB block) has a standard deviation of about
# 0.85 MiB at MMSTATS_HEAP_SAMPLE=8K (churn's 25,600 blocks, each sampled
# with probability 0.39, weigh most); a bound of -2 MiB failed about once
# in a hundred runs (CI: 139.95 MiB). -6 and +17 MiB: 7 deviations and
# more, still far from a site or a thread lost (10 MiB or more).
expect_match "$(awk '{s += $NF} END {print (s > 136 * 1048576 && s < 159 * 1048576) ? "ok" : s}' "$WORK/folded_alloc.txt")" \
    '^ok$' "folded=alloc: the bytes add up to what was allocated"

# ---- 8 threads, then 8 threads whose churn is freed by another thread
run_paused threads -t 8
check_heap "$WORK/threads.live.json" "8 threads, live"
check_heap "$WORK/threads.json" "8 threads, finished"
run_paused cross -t 8 -x
check_heap "$WORK/cross.live.json" "cross-thread frees, live"
check_heap "$WORK/cross.json" "cross-thread frees, finished"

# ---- fork: the child frees the parent's leaked blocks and leaks its own
out=$(LD_PRELOAD=$PRELOAD "$SITES" -f)
child=$(awk '$1 == "child" {print $2}' <<<"$out")
"$READ" --heap --json "$child" >"$WORK/child.json" || fail "fork: child read"
check_heap "$WORK/child.json" "fork child: its own sites" child
"$READ" --heap --json "$(ls "$MMSTATS_DIR"/heap_sites-*.mmstats |
    grep -v "\-$child\." | xargs ls -t | head -1)" >"$WORK/parent.json"
check_heap "$WORK/parent.json" "fork parent: unchanged by the child"

# ---- clone() without CLONE_VM: the same as fork
out=$(LD_PRELOAD=$PRELOAD "$SITES" -c)
child=$(awk '$1 == "child" {print $2}' <<<"$out")
"$READ" --heap --json "$child" >"$WORK/cchild.json" || fail "clone: child read"
check_heap "$WORK/cchild.json" "clone child: its own sites" clone
"$READ" --heap --json "$(ls "$MMSTATS_DIR"/heap_sites-*.mmstats |
    grep -v "\-$child\." | xargs ls -t | head -1)" >"$WORK/cparent.json"
check_heap "$WORK/cparent.json" "clone parent: unchanged by the child"

# ---- sampling off: no profile, and the shim still counts
MMSTATS_HEAP_SAMPLE=0 LD_PRELOAD=$PRELOAD "$SITES" >/dev/null
f=$(newest_file heap_sites)
expect_match "$("$READ" --heap "$f")" '^no heap profile' "HEAP_SAMPLE=0: no profile"
expect_eq "$(field "$f" mem.heap.samples)" "" "HEAP_SAMPLE=0: no heap fields"
expect_match "$(field "$f" mem.malloc.calls)" '^[0-9]{5}$' "HEAP_SAMPLE=0: mallocs counted"

# ---- usage
rc=0
"$READ" --heap >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 2 "usage: --heap without a process"
rc=0
"$READ" --heap --folded=bogus "$f" >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 2 "usage: --folded=bogus"

finish
