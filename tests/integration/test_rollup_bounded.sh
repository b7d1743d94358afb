# Bounded (issue 12): with default settings, 2000 short processes of three
# programs under the shim leave at most 10 files and 1 MiB in the stats
# directory (on a tmpfs, where the docs put it): each start-up folds the
# files of the processes gone before into a rollup per program. Then
# mmstat-clean leaves the three rollups alone, and they hold all 2000.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
skip_sanitized "the shim cannot be preloaded in a sanitizer build"
unset MMSTATS_KEEP
ROUNDS=667 # x 3 programs, + 2: 2003 processes
SHM=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    SHM=$(mktemp -d /dev/shm/mmstats-it-XXXXXX)
    trap 'rm -rf "$WORK" "$SHM"' EXIT
    export MMSTATS_DIR=$SHM/stats
fi
mkdir -p -m 700 "$MMSTATS_DIR"
D=$MMSTATS_DIR
# (/bin/true records nothing: MMSTATS_EAGER=1 makes its file, and sweeps.)

for _ in $(seq $ROUNDS); do
    MMSTATS_EAGER=1 LD_PRELOAD=$PRELOAD /bin/true
    LD_PRELOAD=$PRELOAD cat /dev/null
    LD_PRELOAD=$PRELOAD dd if=/dev/zero of=/dev/null bs=512 count=2 2>/dev/null
done
MMSTATS_EAGER=1 LD_PRELOAD=$PRELOAD /bin/true
MMSTATS_EAGER=1 LD_PRELOAD=$PRELOAD /bin/true

files=$(find "$D" -mindepth 1 | wc -l)
bytes=$(du -s --block-size=1 "$D" | cut -f1)
echo "after $((ROUNDS * 3 + 2)) processes: $files files, $bytes bytes"
ls -ls "$D"
checks=$((checks + 1))
[ "$files" -le 10 ] || fail "$files files in the directory (at most 10)"
checks=$((checks + 1))
[ "$bytes" -le $((1 << 20)) ] || fail "$bytes bytes in the directory (at most 1 MiB)"
expect_match "$(ls "$D")" 'true@rollup\.mmstats' "a rollup of true"

"$CLEAN" -q
rprocs() {
    "$READ" --json "$D/$1@rollup.mmstats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["rollup"]["processes"])'
}
expect_eq "$(rprocs true)" $((ROUNDS + 2)) "true rollup: processes"
expect_eq "$(rprocs cat)" $ROUNDS "cat rollup: processes"
expect_eq "$(rprocs dd)" $ROUNDS "dd rollup: processes"
expect_eq "$(field "$D/dd@rollup.mmstats" io.write.calls)" $((ROUNDS * 2)) \
    "dd rollup: writes"
expect_eq "$(find "$D" -mindepth 1 | wc -l)" 3 "after mmstat-clean: the rollups"
finish
