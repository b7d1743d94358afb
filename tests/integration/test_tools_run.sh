# mmstat-run: the command's stdin, stdout, stderr and exit status pass
# through unchanged (exit codes, death by signal as 128 + N, 126/127);
# the summary goes to stderr or -o FILE, as text or JSON, with the calls
# tool_io is known to make (counted over its forked children, or per
# process), the memory section, and the options that mirror MMSTATS_*.
# In sanitizer builds the shim cannot be preloaded into other programs:
# there a no-op library stands in for it (MMSTATS_PRELOAD) and only the
# checks that do not need the shim's counts run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

IO=$PROGS/tool_io
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"
if [ "$SAN" = 1 ]; then
    echo 'void mms_test_noop(void); void mms_test_noop(void) {}' >"$WORK/noop.c"
    cc -shared -fPIC -o "$WORK/noop.so" "$WORK/noop.c"
    export MMSTATS_PRELOAD=$WORK/noop.so
    # The sanitized test programs would refuse a preloaded library that
    # comes before their runtime; this one intercepts nothing.
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
fi

# ---- exit status
for want in 0 3 42; do
    rc=0
    "$RUN" -o "$WORK/s.txt" -- "$IO" -x "$want" || rc=$?
    expect_rc "$rc" "$want" "exit code $want"
done
rc=0
"$RUN" -o "$WORK/s.txt" -- sh -c 'exit 3' || rc=$?
expect_rc "$rc" 3 "sh -c 'exit 3'"
expect_match "$(head -1 "$WORK/s.txt")" '^mmstat-run: sh -c exit 3: exit status 3 after [0-9.]+ s; [0-9]+ process' \
    "summary: first line"
rc=0
"$RUN" -o "$WORK/s.txt" -- "$IO" -k 9 || rc=$?
expect_rc "$rc" 137 "killed by SIGKILL"
expect_match "$(head -1 "$WORK/s.txt")" 'killed by signal 9 \(Killed\)' \
    "summary: the signal"
rc=0
"$RUN" -o "$WORK/s.txt" -- sh -c 'kill -TERM $$' || rc=$?
expect_rc "$rc" 143 "killed by SIGTERM"
rc=0
"$RUN" -o "$WORK/s.txt" -- "$WORK/no-such-command" 2>"$WORK/e.txt" || rc=$?
expect_rc "$rc" 127 "command not found"
expect_match "$(cat "$WORK/e.txt")" "^mmstat-run: $WORK/no-such-command: No such file" \
    "command not found: message"
rc=0
"$RUN" -o "$WORK/s.txt" -- "$WORK" 2>/dev/null || rc=$?
expect_rc "$rc" 126 "not executable"
for bad in "" "--sort bogus" "--bogus true"; do
    rc=0
    # shellcheck disable=SC2086
    "$RUN" $bad >/dev/null 2>&1 || rc=$?
    expect_rc "$rc" 2 "usage: '$bad'"
done
rc=0
MMSTATS_PRELOAD=$WORK/none.so "$RUN" -- true 2>"$WORK/e.txt" || rc=$?
expect_rc "$rc" 1 "shim not found"
expect_match "$(cat "$WORK/e.txt")" "MMSTATS_PRELOAD=$WORK/none\.so: " \
    "shim not found: message"

# ---- passthrough, byte for byte
head -c 300000 /dev/urandom >"$WORK/in.bin"
rc=0
"$RUN" -o "$WORK/s.txt" -- "$IO" -c <"$WORK/in.bin" >"$WORK/out.bin" \
    2>"$WORK/err.bin" || rc=$?
expect_rc "$rc" 0 "copy"
checks=$((checks + 1))
cmp -s "$WORK/in.bin" "$WORK/out.bin" || fail "stdout not passed through"
expect_eq "$(wc -c <"$WORK/err.bin")" 0 "stderr: nothing of ours with -o"
"$RUN" -o "$WORK/s.txt" -- sh -c 'cat; printf "to stderr\n" >&2; exit 5' \
    <"$WORK/in.bin" >"$WORK/out.bin" 2>"$WORK/err.bin" || true
