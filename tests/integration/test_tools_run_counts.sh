# mmstat-run's summary of what tool_io is known to do under the shim: the
# calls counted over its forked children, or per process, sorted, the
# memory section, text and JSON saying the same, and the options that
# mirror MMSTATS_* (--hooks, --no-timing, --label). Needs the shim: in
# sanitizer builds it cannot be preloaded into other programs, and the
# test is skipped (status 77).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

skip_sanitized "the shim cannot be preloaded in a sanitizer build"
IO=$PROGS/tool_io
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"

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
expect_eq "$(jpy "$J" "d['process_count'], sorted(set(p['exe'] for p in d['processes'])), all(p['liveness'] == 'finished' for p in d['processes'])")" \
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
expect_match "$t" '^  family +call +calls +errors +bytes +% time +time +avg +p50 +p99$' "text: columns"
expect_match "$t" '^  io +write +26 +0 +12K +[0-9.]+ +[0-9.]+[mun]?s ' "text: io write"
expect_match "$t" '^  fs +open +3 +0 +- ' "text: fs open"
expect_match "$t" '^  mem +malloc +[0-9]+ +0 +- +- ' "text: untimed mem calls"
expect_match "$t" '^  total +[0-9]+ +0 ' "text: total"
expect_match "$t" '^  memory: [0-9]+ allocations, [0-9]+ frees; ' "text: memory"
expect_match "$t" '^  allocation sizes: mean [0-9.]+[BKMG], p50 [0-9.]+[BKMG], p90 [0-9.]+[BKMG], p99 [0-9.]+[BKMG], max [0-9.]+[BKMG]$' \
    "text: allocation sizes"
# --raw: exact numbers, times in ns.
"$RUN" --raw -o "$WORK/raw.txt" -- "$IO" -w 10500 -m 20 -f 3 >/dev/null
t=$(cat "$WORK/raw.txt")
expect_match "$t" '^  family +call +calls +errors +bytes +% time +time_ns +avg_ns +p50_ns +p99_ns$' \
    "--raw: columns"
expect_match "$t" '^  io +write +26 +0 +12000 +[0-9.]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$' \
    "--raw: io write, exact"
expect_match "$t" '^  allocation sizes: mean [0-9]+, p50 [0-9]+, p90 [0-9]+, p99 [0-9]+, max [0-9]+ bytes$' \
    "--raw: allocation sizes"

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
