# For the preload tests (source after lib.sh): a call's fields exist once
# the call is first made, so a field a file lacks reads as 0 if the
# shim's table (preload/calls.h, through scripts/gen-preload-calls) names
# it, and as "unknown:NAME" (a typo: the check fails) if not.
SRC=${MMS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PRELOAD_FIELDS=
if command -v python3 >/dev/null 2>&1; then
    PRELOAD_FIELDS=$(python3 "$SRC/scripts/gen-preload-calls" --fields \
        "$SRC/preload/calls.h")
fi
# known_field NAME: whether the shim may make a field of that name.
known_field() {
    local n=$1
    case $n in
    mem.alloc_bytes | mem.freed_bytes | mem.alloc_size | \
        mem.live_bytes | mem.peak_bytes) return 0 ;;
    esac
    # Without python3 the table is unknown: every name is taken.
    [ -n "$PRELOAD_FIELDS" ] || return 0
    case $n in
    *.latency) grep -qxF "${n%.latency}.calls" <<<"$PRELOAD_FIELDS" ;;
    *) grep -qxF "$n" <<<"$PRELOAD_FIELDS" ;;
    esac
}
# pnum FILE NAME: field NAME of FILE; 0 for a field of the table the file
# lacks (its call was never made); unknown:NAME otherwise, and
# unreadable:FILE if FILE cannot be read.
pnum() {
    local dump v
    if ! dump=$("$READ" "$1" 2>/dev/null); then
        echo "unreadable:$1"
        return
    fi
    v=$(awk -v n="$2" '$1 == n {print $2; exit}' <<<"$dump")
    if [ -z "$v" ]; then
        if known_field "$2"; then v=0; else v=unknown:$2; fi
    fi
    echo "$v"
}
# dropped FILE: the records the writer had to drop (the header's count,
# which the shim's drops join); "unreadable:FILE" if FILE cannot be read.
dropped() {
    local v
    v=$("$READ" --json "$1" 2>/dev/null | sed -n 's/^ *"dropped": *\([0-9]*\),*$/\1/p' | head -1)
    echo "${v:-unreadable:$1}"
}

# skip WHAT WHY: an item not tested here (never counted as passed; the
# test reports the count, skips).
skips=0
skip() {
    echo "SKIP: $1: $2"
    skips=$((skips + 1))
}
# run OUT CMD...: CMD's stdout, stderr and exit status in OUT.{out,err,rc};
# its input $STDIN (a file), else /dev/null.
run() {
    local o=$1 rc=0
    shift
    "$@" >"$o.out" 2>"$o.err" <"${STDIN:-/dev/null}" || rc=$?
    echo "$rc" >"$o.rc"
}
