# Hostile programs (issue 14): each check failed on the shim before its
# fix. The host must behave exactly as bare: same output, same exit
# status, no crash; and the shim's records stay exact, or are counted as
# dropped (the header's count, mmstat-read --json), never lost silently.
#   1  pointers libc rejects (EFAULT...): no crash     (pf_badptr)
#   2  seccomp, strict and filter: no SIGKILL         (pf_seccomp)
#   3  a tight RLIMIT_AS: the shim fits in it          (pf_bigalloc)
#   6  clone() without CLONE_VM: a file of its own     (pf_clone)
#   7  MMSTATS_HIST_BITS=7: every histogram made       (pf_many)
#   9  a fixed MMSTATS_FILE taken by 150 processes     (threads)
#   -  concurrent first use: calls + dropped exact     (threads)
# (10, a failed exec, is checked in test_preload_pitfalls.sh, 4.3.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized "the shim cannot be preloaded into plain programs"
P=$PROGS
R=$READ
# same NAME CMD...: CMD bare and under the shim (stats in $WORK/s-NAME)
# give the same stdout and exit status; F = the shim run's stats file.
same() {
    local name=$1
    shift
    run "$WORK/$name-bare" "$@"
    run "$WORK/$name" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-$name" "$@"
    expect_eq "$(cat "$WORK/$name.rc")" "$(cat "$WORK/$name-bare.rc")" \
        "$name: exit status as bare"
    expect_eq "$(cat "$WORK/$name.out")" "$(cat "$WORK/$name-bare.out")" \
        "$name: output as bare"
    F=$(ls "$WORK/s-$name"/*.mmstats 2>/dev/null | head -1 || true)
}
f() { field "${1:-none}" "$2" 2>/dev/null || true; }
# n FILE FIELD: the field's value, 0 for a call never made (no fields).
n() { pnum "${1:-none}" "$2"; }

echo "== 1 pointers libc rejects: the hooks read nothing the call did not check"
same badptr "$P/pf_badptr"
expect_match "$(cat "$WORK/badptr-bare.out")" 'writev\(bad iov\) +-> -1 EFAULT' \
    "1 the bare program sees EFAULT"
expect_eq "$(grep -c ' -> ' "$WORK/badptr.out")" 21 "1 every call returned"
expect_match "$(cat "$WORK/badptr-bare.out")" 'getdents64\(bad buf\) +-> -1 EFAULT' \
    "1 the bare program sees EFAULT from getdents64"
expect_eq "$(f "$F" dir.getdents64.errors) $(f "$F" fs.readlink.errors) $(f "$F" fs.statfs.errors)" \
    "1 1 1" "1 issue 16's calls: counted as errors"
expect_eq "$(f "$F" io.writev.calls) $(f "$F" io.writev.errors)" "3 2" \
    "1 io.writev: 3 calls, 2 errors"
expect_eq "$(f "$F" io.writev.requested_bytes) $(f "$F" io.writev.bytes)" "4 4" \
    "1 io.writev bytes: the good call's only"
expect_eq "$(f "$F" net.sendmsg.calls) $(f "$F" net.sendmsg.errors)" "4 3" \
    "1 net.sendmsg: 4 calls, 3 errors"
expect_eq "$(f "$F" net.sendmsg.requested_bytes)" 4 "1 net.sendmsg.requested_bytes"

echo "== 2 seccomp: the shim makes no system call once the process is in it"
if ! grep -q '^Seccomp:' /proc/self/status 2>/dev/null; then
    skip "2 seccomp" "the kernel has no seccomp"
else
    for mode in strict-prctl strict-syscall; do
        STDIN=$WORK/abc
        printf 'abc' >"$STDIN"
        same "sc-$mode" "$P/pf_seccomp" "$mode"
        STDIN=
        expect_eq "$(cat "$WORK/sc-$mode.out")" "$(printf 'before\nabc\nafter')" \
            "2 $mode: the program's output"
        expect_eq "$(f "$F" io.write.calls)" 3 "2 $mode: io.write.calls (after it too)"
        # read's fields are new in seccomp: made without a system call, or
        # the record dropped and counted.
        expect_eq "$(($(n "$F" io.read.calls) + $(dropped "$F")))" 1 \
            "2 $mode: io.read.calls + dropped"
        expect_eq "$(f "$F" io.write.latency)" 1 \
            "2 $mode: latency measured before seccomp only (the clock may need a system call)"
    done
    for mode in filter-prctl filter-syscall; do
        # Without per-file records: the thread's new cells of stdout's
        # record would add drops of their own to the count checked below.
        MMSTATS_HOOKS=all,-files same "sc-$mode" "$P/pf_seccomp" "$mode"
        expect_eq "$(cat "$WORK/sc-$mode.out")" \
            "$(printf 'before\nentered\nthread read ping\nafter')" "2 $mode: the program's output"
        # before, entered, ping, thread read ping (3 writes), after
        expect_eq "$(f "$F" io.write.calls)" 7 "2 $mode: io.write.calls"
        expect_eq "$(($(n "$F" fs.dup.calls) + $(n "$F" fs.close.calls) + \
            $(n "$F" fs.lseek.calls) + $(dropped "$F")))" 3 \
            "2 $mode: new calls in seccomp: recorded or counted as dropped"
    done
fi

echo "== 3 address space: a tight RLIMIT_AS leaves room for the program"
if ! command -v prlimit >/dev/null 2>&1; then
    skip "3 RLIMIT_AS" "prlimit missing"
else
    same as prlimit --as=$((110 << 20)) "$P/pf_bigalloc" 100
    expect_eq "$(cat "$WORK/as.out")" "allocated 100 MiB" "3 100 MiB under a 110 MiB limit"
    checks=$((checks + 1))
    [ -n "$F" ] || fail "3 the shim recorded nothing under the limit"
    expect_eq "$(f "$F" mem.malloc.errors)" 0 "3 mem.malloc.errors"
fi

echo "== 6 clone() without CLONE_VM: the child gets a file of its own"
N=100000
run "$WORK/clone-bare" "$P/pf_clone" $N
run "$WORK/clone" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-clone" "$P/pf_clone" $N
read -r _ ppid _ cpid <"$WORK/clone.out" || true
expect_eq "$(cat "$WORK/clone.rc") $(sed -n 2p "$WORK/clone.out")" \
    "$(cat "$WORK/clone-bare.rc") $(sed -n 2p "$WORK/clone-bare.out")" "6 as bare"
expect_eq "$(sed -n 2p "$WORK/clone.out")" "child exit 7" "6 the child ran"
PF=$WORK/s-clone/pf_clone-$ppid.mmstats
CF=$WORK/s-clone/pf_clone-$cpid.mmstats
expect_eq "$(f "$PF" io.write.calls) $(f "$PF" io.write.latency)" "$((2 * N)) $((2 * N))" \
    "6 parent: its own writes and latency samples, exactly"
expect_eq "$(f "$CF" io.write.calls) $(f "$CF" io.write.latency)" "$N $N" \
    "6 child: its own writes and latency samples, exactly"
expect_match "$("$R" "$CF" 2>&1 | head -1)" "^pf_clone pid $cpid ppid $ppid " \
    "6 the child's file names its parent"

echo "== 7 MMSTATS_HIST_BITS=7: a histogram for every call used"
mkdir -p "$WORK/many-bare.d" "$WORK/many.d"
run "$WORK/many-bare" "$P/pf_many" "$WORK/many-bare.d"
run "$WORK/many" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-many" \
    MMSTATS_HIST_BITS=7 "$P/pf_many" "$WORK/many.d"
expect_eq "$(cat "$WORK/many.rc") $(cat "$WORK/many.out")" \
    "$(cat "$WORK/many-bare.rc") $(cat "$WORK/many-bare.out")" "7 pf_many as bare"
F=$(ls "$WORK"/s-many/*.mmstats 2>/dev/null | head -1 || true)
dump=$("$R" "${F:-none}" 2>/dev/null || true)
used=$(awk '$1 ~ /^(io|fs|net|stdio)\..*\.calls$/ && $2 > 0 {n++} END {print n + 0}' <<<"$dump")
checks=$((checks + 1))
[ "$used" -ge 63 ] || fail "7 pf_many used $used distinct calls, want >= 63"
# Each call's latency histogram holds as many samples as it has calls.
missing=$(awk '$1 ~ /^(io|fs|net|stdio)\..*\.calls$/ && $2 > 0 {
        c = $1; sub(/\.calls$/, "", c); want[c] = $2 }
    $1 ~ /\.latency$/ { l = $1; sub(/\.latency$/, "", l); got[l] = $2 }
    END { for (c in want) if (got[c] != want[c]) print c, want[c], got[c] + 0 }' <<<"$dump")
expect_eq "$missing" "" "7 every used call has its latency samples (call, calls, samples)"
expect_eq "$(dropped "$F")" 0 "7 nothing dropped"

echo "== concurrent first use: a record is made or counted as dropped"
# 8 threads make their first write at once: the call's fields are made
# by one, the others may find the writer busy. Nothing is lost silently.
# (Timing off: a dropped record is then a whole call.)
for i in 1 2 3; do
    run "$WORK/race" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-race$i" MMSTATS_TIMING=0 \
        "$P/threads" 8 1000
    F=$(ls "$WORK"/s-race$i/*.mmstats 2>/dev/null | head -1 || true)
    expect_eq "$(($(n "$F" io.write.calls) + $(dropped "$F")))" 8000 \
        "race $i: io.write.calls + dropped = the 8,000 writes"
done

echo "== 9 a fixed MMSTATS_FILE: 150 processes, 150 files, none refused"
# Each process takes the name, or the next free "-N" variant. The old
# scheme gave up after 65 ("File exists"). MMSTATS_KEEP=all: no rollup.
for i in $(seq 1 150); do
    LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-fixed" MMSTATS_KEEP=all \
        MMSTATS_FILE=fixed.mmstats MMSTATS_VERBOSE=1 "$P/threads" 1 1 >/dev/null 2>>"$WORK/fixed.err"
done
expect_eq "$(ls "$WORK/s-fixed" | grep -c '^fixed.*\.mmstats$')" 150 \
    "9 150 processes, 150 files"
# Verbose: the options and "recording to" only, no warning.
expect_eq "$(grep -c '^mmstats: recording to ' "$WORK/fixed.err" || true)" 150 \
    "9 each process says where it records"
expect_eq "$(grep -v -e '^mmstats: recording to ' -e '^mmstats: MMSTATS_' -e '^mmstats:   ' \
    "$WORK/fixed.err" | head -3)" "" "9 no warning from the shim"
total=0
for F in "$WORK"/s-fixed/fixed*.mmstats; do total=$((total + $(n "$F" io.write.calls))); done
expect_eq "$total" 150 "9 every process recorded its write"

echo "$skips item(s) skipped (not counted as passed)"
finish || exit 1
[ "$skips" -eq 0 ] || exit 77
