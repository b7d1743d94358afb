# The LD_PRELOAD pitfalls checklist (docs/preload.md, "Pitfalls"), one
# check per item: each fails without the shim's handling of that item.
# The small programs are tests/integration/progs/pf_*.c. Items that cannot
# be tested on this machine print SKIP with the reason and are not
# counted as passed: then the test ends with status 77 (ctest: skipped)
# unless a check failed. Needs root for the mounts, the setuid programs
# and the runs as nobody; takes a few seconds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
# A sanitizer build of the shim cannot be preloaded into programs built
# without that sanitizer (its runtime must be loaded first).
skip_sanitized
R=$READ
P=$PROGS
OLDDLSYM=$P/libpf_olddlsym.so
MOUNTS=()
NB=""
SECLIB=""
SECDIR=""
cleanup() {
    local m
    for m in "${MOUNTS[@]}"; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$WORK"
    [ -z "$NB" ] || rm -rf "$NB"
    [ -z "$SECDIR" ] || rm -rf "$SECDIR"
    [ -z "$SECLIB" ] || rm -f "$SECLIB"
}
trap cleanup EXIT
item() { echo "== $*"; }
# f FILE FIELD: a field's value (0 for a call never made, which has no
# fields; see preload_lib.sh's pnum).
f() { pnum "$1" "$2"; }
# one DIR EXE: the stats file of EXE in DIR. Runs whose file is looked up
# this way get a stats directory of their own: which file is theirs never
# depends on timestamps.
one() { ls "$1"/"$2"-*.mmstats 2>/dev/null | head -1 || true; }
# pidfile EXE PID: the stats file of that process in $MMSTATS_DIR.
pidfile() { echo "$MMSTATS_DIR/$1-$2.mmstats"; }
# state FILE: "finished", "stale", "running"... as mmstat-read says.
state() {
    "$R" "$1" | head -1 | grep -oE '(running|finished|stale[^ ]*|unknown)' | head -1 || true
}
# warnings FILE: the shim's lines in a stderr file, less the option table.
warnings() { grep '^mmstats: ' "$1" | grep -vc '^mmstats: MMSTATS_' || true; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
can_mount() {
    mkdir -p "$WORK/mnt-probe"
    if mount -t tmpfs -o size=64k tmpfs "$WORK/mnt-probe" 2>/dev/null; then
        umount "$WORK/mnt-probe"
        return 0
    fi
    return 1
}
# tmpfs DIR OPTIONS: mount a tmpfs (unmounted at exit).
tmpfs() {
    mkdir -p "$1"
    mount -t tmpfs -o "$2" tmpfs "$1" && MOUNTS+=("$1")
}
HAVE_MOUNT=0
if [ "$(id -u)" = 0 ] && can_mount; then HAVE_MOUNT=1; fi
HAVE_NOBODY=0
if [ "$(id -u)" = 0 ] && as_nobody true 2>/dev/null; then HAVE_NOBODY=1; fi
if [ "$HAVE_NOBODY" = 1 ]; then
    # A place user nobody can reach ($WORK is private to us).
    NB=$(mktemp -d /tmp/mmstats-pf-nb-XXXXXX)
    chmod 755 "$NB"
fi

# ---------------------------------------------------------------- 1.
item "1.1 dlsym allocates: the bootstrap arena serves the shim's own resolution"
# libpf_olddlsym.so (preloaded after the shim) makes dlsym calloc, malloc,
# realloc and free, as glibc < 2.34 did: these re-enter the allocation
# hooks while they resolve the real allocator. Bootstrap blocks are
# freed, reallocated and freed again at thread exit.
run "$WORK/boot" env LD_PRELOAD="$PRELOAD $OLDDLSYM" "$P/pf_boot"
expect_eq "$(cat "$WORK/boot.rc")" 0 "1.1 pf_boot exit status (olddlsym)"
expect_eq "$(cat "$WORK/boot.out")" "early=0 ctor=0 main=0" "1.1 pf_boot output"
expect_eq "$(grep -c 'allocations ok' "$WORK/boot.err")" 5 \
    "1.1 five rounds of allocations, all right"
run "$WORK/tlsold" timeout 20 env LD_PRELOAD="$PRELOAD $OLDDLSYM" "$P/pf_tls" 5 16
expect_eq "$(cat "$WORK/tlsold.rc")" 0 "1.1 threads under an allocating dlsym"

item "1.2 hooks called before the shim's constructor resolve lazily"
# libpf_early.so's constructor runs before the shim's (the program needs
# it; preloaded libraries are initialised after): its calls come first.
run "$WORK/early" env LD_PRELOAD="$PRELOAD" MMSTATS_VERBOSE=1 "$P/pf_boot"
expect_eq "$(cat "$WORK/early.rc")" 0 "1.2 pf_boot exit status"
expect_eq "$(head -1 "$WORK/early.err")" "pf_early constructor: allocations ok" \
    "1.2 the early constructor ran before the shim started"
expect_match "$(cat "$WORK/early.err")" '^mmstats: recording to ' "1.2 then the shim started"

item "1.3 a symbol with no next definition: ENOSYS or pass-through, never abort"
# PF_DLSYM_HIDE makes the shim's dlsym(RTLD_NEXT, ...) find nothing for
# these names, as with a libc that lacks them.
mkdir -p "$WORK/v1"
run "$WORK/hide" env PF_DLSYM_HIDE=preadv64v2,__xstat,epoll_pwait,fopen64 \
    LD_PRELOAD="$PRELOAD $OLDDLSYM" "$P/pf_variants" "$WORK/v1"
expect_eq "$(cat "$WORK/hide.rc")" 1 "1.3 pf_variants ends normally (1: some calls failed)"
expect_eq "$(grep -c FAILED "$WORK/hide.out")" 4 "1.3 exactly the hidden calls fail"
expect_eq "$(grep -c 'Function not implemented' "$WORK/hide.err")" 4 \
    "1.3 ... with ENOSYS"
expect_eq "$(grep -c ' ok$' "$WORK/hide.out")" 20 "1.3 every other call works"
run "$WORK/hide-exit" env PF_DLSYM_HIDE=_exit LD_PRELOAD="$PRELOAD $OLDDLSYM" \
    "$P/pf_exit" _exit
expect_eq "$(cat "$WORK/hide-exit.rc")" 0 "1.3 _exit with no real _exit still exits (status 0)"
# The families recorded do not change what is resolved or called.
mkdir -p "$WORK/v2" "$WORK/v3"
run "$WORK/var-bare" "$P/pf_variants" "$WORK/v2"
run "$WORK/var-none" env LD_PRELOAD="$PRELOAD" MMSTATS_HOOKS=none "$P/pf_variants" "$WORK/v3"
expect_eq "$(cat "$WORK/var-none.out" "$WORK/var-none.rc")" \
    "$(cat "$WORK/var-bare.out" "$WORK/var-bare.rc")" "1.3 MMSTATS_HOOKS=none: same as bare"

item "1.4 RTLD_DEEPBIND: no crash; the library's own calls are not seen"
run "$WORK/deep" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-deep" "$P/pf_deepbind" "$P/libpf_deep.so"
expect_eq "$(cat "$WORK/deep.rc") $(cat "$WORK/deep.out")" "0 deepbind ok" "1.4 pf_deepbind"
expect_eq "$(f "$(one "$WORK/s-deep" pf_deepbind)" io.write.calls)" 3 \
    "1.4 io.write.calls: only the program's 3 (the DEEPBIND library's 10 bypass the shim)"

item "1.5 versioned symbols: the compat-only __xstat family (old binaries)"
mkdir -p "$WORK/v4"
run "$WORK/var" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-var" "$P/pf_variants" "$WORK/v4"
expect_eq "$(cat "$WORK/var.out" "$WORK/var.rc")" \
    "$(cat "$WORK/var-bare.out" "$WORK/var-bare.rc")" "1.5/2.1 pf_variants: same output as bare"
VARF=$(one "$WORK/s-var" pf_variants)
for n in __xstat __xstat64 __lxstat __fxstat __fxstatat; do
    expect_eq "$(f "$VARF" "fs.$n.calls")" 1 "1.5 fs.$n.calls (bound by version, as glibc < 2.33 did)"
done

# ---------------------------------------------------------------- 2.
item "2.1 64-bit aliases counted under their own names"
for n in io.pread64 io.pwrite64 io.preadv64 io.pwritev64 io.preadv64v2 \
    io.pwritev64v2 io.__pread64_chk fs.open64 fs.openat64 fs.creat64 \
    fs.lseek64 fs.ftruncate64 fs.stat64 fs.fstat64 fs.lstat64 fs.fstatat64 \
    fs.statx stdio.fopen64 net.epoll_pwait; do
    expect_eq "$(f "$VARF" "$n.calls")" 1 "2.1 $n.calls"
done
for n in io.pread io.pwrite io.preadv io.pwritev fs.open fs.lseek fs.stat \
    stdio.fopen; do
    expect_eq "$(f "$VARF" "$n.calls")" 0 "2.1 $n.calls (the 64-bit name was called)"
done
expect_eq "$(f "$VARF" net.epoll_pwait.ready)" 1 "2.1 net.epoll_pwait.ready"
expect_eq "$(f "$VARF" io.pwrite64.bytes)" 16 "2.1 io.pwrite64.bytes"

item "2.2 fortified variants (-D_FORTIFY_SOURCE=2 -O2)"
imports=$(nm -D --undefined-only "$P/pf_fortify" 2>/dev/null || true)
if ! grep -q __read_chk <<<"$imports"; then
    skip "2.2 fortified calls" "pf_fortify was not built with fortified calls (compiler flags?)"
else
    run "$WORK/fort" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-fort" "$P/pf_fortify" /etc/passwd 16
    run "$WORK/fort-bare" "$P/pf_fortify" /etc/passwd 16
    expect_eq "$(cat "$WORK/fort.out" "$WORK/fort.rc")" \
        "$(cat "$WORK/fort-bare.out" "$WORK/fort-bare.rc")" "2.2 pf_fortify: same output as bare"
    expect_match "$(cat "$WORK/fort.out")" '^fortify level [12]' "2.2 built fortified"
    FF=$(one "$WORK/s-fort" pf_fortify)
    for n in io.__read_chk io.__pread_chk io.__pread64_chk net.__recv_chk \
        net.__recvfrom_chk fs.__open_2 fs.__open64_2 fs.__openat_2 \
        fs.__openat64_2 fs.__readlink_chk fs.__readlinkat_chk fs.__getcwd_chk; do
        expect_eq "$(f "$FF" "$n.calls")" 1 "2.2 $n.calls"
    done
    expect_eq "$(f "$FF" io.__read_chk.bytes)" 16 "2.2 io.__read_chk.bytes"
    expect_eq "$(f "$FF" io.read.calls)$(f "$FF" fs.open.calls)$(f "$FF" net.recv.calls)$(f "$FF" fs.readlink.calls)$(f "$FF" fs.getcwd.calls)" \
        00000 "2.2 the plain names were not called"
fi

item "2.3 stdio has its own hooks; its internal writes are not counted twice"
run "$WORK/host" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-host" "$P/pf_host"
HF=$(one "$WORK/s-host" pf_host)
expect_eq "$(f "$HF" stdio.fopen.calls) $(f "$HF" stdio.fputs.calls) $(f "$HF" stdio.fclose.calls)" \
    "1 1 1" "2.3 stdio.fopen/fputs/fclose.calls"
expect_eq "$(f "$HF" io.write.calls)" 2 "2.3 io.write.calls: the 2 direct writes only"

item "2.4 open's mode reaches the real call (O_CREAT, O_TMPFILE; umask 022)"
mkdir -p "$WORK/om"
run "$WORK/om" env LD_PRELOAD="$PRELOAD" "$P/pf_openmode" "$WORK/om"
expect_eq "$(awk '{printf "%s=%s ", $1, $2}' "$WORK/om.out")" \
    "open=0640 open64=0604 openat=0644 openat64=0700 creat=0610 creat64=0601 open-tmpfile=0600 openat-tmpfile=0600 open64-tmpfile=0640 open-nomode=0640 openat-nomode=0700 " \
    "2.4 modes of the files created"

# ---------------------------------------------------------------- 3.
item "3.1 reentrancy: the shim's own calls (start-up, warnings) are not recorded"
run "$WORK/chatty" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-chatty" MMSTATS_VERBOSE=1 \
    "$P/pf_chatty" 20000
run "$WORK/chatty-bare" "$P/pf_chatty" 20000
expect_eq "$(cat "$WORK/chatty.rc")" 0 "3.1 pf_chatty exit status"
checks=$((checks + 1))
cmp -s "$WORK/chatty.out" "$WORK/chatty-bare.out" || fail "3.1 pf_chatty: output differs from bare"
expect_match "$(cat "$WORK/chatty.err")" '^mmstats: MMSTATS_VERBOSE += on' "3.1 the option table was printed"
CF=$(one "$WORK/s-chatty" pf_chatty)
expect_eq "$(f "$CF" io.write.calls)" 20000 "3.1 io.write.calls: the program's writes, exactly"
fs_sum=$("$R" "$CF" | awk '$1 ~ /^fs\..*\.calls$/ {s += $2} END {print s + 0}' || true)
expect_eq "$fs_sum" 0 "3.1 fs calls: none (the shim made its file with hooked calls)"

item "3.2 initial-exec TLS: no __tls_get_addr; threads that malloc at once"
checks=$((checks + 1))
if nm -D --undefined-only "$PRELOAD" | grep -q __tls_get_addr; then
    fail "3.2 the shim uses dynamic TLS (__tls_get_addr)"
fi
expect_match "$(readelf -d "$PRELOAD")" 'FLAGS.*STATIC_TLS' "3.2 the shim is marked STATIC_TLS"
run "$WORK/tls" timeout 20 env LD_PRELOAD="$PRELOAD" "$P/pf_tls" 20 32
expect_eq "$(cat "$WORK/tls.rc") $(cat "$WORK/tls.out")" "0 640 threads, 0 failed" \
    "3.2 pf_tls: no deadlock (timeout 20 s)"

item "3.3 signals: a handler calling write and malloc interrupts main doing so"
# Three runs of 50,000 signals, each landing at a random point of main's
# loop of hooked calls. (A spinlock around the updates deadlocks here.)
for i in 1 2 3; do
    run "$WORK/sig" timeout 10 env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-sig$i" \
        "$P/pf_signal" 50000
    expect_eq "$(cat "$WORK/sig.rc")" 0 "3.3 pf_signal run $i: no deadlock (timeout 10 s), exit 0"
    total=$(awk '{print $6}' "$WORK/sig.out")
    expect_eq "$(f "$(one "$WORK/s-sig$i" pf_signal)" io.write.calls)" "${total:-none}" \
        "3.3 run $i: every write counted, main's and the handler's"
done

item "3.4 errno: a successful call leaves the caller's errno alone"
run "$WORK/errk" env LD_PRELOAD="$PRELOAD" "$P/pf_errkeep"
run "$WORK/errk-bare" "$P/pf_errkeep"
expect_eq "$(cat "$WORK/errk.out")" "$(cat "$WORK/errk-bare.out")" "3.4 same as bare"
expect_eq "$(grep -vc ' kept$' "$WORK/errk.out" || true)" 0 \
    "3.4 errno kept by every call, first uses in a process and a thread included"
run "$WORK/forke" env LD_PRELOAD="$PRELOAD" "$P/pf_fork"
expect_eq "$(grep -c 'errno kept' "$WORK/forke.out")" 2 \
    "3.4 fork leaves errno alone in the parent and in the child"

item "3.5 thread exit: 2,000 short threads; shards handed back, counts kept"
run "$WORK/t2k" timeout 30 env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-t2k" \
    "$P/pf_threads2k" 2000
expect_eq "$(head -1 "$WORK/t2k.out")" "2000 threads done" "3.5 pf_threads2k ran"
TF=$(one "$WORK/s-t2k" pf_threads2k)
expect_eq "$(f "$TF" io.write.calls)" 2000 "3.5 io.write.calls: every thread's write kept"
read -r seen active < <("$R" "$TF" | awk '$1 == "threads:" {print $2, $4}') || true
checks=$((checks + 1))
[ "${seen:-0}" -ge 2000 ] || fail "3.5 threads seen: $seen, want >= 2000"
checks=$((checks + 1))
[ "${active:-99}" -le 2 ] || fail "3.5 threads active after they all exited: $active, want <= 2"
used=$(awk '/^shards used/ {print $3}' "$WORK/t2k.out")
checks=$((checks + 1))
[ "${used:-99}" -le 4 ] ||
    fail "3.5 shards ever used: ${used:-none}, want <= 4 $(grep '^pf_threads2k:' "$WORK/t2k.err")"
# Threads that make no hooked call: glibc still frees through the hook as
# each exits. And threads whose memory main frees: the live bytes each
# gathered must be published at its exit, or mem.live_bytes drifts.
for mode in idle handoff; do
    run "$WORK/t2k-$mode" timeout 30 env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/s-t2k-$mode" \
        "$P/pf_threads2k" 1000 "$mode"
    TF=$(one "$WORK/s-t2k-$mode" pf_threads2k)
    read -r seen active < <("$R" "$TF" | awk '$1 == "threads:" {print $2, $4}') || true
    used=$(awk '/^shards used/ {print $3}' "$WORK/t2k-$mode.out")
    checks=$((checks + 1))
    [ "${active:-99}" -le 2 ] && [ "${used:-99}" -le 4 ] ||
        fail "3.5 $mode threads: $active active, $used shards used; want <= 2, <= 4 $(grep '^pf_threads2k:' "$WORK/t2k-$mode.err")"
    alloc=$(f "$TF" mem.alloc_bytes)
    freed=$(f "$TF" mem.freed_bytes)
    live=$(f "$TF" mem.live_bytes)
    drift=$((${live:-999999999} - (${alloc:-0} - ${freed:-0})))
    checks=$((checks + 1))
    # One live thread (main): its gauge lags by less than 8 KiB.
    [ "${drift#-}" -le 8192 ] ||
        fail "3.5 $mode threads: mem.live_bytes $live, alloc - freed $((alloc - freed))"
done

# ---------------------------------------------------------------- 4.
item "4.1 fork: a child that exits at once adds its calls to its parent's file"
run "$WORK/fork" env LD_PRELOAD="$PRELOAD" "$P/pf_fork"
expect_eq "$(cat "$WORK/fork.rc")" 0 "4.1 pf_fork exit status"
ppid=$(awk '$1 == "parent" && $2 ~ /^[0-9]+$/ {print $2}' "$WORK/fork.out")
cpid=$(awk '$1 == "child" {print $2}' "$WORK/fork.out")
PF=$(pidfile pf_fork "$ppid")
CHF=$(pidfile pf_fork "$cpid")
expect_eq "$(f "$PF" io.write.calls)" 18 \
    "4.1 parent's file: its 13 writes and the child's 5, once each"
expect_eq "$(test -e "$CHF" && echo yes || echo no)" no \
    "4.1 the child, gone at once, made no file"
fs_sum=$("$R" "$PF" | awk '$1 ~ /^fs\..*\.calls$/ {s += $2} END {print s + 0}' || true)
expect_eq "$fs_sum" 1 "4.1 the child's adding is not counted (fs calls: the parent's one open)"
run "$WORK/forklim" env LD_PRELOAD="$PRELOAD" "$P/pf_fork" limit
expect_eq "$(cat "$WORK/forklim.rc")" 0 \
    "4.1 a child that cannot make its file (file size limit: SIGXFSZ) lives on"
expect_eq "$(grep -c '^child .* errno kept' "$WORK/forklim.out")" 1 "4.1 ... and runs normally"
# More distinct calls than a child keeps in memory (48 rows): it makes
# its own file then, and every count of its goes there, none to its
# parent's, none lost.
run "$WORK/forkrows" env LD_PRELOAD="$PRELOAD" "$P/pf_fork" rows
expect_eq "$(cat "$WORK/forkrows.rc")" 0 "4.1 pf_fork rows exit status"
ppid=$(awk '$1 == "parent" && $2 ~ /^[0-9]+$/ {print $2}' "$WORK/forkrows.out")
cpid=$(awk '$1 == "child" {print $2}' "$WORK/forkrows.out")
PF=$(pidfile pf_fork "$ppid")
CHF=$(pidfile pf_fork "$cpid")
expect_eq "$(f "$PF" io.write.calls)/$(f "$PF" io.read.calls)/$(f "$PF" fs.stat.calls)" 13/1/1 \
    "4.1 rows: the parent's file has its own calls only"
expect_eq "$(f "$CHF" io.write.calls)/$(f "$CHF" io.read.calls)" 5/1 \
    "4.1 rows: the child's file has its 5 writes and the read it kept before"
expect_eq "$(f "$CHF" fs.stat.calls)/$(f "$CHF" net.sendmsg.calls)" 1/1 \
    "4.1 rows: ... and its other distinct calls"

item "4.2 vfork + exec, posix_spawn: the shim does nothing in the child"
run "$WORK/spawn" env LD_PRELOAD="$PRELOAD" "$P/pf_spawn" "$P/pf_child"
expect_eq "$(cat "$WORK/spawn.rc")" 0 "4.2 pf_spawn exit status"
expect_eq "$(grep -c 'own file ready' "$WORK/spawn.out")" 5 \
    "4.2 the parent's file stays ready through vfork+exec, vfork+_exit, posix_spawn(p)"
spid=$(awk '$1 == "parent" {sub(":", "", $2); print $2}' "$WORK/spawn.out")
for how in vfork spawn spawnp; do
    kid=$(awk -v h="$how" '$1 == h && $2 == "child" {print $3}' "$WORK/spawn.out")
    KF=$(pidfile pf_child "${kid:-none}")
    expect_match "$("$R" "$KF" 2>&1 | head -1)" "^pf_child pid $kid ppid $spid finished" \
        "4.2 $how child: the exec'd image has its own file"
    expect_eq "$(f "$KF" io.write.calls)" 4 "4.2 $how child: its 4 writes"
done
expect_eq "$(f "$(pidfile pf_spawn "$spid")" io.write.calls)" 2 "4.2 parent: its own 2 writes"

item "4.3 exec: the old image's file is finished; the new image has its own"
run "$WORK/exec" env LD_PRELOAD="$PRELOAD" "$P/pf_exec"
expect_eq "$(cat "$WORK/exec.rc")" 0 "4.3 pf_exec exit status"
xpid=$(awk '$1 == "stage1" {print $3}' "$WORK/exec.out")
expect_match "$(cat "$WORK/exec.out")" 'failed exec: own file ready, finish time unset' \
    "4.3 a failed exec: ready again, no finish time (issue 14.10)"
expect_match "$(cat "$WORK/exec.out")" "stage2 pid $xpid: own file ready" "4.3 the new image runs, same pid"
X1=$(pidfile pf_exec "$xpid")
X2=$MMSTATS_DIR/pf_exec-$xpid-1.mmstats
expect_eq "$(state "$X1") $(f "$X1" io.write.calls)" "finished 3" "4.3 first image: finished, 3 writes"
expect_eq "$(state "$X2") $(f "$X2" io.write.calls)" "finished 2" "4.3 second image: own file, 2 writes"

item "4.4 _exit, _Exit, abort, SIGKILL: the file reads, counts intact"
for m in exit return _exit _Exit abort kill; do
    out=$({ (ulimit -c 0; LD_PRELOAD=$PRELOAD exec "$P/pf_exit" "$m"); } 2>/dev/null || true)
    xp=$(awk '{print $2}' <<<"$out")
    EF=$(pidfile pf_exit "${xp:-none}")
    rrc=0
    "$R" "$EF" >"$WORK/exit-$m.dump" 2>&1 || rrc=$?
    want=finished
    case $m in abort | kill) want=stale ;; esac
    expect_eq "$rrc $(state "$EF" 2>/dev/null) $(f "$EF" io.write.calls)" "0 $want 7" \
        "4.4 $m: mmstat-read status, state, io.write.calls"
