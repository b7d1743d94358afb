# Per-file records in timed mode (the default): an access that continues
# its thread's run takes the fast path (files.h), which must still add its
# time, its timestamp and, if it is the slowest, its size. files_timed
# makes runs of 1-byte writes to a FIFO (one of them blocked until the
# reader drains it: the slowest, in the middle of the run) and of 1-byte
# reads of /dev/zero, and no other read or write: each file's read or
# write time must be the io.read or io.write latency's sum and its slowest
# access the latency's maximum (within 1 ns a call: both are converted
# from the same clock stamps, the latency's as one difference). Fails if
# the fast path drops times (then nearly all are lost) or the slowest.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized "the shim cannot be preloaded into plain programs"
skip_without python3 "the JSON is read with it"
checks=0
N=50000

for clock in tsc monotonic; do
    D=$WORK/$clock
    mkdir -p "$D/data"
    MMSTATS_DIR=$D/s MMSTATS_TIMING=on MMSTATS_CLOCK=$clock \
        MMSTATS_FILES_EXCLUDE=none LD_PRELOAD=$PRELOAD \
        "$PROGS/files_timed" "$D/data" $N ||
        fail "$clock: files_timed under the shim: status $?"
    # The parent's file: the one with N write calls.
    F=
    for f in "$D"/s/files_timed-*.mmstats; do
        [ "$(pnum "$f" io.write.calls)" = $N ] && F=$f
    done
    checks=$((checks + 1))
    [ -n "$F" ] || {
        fail "$clock: no stats file with $N writes"
        continue
    }
    "$READ" --json "$F" >"$D/fields.json" || fail "$clock: --json"
    "$READ" --files --json "$F" >"$D/files.json" || fail "$clock: --files"
    out=$(python3 - "$D/fields.json" "$D/files.json" "$D/data/timed.fifo" \
        $N <<'EOF'
import json, sys
fields = json.load(open(sys.argv[1]))["processes"][0]["fields"]
recs = {r["key"]: r["members"]
        for r in json.load(open(sys.argv[2]))["files"]["records"]}
n = int(sys.argv[4])
bad = []
for op, key in (("write", sys.argv[3]), ("read", "/dev/zero")):
    lat = fields[f"io.{op}.latency"]["value"]
    m = recs.get(key)
    if m is None:
        bad.append(f"no record for {key}: {sorted(recs)}")
        continue
    if lat["count"] != n or m["bytes_" + ("written" if op == "write"
                                           else "read")] != n:
        bad.append(f"{op}: {lat['count']} calls timed, want {n}")
    if abs(m[op + "_time"] - lat["sum"]) > n:
        bad.append(f"{op}_time {m[op + '_time']} ns, the latencies' sum "
                   f"{lat['sum']} ns")
    slow, size = m["slowest_" + op]
    if abs(slow - lat["max"]) > 1 or size != 1:
        bad.append(f"slowest_{op} {slow} ns of {size} bytes, the latencies' "
                   f"max {lat['max']} ns")
    if not 0 < m["first_" + op] <= m["last_" + op] <= m["last_close"]:
        bad.append(f"{op} timestamps out of order: first {m['first_' + op]} "
                   f"last {m['last_' + op]} close {m['last_close']}")
# The write blocked on the full FIFO is far slower than the others.
w = fields["io.write.latency"]["value"]
if w["max"] < 4 * w["quantiles"]["p50"]:
    bad.append(f"no slow write: max {w['max']}, p50 {w['quantiles']['p50']}")
print("\n".join(bad))
EOF
    )
    [ -z "$out" ] || fail "$clock: $out"
    expect_eq "$(dropped "$F")" 0 "$clock: nothing dropped"
done
finish
