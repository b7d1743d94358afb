# What strace sees against what the shim sees (issue 16): three real
# workloads (ls -lR on a tree, git status in a repository, python3 -m
# compileall on a tree) run under strace -f -c and, on a fresh copy of
# the same input, under the shim. Every system call making up at least
# 1% of strace's count must be made through hooked libc calls (the map,
# preload_strace.map, names them) at least half as often as strace
# counts it, or be listed in docs/preload.md's "What the shim cannot see"
# table with the reason. Removing a hook the workloads rely on (say
# lgetxattr) fails the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized
for tool in strace git python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: no $tool (scripts/lib/common.sh installs it)"
        exit 77
    fi
done
if ! strace -f -c -o /dev/null true 2>/dev/null; then
    echo "SKIP: strace cannot trace here (ptrace not allowed)"
    exit 77
fi
export LC_ALL=C HOME=$WORK/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME" "$MMSTATS_DIR"
MAP=$SRC/tests/integration/preload_strace.map
DOC=$SRC/docs/preload.md
# The interpreter itself, not a wrapper script (pyenv's shims are bash).
PY=$(python3 -c 'import sys; print(sys.executable)')

# ---- the inputs: made once, copied fresh for each run
IN=$WORK/in
mkdir -p "$IN/tree/a/b" "$IN/tree/c" "$IN/repo" "$IN/py/pkg"
for i in $(seq 1 40); do
    echo "$i" >"$IN/tree/a/f$i"
    ln -s "f$i" "$IN/tree/a/b/l$i"
    mkdir -p "$IN/tree/c/d$((i % 8))"
    echo "$i" >"$IN/tree/c/d$((i % 8))/g$i"
    echo "x$i = $i" >"$IN/repo/f$i.txt"
    printf 'def f%d(x):\n    return x + %d\n' "$i" "$i" >"$IN/py/pkg/m$i.py"
done
touch "$IN/py/pkg/__init__.py"
git -C "$IN/repo" init -q
git -C "$IN/repo" add .
git -C "$IN/repo" -c user.name=t -c user.email=t@t commit -qm init
echo changed >>"$IN/repo/f3.txt"
echo new >"$IN/repo/untracked.txt"
# The index refreshed now, so that neither run below writes it.
git -C "$IN/repo" status >/dev/null
git -C "$IN/repo" update-index -q --refresh || true

# ---- the hooked names and the documented unseen system calls
HOOKED=$(python3 "$SRC/scripts/gen-preload-calls" --names "$SRC/preload/calls.h")
# UNSEEN: "syscall seen" lines of docs/preload.md's table (seen: no or
# partly).
UNSEEN=$(sed -n '/<!-- BEGIN not-seen -->/,/<!-- END not-seen -->/p' "$DOC" |
    awk -F'|' '/^\| `/ {
        gsub(/ /, "", $3); n = split($2, w, "`")
        for (i = 2; i <= n; i += 2) print w[i], $3 }')
expect_match "$UNSEEN" '^exit_group no$' "docs/preload.md lists the unseen calls"
expect_match "$UNSEEN" '^read partly$' "docs/preload.md: read is partly seen"
# Every name the map gives is hooked (a hook removed from the table fails
# here, whatever the workloads do).
while read -r sc calls; do
    for c in $calls; do
        grep -qxF "$c" <<<"$HOOKED" || fail "map: $sc: $c is not hooked"
    done
done < <(grep -v '^#' "$MAP" | grep -v '^ *$')

# strace_counts FILE: "syscall calls" lines of strace -c's table.
strace_counts() {
    awk '$1 ~ /^[0-9.]+$/ && $NF != "total" && $4 ~ /^[0-9]+$/ {print $NF, $4}' "$1"
}
# shim_calls DIR: "name calls" for every hooked call in every stats file
# of DIR (a name's sum over the files and the families).
shim_calls() {
    local f
    for f in "$1"/*.mmstats; do
        "$READ" "$f"
    done | awk '$1 ~ /[.]calls$/ {n = split($1, p, "."); s[p[n - 1]] += $2}
        END {for (k in s) print k, s[k]}'
}

# workload NAME DIR CMD...: run CMD in a fresh copy of $IN/DIR under
# strace and under the shim, then check the system calls.
workload() {
    local name=$1 dir=$2
    shift 2
    local st=$WORK/$name.strace sh=$WORK/$name.shim rc=0
    rm -rf "$WORK/run"
    cp -a "$IN/$dir" "$WORK/run"
    (cd "$WORK/run" && strace -f -c -o "$st" "$@" >/dev/null 2>&1) || rc=$?
    expect_eq "$rc" 0 "$name: exit status under strace"
    rm -rf "$WORK/run"
    cp -a "$IN/$dir" "$WORK/run"
    rc=0
    (cd "$WORK/run" && MMSTATS_DIR=$MMSTATS_DIR/$name LD_PRELOAD=$PRELOAD \
        "$@" >/dev/null 2>&1) || rc=$?
    expect_eq "$rc" 0 "$name: exit status under the shim"
    strace_counts "$st" >"$st.counts"
    shim_calls "$MMSTATS_DIR/$name" >"$sh.counts"
    check_workload "$name" "$st.counts" "$sh.counts"
}

# check_workload NAME STRACE_COUNTS SHIM_COUNTS
check_workload() {
    local name=$1 total sc n calls c seen v how
    total=$(awk '{t += $2} END {print t + 0}' "$2")
    checks=$((checks + 1))
    [ "$total" -gt 0 ] || fail "$name: strace counted no system calls"
    echo "$name: $total system calls"
    while read -r sc n; do
        [ $((n * 100)) -ge "$total" ] || continue
        checks=$((checks + 1))
        how=$(awk -v s="$sc" '$1 == s {print $2; exit}' <<<"$UNSEEN")
        if [ "$how" = no ]; then
            echo "  $sc $n: not seen (docs/preload.md)"
            continue
        fi
        calls=$(awk -v s="$sc" '$1 == s {$1 = ""; print; exit}' "$MAP")
        if [ -z "$calls" ]; then
            fail "$name: $sc ($n of $total calls): neither in the map nor in docs/preload.md's unseen list"
            continue
        fi
        seen=0
        for c in $calls; do
            v=$(awk -v c="$c" '$1 == c {print $2; exit}' "$3")
            seen=$((seen + ${v:-0}))
        done
        echo "  $sc $n: the shim saw $seen${how:+ (partly seen: summed below)}"
        if [ "$how" = partly ]; then
            part_n[$sc]=$((${part_n[$sc]:-0} + n))
            part_seen[$sc]=$((${part_seen[$sc]:-0} + seen))
        elif [ $((seen * 2)) -lt "$n" ]; then
            fail "$name: $sc: strace saw $n, the hooked calls$calls only $seen"
        fi
    done <"$2"
}
# The partly seen calls, over the workloads together.
declare -A part_n part_seen

workload ls tree ls -lR .
workload git repo git status
workload compileall py "$PY" -m compileall -f -q .
for sc in "${!part_n[@]}"; do
    checks=$((checks + 1))
    echo "partly seen: $sc ${part_n[$sc]}: the shim saw ${part_seen[$sc]}"
    [ $((part_seen[$sc] * 2)) -ge "${part_n[$sc]}" ] ||
        fail "$sc: strace saw ${part_n[$sc]} over the workloads, the hooked calls only ${part_seen[$sc]}"
done
finish
