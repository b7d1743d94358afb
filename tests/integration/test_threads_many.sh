# 500 threads at once, each making 1,000 frees of blocks the main thread
# allocated (its first calls), 1,000 writes and 1,000 malloc+free pairs:
# none is lost or shared. While they are alive, each has a row of its own
# in mmstat-read --threads with exactly its calls (a thread on the shared
# shard 0, or a free-only thread's frees on shared cells, would not);
# once they have exited, their writes are one "(exited threads)" row of
# exactly 500,000, and nothing was dropped. Needs the shim (skipped,
# status 77, in sanitizer builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized
expect_ge() {
    checks=$((checks + 1))
    [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] ||
        fail "$3: got '$1', want at least $2"
}

T=500
C=1000
coproc TM { LD_PRELOAD=$PRELOAD exec "$PROGS/threads_many" "$T" "$C"; }
tm_pid=$TM_PID
bg_pids+=("$tm_pid")
read -r -t 300 word pid <&"${TM[0]}" && [ "$word" = ready ] ||
    fail "threads_many did not start"
J=$WORK/t.json
"$READ" --threads --json "$pid" >"$J"
expect_json "$J" "--threads --json"
# The worker rows whose counts are not exactly C writes, C mallocs, 2C
# frees (none), and how many rows there are.
rows="d['processes'][0]['threads']"
calls() { echo "t['calls'].get('$1', {}).get('calls')"; }
expect_eq "$(jpy "$J" "len([t for t in $rows if t['name'].startswith('tm-')])")" \
    "$T" "running: one row per thread"
expect_eq "$(jpy "$J" "[(t['name'], $(calls io.write), $(calls mem.malloc), $(calls mem.free)) for t in $rows if t['name'].startswith('tm-') and ($(calls io.write), $(calls mem.malloc), $(calls mem.free), t['state']) != ($C, $C, $((2 * C)), 'running')][:5]")" \
    "[]" "running: each thread's own calls, exactly"
expect_eq "$(jpy "$J" "sum($(calls io.write) or 0 for t in $rows)")" \
    $((T * C)) "running: io.write over all rows"
expect_eq "$(jpy "$J" "len(set(t['tid'] for t in $rows if t['name'].startswith('tm-')))")" \
    "$T" "running: a tid per thread"

echo exit >&"${TM[1]}"
read -r -t 300 word _ failed <&"${TM[0]}" && [ "$word" = joined ] ||
    fail "threads_many did not join its threads"
expect_eq "$failed" 0 "threads_many: failed calls"
"$READ" --threads --json "$pid" >"$J"
expect_eq "$(jpy "$J" "[(t['state'], $(calls io.write)) for t in $rows if t['name'] == '(exited threads)']")" \
    "[('exited', $((T * C)))]" "exited: one row, every write"
expect_eq "$(jpy "$J" "len([t for t in $rows if t['name'].startswith('tm-')])")" \
    0 "exited: no row of their own"
f=$(newest_file threads_many)
expect_eq "$(pnum "$f" io.write.calls)" $((T * C)) "io.write.calls"
expect_eq "$(dropped "$f")" 0 "dropped"
# Main's T x C blocks (the threads free them) and each thread's pairs,
# with glibc's own calls besides.
expect_ge "$(pnum "$f" mem.malloc.calls)" $((2 * T * C)) "mem.malloc.calls"
expect_ge "$(pnum "$f" mem.free.calls)" $((2 * T * C)) "mem.free.calls"

eval "exec ${TM[1]}>&-"
wait "$tm_pid" && rc=0 || rc=$?
expect_eq "$rc" 0 "threads_many: exit status"
finish
