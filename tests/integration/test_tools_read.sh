# mmstat-read on real stats files (the examples', tool_rate's and, in
# plain builds, the shim's): the listing (state, age, size on disk,
# fields), the text dump, --filter, --json (valid, with the values the
# programs wrote), --list, --running, corrupt and foreign files, exit
# codes, --help and --version.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

out=$("$B/examples/basic" 1 2)
bpid=$(pid_of "$out")
out=$("$B/examples/timers" 1)
tpid=$(pid_of "$out")
out=$("$B/examples/model")
mpath=${out#writing }
if [ "$SAN" = 0 ]; then
    # Dies by SIGKILL: its file stays "ready" with no process: stale.
    rc=0
    (shim "$PROGS/tool_io" -w 2000 -k 9 >/dev/null) 2>/dev/null || rc=$?
    expect_rc "$rc" 137 "shim tool_io -k 9"
    spath=$(newest_file tool_io)
fi
start_rate live 1000 0

# ---- listing
list=$("$READ")
expect_match "$list" '^ +PID +EXE +STATE +AGE +SIZE +FIELDS +PATH$' \
    "list: header"
expect_match "$list" "^ +$bpid +basic +finished +[0-9]+s +[0-9.]+K +7  $MMSTATS_DIR/basic-$bpid\.mmstats$" \
    "list: finished basic, 7 fields"
expect_match "$list" "^ +$rate_pid +tool_rate +running +[0-9]+s .*  $rate_path$" \
    "list: running process"
if [ "$SAN" = 0 ]; then
    expect_match "$list" "^ +[0-9]+ +tool_io +stale +.*  $spath$" \
        "list: killed process is stale"
fi
# SIZE is what the file takes on disk (st_blocks * 512), not its sparse
# size (64 MiB).
read -r blocks bsize < <(stat -c '%b %B' "$MMSTATS_DIR/basic-$bpid.mmstats")
kib=$((blocks * bsize / 1024))
size=$(awk -v p="$bpid" '$1 == p {print $5}' <<<"$list")
expect_eq "$size" "${kib}K" "list: SIZE is the allocated size"
checks=$((checks + 1))
[ "$kib" -lt 4096 ] || fail "list: basic takes $kib KiB on disk?"

# ---- text dump
dump=$("$READ" "$bpid")
expect_match "$dump" "^basic pid $bpid ppid [0-9]+ finished $MMSTATS_DIR/basic-$bpid\.mmstats$" \
    "dump: header line"
expect_match "$dump" '^  cmdline: .*/examples/basic 1 2$' "dump: cmdline"
expect_match "$dump" 'app\.requests +[0-9]+ requests$' "dump: counter with units"
expect_match "$dump" 'app\.in_flight +0 requests$' "dump: gauge"
expect_match "$dump" 'app\.load +0\.9$' "dump: f64 gauge"
expect_match "$dump" 'app\.phase +"done"$' "dump: string"
expect_match "$dump" 'app\.threads +2 threads$' "dump: static"
dump=$("$READ" "$tpid")
n=$(awk '$1 == "req.count" {print $2}' <<<"$dump")
# Times and sizes read as a person would: 2.33ms, 2.1K; the counts exact.
T='[0-9.]+(ns|us|ms|s)'
Z='[0-9.]+[BKMG]'
expect_match "$dump" "req\.latency +$n samples +mean $T +p50 $T +p90 $T +p99 $T +p99\.9 $T +max $T +rate/s 1s:[0-9.e+]+ 10s:[0-9.e+]+ 60s:[0-9.e+]+$" \
    "dump: histogram quantiles in human units, and window rates"
expect_match "$dump" "req\.size +$n samples +mean $Z +p50 $Z +p90 $Z +p99 $Z +p99\.9 $Z +max $Z$" \
    "dump: sizes in K/M/G"
raw=$("$READ" --raw "$tpid")
expect_match "$raw" "req\.latency +$n samples +mean [0-9]+ +p50 [0-9]+ +p90 [0-9]+ +p99 [0-9]+ +p99\.9 [0-9]+ +max [0-9]+ ns +rate/s " \
    "--raw: exact integers in ns"
expect_match "$raw" "req\.size_avg100 +[0-9.e+]+ mean of last 100 \(last [0-9.e+]+, $n values\) bytes$" \
    "--raw: moving average in bytes"
expect_match "$dump" 'req\.count +[0-9]+ requests +rate/s 1s:' \
    "dump: windowed counter"
expect_match "$dump" 'pool +idle=[0-9]+ busy=[0-9]+ utilisation=[0-9.]+$' \
    "dump: struct members"
expect_match "$dump" "req\.size_avg100 +$Z mean of last 100 \(last $Z, $n values\)$" \
    "dump: moving average"
# The path works as well as the pid, and several at once.
both=$("$READ" "$mpath" "$MMSTATS_DIR/basic-$bpid.mmstats")
expect_match "$both" '^model pid ' "dump by path: first"
expect_match "$both" '^basic pid ' "dump by path: second"
expect_match "$both" 'requests +1000 requests$' "dump: model counter"

# ---- filters, repeatable
f=$("$READ" -f 'app.req*' --filter app.version "$bpid")
expect_match "$f" 'app\.requests ' "filter: first glob"
expect_match "$f" 'app\.version ' "filter: second glob"
expect_no_match "$f" 'app\.bytes|app\.load' "filter: others left out"
z=$("$READ" --nonzero "$bpid")
expect_no_match "$z" 'app\.in_flight' "nonzero: zero gauge left out"
expect_match "$z" 'app\.requests' "nonzero: counter kept"

# ---- JSON
"$READ" --json "$mpath" "$tpid" "$bpid" >"$WORK/r.json"
expect_json "$WORK/r.json" "json"
J=$WORK/r.json
expect_eq "$(jpy "$J" 'd["mmstats_json"], len(d["processes"])')" "(1, 3)" \
    "json: schema version, one object per process"
expect_eq "$(jpy "$J" '[p["exe"] for p in d["processes"]]')" \
    "['model', 'timers', 'basic']" "json: in argument order"
M='d["processes"][0]'
expect_eq "$(jpy "$J" "$M[\"liveness\"], $M[\"state\"], $M[\"path\"]")" \
    "('finished', 'finished', '$mpath')" "json: header"
expect_eq "$(jpy "$J" "$M[\"fields\"][\"requests\"]")" \
    "{'kind': 'counter', 'units': 'requests', 'help': 'requests served', 'flags': ['sharded'], 'value': 1000}" \
    "json: counter"
expect_eq "$(jpy "$J" "$M[\"fields\"][\"errors\"][\"value\"], $M[\"fields\"][\"last_path\"][\"value\"], $M[\"fields\"][\"in_flight\"][\"value\"]")" \
    "(10, '/index.html', 0)" "json: counter, string, gauge"
L="$M[\"fields\"][\"latency\"]"
expect_eq "$(jpy "$J" "$L[\"kind\"], $L[\"units\"], $L[\"value\"][\"count\"], sum(b[2] for b in $L[\"value\"][\"buckets\"])")" \
    "('histogram', 'ns', 1000, 1000)" "json: histogram count = its buckets"
expect_eq "$(jpy "$J" "all(b[0] <= b[1] and b[2] > 0 for b in $L[\"value\"][\"buckets\"]), sorted($L[\"value\"][\"quantiles\"]), sorted($L[\"windows\"])")" \
    "(True, ['p50', 'p90', 'p99', 'p999'], ['10s', '1s', '60s'])" \
    "json: buckets [low, high, count], quantiles, windows"
V="$L[\"value\"]"
expect_eq "$(jpy "$J" "$V['min'] <= $V['quantiles']['p50'] <= $V['quantiles']['p99'] <= $V['max'], abs($V['mean'] - $V['sum'] / $V['count']) < 1e-9")" \
    "(True, True)" "json: quantiles between min and max, mean = sum / count"
T='d["processes"][1]["fields"]'
expect_eq "$(jpy "$J" "$T[\"pool\"][\"member_types\"], sorted($T[\"pool\"][\"value\"])")" \
    "({'idle': 'u64', 'busy': 'u64', 'utilisation': 'f64'}, ['busy', 'idle', 'utilisation'])" \
    "json: struct"
expect_eq "$(jpy "$J" "$T[\"req.size_avg100\"][\"value\"][\"window\"], $T[\"req.size_avg100\"][\"value\"][\"count\"] == $T[\"req.count\"][\"value\"]")" \
    "(100, True)" "json: moving average"
expect_eq "$(jpy "$J" "$T[\"req.count\"][\"windows\"][\"1s\"][\"rate\"] >= 0, sorted($T[\"req.latency\"][\"windows\"][\"10s\"])")" \
    "(True, ['count', 'max', 'mean', 'min', 'quantiles', 'rate', 'sum'])" \
    "json: windows of counters and histograms"
X='d["processes"][2]["fields"]'
expect_eq "$(jpy "$J" "$X[\"app.threads\"][\"flags\"], $X[\"app.threads\"][\"value\"], $X[\"app.load\"][\"kind\"], $X[\"app.load\"][\"value\"]")" \
    "(['static'], 2, 'gauge_f64', 0.9)" "json: static and f64 gauges"
# -f applies to JSON too.
"$READ" --json -f 'app.v*' "$bpid" >"$WORK/f.json"
expect_eq "$(jpy "$WORK/f.json" 'list(d["processes"][0]["fields"])')" \
    "['app.version']" "json: filter"
# Without PID or PATH: every file of the directory; --list: headers only.
"$READ" --json >"$WORK/all.json" 2>"$WORK/all.err" || true
expect_json "$WORK/all.json" "json: all files"
nfiles=$(ls "$MMSTATS_DIR"/*.mmstats | wc -l)
expect_eq "$(jpy "$WORK/all.json" 'len(d["processes"])')" "$nfiles" \
    "json: one object per file"
"$READ" --list --json >"$WORK/list.json"
expect_json "$WORK/list.json" "json: list"
expect_eq "$(jpy "$WORK/list.json" 'any("fields" in p for p in d["processes"]), len(d["processes"])')" \
    "(False, $nfiles)" "json --list: headers only"
expect_eq "$(jpy "$WORK/list.json" '[p["liveness"] for p in d["processes"] if p["pid"] == '"$rate_pid"']')" \
    "['running']" "json --list: running"
# --running: only the live one.
r=$("$READ" --running)
expect_eq "$(grep -c mmstats <<<"$r")" 1 "running: one file listed"
expect_match "$r" "tool_rate +running" "running: the live process"

# ---- corrupt and foreign files: one line each, the others still listed
head -c 100 /dev/urandom >"$MMSTATS_DIR/short.mmstats"
head -c 16384 /dev/urandom >"$MMSTATS_DIR/garbage.mmstats"
head -c 8192 "$mpath" >"$MMSTATS_DIR/truncated.mmstats"
chmod 600 "$MMSTATS_DIR"/{short,garbage,truncated}.mmstats
rc=0
"$READ" >"$WORK/c.out" 2>"$WORK/c.err" || rc=$?
expect_rc "$rc" 1 "corrupt files"
err=$(cat "$WORK/c.err")
expect_eq "$(wc -l <"$WORK/c.err")" 3 "corrupt: one line per bad file"
expect_match "$err" "^mmstat-read: $MMSTATS_DIR/garbage\.mmstats: not an mmstats file" \
    "corrupt: garbage named with its reason"
expect_match "$err" "^mmstat-read: $MMSTATS_DIR/truncated\.mmstats: stats file shorter" \
    "corrupt: truncated named with its reason"
expect_match "$err" "^mmstat-read: $MMSTATS_DIR/short\.mmstats: " "corrupt: short"
expect_match "$(cat "$WORK/c.out")" "^ +$bpid +basic +finished" \
    "corrupt: good files still listed"
expect_match "$(cat "$WORK/c.out")" "^ +$rate_pid +tool_rate +running" \
    "corrupt: good files still listed (2)"
rc=0
"$READ" --json >"$WORK/c.json" 2>/dev/null || rc=$?
expect_rc "$rc" 1 "corrupt files, json"
expect_json "$WORK/c.json" "corrupt: JSON still valid"
expect_eq "$(jpy "$WORK/c.json" 'len(d["processes"])')" "$nfiles" \
    "corrupt: the good files in JSON"
rm -f "$MMSTATS_DIR"/{short,garbage,truncated}.mmstats

# ---- exit codes and messages
rc=0
e=$("$READ" 999999999 2>&1) || rc=$?
expect_rc "$rc" 1 "unknown pid"
expect_eq "$e" "mmstat-read: 999999999: no stats file for this pid in $MMSTATS_DIR" \
    "unknown pid: message"
# A file that is no stats file says so (it is short, not a short stats
# file).
rc=0
e=$("$READ" /etc/passwd 2>&1) || rc=$?
expect_rc "$rc" 1 "not a stats file"
expect_match "$e" "^mmstat-read: /etc/passwd: not an mmstats file" \
    "not a stats file: message"
# No stats yet: where they will appear and how to make one; not an error.
rc=0
e=$(MMSTATS_DIR=$WORK/none "$READ" 2>&1) || rc=$?
expect_rc "$rc" 0 "no stats yet"
expect_match "$e" "^mmstat-read: no stats files yet: $WORK/none does not exist\.$" \
    "no stats yet: where"
expect_match "$e" "mmstat-run -- PROGRAM" "no stats yet: how to make one"
expect_eq "$(MMSTATS_DIR=$WORK/none "$READ" --json | jpy /dev/stdin 'd["processes"]')" \
    "[]" "no stats yet: JSON"
rc=0
"$READ" -d "$WORK/none" >/dev/null 2>&1 || rc=$?
expect_rc "$rc" 1 "a directory named with --dir that does not exist"
# Counts of one take the singular; byte counters keep their exact value
# and add a human one.
one=$("$READ" "$mpath")
expect_match "$(grep -E '^ +latency ' <<<"$one")" ' 1000 samples ' "plural"
rc=0
e=$("$READ" "$WORK/nope.mmstats" 2>&1) || rc=$?
expect_rc "$rc" 1 "missing path"
expect_match "$e" "^mmstat-read: $WORK/nope\.mmstats: No such file" "missing path: message"
for bad in --bogus "--json --prometheus" "--count 3" "--watch 1 2" \
    "--by pid" "--watch=0" "--list --sum"; do
    rc=0
    # shellcheck disable=SC2086
    "$READ" $bad >/dev/null 2>&1 || rc=$?
    expect_rc "$rc" 2 "usage error: $bad"
done
# Usage errors name the program, not the path it was run by (getopt's
# own messages say "./mmstat-read:"), and say what was wrong.
usage_err() { (cd "$(dirname "$READ")" && ./mmstat-read "$@" 2>&1 >/dev/null) || true; }
expect_eq "$(usage_err --bogus | head -1)" "mmstat-read: unknown option '--bogus'" \
    "usage: unknown long option"
expect_eq "$(usage_err -Q | head -1)" "mmstat-read: unknown option '-Q'" \
    "usage: unknown short option"
expect_eq "$(usage_err --dir | head -1)" "mmstat-read: option '--dir' needs an argument" \
    "usage: missing argument"
expect_eq "$(usage_err --list=yes | head -1)" "mmstat-read: option '--list' takes no argument" \
    "usage: argument to a flag"
expect_eq "$(usage_err --w | head -1)" "mmstat-read: ambiguous option '--w'" \
    "usage: ambiguous prefix"
expect_eq "$(usage_err --bogus | tail -1)" "Try 'mmstat-read --help'." \
    "usage: where to look"
# --watch --json: one JSON object per interval, a line each (NDJSON).
rc=0
timeout 600 "$READ" --watch=0.1 --count 3 --json -f 'rate.*' "$rate_pid" \
    >"$WORK/nd.json" 2>"$WORK/nd.err" || rc=$?
expect_rc "$rc" 0 "watch --json"
expect_eq "$(wc -l <"$WORK/nd.json")" 3 "watch --json: a line per interval"
expect_eq "$(python3 -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(all(r["mmstats_watch"] == 1 and r["pid"] == int(sys.argv[2]) and
          r["interval_s"] > 0 and sorted(r["fields"]) == ["rate.ticks", "rate.work"] and
          r["fields"]["rate.ticks"]["delta"] == r["fields"]["rate.ticks"]["value"] -
          (rows[i - 1]["fields"]["rate.ticks"]["value"] if i else r["fields"]["rate.ticks"]["value"] - r["fields"]["rate.ticks"]["delta"]) and
          abs(r["fields"]["rate.ticks"]["rate"] * r["interval_s"] - r["fields"]["rate.ticks"]["delta"]) < 1e-6 * max(1, r["fields"]["rate.ticks"]["delta"]) and
          r["fields"]["rate.work"]["kind"] == "histogram"
          for i, r in enumerate(rows)))' "$WORK/nd.json" "$rate_pid")" True \
    "watch --json: deltas between rows, rate x interval = delta"
h=$("$READ" --help)
expect_match "$h" '^Usage: mmstat-read ' "help: usage"
expect_match "$h" 'Examples:' "help: examples"
expect_match "$("$READ" --version)" '^mmstat-read [0-9]+\.[0-9]+\.[0-9]+$' "version"
# Not a terminal: no escape sequences in any output.
all=$("$READ"; "$READ" "$tpid"; "$READ" --sum)
expect_no_match "$all" $'\e' "no colours when not a tty"
finish
