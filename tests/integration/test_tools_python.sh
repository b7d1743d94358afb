# scripts/mmstats.py, a reader written from docs/format.md with the Python
# standard library only, prints the same JSON
# as mmstat-read --json. Compared on finished files (whose values no
# longer change) with the windows taken at the same CLOCK_MONOTONIC time
# (--windows-at), the two documents must be equal as parsed JSON, except
# "snapshot_real_ns" and "snapshot_mono_ns" (when each reader looked);
# numbers compare as numbers (2 == 2.0). Both refuse the same corrupt
# files with the same message.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

"$B/examples/basic" 1 2 >/dev/null
"$B/examples/timers" 2 >/dev/null
MMSTATS_LABEL=green "$B/examples/model" >/dev/null
"$PROGS/tool_rate" 2000 0.7 200 >/dev/null
if [ "$SAN" = 0 ]; then
    shim "$PROGS/tool_io" -w 5000 -m 30 -f 2 >/dev/null
fi
# A field of a kind from the future (9): listed, its value unknown.
model=$(ls "$MMSTATS_DIR"/model-*.mmstats)
cp --sparse=always "$model" "$MMSTATS_DIR/future-1.mmstats"
chmod 600 "$MMSTATS_DIR/future-1.mmstats"
# The first FIELD block (format 3: blocks from heap_off, type 2).
field_off=$(python3 - "$model" <<'EOF'
import struct, sys
m = open(sys.argv[1], "rb").read()
off, end = struct.unpack_from("<I", m, 88)[0], struct.unpack_from("<Q", m, 80)[0]
while off < end:
    btype, _, size = struct.unpack_from("<HHI", m, off)
    if btype == 2:
        print(off)
        break
    off += size
EOF
)
patch_header "$MMSTATS_DIR/future-1.mmstats" $((field_off + 12)) B 9
now=$(python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC))')

# same TAG ARGS...: both readers on ARGS; their JSON must be equal. The
# files are synced first: on a filesystem with delayed allocation (ext4)
# the blocks a file takes on disk ("disk_bytes") change when it is
# written back, which could fall between the two readers.
same() {
    local tag=$1 rc1=0 rc2=0
    shift
    sync -- "$MMSTATS_DIR"/*.mmstats "$@" 2>/dev/null || sync
    "$READ" --json --windows-at "$now" "$@" >"$WORK/$tag.c.json" \
        2>"$WORK/$tag.c.err" || rc1=$?
    python3 "$PYREAD" --windows-at "$now" "$@" >"$WORK/$tag.py.json" \
        2>"$WORK/$tag.py.err" || rc2=$?
    expect_eq "$rc2" "$rc1" "$tag: same exit status"
    expect_json "$WORK/$tag.py.json" "$tag: python's JSON"
    checks=$((checks + 1))
    local diff
    diff=$(python3 - "$WORK/$tag.c.json" "$WORK/$tag.py.json" <<'EOF'
import json, sys
c, p = (json.load(open(f)) for f in sys.argv[1:3])
for d in (c, p):
    for proc in d["processes"]:
        proc.pop("snapshot_real_ns", None)
        proc.pop("snapshot_mono_ns", None)
out = []
def cmp(a, b, path):
    if len(out) > 10:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            out.append("%s: keys %s vs %s" % (path, list(a), list(b)))
        for k in a:
            if k in b:
                cmp(a[k], b[k], path + "/" + k)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append("%s: %d vs %d items" % (path, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            cmp(x, y, "%s[%d]" % (path, i))
    elif a != b or (a is None) != (b is None) or \
            isinstance(a, str) != isinstance(b, str):
        out.append("%s: C %r, Python %r" % (path, a, b))
cmp(c, p, "")
print("\n".join(out))
EOF
)
    [ -z "$diff" ] || fail "$tag: mmstat-read and mmstats.py differ:
$diff"
}

same all
P=$WORK/all.py.json
expect_eq "$(jpy "$P" "len(d['processes'])")" \
    "$(ls "$MMSTATS_DIR"/*.mmstats | wc -l)" "python: every file"
# The comparison covers what matters: windows with data, every kind.
T="[p for p in d['processes'] if p['exe'] == 'timers'][0]['fields']"
checks=$((checks + 1))
[ "$(jpy "$P" "$T['req.count']['windows']['60s']['count'] > 0 and $T['req.latency']['windows']['60s']['quantiles']['p99'] > 0")" = True ] ||
    fail "python: the timers' windows are empty: nothing compared"
expect_eq "$(jpy "$P" "sorted(set(f['kind'] for p in d['processes'] for f in p['fields'].values()))")" \
    "['counter', 'gauge', 'gauge_f64', 'histogram', 'movavg', 'string', 'struct', 'unknown']" \
    "python: every kind compared"
expect_eq "$(jpy "$P" "[(f['kind'], f['kind_code'], f['value']) for p in d['processes'] for f in p['fields'].values() if f['kind'] == 'unknown']")" \
    "[('unknown', 9, None)]" "python: unknown kind"
expect_eq "$(jpy "$P" "[p['label'] for p in d['processes'] if p['exe'] == 'model']")" \
    "['green', 'green']" "python: label"

# By pid, with filters.
tpid=$(ls "$MMSTATS_DIR"/timers-*.mmstats)
tpid=${tpid##*-}
tpid=${tpid%.mmstats}
same filtered -f 'req.*' -f pool "$tpid"
expect_eq "$(jpy "$WORK/filtered.py.json" "list(d['processes'][0]['fields'])")" \
    "['req.latency', 'req.size', 'req.count', 'pool', 'req.size_avg100']" \
    "python: filters"

# ---- the same refusals
cp --sparse=always "$model" "$WORK/count.mmstats"
chmod 600 "$WORK/count.mmstats"
patch_header "$WORK/count.mmstats" 100 I 0 # next_index: every index too big
cp --sparse=always "$model" "$WORK/name.mmstats"
chmod 600 "$WORK/name.mmstats"
patch_header "$WORK/name.mmstats" $((field_off + 72)) B 46 # '.'
cp --sparse=always "$model" "$WORK/geometry.mmstats"
chmod 600 "$WORK/geometry.mmstats"
patch_header "$WORK/geometry.mmstats" 96 I 100 # extent_size
head -c 8192 "$model" >"$WORK/truncated.mmstats"
head -c 8192 /dev/urandom >"$WORK/garbage.mmstats"
cp "$model" "$WORK/writable.mmstats"
chmod 666 "$WORK/writable.mmstats"
ln -s "$model" "$WORK/link.mmstats"
for f in count name geometry truncated garbage writable link; do
    same "bad-$f" "$WORK/$f.mmstats" "$model"
    expect_eq "$(sed 's/^mmstats\.py: //' "$WORK/bad-$f.py.err")" \
        "$(sed 's/^mmstat-read: //' "$WORK/bad-$f.c.err")" \
        "bad $f: the same message"
    expect_match "$(cat "$WORK/bad-$f.py.err")" "^mmstats\.py: $WORK/$f\.mmstats: " \
        "bad $f: python names the file"
    expect_eq "$(jpy "$WORK/bad-$f.py.json" "len(d['processes'])")" 1 \
        "bad $f: the good file still read"
done
finish
