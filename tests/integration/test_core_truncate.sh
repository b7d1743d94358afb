# Readers of a file truncated under them (issue 14.11): any process of the
# same user can truncate a stats file while it is being read. The C
# reader catches the SIGBUS of its mapping and answers MMS_ETRUNCATED
# ("stats file shorter than its header says"); mmstat-read --watch reports
# it and exits 1; scripts/mmstats.py reads with pread and reports it too.
# None dies of SIGBUS.
. "$(dirname "$0")/lib.sh"
if grep -Eq '^CMAKE_C_FLAGS[A-Z_]*:[A-Z]+=.*-fsanitize=thread' \
    "$B/CMakeCache.txt" 2>/dev/null; then
    echo "SKIP: ThreadSanitizer's runtime dies of the SIGBUS first"
    exit 77
fi
mkdir -p -m 700 "$MMSTATS_DIR"
PY="python3 ${MMS_SOURCE_DIR:-$(dirname "$0")/../..}/scripts/mmstats.py"
echo | "$PROGS/core_hold" >"$WORK/hold.out"
read -r _ _ src <"$WORK/hold.out"
fresh() { cp "$src" "$MMSTATS_DIR/victim.mmstats"; chmod 600 "$MMSTATS_DIR/victim.mmstats"; }

# A reader loop, in step with the truncation.
for size in 0 4096 8192; do
    fresh
    V=$MMSTATS_DIR/victim.mmstats
    mkfifo "$WORK/rl.in" "$WORK/rl.out"
    "$PROGS/core_readloop" "$V" <"$WORK/rl.in" >"$WORK/rl.out" 2>"$WORK/rl.err" &
    rl=$!
    exec 5>"$WORK/rl.in" 6<"$WORK/rl.out"
    read -r line <&6
    expect_eq "$line" "snap 0" "reader loop ($size): first snapshot"
    truncate -s "$size" "$V"
    echo next >&5
    read -r line <&6 || line="(nothing)"
    expect_eq "$line" "truncated truncated" "reader loop ($size): MMS_ETRUNCATED, twice"
    exec 5>&- 6<&-
    st=0
    wait "$rl" || st=$?
    expect_eq "$st" 0 "reader loop ($size): no SIGBUS"
    rm -f "$WORK/rl.in" "$WORK/rl.out"
done

# mmstat-read --watch of a running writer's file (a copy of it: READY,
# its writer alive), truncated after the first interval.
mkfifo "$WORK/hin" "$WORK/hout"
"$PROGS/core_hold" <"$WORK/hin" >"$WORK/hout" &
hp=$!
exec 8>"$WORK/hin"
read -r _ _ live <"$WORK/hout"
cp "$live" "$MMSTATS_DIR/victim.mmstats"
chmod 600 "$MMSTATS_DIR/victim.mmstats"
V=$MMSTATS_DIR/victim.mmstats
mkfifo "$WORK/w.out"
"$READ" --watch=1 -n 30 "$V" >"$WORK/w.out" 2>"$WORK/w.err" &
wp=$!
exec 7<"$WORK/w.out"
read -r line <&7 || true
truncate -s 0 "$V"
cat <&7 >/dev/null || true
exec 7<&-
st=0
wait "$wp" || st=$?
expect_eq "$st" 1 "mmstat-read --watch: exit status 1, not a signal"
expect_match "$(cat "$WORK/w.err")" "shorter than its header says" \
    "mmstat-read --watch: says why"
echo done >&8
exec 8>&-
wait "$hp"

# One-shot readers of a truncated file.
fresh
truncate -s 8192 "$V"
st=0
"$READ" "$V" >/dev/null 2>"$WORK/r.err" || st=$?
expect_eq "$st" 1 "mmstat-read of a truncated file: exit status 1"
expect_match "$(cat "$WORK/r.err")" "shorter than its header says" "mmstat-read: says why"
st=0
$PY "$V" >/dev/null 2>"$WORK/p.err" || st=$?
expect_eq "$st" 1 "mmstats.py of a truncated file: exit status 1"
expect_match "$(cat "$WORK/p.err")" "shorter than its header says" "mmstats.py: says why"
finish
