# The shim under valgrind's memcheck: the sanitizer builds cannot preload
# an instrumented shim into plain programs, so memory errors in the shim
# (bad reads and writes, uninitialised values, bad frees, including of
# its bootstrap arena) are caught here instead, on a real program, a
# threaded one, a forking one and an allocation-heavy one.
. "$(dirname "$0")/lib.sh"
skip_sanitized "valgrind and sanitizers do not mix"
if ! command -v valgrind >/dev/null; then
    fail "valgrind is not installed (scripts/test installs it)"
    finish
    exit 1
fi
mkdir -p "$MMSTATS_DIR"
# vg NAME CMD...: CMD under memcheck with the shim; any error fails.
vg() {
    local name=$1
    shift
    checks=$((checks + 1))
    if ! LD_PRELOAD=$PRELOAD valgrind -q --error-exitcode=99 \
        --trace-children=yes --child-silent-after-fork=no \
        --log-file="$WORK/vg-$name-%p.log" "$@" >"$WORK/$name.out" 2>&1; then
        fail "$name: memcheck reported errors or the program failed:"
        cat "$WORK"/vg-"$name"-*.log "$WORK/$name.out" >&2
    fi
}
vg dd dd if=/dev/zero of=/dev/null bs=512 count=200
vg threads "$PROGS/threads" 4 1000
vg forks "$PROGS/forks"
mkdir -p "$WORK/counts"
vg counts "$PROGS/counts" "$WORK/counts" 200
# The interpreter itself: python3 on PATH may be a version manager's
# wrapper script (pyenv's runs bash and a dozen helpers, each of them under
# memcheck: minutes on a loaded machine, and not what this checks).
PY=$(python3 -c 'import sys; print(sys.executable)')
vg python "$PY" -c 'import json; print(json.dumps(list(range(100))))'
# The files the shim wrote under valgrind still read.
expect_files_read "under valgrind"
finish
