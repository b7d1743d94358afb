# The shim's options do what they say: MMSTATS_DISABLE=1 makes no file,
# MMSTATS_HOOKS records only the families named, MMSTATS_TIMING=off makes
# no latency histograms, MMSTATS_TIMING_MEM=1 adds them for the mem
# family, and a bad value is one warning line on stderr, the default
# kept. The program's output is the same whatever the options.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
# A sanitizer build of the shim cannot be preloaded into programs built
# without that sanitizer (its runtime must be loaded first): the shim is
# tested in the plain builds.
skip_sanitized
export LC_ALL=C
mkdir -p "$MMSTATS_DIR"

# with NAME VAR=VALUE... -- : run the counts program (calls of every
# family) under the shim with these options, stats in $MMSTATS_DIR/NAME,
# stdout in $WORK/NAME.out, stderr in $WORK/NAME.err; f = its stats file
# (empty if none), names = the names of its fields, one a line.
with() {
    local name=$1 rc=0
    shift
    local vars=()
    while [ "$1" != -- ]; do
        vars+=("$1")
        shift
    done
    mkdir -p "$WORK/$name.d"
    env "${vars[@]}" MMSTATS_DIR="$MMSTATS_DIR/$name" LD_PRELOAD="$PRELOAD" \
        "$PROGS/counts" "$WORK/$name.d" 100 \
        >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    expect_eq "$rc" 0 "$name: exit status"
    expect_eq "$(cat "$WORK/$name.out")" "$bare_out" "$name: output"
    f=$(ls "$MMSTATS_DIR/$name"/counts-*.mmstats 2>/dev/null || true)
    names=
    if [ -n "$f" ]; then
        names=$("$READ" "$f" | awk '$1 ~ /^[a-z_]+\.[a-z0-9_.]+$/ {print $1}')
    fi
}
# count REGEX: how many field names match REGEX.
count() { grep -Ec -- "$1" <<<"$names" || true; }
# value NAME: the value of field NAME in $f.
value() {
    if [ -n "$f" ]; then
        field "$f" "$1" 2>/dev/null || true
    fi
}

mkdir -p "$WORK/bare.d"
bare_out=$("$PROGS/counts" "$WORK/bare.d" 100) || fail "counts (bare): status $?"

# ---- the defaults: every family, latency for all but mem
with default --
expect_eq "$(wc -l <"$WORK/default.err")" 0 "default: nothing on stderr"
for fam in io fs net stdio mem; do
    checks=$((checks + 1))
    [ "$(count "^$fam\.")" -gt 0 ] || fail "default: no $fam. fields"
done
expect_eq "$(value io.write.latency)" 100 "default: io.write.latency samples"
expect_eq "$(value fs.open.latency)" 13 "default: fs.open.latency samples"
expect_eq "$(count '^mem\..*\.latency$')" 0 "default: mem latency fields"
expect_eq "$(value io.write.calls)" 100 "default: io.write.calls"
expect_eq "$(dropped "$f")" 0 "default: nothing dropped"

# ---- fields are made on a call's first use: start-up makes only the
# shim's own; a call never made has none
expect_eq "$(value fs.mkdirat.calls)" "" "default: no fields for mkdirat (never called)"
expect_eq "$(count '^io\.pread64\.')" 0 "default: no fields for pread64 (never called)"
# ...and the file itself is made with the first call recorded: none for
# /bin/true (MMSTATS_EAGER=1: at start-up, with no fields)
mkdir -p "$MMSTATS_DIR/true" "$MMSTATS_DIR/true-eager"
MMSTATS_DIR=$MMSTATS_DIR/true LD_PRELOAD=$PRELOAD /bin/true || fail "true: status $?"
expect_eq "$(ls -A "$MMSTATS_DIR/true" | wc -l)" 0 "true: no file (no call recorded)"
MMSTATS_EAGER=1 MMSTATS_DIR=$MMSTATS_DIR/true-eager LD_PRELOAD=$PRELOAD /bin/true ||
    fail "eager true: status $?"
