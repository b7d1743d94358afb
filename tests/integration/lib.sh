# Helpers for the integration test scripts: a private stats directory,
# assertions that name what failed, and cleanup. Source it.
set -euo pipefail
B=${1:?usage: $0 BUILD_DIR}

# A sanitizer build of the shim cannot be preloaded into programs built
# without that sanitizer (its runtime must be loaded first): SAN=1 there,
# and the checks that need files written by the shim are left to the
# plain builds.
SAN=0
if grep -Eq '^CMAKE_(C|SHARED_LINKER)_FLAGS[A-Z_]*:[A-Z]+=.*-fsanitize' \
    "$B/CMakeCache.txt" 2>/dev/null; then
    SAN=1
fi

# skip_sanitized [WHY]: in a sanitizer build, say so and exit 77 (ctest's
# SKIP_RETURN_CODE: reported as skipped, not passed).
skip_sanitized() {
    [ "$SAN" = 1 ] || return 0
    echo "SKIP: sanitizer build${1:+ ($1)}"
    exit 77
}

# skip_without_pidns: exit 77 unless this process may make a pid namespace
# (unshare --pid --fork --mount-proc needs root).
skip_without_pidns() {
    [ "$(id -u)" = 0 ] && unshare --pid --fork --mount-proc true 2>/dev/null && return 0
    echo "SKIP: unshare --pid needs root"
    exit 77
}

# skip_without COMMAND [WHY]: exit 77 (skipped) if COMMAND is missing.
skip_without() {
    command -v "$1" >/dev/null && return 0
    echo "SKIP: $1 missing${2:+ ($2)}"
    exit 77
}

WORK=$(mktemp -d /tmp/mmstats-it-XXXXXX)
export MMSTATS_DIR=$WORK/stats
unset MMSTATS_FILE MMSTATS_LABEL MMSTATS_GROUP
# These tests look at each process's own file: keep them all (the default
# folds short-lived processes into rollups; test_rollup_*.sh test that).
export MMSTATS_KEEP=all
# Tests that unset MMSTATS_KEEP get the default, auto, which keeps the file
# of a process that lived MMSTATS_KEEP_AFTER (60 s) or more: on a loaded
# machine a test's process can live that long (test_rollup_storm's 200
# workers at their barrier did). A day: the policy's choice never depends
# on the machine's speed. A test of the threshold sets its own.
export MMSTATS_KEEP_AFTER=86400
trap 'rm -rf "$WORK"' EXIT
# python3 on PATH may be a version manager's wrapper (pyenv's shim: a bash
# script running a dozen helpers, up to 2 s a call on a loaded machine,
# and the tests call python3 hundreds of times): call the interpreter.
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
if [ -n "$py" ] && [ "$py" != "$(command -v python3)" ]; then
    PATH=$(dirname "$py"):$PATH
fi
fails=0
checks=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# ready_line FD WHAT [WORD]: a coprocess's first line, from its output FD,
# within 120 s, its words in the array ready_words; with WORD, its first
# word must be WORD (then left out). Else the test fails, naming WHAT.
ready_line() {
    ready_words=()
    if ! read -r -t 120 -a ready_words <&"$1" ||
        { [ -n "${3:-}" ] && [ "${ready_words[0]:-}" != "$3" ]; }; then
        fail "$2 did not start"
        return 1
    fi
    [ -z "${3:-}" ] || ready_words=("${ready_words[@]:1}")
}
# expect_match TEXT REGEX WHAT
expect_match() {
    checks=$((checks + 1))
    if ! grep -Eq -- "$2" <<<"$1"; then
        fail "$3: /$2/ not found in:"
        sed 's/^/    /' <<<"$1" >&2
    fi
}
# expect_eq GOT WANT WHAT
expect_eq() {
    checks=$((checks + 1))
    [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}
# finish: the plain closing line, and the exit status.
finish() {
    echo "$((checks - fails)) passed, $fails failed"
    [ "$fails" -eq 0 ]
}

# The shim and the test programs (set by ctest; derived from $B otherwise).
PRELOAD=${MMS_PRELOAD:-$B/preload/libmmstats_preload.so}
PROGS=${MMS_PROGS:-$B/tests/integration/progs}
READ=$B/tools/mmstat-read
# shim CMD...: run CMD under the shim.
shim() { LD_PRELOAD=$PRELOAD "$@"; }
# field FILE NAME: the value of field NAME in stats file FILE (first column
# after the name in mmstat-read's text output; empty if absent).
# (awk reads to the end: leaving early would kill mmstat-read with SIGPIPE
# on a long dump, and pipefail would fail the caller.)
field() { "$READ" "$1" | awk -v n="$2" '$1 == n && !f {print $2; f = 1}'; }
# newest_file EXE: the newest stats file written by a process named EXE.
newest_file() { ls -t "$MMSTATS_DIR"/"$1"-*.mmstats 2>/dev/null | head -1; }
# expect_files_read WHAT: the stats files in $MMSTATS_DIR, at least one,
# each read by mmstat-read (WHAT: who wrote them, for the message).
expect_files_read() {
    local f n=0
    for f in "$MMSTATS_DIR"/*.mmstats; do
        [ -e "$f" ] || continue
        "$READ" "$f" >/dev/null || fail "$f does not read"
        n=$((n + 1))
    done
    expect_match "$n" '^[1-9][0-9]*$' "stats files written $1"
}
