# The start-up sweep is bounded (issue 12): a process under the shim looks
# at no more than 16 of the directory's files when it starts (each one is
# opened and mapped to judge it), so that starting a process next to many
# others' files stays cheap; successive start-ups and mmstat-clean cover
# the rest. 40 finished files of gone processes (MMSTATS_KEEP=rollup,
# each made in a directory of its own, then moved together): one more
# process folds exactly 16 of them; mmstat-clean folds the others.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
skip_sanitized "the shim cannot be preloaded in a sanitizer build"
export MMSTATS_KEEP=rollup
# /bin/true records nothing: MMSTATS_EAGER=1 makes its file (and sweeps)
# at start-up all the same.
D=$WORK/dir
mkdir -p -m 700 "$D"
for ((i = 0; i < 40; i++)); do
    mkdir -m 700 "$WORK/d$i"
    MMSTATS_DIR=$WORK/d$i MMSTATS_EAGER=1 LD_PRELOAD=$PRELOAD /bin/true ||
        fail "true $i: status $?"
    mv "$WORK/d$i"/true-*.mmstats "$D/" || fail "true $i: no stats file"
done
# plain COUNT: the per-process files (rollups left out).
plain() { find "$D" -name '*.mmstats' ! -name '*@rollup.mmstats' | wc -l; }
expect_eq "$(plain)" 40 "before: the files of 40 gone processes"

MMSTATS_DIR=$D MMSTATS_EAGER=1 LD_PRELOAD=$PRELOAD /bin/true || fail "true: status $?"
# 40 - 16 folded + its own file (folded by a later sweep).
expect_eq "$(plain)" 25 "one start-up sweep folds 16 files, no more"
rprocs() {
    "$READ" --json "$D/true@rollup.mmstats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["rollup"]["processes"])'
}
expect_eq "$(rprocs)" 16 "the rollup holds the 16"

"$CLEAN" -q -d "$D" || fail "mmstat-clean: status $?"
expect_eq "$(plain)" 0 "mmstat-clean: every file folded"
expect_eq "$(rprocs)" 41 "the rollup holds all 41"
finish
