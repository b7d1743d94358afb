# Per-file records (issue 15) of real programs under the shim: dd, sqlite3
# with transactions (the database and its journal, with their syncs), tar
# xf of a 5,000-file tree (the table's bound holds and (other) is honest),
# threads writing one file (exact totals), a fork (each process its own).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized "the shim cannot be preloaded into plain programs"
for p in python3 dd tar sqlite3; do
    command -v $p >/dev/null || {
        echo "SKIP: $p missing (scripts/test installs it)"
        exit 77
    }
done

# under NAME CMD...: CMD under the shim, stats in $WORK/NAME/s, its
# stdout and stderr to /dev/null (excluded: no records of their own).
under() {
    local name=$1
    shift
    mkdir -p "$WORK/$name/s"
    MMSTATS_DIR=$WORK/$name/s LD_PRELOAD=$PRELOAD "$@" >/dev/null 2>&1 ||
        fail "$name: status $?"
}
# files_json NAME [FILE...]: mmstat-read --files --json of NAME's stats
# files (all of them by default) into $WORK/NAME/json.
files_json() {
    local name=$1
    shift
    [ $# -gt 0 ] || set -- "$WORK/$name"/s/*.mmstats
    "$READ" --files --json "$@" >"$WORK/$name/json" ||
        fail "$name: mmstat-read --files --json: status $?"
}
# q NAME EXPR: a Python expression over the view (f: the "files" object,
# r(KEY): a record's members, other: the (other) record's members).
q() {
    python3 - "$WORK/$1/json" "$2" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))["files"]
recs = {x["key"]: x for x in f["records"]}
def r(k):
    x = recs.get(k)
    return dict(x["members"], reads=x["reads"], writes=x["writes"]) if x else {}
other = r("(other)")
print(eval(sys.argv[2]))
EOF
}

echo "== dd: 1 MiB in 4 KiB blocks, through the descriptors dd makes"
D=$WORK/dd
mkdir -p "$D"
head -c $((1 << 20)) /dev/urandom >"$D/in"
under dd dd if="$D/in" of="$D/out" bs=4096
files_json dd
expect_eq "$(q dd "r('$D/in')['bytes_read'], r('$D/in')['read_1k_10k'], r('$D/in')['read_end'], r('$D/in')['seq_reads']")" \
    "(1048576, 256, 1048576, 256)" "dd: input read whole, 256 reads of 4 KiB, then the EOF (0 bytes, sequential)"
expect_eq "$(q dd "r('$D/out')['bytes_written'], r('$D/out')['writes'], r('$D/out')['write_end'], r('$D/out')['consec_writes']")" \
    "(1048576, 256, 1048576, 255)" "dd: output written whole, 256 writes, consecutive"
expect_eq "$(q dd "r('$D/in')['opens'] >= 1 and r('$D/out')['opens'] >= 1")" True \
    "dd: both files opened"

# mmstat-run: the top files after the calls, text and JSON.
RUN=$B/tools/mmstat-run
out=$("$RUN" -o /dev/stdout -- dd if="$D/in" of="$D/out2" bs=4096 2>/dev/null)
expect_match "$out" "^top files \(of all processes, by bytes\):$" "mmstat-run: top files"
expect_match "$out" "^$D/in +[0-9]+ +257 +0 +1.0M +0 " "mmstat-run: the input's row"
expect_match "$out" "^$D/out2 +[0-9]+ +0 +256 +0 +1.0M " "mmstat-run: the output's row"
mkdir -p "$WORK/ddrun"
"$RUN" --json -o "$WORK/ddrun/json" -- dd if="$D/in" of="$D/out2" bs=4096 2>/dev/null
expect_eq "$(q ddrun "r('$D/out2')['bytes_written'], r('$D/in')['bytes_read']")" \
    "(1048576, 1048576)" "mmstat-run --json: the files object"

echo "== sqlite3: transactions; the database and its journal, with their syncs"
D=$WORK/sq
mkdir -p "$D"
cat >"$D/t.sql" <<'EOF'
PRAGMA journal_mode=DELETE;
CREATE TABLE t(a INTEGER, b TEXT);
BEGIN; INSERT INTO t VALUES(1, 'one'); INSERT INTO t VALUES(2, 'two'); COMMIT;
BEGIN; INSERT INTO t VALUES(3, 'three'); COMMIT;
BEGIN; UPDATE t SET b = 'x' WHERE a < 3; COMMIT;
EOF
under sq sqlite3 "$D/db" <"$D/t.sql"
files_json sq
expect_eq "$(q sq "r('$D/db')['opens'] >= 1, r('$D/db')['bytes_written'] >= 4096, r('$D/db')['fsyncs'] + r('$D/db')['fdatasyncs'] >= 4")" \
    "(True, True, True)" "sqlite3: the database written and synced at each commit"
expect_eq "$(q sq "r('$D/db-journal')['opens'] >= 4, r('$D/db-journal')['bytes_written'] > 0, r('$D/db-journal')['fsyncs'] + r('$D/db-journal')['fdatasyncs'] >= 4")" \
    "(True, True, True)" "sqlite3: a journal per transaction, written and synced"
