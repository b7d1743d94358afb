# A fork storm under the shim: 160 children, 40 of them forking again
# (200 processes besides the parent): every process has its own stats
# file whose ppid is its parent's, holding exactly its own writes (none
# lost, none counted twice). And two more faults: no file descriptor left
# for the shim (ulimit -n) and no address space for its mapping
# (ulimit -v): the program runs exactly as without the shim.
. "$(dirname "$0")/lib.sh"
skip_sanitized
mkdir -p "$MMSTATS_DIR"
out=$(MMSTATS_TIMING=0 shim "$PROGS/forkstorm" 160)
expect_eq "$out" "160 children, 0 failed" "forkstorm ran"
# pid ppid writes, one line per file, from the JSON of every file.
"$READ" --json --all | python3 -c '
import json, sys
for p in json.load(sys.stdin)["processes"]:
    w = p["fields"].get("io.write.calls", {}).get("value", 0)
    print(p["pid"], p["ppid"], w)
' >"$WORK/files"
parent=$(awk -v self=$$ '$2 == self {print $1}' "$WORK/files")
n_files=$(wc -l <"$WORK/files")
expect_eq "$n_files" 201 "one file per process (1 + 160 + 40)"
expect_eq "$(echo "$parent" | wc -w)" 1 "one file's ppid is this shell"
expect_eq "$(awk -v p="$parent" '$1 == p {print $3}' "$WORK/files")" 7 \
    "the parent's file: its own 7 writes"
children=$(awk -v p="$parent" '$2 == p' "$WORK/files" | wc -l)
expect_eq "$children" 160 "160 files whose ppid is the parent"
expect_eq "$(awk -v p="$parent" '$2 == p && $3 != 3' "$WORK/files" | wc -l)" 0 \
    "every child: exactly 3 writes"
kids=" $(awk -v p="$parent" '$2 == p {printf "%s ", $1}' "$WORK/files")"
grand=$(awk -v k="$kids" 'index(k, " " $2 " ") {print $3}' "$WORK/files")
expect_eq "$(echo "$grand" | wc -w)" 40 "40 grandchildren, ppid a child"
expect_eq "$(echo "$grand" | sort -u)" 5 "every grandchild: exactly 5 writes"

# Faults: compare a program's output and status with and without the shim.
same_run() { # WHAT LIMIT CMD...
    local what=$1 limit=$2
    shift 2
    local a b ra=0 rb=0
    # Descriptors inherited from the test runner are closed first, so
    # that the limit means the same everywhere.
    local run='for fd in $(ls /proc/$$/fd); do
        [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
        ulimit '"$limit"'; exec "$@"'
    a=$(bash -c "$run" _ "$@" 2>&1) || ra=$?
    b=$(LD_PRELOAD=$PRELOAD MMSTATS_DIR=$WORK/faults MMSTATS_FILE='{exe}-{pid}' \
        bash -c "$run" _ "$@" 2>&1) || rb=$?
    expect_eq "$b" "$a" "$what: output unchanged"
    expect_eq "$rb" "$ra" "$what: exit status unchanged"
}
seq 1 1000 >"$WORK/in"
# 4 descriptors: cat's own three and the file it opens; none for the
# shim, whose directory and file opens fail: it passes through.
same_run "fd limit" "-n 4" cat "$WORK/in"
# (The bash that sets the limit runs under the shim too: only cat's
# file must be missing.)
expect_eq "$(ls "$WORK/faults"/cat-* 2>/dev/null | wc -l)" 0 \
    "fd limit: no stats file for cat"
rm -rf "$WORK/faults"
# 40 MB of address space: the shim sizes its mapping to a share of the
# limit, cat runs as bare and is recorded.
same_run "address space limit" "-v 40000" cat "$WORK/in"
expect_eq "$(find "$WORK/faults" -name 'cat-*' 2>/dev/null | wc -l)" 1 \
    "address space limit: cat recorded within it"
expect_eq "$(find "$WORK/faults" -name '.mmstats-*' | wc -l)" 0 \
    "address space limit: no temporary file left"
finish