tf=$(ls "$MMSTATS_DIR"/true-eager/*.mmstats 2>/dev/null | head -1 || true)
expect_eq "$("$READ" "${tf:-none}" 2>&1 | awk '$1 ~ /^[a-z_]+\.[a-z0-9_.]+$/ {print $1}')" \
    "" "eager true: no fields at all (no hooked call made)"
expect_eq "$(dropped "${tf:-none}")" 0 "eager true: the file reads, nothing dropped"

# ---- MMSTATS_DISABLE=1: pure pass-through, no file, no directory
with disable MMSTATS_DISABLE=1 --
checks=$((checks + 1))
[ ! -e "$MMSTATS_DIR/disable" ] || fail "disable: $MMSTATS_DIR/disable exists"
expect_eq "$(wc -c <"$WORK/disable.err")" 0 "disable: nothing on stderr"
with disable0 MMSTATS_DISABLE=0 --
checks=$((checks + 1))
[ -n "$f" ] || fail "MMSTATS_DISABLE=0: no stats file"

# ---- MMSTATS_HOOKS: only the families named
with hooks_io MMSTATS_HOOKS=io --
expect_eq "$(count '^io\.')" "$(grep -c . <<<"$names")" "HOOKS=io: all fields io."
expect_eq "$(count '^(fs|net|stdio|mem)\.')" 0 "HOOKS=io: other fields"
expect_eq "$(value io.write.calls)" 100 "HOOKS=io: io.write.calls"
expect_eq "$(value io.read.calls)" 52 "HOOKS=io: io.read.calls"
with hooks_nomem MMSTATS_HOOKS=all,-mem --
expect_eq "$(count '^mem\.')" 0 "HOOKS=all,-mem: mem fields"
expect_eq "$(value fs.open.calls)" 13 "HOOKS=all,-mem: fs.open.calls"
expect_eq "$(value net.recv.bytes)" 465 "HOOKS=all,-mem: net.recv.bytes"
with hooks_fsnet MMSTATS_HOOKS=fs,net --
expect_eq "$(count '^(io|stdio|mem)\.')" 0 "HOOKS=fs,net: other fields"
expect_eq "$(value fs.close.calls)" 15 "HOOKS=fs,net: fs.close.calls"
expect_eq "$(value net.send.calls)" 31 "HOOKS=fs,net: net.send.calls"

# ---- MMSTATS_TIMING
with timing_off MMSTATS_TIMING=off --
expect_eq "$(count '\.latency$')" 0 "TIMING=off: latency fields"
expect_eq "$(value io.write.calls)" 100 "TIMING=off: io.write.calls"
expect_eq "$(value stdio.fgets.bytes)" 35 "TIMING=off: stdio.fgets.bytes"
with timing_mem MMSTATS_TIMING_MEM=1 MMSTATS_TIMING_MEM_SAMPLE=1 --
expect_eq "$(value mem.malloc.latency)" "$(value mem.malloc.calls)" \
    "TIMING_MEM=1, SAMPLE=1: one mem.malloc.latency sample per call"
expect_eq "$(value io.write.latency)" 100 "TIMING_MEM=1: io.write.latency"

# ---- a bad value: one line on stderr, the default kept
with timing_bad MMSTATS_TIMING=maybe --
err=$(cat "$WORK/timing_bad.err")
expect_eq "$(wc -l <<<"$err")" 1 "TIMING=maybe: lines on stderr"
expect_match "$err" '^mmstats: .*MMSTATS_TIMING.*"?maybe"?' \
    "TIMING=maybe: the warning names the option and the value"
expect_eq "$(value io.write.latency)" 100 "TIMING=maybe: timing stays on"
expect_eq "$(value io.write.calls)" 100 "TIMING=maybe: io.write.calls"
with hooks_bad MMSTATS_HOOKS=io,bogus --
expect_eq "$(wc -l <"$WORK/hooks_bad.err")" 1 "HOOKS=io,bogus: lines on stderr"
expect_match "$(cat "$WORK/hooks_bad.err")" '^mmstats: .*MMSTATS_HOOKS' \
    "HOOKS=io,bogus: the warning names the option"
for fam in io fs net stdio mem; do
    checks=$((checks + 1))
    [ "$(count "^$fam\.")" -gt 0 ] ||
        fail "HOOKS=io,bogus: no $fam. fields (the default is all)"
done
finish
