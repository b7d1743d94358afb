# Files opened to be read, only read (fstat'ed, seeked, mmap'ed) and
# closed, the import pattern, have no record of their own: they count in
# their directory's record, keyed "DIR/*" (issue 12, item 1: python3 -c
# pass reads 55 modules so). A file that does more (more events than the
# shim keeps back, a dup, a write, still open at exit) gets its own record
# with everything it did before, exactly as without the fold;
# MMSTATS_FILES_FOLD=0 gives every file opened its own record, as before.
# Exact counts: this fails if the fold loses or adds an event, or if a
# file that did more is folded.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized "the shim cannot be preloaded into plain programs"
skip_without python3 "the workload and the JSON are run and read with it"
D=$WORK/data
mkdir -p "$D"
mkdir -p "$D/sub" "$D/sud"
for f in a b c duped kept many rw s g sub/t sud/t; do echo hello >"$D/$f"; done

cat >"$WORK/work.py" <<'EOF'
import os, sys
d = sys.argv[1]
for n in "abc":  # opened, fstat'ed, read to the end, closed: folded
    fd = os.open(f"{d}/{n}", os.O_RDONLY)
    os.fstat(fd)
    os.read(fd, 100)
    os.read(fd, 100)
    os.close(fd)
fd = os.open(f"{d}/many", os.O_RDONLY)  # more reads than are kept back
for _ in range(20):
    os.read(fd, 1)
os.close(fd)
fd = os.open(f"{d}/duped", os.O_RDONLY)  # a dup
os.read(fd, 3)
fd2 = os.dup(fd)
os.read(fd2, 3)
os.close(fd)
os.close(fd2)
fd = os.open(f"{d}/rw", os.O_RDWR)  # read, then written
os.read(fd, 2)
os.write(fd, b"xy")
os.close(fd)
# The same file again and again: its slot of the shim's open files keeps
# its lookups (no record of its own, its directory's records): folded.
for _ in range(3):
    fd = os.open(f"{d}/s", os.O_RDONLY)
    os.read(fd, 100)
    os.close(fd)
for sub in ("sub", "sud"):  # s's slot: other directories (of one length)
    fd = os.open(f"{d}/{sub}/t", os.O_RDONLY)
    os.read(fd, 100)
    os.close(fd)
fd = os.open(f"{d}/g", os.O_RDONLY)  # folded; its slot keeps "no record"
os.read(fd, 100)
os.close(fd)
x = os.open("/dev/null", os.O_RDONLY)  # excluded: takes the number, no slot
w = os.open(f"{d}/g", os.O_WRONLY)  # g gets a record of its own elsewhere
os.close(w)
os.close(x)
fd = os.open(f"{d}/g", os.O_RDONLY)  # g's slot again: its own record now
os.read(fd, 100)
os.close(fd)
kept = os.open(f"{d}/kept", os.O_RDONLY)  # still open at exit
os.read(kept, 4)
EOF

# run NAME [VAR=VALUE...]: the workload under the shim, its --files JSON
# in $WORK/NAME.json.
run() {
    local name=$1 f
    shift
    env MMSTATS_DIR="$WORK/$name" "$@" LD_PRELOAD="$PRELOAD" \
        python3 "$WORK/work.py" "$D" || fail "$name: status $?"
    f=$(ls "$WORK/$name"/python3*.mmstats 2>/dev/null | head -1 || true)
    "$READ" --files --json "${f:-none}" >"$WORK/$name.json" ||
        fail "$name: --files"
    expect_eq "$(dropped "${f:-none}")" 0 "$name: nothing dropped"
}
run fold
run nofold MMSTATS_FILES_FOLD=0

# q EXPR: EXPR in Python, with recs(NAME) the records under $D/ of run
# NAME by key (without the prefix) and plain(r) a record's members but
# the times and timestamps (which differ from run to run).
q() {
    python3 - "$WORK" "$D/" "$1" <<'EOF'
import json, sys
work, pre, expr = sys.argv[1:]
def recs(name):
    rs = json.load(open(f"{work}/{name}.json"))["files"]["records"]
    return {r["key"][len(pre):]: r["members"] for r in rs
            if r["key"].startswith(pre)}
def plain(m):
    return {k: v for k, v in m.items()
            if not any(t in k for t in ("time", "first_", "last_", "slowest"))}
def total(name, keys, members):
    r = recs(name)
    return [sum(r[k][m] for k in keys) for m in members]
print(eval(expr))
EOF
}
expect_eq "$(q "' '.join(sorted(recs('fold')))")" "* duped g kept many rw sub/* sud/*" \
    "fold: the files only read and closed in the directory's record, the others their own"
expect_eq "$(q "' '.join(sorted(recs('nofold')))")" "a b c duped g kept many rw s sub/t sud/t" \
    "MMSTATS_FILES_FOLD=0: a record per file"
sums="['opens', 'closes', 'stats', 'bytes_read', 'read_0_100', 'seq_reads', 'consec_reads', 'read_end']"
expect_eq "$(q "total('fold', ['*'], $sums)")" "[7, 7, 3, 42, 10, 3, 3, 6]" \
    "fold: the directory's record holds the opens, closes, stats and reads of a, b, c, s (3 times) and g (once, before its record)"
expect_eq "$(q "[recs('fold')['g'][m] for m in ('opens', 'closes', 'bytes_read')]")" \
    "[2, 2, 6]" "g: its record has its open to write and the read after it, in the slot that had found it none before"
expect_eq "$(q "total('nofold', 'abc', $sums[:-1])")" "[3, 3, 3, 18, 6, 3, 3]" \
    "nofold: the three files' records hold as much"
for f in many duped rw kept; do
    expect_eq "$(q "plain(recs('fold')['$f']) == plain(recs('nofold')['$f'])")" True \
        "$f: its own record, the same with and without the fold"
done
expect_eq "$(q "[recs('fold')['many'][m] for m in ('opens', 'closes', 'bytes_read', 'consec_reads')]")" \
    "[1, 1, 6, 19]" "many: 20 reads of 1 byte (6 with data), each after the last"
expect_eq "$(q "[recs('fold')['kept'][m] for m in ('opens', 'closes', 'bytes_read')]")" \
    "[1, 0, 4]" "kept: open at exit, its open and read recorded then"
expect_eq "$(q "[recs('fold')['rw'][m] for m in ('bytes_read', 'bytes_written')]")" \
    "[2, 2]" "rw: its read and its write"
finish
