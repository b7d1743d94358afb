# Identity across pid namespaces (issue 12.3): a writer in its own pid
# namespace (unshare --pid --fork --mount-proc, as in a container) reads
# as running from the host, and mmstat-clean leaves its file alone; a
# reader inside a namespace that cannot see the writer's says "unknown",
# never "stale". Needs root (unshare); skipped (77) otherwise.
. "$(dirname "$0")/lib.sh"
skip_without_pidns
mkdir -p -m 700 "$MMSTATS_DIR"
PY="python3 ${MMS_SOURCE_DIR:-$(dirname "$0")/../..}/scripts/mmstats.py"
CLEAN=$B/tools/mmstat-clean
live() { # live PATH: liveness as mmstat-read --json says it
    "$READ" --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["liveness"])'
}
pylive() {
    $PY "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["liveness"])'
}

# A writer in a new pid namespace, held open through a fifo.
mkfifo "$WORK/in" "$WORK/out"
unshare --pid --fork --mount-proc "$PROGS/core_hold" <"$WORK/in" >"$WORK/out" &
upid=$!
exec 3>"$WORK/in"
read -r word npid path <"$WORK/out"
expect_eq "$word" ready "the namespaced writer started"
expect_eq "$npid" 1 "it is pid 1 in its namespace"
expect_eq "$(live "$path")" running "host reader: running"
expect_eq "$(pylive "$path")" running "host reader (python): running"
expect_eq "$(field "$path" hold.count)" 42 "host reader: its values"
"$CLEAN" >/dev/null 2>&1 || true
checks=$((checks + 1))
[ -e "$path" ] || fail "mmstat-clean removed a running namespaced writer's file"

# A host writer, seen from inside another namespace: unknown, not stale.
mkfifo "$WORK/hin" "$WORK/hout"
"$PROGS/core_hold" <"$WORK/hin" >"$WORK/hout" &
hpid=$!
exec 4>"$WORK/hin"
read -r word _ hpath <"$WORK/hout"
expect_eq "$word" ready "the host writer started"
inside=$(unshare --pid --fork --mount-proc "$READ" --json "$hpath" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["liveness"])')
expect_eq "$inside" unknown "namespaced reader of a host writer: unknown"
inside=$(unshare --pid --fork --mount-proc $PY "$hpath" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["liveness"])')
expect_eq "$inside" unknown "namespaced reader (python): unknown"
unshare --pid --fork --mount-proc "$CLEAN" >/dev/null 2>&1 || true
checks=$((checks + 1))
[ -e "$hpath" ] || fail "a namespaced mmstat-clean removed a file it could not judge"

# Both finish normally: finished, from anywhere.
echo done >&3
exec 3>&-
wait "$upid"
echo done >&4
exec 4>&-
wait "$hpid"
expect_eq "$(live "$path")" finished "the namespaced writer finished"
expect_eq "$(live "$hpath")" finished "the host writer finished"
finish
