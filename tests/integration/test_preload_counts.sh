# The shim's counts are exact: test programs (tests/integration/progs)
# make known numbers of hooked calls, from one thread, many threads,
# forked children and signal handlers, and after closing every
# descriptor; the stats file must hold exactly those numbers. Where libc
# start-up adds allocations of its own, two runs that differ by a known
# number of calls are compared instead. And errno after every hooked call
# is what it is without the shim.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
# A sanitizer build of the shim cannot be preloaded into programs built
# without that sanitizer (its runtime must be loaded first): the shim is
# tested in the plain builds.
skip_sanitized
export LC_ALL=C
mkdir -p "$MMSTATS_DIR"

# in_shim NAME CMD...: run CMD under the shim with its stats in
# $MMSTATS_DIR/NAME, after making the scratch directory $WORK/NAME.d (for
# CMD to name). Stdout in $WORK/NAME.out, stderr in $WORK/NAME.err, the
# exit status in $rc.
in_shim() {
    local name=$1
    shift
    mkdir -p "$WORK/$name.d"
    rc=0
    MMSTATS_DIR=$MMSTATS_DIR/$name LD_PRELOAD=$PRELOAD "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
}
# stats NAME [PID]: f = the stats file of run NAME (of process PID).
stats() {
    local files
    if [ -n "${2:-}" ]; then
        files=("$MMSTATS_DIR/$1"/*-"$2".mmstats)
    else
        files=("$MMSTATS_DIR/$1"/*.mmstats)
    fi
    checks=$((checks + 1))
    f=${files[0]}
    if [ "${#files[@]}" -ne 1 ] || [ ! -f "$f" ]; then
        fail "$1: want one stats file${2:+ of pid $2}, found: ${files[*]}"
    fi
}
# num FILE NAME: the value of field NAME; 0 if its call was never made
# (no fields); a name the table does not know (a typo) fails.
num() { pnum "$@"; }
# expect_fields FILE WHAT NAME=VALUE...: each field has exactly VALUE.
expect_fields() {
    local file=$1 what=$2 dump kv
    dump=$("$READ" "$file" || true)
    shift 2
    for kv in "$@"; do
        expect_eq "$(awk -v n="${kv%%=*}" '$1 == n {print $2; exit}' \
            <<<"$dump")" "${kv#*=}" "$what: ${kv%%=*}"
    done
}
# minus A B: A - B, or "A - B" as text if either is not a number.
minus() {
    if [[ "$1" =~ ^-?[0-9]+$ && "$2" =~ ^-?[0-9]+$ ]]; then
        echo $(($1 - $2))
    else
        echo "$1 - $2"
    fi
}
expect_ge() {
    checks=$((checks + 1))
    if ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt "$2" ]; then
        fail "$3: got '$1', want at least $2"
    fi
}
# header FILE WORD: the number before WORD ("seen" or "active") in the
# "threads: N seen, M active" line.
header() {
    "$READ" "$1" | sed -n "s/.*threads: .*\\b\\([0-9][0-9]*\\) $2.*/\\1/p"
}

# ---- counts: every family, exact (see counts.c for the list)
mkdir -p "$WORK/bare.d"
bare_out=$("$PROGS/counts" "$WORK/bare.d" 1000) || fail "counts (bare): status $?"
in_shim counts1 "$PROGS/counts" "$WORK/counts1.d" 1000
expect_eq "$rc" 0 "counts: exit status"
expect_eq "$(cat "$WORK/counts1.out")" "$bare_out" "counts: output under the shim"
stats counts1
c1=$f
expect_fields "$c1" counts \
    io.read.calls=52 io.read.errors=2 io.read.requested_bytes=520 \
    io.read.bytes=500 \
    io.write.calls=100 io.write.errors=0 io.write.requested_bytes=100 \
    io.write.bytes=100 \
    io.pwrite.calls=1 io.pwrite.bytes=256 \
    io.pread.calls=20 io.pread.errors=0 io.pread.requested_bytes=320 \
    io.pread.bytes=256 \
    io.readv.calls=10 io.readv.requested_bytes=100 io.readv.bytes=100 \
    io.writev.calls=10 io.writev.requested_bytes=150 io.writev.bytes=150 \
    fs.open.calls=13 fs.open.errors=3 \
    fs.close.calls=15 fs.close.errors=1 \
    fs.dup.calls=1 fs.dup2.calls=1 fs.stat.calls=2 fs.stat.errors=1 \
    fs.fstat.calls=3 fs.lseek.calls=4 fs.lseek.errors=1 \
    fs.ftruncate.calls=1 fs.fsync.calls=1 fs.mkdir.calls=2 \
    fs.mkdir.errors=1 fs.rename.calls=1 fs.unlink.calls=3 \
    fs.unlink.errors=1 \
    stdio.fopen.calls=8 stdio.fopen.errors=1 stdio.fclose.calls=7 \
    stdio.fflush.calls=2 \
    stdio.fwrite.calls=5 stdio.fwrite.requested_bytes=55 \
    stdio.fwrite.bytes=55 \
    stdio.fputs.calls=4 stdio.fputs.requested_bytes=24 stdio.fputs.bytes=24 \
    stdio.fgets.calls=6 stdio.fgets.errors=0 \
    stdio.fgets.requested_bytes=384 stdio.fgets.bytes=35 \
    stdio.fread.calls=2 stdio.fread.errors=0 \
    stdio.fread.requested_bytes=128 stdio.fread.bytes=35 \
    net.socket.calls=1 net.socket.errors=1 \
    net.send.calls=31 net.send.requested_bytes=466 net.send.bytes=466 \
    net.recv.calls=30 net.recv.requested_bytes=1920 net.recv.bytes=465 \
    net.poll.calls=4 net.poll.errors=0 net.poll.ready=5 \
    net.select.calls=1 net.select.ready=1 \
    io.write.latency=100 io.read.latency=52 net.poll.latency=4
expect_ge "$(num "$c1" mem.malloc.calls)" 1000 "counts: mem.malloc.calls"
expect_ge "$(num "$c1" mem.free.calls)" 1000 "counts: mem.free.calls"

# The same with twice the malloc+free pairs: everything else is the same,
# and the allocation fields grow by exactly the extra pairs.
in_shim counts2 "$PROGS/counts" "$WORK/counts2.d" 2000
expect_eq "$rc" 0 "counts 2000: exit status"
stats counts2
c2=$f
u1=$(awk '{print $2}' "$WORK/counts1.out")
u2=$(awk '{print $2}' "$WORK/counts2.out")
diff_field() { # diff_field NAME: its value in run 2 minus run 1
    minus "$(num "$c2" "$1")" "$(num "$c1" "$1")"
}
expect_eq "$(diff_field mem.malloc.calls)" 1000 "counts: extra mem.malloc.calls"
expect_eq "$(diff_field mem.free.calls)" 1000 "counts: extra mem.free.calls"
expect_eq "$(diff_field mem.malloc.errors)" 0 "counts: extra mem.malloc.errors"
expect_eq "$(diff_field mem.alloc_size)" 1000 "counts: extra mem.alloc_size samples"
expect_eq "$(diff_field mem.alloc_bytes)" $((u2 - u1)) \
    "counts: extra mem.alloc_bytes = the extra blocks' usable size"
expect_eq "$(diff_field mem.freed_bytes)" $((u2 - u1)) \
    "counts: extra mem.freed_bytes = the extra blocks' usable size"
for name in io.read.calls io.write.bytes fs.open.calls fs.close.calls \
    stdio.fwrite.bytes net.recv.bytes mem.calloc.calls; do
    expect_eq "$(diff_field $name)" 0 "counts: $name the same in both runs"
done

# ---- threads: 8 x 10,000 writes at once, none lost
in_shim threads0 "$PROGS/threads" 8 0
stats threads0
t0=$f
in_shim threads "$PROGS/threads" 8 10000
expect_eq "$rc" 0 "threads: exit status"
expect_eq "$(cat "$WORK/threads.out")" "threads 8 writes 80000 failed 0" \
    "threads: output"
stats threads
t1=$f
expect_eq "$(minus "$(num "$t1" io.write.calls)" "$(num "$t0" io.write.calls)")" \
    80000 "threads: extra io.write.calls"
expect_eq "$(minus "$(num "$t1" io.write.bytes)" "$(num "$t0" io.write.bytes)")" \
    80000 "threads: extra io.write.bytes"
expect_eq "$(num "$t1" io.write.errors)" 0 "threads: io.write.errors"
expect_ge "$(header "$t1" seen)" 9 "threads: threads seen (8 + main)"
# Exited threads hand their shards back: only main's is still in use. A
# thread's last hooked calls come after its TLS destructors (glibc frees
# its thread-local buffers then), which must not take a shard again.
expect_eq "$(header "$t1" active)" 1 \
    "threads: shards active after the 8 threads exited"
# Many more short threads than shards, one wave after another: still
# exact, and the shards are reused.
in_shim waves "$PROGS/threads" 8 100 25
expect_eq "$(cat "$WORK/waves.out")" "threads 8 writes 20000 failed 0" \
    "threads waves: output"
stats waves
expect_eq "$(minus "$(num "$f" io.write.calls)" "$(num "$t0" io.write.calls)")" \
    20000 "threads waves: extra io.write.calls"
expect_eq "$(header "$f" active)" 1 \
    "threads waves: shards active after 200 threads exited"

# ---- forks: a child that ends at once (exit, _exit, exec) makes no file
# of its own; its calls are added to its parent's file, exactly, and
# nothing is counted twice. A SIGKILLed child loses its own, and the
# parent's file stays whole.
for mode in exit exec kill; do
    in_shim forks-$mode "$PROGS/forks" 5 $mode
    expect_eq "$rc" 0 "forks $mode: exit status"
    parent=$(awk '$1 == "parent" {print $2}' "$WORK/forks-$mode.out")
    nchild=$(grep -c '^child ' "$WORK/forks-$mode.out" || true)
    expect_eq "$nchild" 5 "forks $mode: children"
    expect_eq "$(ls "$MMSTATS_DIR/forks-$mode" | wc -l)" 1 \
        "forks $mode: stats files (the parent's alone)"
    stats forks-$mode "$parent"
    expect_match "$("$READ" "$f" | head -1)" "^forks pid $parent " \
        "forks $mode: parent header"
    want=160 # the parent's 10, the children's 10 + 20 + ... + 50
    [ $mode != kill ] || want=10
    expect_eq "$(num "$f" io.write.calls)" $want "forks $mode: io.write.calls"
    expect_eq "$(num "$f" io.write.bytes)" $want "forks $mode: io.write.bytes"
    expect_eq "$(num "$f" io.write.errors)" 0 "forks $mode: io.write.errors"
    expect_eq "$(dropped "$f")" 0 "forks $mode: nothing dropped"
done

# ---- forks that exec at once make no file: bash runs 50 /bin/true and
# 50 sh -c 'exec /bin/true'. With io alone (its children record nothing
# before exec) its own reads are exact (a pipe: one byte a read), and a
# subshell's 4 reads go to bash's file at the subshell's exit. With
# every family (bash's children record a malloc, sigactions... before
# exec), none of bash's children has a file either.
MMSTATS_HOOKS=io in_shim execs bash -c 'for ((i = 0; i < 50; i++)); do
    /bin/true; sh -c "exec /bin/true"; done
    read -r x < <(echo abcdefg); (read -r y < <(echo abc); echo "child $BASHPID $y")
    echo "parent $$ $x"'
expect_eq "$rc" 0 "execs: exit status"
parent=$(awk '$1 == "parent" {print $2}' "$WORK/execs.out")
expect_eq "$(ls "$MMSTATS_DIR/execs" | wc -l)" 1 "execs: stats files (bash's)"
stats execs "$parent"
expect_eq "$(num "$f" io.read.calls)" 12 \
    "execs: io.read.calls, bash's 8 and the subshell's 4"
in_shim execs-all bash -c 'for ((i = 0; i < 50; i++)); do
    /bin/true; sh -c "exec /bin/true"; done; echo "parent $$"'
expect_eq "$rc" 0 "execs (every family): exit status"
parent=$(awk '$1 == "parent" {print $2}' "$WORK/execs-all.out")
expect_eq "$(find "$MMSTATS_DIR/execs-all" -name 'bash-*.mmstats' | wc -l)" 1 \
    "execs (every family): bash's children make no file"
stats execs-all "$parent"
expect_ge "$(num "$f" sig.sigaction.calls)" 100 \
    "execs (every family): the children's sigactions in bash's file"

# ---- sigwrite: writes from a signal handler that interrupts writes
# (timeout itself outside the shim: its own file would be in the way).
# Warm (the call's fields made before the first signal): exact. Cold:
# signals land while main makes the fields; the handler's records that
# find the fields unmade are dropped, and counted (timing off: a dropped
# record is then a whole call, never a latency sample alone).
for mode in warm cold; do
    rc=0
    timing=on
    [ $mode = warm ] || timing=off
    MMSTATS_DIR=$MMSTATS_DIR/sigwrite-$mode MMSTATS_TIMING=$timing \
        timeout 30 env LD_PRELOAD="$PRELOAD" \
        "$PROGS/sigwrite" 1000 $mode >"$WORK/sigwrite.out" 2>"$WORK/sigwrite.err" ||
        rc=$?
    expect_eq "$rc" 0 "sigwrite $mode: exit status (124: timed out, deadlocked)"
    read -r _ m _ h _ bad <"$WORK/sigwrite.out" || true
    expect_eq "$bad" 0 "sigwrite $mode: failed writes"
    expect_ge "$h" 100 "sigwrite $mode: handler writes"
    stats sigwrite-$mode
    if [ $mode = warm ]; then
        expect_eq "$(num "$f" io.write.calls)" $((m + h)) \
            "sigwrite: io.write.calls = main's $m + the handler's $h"
        expect_eq "$(num "$f" io.write.bytes)" $((m + h)) "sigwrite: io.write.bytes"
        expect_eq "$(dropped "$f")" 0 "sigwrite: nothing dropped"
    else
        expect_eq "$(($(num "$f" io.write.calls) + $(dropped "$f")))" \
            $((m + h)) "sigwrite cold: io.write.calls + dropped = $m + $h"
    fi
done

# ---- closefds: close every descriptor above 2, then go on
for mode in range loop; do
    mkdir -p "$WORK/bare-$mode.d"
    bare_out=$("$PROGS/closefds" $mode "$WORK/bare-$mode.d" 7</dev/null) ||
        fail "closefds $mode (bare): status $?"
    in_shim closefds-$mode "$PROGS/closefds" $mode "$WORK/closefds-$mode.d" \
        7</dev/null
    out=$(cat "$WORK/closefds-$mode.out")
    expect_eq "$rc" 0 "closefds $mode: exit status"
    expect_eq "$(grep -v '^pids' <<<"$out")" \
        "$(grep -v '^pids' <<<"$bare_out")" \
        "closefds $mode: output (descriptors seen) under the shim"
    expect_match "$out" "^open -> fd 3, wrote 1000, read back 1000, same$" \
        "closefds $mode: I/O after the close"
    read -r _ parent child < <(grep '^pids' <<<"$out") || true
    stats closefds-$mode "$parent"
    expect_fields "$f" "closefds $mode" io.write.calls=10 io.write.bytes=1000 \
        io.pread.calls=1 io.pread.bytes=1000 fs.open.calls=1
    if [ $mode = loop ]; then
        # 1021 closes, failing but for the descriptors open before (7 and
        # whatever the test runner left open), and the file's close.
        open=$(sed -n 's/^before://p' <<<"$out" | tr ' ' '\n' |
            awk '$1 > 2 && $1 < 1024' | wc -l)
        expect_fields "$f" "closefds loop" fs.close.calls=1022 \
            fs.close.errors=$((1021 - open))
    else
        expect_fields "$f" "closefds range" fs.close.calls=1 fs.close.errors=0
    fi
    # The parent has per-file records of open descriptors: its child
    # makes a file of its own with its first record.
    stats closefds-$mode "$child"
    expect_match "$("$READ" "$f" | head -1)" "pid $child ppid $parent " \
        "closefds $mode: the child's file"
    expect_fields "$f" "closefds $mode child" io.write.calls=5
done

# ---- errno: as without the shim, failing and succeeding (first use)
mkdir -p "$WORK/errno-bare.d"
bare_out=$("$PROGS/errno" "$WORK/errno-bare.d") || fail "errno (bare): status $?"
expect_match "$bare_out" '^write\(closed pipe\) +-> +-1 errno EPIPE$' \
    "errno: the program's own check (bare)"
for run in 1 2; do # the stats directory: made by run 1, there in run 2
    rm -rf "$WORK/errno.d"
    in_shim errno "$PROGS/errno" "$WORK/errno.d"
    expect_eq "$rc" 0 "errno (run $run): exit status"
    checks=$((checks + 1))
    if ! diff <(echo "$bare_out") "$WORK/errno.out" >"$WORK/errno.diff"; then
        fail "errno (run $run): results differ under the shim (< bare, > shim):"
        sed 's/^/    /' "$WORK/errno.diff" >&2
    fi
done
finish