done

item "4.5 the stats file stays mapped: calls after the shim's exit work"
bad=0
for i in 1 2 3 4 5 6 7 8 9 10; do
    run "$WORK/atx" env LD_PRELOAD="$PRELOAD" "$P/pf_atexit"
    [ "$(cat "$WORK/atx.rc")" = 0 ] && grep -q 'atexit handler ok' "$WORK/atx.out" &&
        grep -q 'destructor ok' "$WORK/atx.out" || bad=$((bad + 1))
done
expect_eq "$bad" 0 "4.5 pf_atexit (10 runs): exit handler, destructor and threads at exit"
expect_match "$(cat "$WORK/early.err")" 'pf_early atexit: allocations ok' \
    "4.5 an exit handler that runs after the shim marked its file finished"

item "4.6 descriptors: the shim holds none"
# Output through a pipe, so that fd 1 reads the same in both runs.
env LD_PRELOAD="$PRELOAD" "$P/pf_self" 2>/dev/null | cat >"$WORK/self.out" || true
"$P/pf_self" 2>/dev/null | cat >"$WORK/self-bare.out" || true
expect_eq "$(grep '^fd' "$WORK/self.out")" "$(grep '^fd' "$WORK/self-bare.out")" \
    "4.6 same open descriptors with and without the shim"
