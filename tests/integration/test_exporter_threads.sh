# The exporter's per-thread view: /api/v1/processes/PID/threads is
# mmstat-read --threads --json PID of the same file. threads_named's three
# named threads make 1000, 2000 and 3000 writes and wait: the endpoint
# shows exactly those, per thread; once they have exited, one "(exited
# threads)" row of 6000. Unknown PIDs are 404. Needs the shim (skipped,
# status 77, in sanitizer builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

skip_sanitized "the shim cannot be preloaded in a sanitizer build"

# same A B WHAT: the JSON documents in files A and B are equal.
same() {
    expect_eq "$(python3 -c 'import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print("same" if a == b else "%s\n---- versus ----\n%s" % (a, b))' "$1" "$2")" \
        same "$3"
}

coproc TN { LD_PRELOAD=$PRELOAD exec "$PROGS/threads_named"; }
tn_pid=$TN_PID
bg_pids+=("$tn_pid")
read -r -t 60 word pid <&"${TN[0]}" && [ "$word" = ready ] ||
    fail "threads_named did not start"
start_exporter threads --dir "$MMSTATS_DIR" || { finish; exit 1; }

http "/api/v1/processes/$pid/threads"
expect_eq "$code" 200 "/api/v1/processes/PID/threads: status"
cp "$WORK/body" "$WORK/api.json"
expect_json "$WORK/api.json" "/api/v1/processes/PID/threads"
"$READ" --threads --json "$pid" >"$WORK/read.json"
same "$WORK/api.json" "$WORK/read.json" "running: as mmstat-read --threads --json"
row() { jpy "$WORK/api.json" "[(t['calls'].get('io.write', {}).get('calls'), t['state']) for t in d['processes'][0]['threads'] if t['name'] == '$1']"; }
expect_eq "$(row w-one)" "[(1000, 'running')]" "w-one"
expect_eq "$(row w-two)" "[(2000, 'running')]" "w-two"
expect_eq "$(row w-three)" "[(3000, 'running')]" "w-three"
expect_eq "$(jpy "$WORK/api.json" "d['processes'][0]['pid'] == $pid")" True \
    "the process's pid"

# The threads exit: one "(exited threads)" row holds their writes.
echo exit >&"${TN[1]}"
read -r -t 60 word _ failed <&"${TN[0]}" && [ "$word" = joined ] ||
    fail "threads_named did not join its threads"
http "/api/v1/processes/$pid/threads"
expect_eq "$code" 200 "after the exits: status"
cp "$WORK/body" "$WORK/api.json"
"$READ" --threads --json "$pid" >"$WORK/read.json"
same "$WORK/api.json" "$WORK/read.json" "exited: as mmstat-read --threads --json"
expect_eq "$(jpy "$WORK/api.json" "[(t['tid'], t['state'], t['calls']['io.write']['calls']) for t in d['processes'][0]['threads'] if t['name'] == '(exited threads)']")" \
    "[(None, 'exited', 6000)]" "(exited threads): one row, every write"

# Unknown processes and malformed paths.
expect_code "/api/v1/processes/999999999/threads" 404 "unknown PID"
expect_code "/api/v1/processes/x1/threads" 404 "not a PID"
expect_code "/api/v1/processes/$pid/threads/x" 404 "more after threads"
stop_pid "$exp_pid"
expect_eq "$stop_rc" 0 "exporter: exit status"
eval "exec ${TN[1]}>&-"
wait "$tn_pid" 2>/dev/null || true
finish
