# mmstat-read --threads: three threads named three ways (pthread_setname_np
# of itself, of another thread, prctl(PR_SET_NAME)) make 1000, 2000 and
# 3000 writes: each row shows exactly its own, in text and JSON, with the
# thread's tid; once they have exited, their writes are one "(exited
# threads)" row of exactly 6000. Needs the shim (skipped, status 77, in
# sanitizer builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

skip_sanitized "the shim cannot be preloaded in a sanitizer build"

coproc TN { LD_PRELOAD=$PRELOAD exec "$PROGS/threads_named"; }
tn_pid=$TN_PID
bg_pids+=("$tn_pid")
read -r -t 60 word pid <&"${TN[0]}" && [ "$word" = ready ] ||
    fail "threads_named did not start"
J=$WORK/t.json
"$READ" --threads --json "$pid" >"$J"
expect_json "$J" "--threads --json"
row() { jpy "$J" "[(t['calls'].get('io.write', {}).get('calls'), t['calls'].get('io.write', {}).get('bytes'), t['state']) for t in d['processes'][0]['threads'] if t['name'] == '$1']"; }
expect_eq "$(row w-one)" "[(1000, 1000, 'running')]" "w-one (named itself)"
expect_eq "$(row w-two)" "[(2000, 2000, 'running')]" \
    "w-two (named by another thread)"
expect_eq "$(row w-three)" "[(3000, 3000, 'running')]" "w-three (prctl)"
# The tids are the threads' own: /proc/PID/task/TID/comm says the name.
for n in w-one w-two w-three; do
    tid=$(jpy "$J" "[t['tid'] for t in d['processes'][0]['threads'] if t['name'] == '$n'][0]")
    expect_eq "$(cat "/proc/$pid/task/$tid/comm" 2>&1)" "$n" "$n: tid $tid"
done
expect_eq "$(jpy "$J" "sum(t['calls'].get('io.write', {}).get('calls', 0) for t in d['processes'][0]['threads'])")" \
    6000 "no other thread wrote"
expect_eq "$(jpy "$J" "[t['tid'] for t in d['processes'][0]['threads'] if t['name'] == 'threads_named'] == [$pid]")" \
    True "the main thread: its tid and name"
t=$("$READ" --threads "$pid")
expect_match "$t" '^ +TID +THREAD +FAMILY +CALLS +ERRORS +BYTES +TIME$' \
    "text: columns"
expect_match "$t" '^ +[0-9]+  w-one +io +1000 +0 +1000 ' "text: w-one"
expect_match "$t" '^ +[0-9]+  w-two +io +2000 +0 +2.0K ' "text: w-two"
expect_match "$t" '^ +[0-9]+  w-three +io +3000 +0 +2.9K ' "text: w-three"
t=$("$READ" --threads --raw "$pid")
expect_match "$t" '^ +[0-9]+  w-three +io +3000 +0 +3000 +[0-9]+$' \
    "text --raw: w-three"

# The threads exit: their writes stay, as one row.
echo exit >&"${TN[1]}"
read -r -t 60 word _ failed <&"${TN[0]}" && [ "$word" = joined ] ||
    fail "threads_named did not join its threads"
expect_eq "$failed" 0 "threads_named: failed writes"
"$READ" --threads --json "$pid" >"$J"
expect_eq "$(jpy "$J" "[(t['tid'], t['state'], t['calls']['io.write']['calls']) for t in d['processes'][0]['threads'] if t['name'] == '(exited threads)']")" \
    "[(None, 'exited', 6000)]" "exited threads: one row, every write"
expect_eq "$(jpy "$J" "[t['name'] for t in d['processes'][0]['threads'] if t['name'].startswith('w-')]")" \
    "[]" "exited threads: no row of their own"
t=$("$READ" --threads "$pid")
expect_match "$t" '^ +-  \(exited threads\) +io +6000 +0 +5.9K ' \
    "text: (exited threads)"

# Usage.
"$READ" --threads >/dev/null 2>&1 && rc=0 || rc=$?
expect_rc "$rc" 2 "--threads without a PID"
"$READ" --threads --prometheus "$pid" >/dev/null 2>&1 && rc=0 || rc=$?
expect_rc "$rc" 2 "--threads --prometheus"
eval "exec ${TN[1]}>&-"
wait "$tn_pid" 2>/dev/null || true
finish