checks=$((checks + 1))
ls "$MMSTATS_DIR"/pf_self-*.mmstats >/dev/null 2>&1 || fail "4.6 pf_self was not recorded"

item "4.7 start-up: no thread, no directory scan"
expect_eq "$(grep Threads "$WORK/self.out" | tr -d ' \t')" "Threads:1" "4.7 one thread under the shim"
if command -v strace >/dev/null 2>&1 && strace -o /dev/null true 2>/dev/null; then
    strace -f -qq -o "$WORK/strace" -e trace=clone,clone3,fork,vfork,getdents,getdents64 \
        -E LD_PRELOAD="$PRELOAD" "$P/pf_chatty" 1 >/dev/null || true
    expect_eq "$(grep -cE 'clone|fork|getdents' "$WORK/strace" || true)" 0 \
        "4.7 strace: no clone, no getdents at start-up"
else
    skip "4.7 strace check" "strace missing or ptrace not permitted"
fi

# ---------------------------------------------------------------- 5.
# fault NAME DIR [PREFIX...]: pf_host (run by PREFIX, e.g. as nobody) with
# MMSTATS_DIR=DIR behaves exactly as without the shim, no stats file is
# left in DIR, and MMSTATS_VERBOSE=1 adds exactly one warning.
fault() {
    local name=$1 dir=$2
    shift 2
    local o=$WORK/fault
    run "$o-bare" "$@" env -u LD_PRELOAD "$P/pf_host"
    run "$o-shim" "$@" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$dir" "$P/pf_host"
    run "$o-verb" "$@" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$dir" MMSTATS_VERBOSE=1 "$P/pf_host"
    expect_eq "$(cat "$o-shim.rc")" "$(cat "$o-bare.rc")" "$name: exit status unchanged"
    expect_eq "$(cat "$o-shim.out")" "$(cat "$o-bare.out")" "$name: stdout unchanged"
    expect_eq "$(cat "$o-shim.err")" "$(cat "$o-bare.err")" "$name: stderr unchanged (verbose off)"
    expect_eq "$(cat "$o-verb.rc")" "$(cat "$o-bare.rc")" "$name: exit status unchanged (verbose)"
    expect_eq "$(warnings "$o-verb.err")" 1 "$name: one warning with MMSTATS_VERBOSE=1"
    expect_eq "$(grep -v '^mmstats: ' "$o-verb.err")" "$(cat "$o-bare.err")" \
        "$name: nothing else on stderr (verbose)"
    expect_eq "$(find "$dir" -name '*mmstats*' 2>/dev/null | wc -l)" 0 "$name: no file left in the directory"
}

