# Rollups across pid namespaces (issue 12.3, issue 14.12): a program under
# the shim in its own pid namespace (unshare --pid --fork --mount-proc, as
# in a container), with the default policy, sharing the stats directory
# with the host. While it runs, it reads as running from the host, and
# neither mmstat-clean (even --fold) nor the start-up sweep of a host
# process under the shim touches its file; once it has ended, mmstat-clean
# folds it into its rollup. Needs root (unshare); skipped (77) otherwise.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
skip_sanitized "the shim cannot be preloaded in a sanitizer build"
skip_without_pidns
unset MMSTATS_KEEP
mkdir -p -m 700 "$MMSTATS_DIR"
D=$MMSTATS_DIR
live() {
    "$READ" --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["liveness"])'
}

mkfifo "$WORK/in" "$WORK/out"
unshare --pid --fork --mount-proc env LD_PRELOAD="$PRELOAD" \
    sh -c 'cat /etc/hostname >/dev/null; echo "ready $$" >"$1"; read -r _ <"$2"' \
    sh "$WORK/out" "$WORK/in" &
upid=$!
exec 3<>"$WORK/in"
read -r word npid <"$WORK/out"
expect_eq "$word" ready "the namespaced shell started"
expect_eq "$npid" 1 "it is pid 1 in its namespace"
path=$D/sh-1.mmstats
checks=$((checks + 1))
[ -f "$path" ] || fail "no file $path"
expect_eq "$(live "$path")" running "host reader: running"

"$CLEAN" -q --fold
checks=$((checks + 1))
[ -f "$path" ] || fail "mmstat-clean --fold took a running namespaced process's file"
MMSTATS_EAGER=1 LD_PRELOAD=$PRELOAD /bin/true
MMSTATS_EAGER=1 LD_PRELOAD=$PRELOAD /bin/true
checks=$((checks + 1))
[ -f "$path" ] || fail "a host process's start-up sweep took a running namespaced file"
expect_match "$(ls "$D")" 'true@rollup\.mmstats' "the host's own files are folded meanwhile"
# cat, pid 2 in the namespace, ended: gone even though its namespace
# lives (the host sees every process in it), so folded.
expect_match "$(ls "$D")" 'cat@rollup\.mmstats' "a namespaced process that ended is folded"
checks=$((checks + 1))
[ ! -e "$D/cat-2.mmstats" ] || fail "cat-2.mmstats still there"

# It ends: now gone, and folded.
echo go >&3
wait "$upid"
exec 3>&-
expect_match "$(live "$path")" '^(finished)$' "after the end: finished"
out=$("$CLEAN")
expect_match "$out" "^folded $path into sh@rollup\.mmstats" "mmstat-clean folds it once it ended"
checks=$((checks + 1))
[ ! -e "$path" ] || fail "$path still there after mmstat-clean"
procs=$("$READ" --json "$D/sh@rollup.mmstats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["rollup"]["processes"])')
expect_eq "$procs" 1 "sh rollup: the namespaced process"
finish