checks=$((checks + 1))
cmp -s "$WORK/in.bin" "$WORK/out.bin" || fail "sh: stdout not passed through"
expect_eq "$(cat "$WORK/err.bin")" "to stderr" "sh: stderr passed through"
# Without -o the summary follows the command's own stderr.
"$RUN" -- "$IO" -e "the command's" -w 10 >/dev/null 2>"$WORK/err2.txt"
expect_eq "$(head -1 "$WORK/err2.txt")" "the command's" "stderr: the command's first"
expect_match "$(sed -n 2p "$WORK/err2.txt")" '^mmstat-run: .*tool_io -e ' \
    "stderr: then the summary"
# The private directory is gone afterwards.
expect_eq "$(ls -A "$TMPDIR")" "" "private stats directory removed"

# ---- JSON summary; the model example writes a file of its own in the
# private directory (MMSTATS_DIR), besides the shim's, so there is one
# even without the shim.
"$RUN" --json -o "$WORK/m.json" -- "$B/examples/model" >/dev/null
expect_json "$WORK/m.json" "json summary"
expect_eq "$(jpy "$WORK/m.json" "d['mmstat_run'], d['status'], d['exit_code'], d['signal'], d['command'][-1].endswith('/examples/model'), d['stats_dir']")" \
    "(1, 0, 0, None, True, None)" "json summary: status"
checks=$((checks + 1))
[ "$(jpy "$WORK/m.json" "len([p for p in d['processes'] if '/model-http_stats-' in p['path']])")" = 1 ] ||
    fail "json summary: the model's file"
rc=0
"$RUN" --json -o "$WORK/k.json" -- sh -c 'kill -INT $$' || rc=$?
expect_rc "$rc" 130 "SIGINT death"
expect_eq "$(jpy "$WORK/k.json" "d['status'], d['exit_code'], d['signal']")" \
    "(130, None, 2)" "json summary: signal"

# ---- --dir: files kept, a later run there counts only its own files
"$RUN" -d "$WORK/kept" -o "$WORK/d1.txt" -- "$B/examples/model" >/dev/null
"$RUN" -d "$WORK/kept" --json -o "$WORK/d2.json" -- "$B/examples/model" \
    >/dev/null
expect_eq "$(ls "$WORK/kept" | grep -c '^model-http_stats-.*\.mmstats$')" 2 \
    "--dir: files kept"
expect_match "$(head -1 "$WORK/d1.txt")" "; stats in $WORK/kept$" "--dir: said"
expect_eq "$(jpy "$WORK/d2.json" "d['stats_dir'], len([p for p in d['processes'] if '/model-http_stats-' in p['path']]), len(set(p['pid'] for p in d['processes']))")" \
    "('$WORK/kept', 1, 1)" "--dir: only this run's files"

if [ "$SAN" = 1 ]; then
    echo "SKIP: the shim's call counts (sanitizer build)"
    finish
    exit
fi

# ---- what tool_io does, counted: 10500 bytes in 11 writes, 3 children
# writing 5 x 100 bytes to /dev/null each, 20 malloc + free.
"$RUN" --json -o "$WORK/io.json" -- "$IO" -w 10500 -m 20 -f 3 >"$WORK/o.bin"
expect_eq "$(wc -c <"$WORK/o.bin")" 10500 "tool_io: its output"
J=$WORK/io.json
expect_json "$J" "tool_io summary"
row() { jpy "$J" "[(r['calls'], r['errors'], r['bytes']) for r in d['calls'] if (r['family'], r['call']) == ('$1', '$2')]"; }
expect_eq "$(row io write)" "[(26, 0, 12000)]" "io write: parent and children"
expect_eq "$(row fs open)" "[(3, 0, None)]" "fs open: the children"
expect_eq "$(row fs close)" "[(3, 0, None)]" "fs close: the children"
expect_eq "$(jpy "$J" "len(d['processes']), sorted(set(p['exe'] for p in d['processes'])), all(p['liveness'] == 'finished' for p in d['processes'])")" \
    "(4, ['tool_io'], True)" "processes: the parent and 3 children"