item "5.1 stats directory missing, not creatable"
fault "5.1 missing parent" "$WORK/no/such/dir"
checks=$((checks + 1))
[ ! -e "$WORK/no" ] || fail "5.1 something was created"

item "5.2 stats directory missing, creatable: made 0700, file 0600"
run "$WORK/fresh" env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/fresh" "$P/pf_host"
run "$WORK/fresh-bare" "$P/pf_host"
expect_eq "$(cat "$WORK/fresh.rc") $(cat "$WORK/fresh.out")" \
    "$(cat "$WORK/fresh-bare.rc") $(cat "$WORK/fresh-bare.out")" "5.2 pf_host unchanged"
expect_eq "$(stat -c %a "$WORK/fresh" 2>&1)" 700 "5.2 directory mode"
ff=$(ls "$WORK"/fresh/pf_host-*.mmstats 2>/dev/null | head -1 || true)
expect_eq "$(stat -c '%a %h' "${ff:-none}" 2>&1)" "600 1" "5.2 file mode 0600, one link"

item "5.3 stats directory read-only"
if [ "$HAVE_NOBODY" = 1 ]; then
    mkdir -m 500 "$NB/ro"
    chown nobody "$NB/ro"
    fault "5.3 read-only (mode 0500, as nobody)" "$NB/ro" as_nobody
