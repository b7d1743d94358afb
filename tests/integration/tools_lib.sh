# Helpers for the tools' tests (test_tools_*.sh), on top of lib.sh: the
# tools, background writers with known rates, header patching and JSON
# queries. Source it after lib.sh.
RUN=$B/tools/mmstat-run
CLEAN=$B/tools/mmstat-clean
SRC=${MMS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PYREAD=$SRC/scripts/mmstats.py
export LC_ALL=C
unset MMSTATS_PRELOAD MMSTATS_HOOKS MMSTATS_TIMING MMSTATS_DISABLE


# Background processes started by a test, killed at exit.
bg_pids=()
kill_bg() {
    local p
    for p in "${bg_pids[@]}"; do
        { kill -9 "$p" && wait "$p"; } 2>/dev/null || true
    done
    bg_pids=()
}
trap 'kill_bg; rm -rf "$WORK"' EXIT

# wait_for FILE REGEX [SECONDS [PID]]: until a line of FILE matches
# (polling, bounded: SECONDS, default 60, is no expectation of speed, only
# a guard against a hang); 1 on timeout, or as soon as PID (the process
# that is to write the line) has ended without writing it.
wait_for() {
    local i
    for ((i = 0; i < ${3:-60} * 20; i++)); do
        grep -Eq -- "$2" "$1" 2>/dev/null && return 0
        if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
            grep -Eq -- "$2" "$1" 2>/dev/null
            return
        fi
        sleep 0.05
    done
    return 1
}

# start_rate TAG ARGS...: tool_rate ARGS in the background; sets rate_pid
# and rate_path once its stats file exists. With SECONDS 0 it runs until
# told to stop (stop_rate, or the end of the test).
start_rate() {
    local out=$WORK/$1.rate
    shift
    "$PROGS/tool_rate" "$@" >"$out" &
    rate_pid=$!
    bg_pids+=("$rate_pid")
    rate_path=
    if wait_for "$out" '^pid '; then
        rate_path=$(awk '/^pid /{print $3; exit}' "$out")
    else
        fail "tool_rate $* did not start"
    fi
}

# stop_rate PID: tell a tool_rate to stop (it marks its file finished)
# and wait for it.
stop_rate() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# start_step: tool_step as a coprocess (a writer that changes its fields
# only when told); sets step_pid and step_path.
start_step() {
    coproc STEP { exec "$PROGS/tool_step"; }
    step_pid=$STEP_PID
    bg_pids+=("$step_pid")
    ready_line "${STEP[0]}" tool_step
    step_path=${ready_words[*]:2}
}

# step N V: tool_step adds N to step.ticks and records V in step.work N
# times; returns once it has (sets step_total).
step() {
    local ok
    echo "add $1 $2" >&"${STEP[1]}"
    step_total=
    read -r -t 60 ok step_total <&"${STEP[0]}" && [ "$ok" = ok ] ||
        fail "tool_step: no answer to add $1 $2"
}

# stop_step: the end of tool_step's input: it marks its file finished and
# exits.
stop_step() {
    eval "exec ${STEP[1]}>&-"
    wait "$step_pid" 2>/dev/null || true
}

# patch_header FILE OFFSET FORMAT VALUE: overwrite a header field (Python
# struct FORMAT, little-endian) of a stats file in place.
patch_header() {
    python3 - "$@" <<'EOF'
import struct, sys
path, off, fmt, val = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(path, "r+b") as f:
    f.seek(off)
    f.write(struct.pack("<" + fmt, int(val)))
EOF
}

# read_header FILE OFFSET FORMAT: print a header field.
read_header() {
    python3 - "$@" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    f.seek(int(sys.argv[2]))
    fmt = "<" + sys.argv[3]
    print(struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0])
EOF
}

# jpy FILE EXPR: the Python expression EXPR over d, the JSON in FILE.
jpy() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

# expect_json FILE WHAT: FILE is valid JSON (python3 -m json.tool).
expect_json() {
    checks=$((checks + 1))
    python3 -m json.tool "$1" >/dev/null 2>"$WORK/json.err" ||
        fail "$2: invalid JSON: $(head -1 "$WORK/json.err")"
}

# expect_rc GOT WANT WHAT
expect_rc() { expect_eq "$1" "$2" "$3: exit status"; }

# expect_no_match TEXT REGEX WHAT
expect_no_match() {
    checks=$((checks + 1))
    if grep -Eq -- "$2" <<<"$1"; then
        fail "$3: /$2/ found in:"
        sed 's/^/    /' <<<"$1" >&2
    fi
}

# expect_promtool_ok FILE WHAT: promtool check metrics (the parser a real
# Prometheus uses, with its lint) accepts the exposition text in FILE.
expect_promtool_ok() {
    checks=$((checks + 1))
    if ! promtool check metrics <"$1" >"$WORK/promtool.out" 2>&1; then
        fail "$2: promtool check metrics rejects it:"
        head -20 "$WORK/promtool.out" | sed 's/^/    /' >&2
    fi
}

# pid_of OUTPUT: the pid an example printed ("pid N writing PATH").
pid_of() { sed -n 's/^pid \([0-9]*\) .*/\1/p' <<<"$1"; }
