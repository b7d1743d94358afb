# Visible (issue 12, item 2): every reader shows a rollup as one
# aggregated entry with the number of processes it holds and their time
# span. Five /bin/true processes under the shim (MMSTATS_KEEP=rollup),
# folded by mmstat-clean into true@rollup.mmstats; then mmstat-read's
# list, dump, --json, --prometheus, --sum (--json) and --by exe,
# scripts/mmstats.py, mmstat-run's summary (text and JSON: its run is
# folded per program by default) and the exporter's /metrics with
# --per-process and its default (per program: the group's
# mmstats_rollup_* gauges, accepted by promtool) each say 5 processes (3
# for mmstat-run's run) and a span of first start <= last finish.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
skip_sanitized "the shim cannot be preloaded in a sanitizer build"
# Its processes (/bin/true, true) record nothing: MMSTATS_EAGER=1 makes
# their files all the same, at start-up.
export MMSTATS_EAGER=1
mkdir -p -m 700 "$MMSTATS_DIR"
D=$MMSTATS_DIR
for _ in 1 2 3 4 5; do
    MMSTATS_KEEP=rollup MMSTATS_EAGER=1 LD_PRELOAD=$PRELOAD /bin/true || fail "true: status $?"
done
"$CLEAN" --fold >/dev/null || fail "mmstat-clean --fold: status $?"
R=$D/true@rollup.mmstats
[ -f "$R" ] || fail "no rollup: $(ls "$D")"
expect_eq "$(ls "$D" | grep -c '^true-')" 0 "no process file of true left"

# span JSON_EXPR FILE: "N ok" if the JSON document in FILE has, at
# JSON_EXPR, a rollup object with N processes and first_ns <= last_ns.
span() {
    python3 - "$@" <<'EOF'
import json, sys
d = json.load(open(sys.argv[2]))
r = eval(sys.argv[1], {"d": d})
ok = 0 < r["first_ns"] <= r["last_ns"]
print(r["processes"], "ok" if ok else "bad span %d %d" % (r["first_ns"], r["last_ns"]))
EOF
}

# mmstat-read: the list, the dump.
expect_match "$("$READ")" ' rollup\(5\) ' "list: rollup(5)"
t=$("$READ" "$R")
expect_match "$t" '^true rollup of 5 processes \(group true\) ' "dump: the header"
expect_match "$t" 'first started: .*last finished: ' "dump: the time span"

# --json, scripts/mmstats.py.
"$READ" --json "$R" >"$WORK/r.json" || fail "--json: status $?"
expect_eq "$(span 'd["processes"][0]["rollup"]' "$WORK/r.json")" "5 ok" "--json"
python3 "$PYREAD" "$R" >"$WORK/py.json" || fail "mmstats.py: status $?"
expect_eq "$(span 'd["processes"][0]["rollup"]' "$WORK/py.json")" "5 ok" \
    "scripts/mmstats.py"

# rollup_prom FILE LABELS: "True" if the Prometheus text in FILE has one
# sample whose labels match LABELS of each mmstats_rollup_* gauge: 5
# processes and 0 < first start <= last finish; else what it has.
rollup_prom() {
    python3 - "$@" <<'EOF'
import re, sys
v = {}
for line in open(sys.argv[1]):
    m = re.match(r'(mmstats_rollup_\w+)\{([^}]*)\} (\S+)$', line)
    if m and re.fullmatch(sys.argv[2], m.group(2)):
        v.setdefault(m.group(1), []).append(float(m.group(3)))
p = v.get("mmstats_rollup_processes", [])
a = v.get("mmstats_rollup_first_start_seconds", [])
b = v.get("mmstats_rollup_last_finish_seconds", [])
print(p == [5.0] and len(a) == len(b) == 1 and 0 < a[0] <= b[0] or (p, a, b))
EOF
}

# --prometheus: the processes and the span, one sample each.
"$READ" --prometheus >"$WORK/r.prom" || fail "--prometheus: status $?"
expect_eq "$(rollup_prom "$WORK/r.prom" '.*rollup="true".*')" True \
    "--prometheus: mmstats_rollup_processes and its span"