elif [ "$(id -u)" != 0 ]; then
    # Not root: permission bits apply to us.
    mkdir -m 500 "$WORK/ro"
    fault "5.3 read-only (mode 0500)" "$WORK/ro"
else
    skip "5.3 read-only as nobody" "setpriv cannot switch to nobody"
fi
if [ "$HAVE_MOUNT" = 1 ]; then
    tmpfs "$WORK/romnt" ro,mode=0700
    fault "5.3 read-only filesystem (as root)" "$WORK/romnt"
else
    skip "5.3 read-only filesystem" "cannot mount a tmpfs here"
fi

item "5.4 full disk"
if [ "$HAVE_MOUNT" = 1 ]; then
    tmpfs "$WORK/full" size=8k,mode=0700
    fault "5.4 full at start (8 KiB tmpfs: less than a new file)" "$WORK/full"
    # The disk fills after the file is made: new threads and new fields
    # need pages that cannot be had. Never a SIGBUS.
    tmpfs "$WORK/fill" size=1m,mode=0700
    run "$WORK/fill" timeout 30 env LD_PRELOAD="$PRELOAD" MMSTATS_DIR="$WORK/fill/stats" \
        "$P/pf_fill" "$WORK/fill"
    expect_eq "$(cat "$WORK/fill.rc") $(tr '\n' ' ' <"$WORK/fill.out")" "0 filled done, 0 failed " \
        "5.4 disk full after start: no SIGBUS, program unchanged"
    FL=$(ls "$WORK"/fill/stats/pf_fill-*.mmstats 2>/dev/null | head -1 || true)
    # read is first made once the disk is full: its fields are made if
    # the pages they need were there already, or never, and then each
    # record is counted as dropped. Either way nothing is lost silently.
    reads=$(f "${FL:-none}" io.read.calls)
    reads=${reads:-0}
    # Drops the shim counts itself, and those the core counts in the
    # file's header (no space for a new cell).
    dropped=$(dropped "${FL:-none}")
    checks=$((checks + 1))
    [ "$reads" = 16 ] || [ $((reads + dropped)) -ge 16 ] ||
        fail "5.4 reads counted ($reads) or dropped ($dropped): want 16, or reads + dropped >= 16"
