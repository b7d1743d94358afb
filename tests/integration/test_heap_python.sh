# scripts/mmstats.py --heap (the Python reader, standard library only)
# prints the heap profile as mmstat-read --heap --json does: the same
# sites in the same orders with the same figures, the same return
# addresses, objects and offsets, and the same function names (from the
# objects' ELF symbol tables; files and lines are null, they need DWARF),
# on the known-sites program (progs/heap_sites) both live, while it waits
# on its "ready" line, and after it exited; --folded as mmstat-read's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

skip_sanitized "the shim cannot be preloaded in a sanitizer build"
export MMSTATS_HEAP_SAMPLE=8K
SITES=$PROGS/heap_sites

# same_heap TAG TARGET: both readers' --heap --json of TARGET agree, and
# the Python one's names leak_here first by live bytes and churn_here
# first by allocated bytes.
same_heap() {
    "$READ" --heap --json "$2" >"$WORK/$1.c.json" || fail "$1: mmstat-read"
    python3 "$PYREAD" --heap "$2" >"$WORK/$1.py.json" || fail "$1: mmstats.py"
    local got
    got=$(python3 - "$WORK/$1.c.json" "$WORK/$1.py.json" <<'EOF'
import json, sys
c, p = (json.load(open(f))["heaps"] for f in sys.argv[1:3])
out = []
if len(c) != 1 or len(p) != 1:
    out.append("heaps: %d and %d" % (len(c), len(p)))
    c = p = []
for a, b in zip(c, p):
    ha, hb = a.pop("heap"), b.pop("heap")
    if a != b:
        out.append("process %s / %s" % (a, b))
    if not ha or not hb:
        out.append("heap %s / %s" % (bool(ha), bool(hb)))
        break
    for k in ha:
        if k in ("by_live", "by_allocated"):
            continue
        if ha[k] != hb.get(k):
            out.append("%s: %s / %s" % (k, ha[k], hb.get(k)))
    def top(order):
        s = hb[order][0] if hb[order] else None
        return s and s["stack"] and s["stack"][0]["function"]
    if top("by_live") != "leak_here" or top("by_allocated") != "churn_here":
        out.append("top sites %s, %s" % (top("by_live"), top("by_allocated")))
    named = 0
    for order in ("by_live", "by_allocated"):
        if len(ha[order]) != len(hb[order]):
            out.append("%s: %d / %d sites" % (order, len(ha[order]), len(hb[order])))
        for i, (sa, sb) in enumerate(zip(ha[order], hb[order])):
            sta, stb = sa.pop("stack"), sb.pop("stack")
            if sa != sb:
                out.append("%s[%d]: %s / %s" % (order, i, sa, sb))
            if len(sta) != len(stb):
                out.append("%s[%d]: %d / %d frames" % (order, i, len(sta), len(stb)))
            for fa, fb in zip(sta, stb):
                if fb["file"] is not None or fb["line"] is not None:
                    out.append("python gave a file: %s" % fb)
                for k in ("pc", "object", "offset", "function"):
                    if fa[k] != fb[k]:
                        out.append("%s[%d] %s: %s / %s" % (order, i, k, fa[k], fb[k]))
                named += fb["function"] is not None
    if named < 10:
        out.append("only %d frames named" % named)
print("; ".join(out[:8]) or "ok")
EOF
)
    expect_eq "$got" ok "$1: mmstats.py --heap = mmstat-read --heap --json"
}

# ---- live, while heap_sites waits; then the finished file
coproc HS { LD_PRELOAD=$PRELOAD exec "$SITES" -p; }
bg_pids+=("$HS_PID")
pid=$HS_PID
if read -r -t 120 word _ <&"${HS[0]}" && [ "$word" = ready ]; then
    same_heap live "$pid"
    echo go >&"${HS[1]}"
    wait "$pid" || fail "heap_sites status $?"
else
    fail "heap_sites did not get ready"
fi
f=$(newest_file heap_sites)
same_heap finished "$f"

# ---- folded stacks, live and allocated bytes: the same lines
for by in live alloc; do
    "$READ" --heap --folded="$by" "$f" >"$WORK/folded.c.$by" ||
        fail "mmstat-read --folded=$by"
    python3 "$PYREAD" --heap --folded="$by" "$f" >"$WORK/folded.py.$by" ||
        fail "mmstats.py --folded=$by"
    expect_eq "$(diff "$WORK/folded.c.$by" "$WORK/folded.py.$by" && echo same)" \
        same "--folded=$by: the same lines"
done
expect_match "$(python3 "$PYREAD" --heap --folded "$f")" \
    ';main;leak_here [0-9]+$' "--folded: live bytes by default"

# ---- no profile: heap null, as mmstat-read's
MMSTATS_HEAP_SAMPLE=0 LD_PRELOAD=$PRELOAD "$SITES" >/dev/null
f=$(newest_file heap_sites)
python3 "$PYREAD" --heap "$f" >"$WORK/none.json"
expect_eq "$(jpy "$WORK/none.json" "d['heaps'][0]['heap']")" None \
    "HEAP_SAMPLE=0: heap null"

# ---- usage
rc=0
python3 "$PYREAD" --heap >/dev/null 2>&1 || rc=$?
expect_rc "$rc" 2 "--heap without a process"
rc=0
python3 "$PYREAD" --folded "$f" >/dev/null 2>&1 || rc=$?
expect_rc "$rc" 2 "--folded without --heap"
rc=0
python3 "$PYREAD" --heap "$WORK/no-such.mmstats" >/dev/null 2>&1 || rc=$?
expect_rc "$rc" 1 "--heap of a missing file"

finish
