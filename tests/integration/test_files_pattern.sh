# Per-file records (issue 15), exact: files_pattern makes a known access
# pattern (10 MiB of 4 KiB writes with an fsync every MiB and a dup in the
# middle, a 16 KiB stride read through FILE *, random 512-byte preads,
# meta calls, a rename) and prints every counter its records must hold,
# computed from the pattern alone; mmstat-read --files --json must show
# exactly those, timed (the slow path) and counted (the fast path).
# Then the options: a hashed key, excluded prefixes, the family off.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized "the shim cannot be preloaded into plain programs"
skip_without python3 "the JSON is compared with it"

# compare WANT JSON WHAT: every "member value" line of WANT (files_pattern's
# output) against the record of its key in JSON (mmstat-read --files
# --json); prints one line per mismatch, nothing if all agree.
compare() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
want_path, json_path, what = sys.argv[1:4]
recs = {r["key"]: r for r in json.load(open(json_path))["files"]["records"]}
key = {}
want = []
for line in open(want_path):
    name, *val = line.split()
    which, _, member = name.rpartition(".")
    if member == "key":
        key[which] = val[0]
    else:
        want.append((which, member, [int(v) for v in val]))
n = 0
for which, member, val in want:
    k = key.get(which)
    r = recs.get(k)
    if r is None:
        print(f"{what}: no record for {k!r} (records: {sorted(recs)})")
        continue
    got = r["members"].get(member)
    got = got if isinstance(got, list) else [got]
    if got != val:
        print(f"{what}: {k} {member}: got {got}, want {val}")
    n += 1
if n < 46:
    print(f"{what}: only {n} members compared")
EOF
}

# filesonly: the io, fs and stdio families off, files on: their calls
# keep every per-file record without counters of their own (a hook whose
# call is off must still do its per-file part: MMP_FILES_ONLY).
for mode in timed counted filesonly; do
    D=$WORK/$mode
    mkdir -p "$D/data"
    timing=on hooks=all,-sync # the default
    [ $mode = timed ] || timing=off
    [ $mode = filesonly ] && hooks=files
    MMSTATS_DIR=$D/s MMSTATS_TIMING=$timing MMSTATS_HOOKS=$hooks \
        LD_PRELOAD=$PRELOAD \
        "$PROGS/files_pattern" "$D/data" >"$D/want" ||
        fail "$mode: files_pattern under the shim: status $?"
    F=$(ls "$D"/s/files_pattern-*.mmstats 2>/dev/null | head -1 || true)
    "$READ" --files --json "${F:-none}" >"$D/json" ||
        fail "$mode: mmstat-read --files --json: status $?"
    checks=$((checks + 1))
    out=$(compare "$D/want" "$D/json" "$mode")
    [ -z "$out" ] || fail "$mode: the records differ from the pattern:
$out"
    expect_eq "$(dropped "${F:-none}")" 0 "$mode: nothing dropped"
    text=$("$READ" --files "${F:-none}")
    expect_match "$text" "^$D/data/pattern.dat +5 +1641 +2577 +3.0M +10M " \
        "$mode: the text table's row (opens, reads, writes, bytes)"
    expect_match "$text" "88 4.0K x3216$" "$mode: sequential %, common size"
done

# Times, from the timed run: in order, and the slowest access within the
# total. (Their values depend on the machine; their relations do not.)
checks=$((checks + 1))
out=$(python3 - "$WORK/timed/json" "$WORK/timed/data/pattern.dat" <<'EOF'
import json, sys
r = {x["key"]: x for x in json.load(open(sys.argv[1]))["files"]["records"]}
m = r[sys.argv[2]]["members"]
bad = []
order = ["first_open", "first_write", "last_write", "last_close"]
if not all(m[a] and m[a] <= m[b] for a, b in zip(order, order[1:])):
    bad.append("open/write/close times out of order: " +
               str([m[k] for k in order]))
if not (m["first_read"] and m["first_read"] <= m["last_read"] <=
        m["last_close"]):
    bad.append("read times out of order")
for op in ("read", "write"):
    slow, size = m["slowest_" + op]
    if not (0 < slow <= m[op + "_time"]) or size not in (512, 4096):
        bad.append(f"slowest {op}: {slow} ns of {size} bytes, "
                   f"{op}_time {m[op + '_time']}")
if m["meta_time"] <= 0:
    bad.append("no meta time")
print("\n".join(bad))
EOF
)
[ -z "$out" ] || fail "timed: $out"
# Counted: no times at all.
expect_eq "$(python3 -c 'import json,sys; m=[r for r in json.load(open(sys.argv[1]))["files"]["records"] if r["key"]==sys.argv[2]][0]["members"]; print(m["read_time"], m["first_open"], m["slowest_write"][0])' \
    "$WORK/counted/json" "$WORK/counted/data/pattern.dat")" "0 0 0" \
    "counted: no times"

# MMSTATS_FILES_HASH: the key is a hash; the path is nowhere in the file.
D=$WORK/hash
mkdir -p "$D/data"
MMSTATS_DIR=$D/s MMSTATS_FILES_HASH=1 MMSTATS_FILES_SALT=pepper \
    LD_PRELOAD=$PRELOAD "$PROGS/files_pattern" "$D/data" >/dev/null ||
    fail "hash: status $?"
F=$(ls "$D"/s/files_pattern-*.mmstats 2>/dev/null | head -1 || true)
expect_match "$("$READ" --files "${F:-none}")" \
    '^hash:[0-9a-f]{16} +5 +1641 +2577 ' "hash: the record keyed by a hash"
checks=$((checks + 1))
if grep -qaF "pattern.dat" "${F:-/dev/null}"; then
    fail "hash: the path is in the stats file"
fi

# MMSTATS_FILES_EXCLUDE: the data directory excluded (with the defaults).
D=$WORK/excl
mkdir -p "$D/data"
MMSTATS_DIR=$D/s MMSTATS_FILES_EXCLUDE=default:$D/data/ \
    LD_PRELOAD=$PRELOAD "$PROGS/files_pattern" "$D/data" >/dev/null ||
    fail "exclude: status $?"
F=$(ls "$D"/s/files_pattern-*.mmstats 2>/dev/null | head -1 || true)
"$READ" --files --json "${F:-none}" >"$D/json" || fail "exclude: mmstat-read"
expect_eq "$(python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["files"]; print(f["excluded"], [r["key"] for r in f["records"] if "/data/" in r["key"]])' "$D/json")" \
    "3 []" "exclude: 3 opens excluded (open, fopen, open), no record"

# The family off: no tables, and the reader says so.
D=$WORK/off
mkdir -p "$D/data"
MMSTATS_DIR=$D/s MMSTATS_HOOKS=all,-files LD_PRELOAD=$PRELOAD \
    "$PROGS/files_pattern" "$D/data" >/dev/null || fail "off: status $?"
F=$(ls "$D"/s/files_pattern-*.mmstats 2>/dev/null | head -1 || true)
expect_match "$("$READ" --files "${F:-none}")" '^no per-file records' \
    "off: no per-file records"
expect_eq "$(pnum "${F:-none}" io.write.calls)" 2560 "off: the calls still counted"
finish
