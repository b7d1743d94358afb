# The calls issue 16 added (sync_file_range, syncfs, msync, truncate,
# fallocate, statfs, access, readlink, the xattrs, chmod, chown, times,
# links, rmdir, getcwd, pipes, ioctl, isatty, tcgetattr, munmap, mremap,
# mprotect, madvise, brk, sbrk, the dir family, socketpair, shutdown, the
# socket options, sigaction, signal, mmap's bytes): progs/newcalls makes
# each a known number of times and prints the fields it expects from
# the results it got (whether xattrs or fallocate work depends on the
# file system). Each must be exact, counted and timed; and every result
# and errno must be what the program sees bare.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized
export LC_ALL=C
expect_ge() {
    checks=$((checks + 1))
    [ "$1" -ge "$2" ] 2>/dev/null || fail "$3: got '$1', want >= $2"
}

# run NAME [ENV...]: newcalls in a fresh directory, under the shim with
# ENV when given ("bare" runs it bare); output in $WORK/NAME.out.
run() {
    local name=$1
    shift
    mkdir -p "$WORK/$name.d" "$MMSTATS_DIR/$name"
    if [ "$name" = bare ]; then
        "$PROGS/newcalls" "$WORK/$name.d" >"$WORK/$name.out"
    else
        env MMSTATS_DIR="$MMSTATS_DIR/$name" LD_PRELOAD="$PRELOAD" "$@" \
            "$PROGS/newcalls" "$WORK/$name.d" >"$WORK/$name.out"
    fi
}
# check NAME: the stats file holds exactly the fields the program
# printed; results and errno as bare.
check() {
    local name=$1 files f dump k v
    files=("$MMSTATS_DIR/$name"/*.mmstats)
    expect_eq "${#files[@]}" 1 "$name: one stats file"
    f=${files[0]}
    expect_eq "$(grep -v '^=' "$WORK/$name.out")" \
        "$(grep -v '^=' "$WORK/bare.out")" "$name: results and errno as bare"
    dump=$("$READ" "$f")
    while read -r _ k v; do
        expect_eq "$(awk -v n="$k" '$1 == n {print $2; exit}' <<<"$dump")" \
            "$v" "$name: $k"
    done < <(grep '^= ' "$WORK/$name.out")
    expect_eq "$(dropped "$f")" 0 "$name: nothing dropped"
}

run bare
expect_match "$(cat "$WORK/bare.out")" '^readdir end errno 1234$' \
    "readdir's end leaves errno alone (bare)"
expect_ge "$(grep -c '^= ' "$WORK/bare.out")" 150 "the program's tally"
run counted MMSTATS_TIMING=0
check counted
run timed MMSTATS_TIMING=1 MMSTATS_TIMING_MEM=1
check timed
expect_match "$("$READ" "$MMSTATS_DIR"/counted/*.mmstats)" '^ *dir[.]readdir[.]calls' \
    "counted: the dir family is there"
dump=$("$READ" "$MMSTATS_DIR"/timed/*.mmstats)
for c in dir.readdir dir.readdir_r dir.scandir io.ioctl mem.mremap \
    fs.getxattr files.mmap sig.signal; do
    expect_match "$dump" "^ *$c[.]latency +[1-9]" "timed: $c.latency"
done
finish