else
    skip "5.4 full disk" "cannot mount a tmpfs here"
fi
# A file size limit below the stats file's size: ftruncate would raise
# SIGXFSZ, which kills by default.
mkdir -m 700 "$WORK/lim"
fault "5.4 file size limit (ulimit -f 8: less than a new file)" "$WORK/lim" bash -c 'ulimit -f 8; exec "$@"' lim

item "5.5 stats directory refused: symlink, world- or group-writable, other owner, not a directory"
mkdir -m 700 "$WORK/real"
ln -s "$WORK/real" "$WORK/link"
fault "5.5 symlink" "$WORK/link"
expect_eq "$(ls -A "$WORK/real" | wc -l)" 0 "5.5 nothing written through the symlink"
mkdir -m 777 "$WORK/ww" && chmod 777 "$WORK/ww"
fault "5.5 world-writable (0777)" "$WORK/ww"
mkdir "$WORK/sticky" && chmod 1777 "$WORK/sticky"
fault "5.5 world-writable sticky (1777)" "$WORK/sticky"
mkdir "$WORK/gw" && chmod 770 "$WORK/gw"
fault "5.5 group-writable (0770)" "$WORK/gw"
if [ "$(id -u)" = 0 ]; then
    mkdir -m 700 "$WORK/other" && chown nobody "$WORK/other"
    fault "5.5 owned by another user" "$WORK/other"
