# The heap profile's table of sampled blocks grows in levels (issue 12,
# item 1: at most 4 MiB of address space mapped by the shim at start-up):
# - at start-up, the profile maps far less than the old whole table
#   (65,536 slots, 1.5 MiB): a waiting process's VmSize with sampling on
#   (the default) is less than 512 KiB above the same with it off (the
#   table's first level and the unwinder's libgcc_s, ~150 KiB); this
#   fails if the whole table is mapped up front again;
# - with every block sampled (MMSTATS_HEAP_SAMPLE=1K: heap_sites' 10 KiB
#   blocks are each a sample), 1,000 live samples pass the first level's
#   load limit (768): the table grows and none is untracked, the live
#   blocks and the frees of 25,000 churned blocks come out right (one
#   thread, 8 threads, frees from another thread, a fork child).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

skip_sanitized "the shim cannot be preloaded"
SITES=$PROGS/heap_sites

# vmsize NAME [VAR=VALUE...]: VmSize (kB) of a bash under the shim, read
# once it says it is ready (its constructor has run).
vmsize() {
    local name=$1 pid word kb
    shift
    coproc VM { exec env "$@" LD_PRELOAD="$PRELOAD" bash -c 'echo ready; read -r x'; }
    pid=$VM_PID
    if ! read -r -t 60 word <&"${VM[0]}" || [ "$word" != ready ]; then
        fail "$name: the waiting bash did not get ready"
        echo 0
        return
    fi
    kb=$(awk '$1 == "VmSize:" {print $2}' "/proc/$pid/status")
    echo go >&"${VM[1]}"
    wait "$pid" || fail "$name: status $?"
    echo "${kb:-0}"
}
on=$(vmsize "sampling on")
off=$(vmsize "sampling off" MMSTATS_HEAP_SAMPLE=0)
diff=$((on - off))
echo "VmSize: sampling on $on kB, off $off kB: $diff kB"
if [ "$on" -le 0 ] || [ "$off" -le 0 ] || [ "$diff" -ge 512 ]; then
    fail "start-up: the heap profile maps $diff kB (limit 512)"
fi

export MMSTATS_HEAP_SAMPLE=1K

# check JSON WHAT [child]: no block untracked, no site below zero; in the
# parent leak_here's 1,000 blocks live and nothing else, in a fork child
# child_here's 5 MiB.
check() {
    local got
    got=$(python3 - "$1" "${3:-}" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))["heaps"][0]["heap"]
out = []
if h["untracked"] or h["negative_sites"]:
    out.append("untracked %d negative sites %d" % (h["untracked"], h["negative_sites"]))
def fn(s):
    return s["stack"][0]["function"] if s["stack"] else "(other)"
live = {}
for s in h["by_live"]:
    if s["live_bytes"]:
        live[fn(s)] = live.get(fn(s), 0) + s["live_allocs"]
want = {"child_here": None} if sys.argv[2] == "child" else {"leak_here": 1000}
for name, n in want.items():
    if name not in live or (n and abs(live[name] - n) > n / 20):
        out.append("%s live allocs %s" % (name, live.get(name)))
for name in ("churn_here", "big_here"):
    if live.get(name):
        out.append("%s live allocs %d" % (name, live[name]))
print("; ".join(out) or "ok")
EOF
)
    expect_eq "$got" ok "$2"
}

# run NAME ARGS...: heap_sites ARGS -p under the shim, read live once it
# says ready.
run() {
    local name=$1 pid word
    shift
    coproc HS { LD_PRELOAD=$PRELOAD exec "$SITES" "$@" -p; }
    pid=$HS_PID
    if ! read -r -t 300 word _ <&"${HS[0]}" || [ "$word" != ready ]; then
        fail "$name: heap_sites did not get ready"
        return
    fi
    "$READ" --heap --json "$pid" >"$WORK/$name.json" || fail "$name: read"
    echo go >&"${HS[1]}"
    wait "$pid" || fail "$name: heap_sites status $?"
    check "$WORK/$name.json" "$name: 1,000 live samples, grown table"
}
run one
run threads -t 8
run cross -t 8 -x

out=$(LD_PRELOAD=$PRELOAD "$SITES" -f)
child=$(awk '$1 == "child" {print $2}' <<<"$out")
"$READ" --heap --json "$child" >"$WORK/child.json" || fail "fork: child read"
check "$WORK/child.json" "fork child: a table of its own" child

finish
