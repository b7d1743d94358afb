# Real programs under the shim: each runs twice, bare and under the shim,
# and its stdout, stderr, exit status and output files must be the same
# byte for byte. The shim's counts of dd's reads and writes equal what
# strace saw the kernel do; other programs' counts are checked for being
# plausible (the exact ones are in test_preload_counts.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
# A sanitizer build of the shim cannot be preloaded into programs built
# without that sanitizer (its runtime must be loaded first): the shim is
# tested in the plain builds.
skip_sanitized
export LC_ALL=C # the same messages and collation in every run
mkdir -p "$MMSTATS_DIR" "$WORK/in"
IN=$WORK/in

# run_pair NAME CMD...: run CMD bare in $WORK/bare/NAME and under the shim
# in $WORK/shim/NAME (stats in $MMSTATS_DIR/NAME); compare stdout, stderr
# and the exit status (left in $rc). Stdin is /dev/null; stdout is a pipe
# (into a bare cat), as in a shell pipeline: with a regular file there,
# cat and others would copy with copy_file_range, which no hook sees.
run_pair() {
    local name=$1
    shift
    local b=$WORK/bare/$name s=$WORK/shim/$name rb=0 rs=0
    mkdir -p "$b" "$s"
    (cd "$b" && "$@" </dev/null 2>"$b.err" | cat >"$b.out") 2>/dev/null ||
        rb=$?
    (cd "$s" && MMSTATS_DIR=$MMSTATS_DIR/$name LD_PRELOAD=$PRELOAD \
        "$@" </dev/null 2>"$s.err" | cat >"$s.out") 2>/dev/null || rs=$?
    expect_eq "$rs" "$rb" "$name: exit status under the shim"
    same_file "$b.out" "$s.out" "$name: stdout under the shim"
    same_file "$b.err" "$s.err" "$name: stderr under the shim"
    rc=$rs
}
# same_file A B WHAT: files A and B are identical.
same_file() {
    checks=$((checks + 1))
    if ! cmp -s "$1" "$2"; then
        fail "$3: $1 and $2 differ:"
        diff <(od -c "$1" | head -20) <(od -c "$2" | head -20) |
            sed 's/^/    /' >&2 || true
    fi
}
# stats NAME: f = the one stats file the shim wrote for run NAME.
stats() {
    local files=("$MMSTATS_DIR/$1"/*.mmstats)
    checks=$((checks + 1))
    f=${files[0]}
    if [ "${#files[@]}" -ne 1 ] || [ ! -f "$f" ]; then
        fail "$1: want one stats file, found: ${files[*]}"
    fi
}
# num FILE NAME: field NAME of FILE; 0 if its call was never made; a
# name the table does not know (a typo) fails.
num() { pnum "$@"; }
# sum FILE REGEX: the sum of the fields whose names match REGEX.
sum() {
    "$READ" "$1" | awk -v re="$2" '$1 ~ re {s += $2} END {print s + 0}'
}
# expect_ge GOT MIN WHAT
expect_ge() {
    checks=$((checks + 1))
    if ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt "$2" ]; then
        fail "$3: got '$1', want at least $2"
    fi
}
size() { stat -c %s "$1"; }
# minus A B: A - B, or "A - B" as text if either is not a number.
minus() {
    if [[ "$1" =~ ^-?[0-9]+$ && "$2" =~ ^-?[0-9]+$ ]]; then
        echo $(($1 - $2))
    else
        echo "$1 - $2"
    fi
}

# ---- dd: exact counts, against the file and against strace
run_pair dd dd if=/dev/zero of=out bs=512 count=2000 status=noxfer
expect_eq "$rc" 0 "dd: exit status"
same_file "$WORK/bare/dd/out" "$WORK/shim/dd/out" "dd: output file"
expect_eq "$(size "$WORK/shim/dd/out")" 1024000 "dd: output size"
stats dd
for call in read write; do
    expect_eq "$(num "$f" io.$call.calls)" 2000 "dd: io.$call.calls"
    expect_eq "$(num "$f" io.$call.errors)" 0 "dd: io.$call.errors"
    expect_eq "$(num "$f" io.$call.requested_bytes)" 1024000 \
        "dd: io.$call.requested_bytes"
    expect_eq "$(num "$f" io.$call.bytes)" 1024000 "dd: io.$call.bytes"
done
expect_ge "$(sum "$f" '^fs[.]open(at)?(64)?[.]calls$')" 2 "dd: fs.open calls"

# strace: the system calls dd made on its input and output (-P: only
# those; the loader's and libc's own reads of libraries and locale files
# bypass any hook). The summary table (-C) gives the calls, the trace
# lines the bytes; both must equal the shim's counts for the same run.
if ! command -v strace >/dev/null; then
    fail "strace is not installed (scripts/test installs it)"
else
    d=$WORK/strace
    mkdir -p "$d"
    : >"$d/out"
    MMSTATS_DIR=$MMSTATS_DIR/strace strace -f -C -o "$d/trace" \
        -e trace=read,write -P /dev/zero -P "$d/out" -E LD_PRELOAD="$PRELOAD" \
        dd if=/dev/zero of="$d/out" bs=512 count=2000 status=none ||
        fail "strace dd: status $? (is ptrace permitted here?)"
    stats strace
    for call in read write; do
        calls=$(awk -v c=$call '$NF == c && $4 ~ /^[0-9]+$/ {print $4}' "$d/trace")
        bytes=$(awk -v c=$call '$2 ~ "^" c "\\(" && /= [0-9]+$/ {s += $NF}
                END {print s + 0}' "$d/trace")
        expect_eq "$calls" 2000 "dd: strace's $call calls"
        expect_eq "$(num "$f" io.$call.calls)" "$calls" \
            "dd: io.$call.calls = strace's summary"
        expect_eq "$(num "$f" io.$call.bytes)" "$bytes" \
            "dd: io.$call.bytes = strace's sum of results"
    done
    # Everything dd did, unfiltered: start-up adds the same reads to runs
    # of 2000 and 0 blocks, so the differences must agree exactly.
    for n in 0 2000; do
        MMSTATS_DIR=$MMSTATS_DIR/strace$n strace -f -c -o "$d/sum$n" \
            -e trace=read,write -E LD_PRELOAD="$PRELOAD" \
            dd if=/dev/zero of="$d/out$n" bs=512 count=$n status=none ||
            fail "strace dd count=$n: status $?"
    done
    stats strace0
    f0=$f
    stats strace2000
    f1=$f
    for call in read write; do
        s0=$(awk -v c=$call '$NF == c {print $4}' "$d/sum0")
        s1=$(awk -v c=$call '$NF == c {print $4}' "$d/sum2000")
        h0=$(num "$f0" io.$call.calls)
        h1=$(num "$f1" io.$call.calls)
        expect_eq "$((${s1:-0} - ${s0:-0}))" 2000 "dd: strace's extra $call calls"
        expect_eq "$(minus "$h1" "$h0")" "$((${s1:-0} - ${s0:-0}))" \
            "dd: extra io.$call.calls = strace's"
        checks=$((checks + 1))
        [ "$h1" -le "${s1:-0}" ] ||
            fail "dd: io.$call.calls $h1 > the $s1 strace saw"
    done
fi

# ---- cat, cp
seq 1 100000 >"$IN/numbers"
n=$(size "$IN/numbers")
run_pair cat cat "$IN/numbers"
same_file "$WORK/shim/cat.out" "$IN/numbers" "cat: stdout is the file"
stats cat
expect_eq "$(num "$f" io.read.bytes)" "$n" "cat: io.read.bytes = file size"
expect_eq "$(num "$f" io.write.bytes)" "$n" "cat: io.write.bytes = file size"
expect_ge "$(num "$f" io.read.calls)" 2 "cat: io.read.calls (data, EOF)"
expect_ge "$(num "$f" fs.open.calls)" 1 "cat: fs.open.calls"
expect_ge "$(num "$f" mem.malloc.calls)" 1 "cat: mem.malloc.calls"

# Into a regular file: coreutils copies with copy_file_range (counted in
# io; where the kernel or file system declines it, cp falls back to
# read/write): the bytes moved are the file's size either way.
run_pair cat_file sh -c 'cat "$1" >copy' sh "$IN/numbers"
same_file "$WORK/shim/cat_file/copy" "$IN/numbers" "cat >file: copy"
run_pair cp cp "$IN/numbers" copy
same_file "$WORK/shim/cp/copy" "$IN/numbers" "cp: copy"
stats cp
expect_ge "$(sum "$f" '^fs[.]open(at)?(64)?[.]calls$')" 2 "cp: fs.open calls"
expect_eq "$(sum "$f" '^io[.](copy_file_range|write)[.]bytes$')" "$n" \
    "cp: io.copy_file_range.bytes + io.write.bytes = file size"

# ---- tar: an archive of a small tree, then extracted again
t=$IN/tree
mkdir -p "$t/a/b" "$t/empty_dir"
seq 1 5000 >"$t/a/numbers"
head -c 100000 /dev/urandom >"$t/a/b/random"
: >"$t/a/empty"
printf 'no newline' >"$t/top"
ln -s a/numbers "$t/link"
chmod 0750 "$t/a/b"
touch -d @1700000000 "$t"/* "$t"/a/* "$t"/a/b/*
run_pair tar_c tar cf tree.tar -C "$IN" tree
same_file "$WORK/bare/tar_c/tree.tar" "$WORK/shim/tar_c/tree.tar" \
    "tar cf: archive"
stats tar_c
expect_eq "$(num "$f" io.write.bytes)" "$(size "$WORK/shim/tar_c/tree.tar")" \
    "tar cf: io.write.bytes = archive size"
expect_ge "$(num "$f" io.read.bytes)" 100000 "tar cf: io.read.bytes"
run_pair tar_x tar xf "$WORK/bare/tar_c/tree.tar"
for side in bare shim; do
    checks=$((checks + 1))
    diff -r "$t" "$WORK/$side/tar_x/tree" >/dev/null ||
        fail "tar xf ($side): extracted tree differs from the original"
done
stats tar_x
expect_eq "$(num "$f" io.read.bytes)" "$(size "$WORK/bare/tar_c/tree.tar")" \
    "tar xf: io.read.bytes = archive size"
expect_ge "$(num "$f" io.write.bytes)" 105000 "tar xf: io.write.bytes"

# ---- gzip: a round trip
run_pair gzip gzip -c "$IN/numbers"
run_pair gunzip gzip -dc "$WORK/shim/gzip.out"
same_file "$WORK/shim/gunzip.out" "$IN/numbers" "gzip: round trip"
stats gzip
expect_eq "$(num "$f" io.read.bytes)" "$n" "gzip: io.read.bytes = input size"
expect_eq "$(num "$f" io.write.bytes)" "$(size "$WORK/shim/gzip.out")" \
    "gzip: io.write.bytes = output size"
stats gunzip
expect_eq "$(num "$f" io.write.bytes)" "$n" "gunzip: io.write.bytes"

# ---- sort: small buffers, so it uses temporary files and threads
awk 'BEGIN {srand(42); for (i = 0; i < 50000; i++) print int(rand() * 1e9)}' \
    >"$IN/random"
run_pair sort sort -n -S 100K --parallel=4 -T . "$IN/random"
checks=$((checks + 1))
sort -n -c "$WORK/shim/sort.out" 2>/dev/null || fail "sort: output not sorted"
expect_eq "$(wc -l <"$WORK/shim/sort.out")" 50000 "sort: lines"
stats sort
expect_ge "$(num "$f" mem.malloc.calls)" 1 "sort: mem.malloc.calls"
expect_ge "$(sum "$f" '^fs[.]open(at)?(64)?[.]calls$')" 1 "sort: fs.open calls"

# ---- python3: file writes and reads, output on both streams, exit 3
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
run_pair python "$py" -c '
import os, sys
with open("data.txt", "w") as f:
    for i in range(1000):
        f.write("line %d\n" % i)
with open("data.txt", "rb") as f:
    data = f.read()
fd = os.open("raw", os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, b"x" * 4096)
os.close(fd)
print(len(data), sum(data), os.path.getsize("raw"))
print("to stderr", file=sys.stderr)
sys.exit(3)'
expect_eq "$rc" 3 "python: exit status"
expect_eq "$(cat "$WORK/shim/python.out")" "8890 618220 4096" "python: output"
same_file "$WORK/bare/python/data.txt" "$WORK/shim/python/data.txt" \
    "python: file written"
stats python
expect_ge "$(num "$f" io.write.bytes)" $((8890 + 4096)) "python: io.write.bytes"
expect_ge "$(num "$f" io.read.bytes)" 8890 "python: io.read.bytes"
expect_ge "$(sum "$f" '^fs[.]open(at)?(64)?[.]calls$')" 3 "python: fs.open calls"
expect_ge "$(num "$f" mem.malloc.calls)" 100 "python: mem.malloc.calls"

# ---- failures keep their status and their messages
run_pair ls_missing ls /nonexistent
expect_eq "$rc" 2 "ls /nonexistent: exit status"
expect_match "$(cat "$WORK/shim/ls_missing.err")" \
    "^ls: cannot access '/nonexistent': No such file or directory$" \
    "ls /nonexistent: message"
run_pair cat_missing cat /nonexistent
expect_eq "$rc" 1 "cat /nonexistent: exit status"
stats cat_missing
expect_ge "$(num "$f" fs.open.errors)" 1 \
    "cat /nonexistent: fs.open.errors"
run_pair false false
expect_eq "$rc" 1 "false: exit status"
run_pair killed sh -c 'kill -KILL $$'
expect_eq "$rc" 137 "killed by SIGKILL: exit status"
finish