else
    skip "5.5 other owner" "needs root to give a directory away"
fi
echo "not a directory" >"$WORK/afile"
fault "5.5 a file, not a directory" "$WORK/afile"

# ---------------------------------------------------------------- 6.
item "6.1 setuid/setgid (AT_SECURE): the shim, loaded, does nothing"
# The loader takes LD_PRELOAD in a setuid program only as a bare name,
# found in a trusted place (pf_secure's RPATH is
# tests/integration/pf_secure_lib in the build tree) and only if that
# library is itself setuid. So a setuid copy of the shim goes there, and a
# setuid-root (then setgid-root) copy of pf_secure runs as nobody. The
# program reports that the shim is mapped and the process is secure; no
# stats file may appear: neither in MMSTATS_DIR (which a secure process
# ignores) nor in the default directory of its euid.
SECLIBDIR=$(dirname "$P")/pf_secure_lib
if [ "$HAVE_NOBODY" != 1 ]; then
    skip "6.1 setuid" "not root, or setpriv cannot switch to nobody"
elif ! readelf -d "$P/pf_secure" | grep -q "$SECLIBDIR"; then
    skip "6.1 setuid" "pf_secure has no RPATH to $SECLIBDIR"
else
    mkdir -p "$SECLIBDIR"
    SECLIB=$SECLIBDIR/libmmstats_pfsecure.so
    cp "$PRELOAD" "$SECLIB"
    chmod 4755 "$SECLIB"
    SECDIR=$(mktemp -d /tmp/mmstats-pf-sec-XXXXXX)
    chmod 755 "$SECDIR"
    cp "$P/pf_secure" "$SECDIR/pf_secure"
    mkdir -m 700 "$SECDIR/stats"
    # Control: not secure (run as root), the same copies record.
    chmod 4755 "$SECDIR/pf_secure"
    run "$WORK/sec0" env LD_PRELOAD=libmmstats_pfsecure.so MMSTATS_DIR="$SECDIR/stats" "$SECDIR/pf_secure"
    expect_match "$(cat "$WORK/sec0.out")" '^secure 0 .* shim mapped' "6.1 control: shim mapped, not secure"
    spid=$(awk '{print $NF}' "$WORK/sec0.out")
    checks=$((checks + 1))
    [ -e "$SECDIR/stats/pf_secure-$spid.mmstats" ] || fail "6.1 control: not recorded"
    for mode in 4755:setuid 2755:setgid; do
        chown root:root "$SECDIR/pf_secure"
        chmod "${mode%%:*}" "$SECDIR/pf_secure"
        run "$WORK/sec" as_nobody env LD_PRELOAD=libmmstats_pfsecure.so \
            MMSTATS_DIR="$SECDIR/stats" "$SECDIR/pf_secure"
        expect_match "$(cat "$WORK/sec.out")" '^secure 1 .* shim mapped' \
            "6.1 ${mode#*:}: the shim is loaded into a secure process"
        spid=$(awk '{print $NF}' "$WORK/sec.out")
        euid=$(awk '{print $6}' "$WORK/sec.out")
        expect_eq "$(cat "$WORK/sec.rc")" 0 "6.1 ${mode#*:}: exit status"
        expect_eq "$(find "$SECDIR/stats" "/tmp/mmstats-$euid" -name "pf_secure-$spid*" 2>/dev/null | wc -l)" \
            0 "6.1 ${mode#*:}: no stats file"
    done
    # And the loader itself drops a path in LD_PRELOAD for such programs.
    run "$WORK/sec2" as_nobody env LD_PRELOAD="$PRELOAD" "$SECDIR/pf_secure"
    expect_match "$(cat "$WORK/sec2.out")" '^secure 1 .* shim absent' \
        "6.1 LD_PRELOAD with a path: not loaded at all"
fi

echo "$skips item(s) skipped (not counted as passed)"
finish || exit 1
[ "$skips" -eq 0 ] || exit 77