expect_eq "$(python3 -c 'import os,sys; print(os.path.exists(sys.argv[1]))' "$D/db-journal")" \
    False "sqlite3: the journal deleted (its record stays)"

echo "== tar xf of 5,000 files: the bound holds, (other) is honest"
D=$WORK/tar
mkdir -p "$D/src" "$D/big" "$D/small"
total=$(python3 - "$D/src" <<'EOF'
import os, sys
os.chdir(sys.argv[1])
total = 0
for i in range(5000):
    d = f"tree/d{i // 100:02d}"
    os.makedirs(d, exist_ok=True)
    n = (i % 13) * 97
    with open(f"{d}/f{i:04d}", "wb") as f:
        f.write(b"x" * n)
    total += n
print(total)
EOF
)
tar cf "$D/tree.tar" -C "$D/src" tree
# Room for every file, then the default table (1024 records).
MMSTATS_FILES_MAX=8192 under tar-big tar xf "$D/tree.tar" -C "$D/big"
under tar-small tar xf "$D/tree.tar" -C "$D/small"
files_json tar-big
files_json tar-small
expect_eq "$(diff -r "$D/src" "$D/big" >/dev/null && diff -r "$D/src" "$D/small" >/dev/null && echo same)" \
    same "tar: the trees extracted as bare"
nbig=$(q tar-big "f['nrecords'] - 1")
expect_eq "$(q tar-big "f['nrecords'] - 1 >= 5001, f['other_files'], other.get('opens', 0)")" \
    "(True, 0, 0)" "tar, 8192 records: every file has a record (5,000 files and the archive)"
expect_eq "$(q tar-small "f['capacity'], f['nrecords']")" "(1024, 1024)" \
    "tar, 1024 records: the bound holds"
expect_eq "$(q tar-small "f['nrecords'] - 1 + f['other_files']")" "$nbig" \
    "tar, 1024 records: records + files in (other) = files with a record when there is room"
sums="sum(x['members']['bytes_written'] for x in f['records']), sum(x['writes'] for x in f['records']), sum(x['members']['opens'] for x in f['records'])"
expect_eq "$(q tar-small "$sums")" "$(q tar-big "$sums")" \
    "tar: bytes, writes and opens summed over the records and (other), as with room for all"
expect_eq "$(q tar-big "sum(x['members']['bytes_written'] for x in f['records'])")" \
    "$total" "tar: the bytes written are the tree's"
expect_match "$("$READ" --files --top 3 "$WORK"/tar-small/s/*.mmstats)" \
    "^1023 files with a record \(3 shown\); \(other\): $((nbig - 1023)) more files \(the table holds 1024\)$" \
    "tar: the text view says what (other) holds"

echo "== threads: 4 threads write one file, exact totals"
D=$WORK/th
mkdir -p "$D"
T=4 N=2000 S=512
under th "$PROGS/files_threads" "$D" $T $N $S
files_json th
expect_eq "$(q th "r('$D/threads.pw')['bytes_written'], r('$D/threads.pw')['writes'], r('$D/threads.pw')['write_0_100'] + r('$D/threads.pw')['write_100_1k'], r('$D/threads.pw')['write_end']")" \
    "($((T * N * S)), $((T * N)), $((T * N)), $((T * N * S)))" \
    "threads, pwrite at offsets of their own: bytes, writes, sizes, the end"
expect_eq "$(q th "r('$D/threads.w')['bytes_written'], r('$D/threads.w')['writes'], r('$D/threads.w')['opens'], r('$D/threads.w')['closes']")" \
    "($((T * N * S)), $((T * N)), 1, 1)" \
    "threads, write through one shared descriptor: bytes, writes, one open"
expect_eq "$(dropped "$(ls "$WORK"/th/s/*.mmstats | head -1)")" 0 "threads: nothing dropped"

echo "== fork: the child's writes in its own file"
D=$WORK/fk
mkdir -p "$D/s"
out=$(MMSTATS_DIR=$D/s LD_PRELOAD=$PRELOAD "$PROGS/files_fork" "$D/f") ||
    fail "fork: status $?"
child=${out#child }
files_json fk "$(ls "$D"/s/files_fork-*.mmstats | grep -v -- "-$child\.")"
expect_eq "$(q fk "r('$D/f')['bytes_written'], r('$D/f')['writes'], r('$D/f')['opens'], r('$D/f')['dups']")" \
    "(125, 2, 1, 0)" "fork: the parent's record: its own writes only"
mkdir -p "$WORK/fkc"
files_json fkc "$D/s/files_fork-$child.mmstats"
expect_eq "$(q fkc "r('$D/f')['bytes_written'], r('$D/f')['writes'], r('$D/f')['opens'], r('$D/f')['dups']")" \
    "(80, 2, 1, 1)" "fork: the child's record: its writes, through the descriptor it inherited and a dup"
finish
