# mmstat-run: the command's stdin, stdout, stderr and exit status pass
# through unchanged (exit codes, death by signal as 128 + N, 126/127);
# the summary goes to stderr or -o FILE, as text or JSON; --dir keeps the
# files and counts only the run's own. The shim's counts are checked in
# test_tools_run_counts.sh. In sanitizer builds the shim cannot be
# preloaded into other programs: a no-op library stands in for it here
# (MMSTATS_PRELOAD).
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
for bad in "" "--sort bogus" "--bogus true" "--hooks bogus -- true" \
    "--hooks io,nett -- true" "--hooks io, -- true"; do
    rc=0
    # shellcheck disable=SC2086
    "$RUN" $bad >/dev/null 2>&1 || rc=$?
    expect_rc "$rc" 2 "usage: '$bad'"
done
e=$("$RUN" --hooks io,bogus -- true 2>&1 || true)
expect_match "$e" "^mmstat-run: --hooks: unknown family 'bogus' in 'io,bogus' \(all, none, io, fs, dir, net, stdio, mem, files, sync, sig; -NAME leaves one out\)$" \
    "--hooks: an unknown family named, the known ones listed"
rc=0
"$RUN" -o "$WORK/s.txt" --hooks all,-mem -- true || rc=$?
expect_rc "$rc" 0 "--hooks all,-mem"
# The families mmstat-run knows are the shim's (its MMSTATS_VERBOSE table
# shows them all with MMSTATS_HOOKS=all).
if [ "$SAN" = 0 ]; then
    shim_fams=$(MMSTATS_HOOKS=all MMSTATS_VERBOSE=1 LD_PRELOAD=$PRELOAD \
        /bin/true 2>&1 |
        sed -n 's/^mmstats: MMSTATS_HOOKS *= *\([a-z,]*\) .*/\1/p' | tr , ' ')
    expect_match "$e" "\(all, none, $(sed 's/ /, /g' <<<"$shim_fams");" \
        "--hooks: the shim's families"
fi
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
[ "$(jpy "$WORK/m.json" "len([p for p in d['processes'] if '/model-http_stats-' in p['path'] or '/model-http_stats@' in p['path']])")" = 1 ] ||
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
expect_eq "$(jpy "$WORK/d2.json" "d['stats_dir'], len([p for p in d['processes'] if '/model-http_stats-' in p['path'] or '/model-http_stats@' in p['path']]), len(set(p['pid'] for p in d['processes']))")" \
    "('$WORK/kept', 1, 1)" "--dir: only this run's files"
finish