# --sum, --by exe: the rollup counts its processes.
"$READ" --sum --json >"$WORK/sum.json" || fail "--sum --json: status $?"
expect_eq "$(jpy "$WORK/sum.json" "[(g['processes'], g['files'], g['rollups']) for g in d['groups']]")" \
    "[(5, 1, 1)]" "--sum --json: 5 processes in 1 file, a rollup"
expect_match "$("$READ" --by exe)" 'exe true: 5 processes in 1 file, 1 of them rollup' \
    "--by exe: text"

# mmstat-run: its run folded per program, the summary says so.
out=$("$RUN" -- sh -c '/bin/true; /bin/true; /bin/true; exit 0' 2>&1) ||
    fail "mmstat-run: status $?"
expect_match "$out" '^ +- true +rollup\(3\) +[0-9.]+s span, last: /bin/true$' \
    "mmstat-run: text"
"$RUN" -j -o "$WORK/run.json" -- sh -c '/bin/true; /bin/true; /bin/true; exit 0' ||
    fail "mmstat-run -j: status $?"
expect_eq "$(span '[p for p in d["processes"] if p["exe"] == "true"][0]["rollup"]' "$WORK/run.json")" \
    "3 ok" "mmstat-run --json"

# Groups: {exe}-{label} by default with a label, MMSTATS_GROUP chooses
# another (here one rollup for two programs of a job), mmstat-run -k keeps
# a file per process.
G=$WORK/groups
mkdir -p -m 700 "$G"
for p in /bin/true /bin/true "cat /dev/null"; do
    MMSTATS_DIR=$G MMSTATS_KEEP=rollup MMSTATS_LABEL=j1 LD_PRELOAD=$PRELOAD \
        $p || fail "$p: status $?"
    MMSTATS_DIR=$G MMSTATS_KEEP=rollup MMSTATS_LABEL=j2 MMSTATS_GROUP='{label}' \
        LD_PRELOAD=$PRELOAD $p || fail "$p, {label}: status $?"
done
"$CLEAN" -d "$G" --fold >/dev/null || fail "mmstat-clean --fold (groups): status $?"
expect_eq "$(cd "$G" && echo *)" "cat-j1@rollup.mmstats j2@rollup.mmstats true-j1@rollup.mmstats" \
    "groups: {exe}-{label} by default, MMSTATS_GROUP={label}"
expect_match "$("$READ" "$G/j2@rollup.mmstats")" '^[a-z]+ rollup of 3 processes \(group j2\) ' \
    "groups: the job's rollup holds both programs' processes"
"$RUN" -k -j -o "$WORK/k.json" -- sh -c '/bin/true; /bin/true; exit 0' ||
    fail "mmstat-run -k: status $?"
expect_eq "$(jpy "$WORK/k.json" "sorted((p['exe'], p['rollup']) for p in d['processes'])")" \
    "[('sh', None), ('true', None), ('true', None)]" \
    "mmstat-run -k: a file per process, no rollup"

# The exporter's /metrics (if it was built).
if [ -x "$B/tools/mmstat-exporter" ]; then
    . "$(dirname "$0")/exporter_lib.sh"
    if start_exporter visible --dir "$D" --per-process; then
        http /metrics
        expect_eq "$code" 200 "exporter: /metrics status"
        expect_match "$(cat "$WORK/body")" \
            '^mmstats_rollup_processes\{[^}]*\} 5$' "exporter: the rollup's processes"
        expect_match "$(cat "$WORK/body")" \
            '^mmstats_rollup_last_finish_seconds\{[^}]*\} [0-9.]+$' "exporter: its span"
        stop_pid "$exp_pid"
    fi
    # The default, per program: the group's rollups, their processes and
    # span, with the program's labels.
    if start_exporter visible-program --dir "$D"; then
        http /metrics
        expect_eq "$code" 200 "exporter (per program): /metrics status"
        cp "$WORK/body" "$WORK/program.prom"
        expect_eq "$(rollup_prom "$WORK/program.prom" 'exe="true"')" True \
            "exporter (per program): mmstats_rollup_processes and its span"
        if command -v promtool >/dev/null; then
            expect_promtool_ok "$WORK/program.prom" "exporter (per program): /metrics"
        fi
        stop_pid "$exp_pid"
    fi
fi
finish