expect_eq "$(jpy "$J" "[r['time_ns'] > 0 and 0 < r['p50_ns'] <= r['p99_ns'] for r in d['calls'] if r['call'] == 'write']")" \
    "[True]" "io write: timed"
expect_eq "$(jpy "$J" "d['memory']['allocations'] >= 20, d['memory']['frees'] >= 20, d['memory']['allocated_bytes'] >= 2000, d['memory']['sizes']['max'] >= 100")" \
    "(True, True, True, True)" "memory"
expect_eq "$(jpy "$J" "[r['calls'] for r in d['calls']] == sorted([r['calls'] for r in d['calls']], reverse=True) or [r['time_ns'] or 0 for r in d['calls']] == sorted([r['time_ns'] or 0 for r in d['calls']], reverse=True)")" \
    "True" "sorted by time"
# Text: the same numbers.
"$RUN" -o "$WORK/io.txt" -- "$IO" -w 10500 -m 20 -f 3 >/dev/null
t=$(cat "$WORK/io.txt")
expect_match "$t" '^mmstat-run: .*tool_io -w 10500 -m 20 -f 3: exit status 0 after [0-9.]+ s; 4 processes$' \
    "text: first line"
expect_match "$t" '^  family +call +calls +errors +bytes +time +avg +p50 +p99$' "text: columns"
expect_match "$t" '^  io +write +26 +0 +12K +[0-9.]+[mun]?s ' "text: io write"
expect_match "$t" '^  fs +open +3 +0 +- ' "text: fs open"
expect_match "$t" '^  mem +malloc +[0-9]+ +0 +- +- ' "text: untimed mem calls"
expect_match "$t" '^  total +[0-9]+ +0 ' "text: total"
expect_match "$t" '^  memory: [0-9]+ allocations, [0-9]+ frees; ' "text: memory"
expect_match "$t" '^  allocation sizes: mean [0-9]+, p50 [0-9]+, p90 [0-9]+, p99 [0-9]+, max [0-9]+ bytes$' \
    "text: allocation sizes"

# ---- --per-process, --sort calls, --no-timing, --hooks, --label
"$RUN" --json --per-process --sort calls -o "$J" -- "$IO" -w 3000 -f 2 \
    >/dev/null
expect_eq "$(jpy "$J" "sorted([[(r['call'], r['calls'], r['bytes']) for r in p['calls'] if r['call'] == 'write'] for p in d['processes']])")" \
    "[[('write', 3, 3000)], [('write', 5, 500)], [('write', 5, 500)]]" \
    "per process: each process's own writes"
expect_eq "$(jpy "$J" "[r['calls'] for r in d['calls']] == sorted([r['calls'] for r in d['calls']], reverse=True)")" \
    "True" "--sort calls"
t=$("$RUN" --per-process -o /dev/stdout -- "$IO" -w 3000 -f 2 2>/dev/null |
    grep -c '^  family ')
expect_eq "$t" 3 "per process, text: a table each"
"$RUN" --json --no-timing -o "$J" -- "$IO" -w 3000 >/dev/null
expect_eq "$(jpy "$J" "set(r['time_ns'] for r in d['calls'])")" "{None}" \
    "--no-timing: no times"
"$RUN" --json --hooks io -o "$J" -- "$IO" -w 3000 -m 5 -f 1 >/dev/null
expect_eq "$(jpy "$J" "sorted(set(r['family'] for r in d['calls'])), d['memory']")" \
    "(['io'], None)" "--hooks io: only io"
"$RUN" -d "$WORK/lab" --label blue -o /dev/null -- "$IO" -w 10 >/dev/null
"$READ" --json -d "$WORK/lab" >"$WORK/lab.json"
expect_eq "$(jpy "$WORK/lab.json" "[p['label'] for p in d['processes']]")" "['blue']" \
    "--label"
finish
