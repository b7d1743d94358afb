# mmstat-clean removes the files of processes that are gone and leftover
# temporary files of dead writers, and nothing else: a live process's
# file, a finished one (unless asked), a file whose pid was reused (stale:
# removed), symlinks, other users' files and files outside the directory
# stay. The stale files are made by patching the pid, start_ticks and
# state header fields of real files with python3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

D=$MMSTATS_DIR
OFF_STATE=16 OFF_PID=32 OFF_TICKS=40 OFF_FINISHED=56

start_rate live 1000 0
live=$rate_path
out=$("$B/examples/model")
finished=${out#writing }
# A pid that no process has: one that just ended.
sleep 0 &
deadpid=$!
wait "$deadpid"

# mkstale NAME PID [TICKS]: a copy of the finished file, "ready" again,
# written by PID (with start time TICKS).
mkstale() {
    cp --sparse=always "$finished" "$D/$1"
    chmod 600 "$D/$1"
    patch_header "$D/$1" $OFF_STATE I 2
    patch_header "$D/$1" $OFF_FINISHED q 0
    patch_header "$D/$1" $OFF_PID i "$2"
    [ -z "${3:-}" ] || patch_header "$D/$1" $OFF_TICKS Q "$3"
}
mkstale dead-1.mmstats "$deadpid"
# Our own pid, alive, with another start time: the pid was reused.
ticks=$(read_header "$live" $OFF_TICKS Q)
mkstale reused-1.mmstats $$ $((ticks + 12345))
# A finished file two days old.
cp --sparse=always "$finished" "$D/old-1.mmstats"
chmod 600 "$D/old-1.mmstats"
patch_header "$D/old-1.mmstats" $OFF_FINISHED q \
    $(( $(date +%s) * 1000000000 - 2 * 86400 * 1000000000 ))
# Temporary files: of a dead writer (removed) and of a live one (kept).
cp "$D/dead-1.mmstats" "$D/.mmstats-$deadpid-0.tmp"
: >"$D/.mmstats-$rate_pid-3.tmp"
chmod 600 "$D"/.mmstats-*.tmp
# A symlink to a stale file outside the directory: neither is touched.
mkdir -p "$WORK/outside"
mkstale dead-2.mmstats "$deadpid"
mv "$D/dead-2.mmstats" "$WORK/outside/dead-2.mmstats"
ln -s "$WORK/outside/dead-2.mmstats" "$D/link-1.mmstats"
# Another user's stale file (as root only: nobody else can make one).
foreign=
if [ "$(id -u)" = 0 ]; then
    mkstale foreign-1.mmstats "$deadpid"
    chown 65534 "$D/foreign-1.mmstats"
    foreign=$D/foreign-1.mmstats
fi
# A stale hard-linked file: the reader refuses it, and so does clean.
mkstale hard-1.mmstats "$deadpid"
ln "$D/hard-1.mmstats" "$WORK/outside/hard-1.mmstats"
# Liveness as mmstat-read sees it.
list=$("$READ" 2>/dev/null || true)
expect_match "$list" "^ +$deadpid +model +stale +.*dead-1\.mmstats$" "made a stale file"
expect_match "$list" "^ +$$ +model +stale\(pid-reused\) .*reused-1\.mmstats$" \
    "made a pid-reused file"

exists() {
    checks=$((checks + 1))
    [ -e "$1" ] || [ -L "$1" ] || fail "$2: $1 was removed"
}
gone() {
    checks=$((checks + 1))
    [ ! -e "$1" ] && [ ! -L "$1" ] || fail "$2: $1 is still there"
}
keep_always() {
    exists "$live" "$1: live process"
    exists "$D/.mmstats-$rate_pid-3.tmp" "$1: live writer's temporary file"
    exists "$D/link-1.mmstats" "$1: symlink"
    exists "$WORK/outside/dead-2.mmstats" "$1: file outside the directory"
    exists "$D/hard-1.mmstats" "$1: hard-linked file"
    [ -z "$foreign" ] || exists "$foreign" "$1: other user's file"
}

# ---- --dry-run: says what it would do, does nothing
rc=0
out=$("$CLEAN" --dry-run) || rc=$?
expect_rc "$rc" 0 "dry run"
expect_match "$out" "^would remove $D/dead-1\.mmstats \(stale: pid $deadpid is gone\)$" \
    "dry run: dead"
expect_match "$out" "^would remove $D/reused-1\.mmstats \(stale: pid $$ now runs another process\)$" \
    "dry run: pid reused"
expect_match "$out" "^would remove $D/\.mmstats-$deadpid-0\.tmp " "dry run: dead tmp"
expect_match "$out" '^would remove 3 files, (would fold|folded) 0, kept [0-9]+$' "dry run: summary"
exists "$D/dead-1.mmstats" "dry run"
exists "$D/reused-1.mmstats" "dry run"
exists "$D/.mmstats-$deadpid-0.tmp" "dry run"

# ---- default: stale files and dead temporaries only
rc=0
out=$("$CLEAN") || rc=$?
expect_rc "$rc" 0 "clean"
gone "$D/dead-1.mmstats" "clean: dead"
gone "$D/reused-1.mmstats" "clean: pid reused"
gone "$D/.mmstats-$deadpid-0.tmp" "clean: dead writer's temporary"
exists "$finished" "clean: finished"
exists "$D/old-1.mmstats" "clean: old finished"
keep_always "clean"
expect_match "$out" '^removed 3 files, (would fold|folded) 0, kept [0-9]+$' "clean: summary"

# ---- --older-than: finished files too, by age
mkstale dead-3.mmstats "$deadpid"
rc=0
out=$("$CLEAN" --older-than 1d) || rc=$?
expect_rc "$rc" 0 "older-than"
gone "$D/old-1.mmstats" "older-than 1d: two-day-old finished file"
exists "$finished" "older-than 1d: recent finished file"
exists "$D/dead-3.mmstats" "older-than 1d: recent stale file"
keep_always "older-than"
rc=0
"$CLEAN" -q --older-than 0s || rc=$?
expect_rc "$rc" 0 "older-than 0s"
gone "$D/dead-3.mmstats" "older-than 0s: stale"
gone "$finished" "older-than 0s: finished"
keep_always "older-than 0s"

# ---- --all-finished
out=$("$B/examples/model")
finished=${out#writing }
rc=0
out=$("$CLEAN" --all-finished) || rc=$?
expect_rc "$rc" 0 "all-finished"
gone "$finished" "all-finished"
expect_match "$out" "^removed $finished \(finished: pid [0-9]+\)$" "all-finished: message"
keep_always "all-finished"

# ---- corrupt files: reported, left alone, exit status 1
head -c 8192 /dev/urandom >"$D/garbage.mmstats"
chmod 600 "$D/garbage.mmstats"
rc=0
"$CLEAN" >/dev/null 2>"$WORK/err" || rc=$?
expect_rc "$rc" 1 "corrupt file"
expect_match "$(cat "$WORK/err")" "^mmstat-clean: $D/garbage\.mmstats: not an mmstats file.*; left alone$" \
    "corrupt file: message"
exists "$D/garbage.mmstats" "corrupt file"
rm -f "$D/garbage.mmstats"

# ---- once the live process is killed, its file is stale
kill -9 "$rate_pid"
wait "$rate_pid" 2>/dev/null || true
"$CLEAN" -q
gone "$live" "killed process"
gone "$D/.mmstats-$rate_pid-3.tmp" "killed writer's temporary"

# ---- usage
for bad in "--older-than 3x" "--older-than -1h" "extra" "--bogus"; do
    rc=0
    # shellcheck disable=SC2086
    "$CLEAN" $bad >/dev/null 2>&1 || rc=$?
    expect_rc "$rc" 2 "usage: $bad"
done
rc=0
"$CLEAN" -d "$WORK/nonexistent" >/dev/null 2>&1 || rc=$?
expect_rc "$rc" 1 "missing directory"
chmod 777 "$D"
rc=0
e=$("$CLEAN" 2>&1) || rc=$?
expect_rc "$rc" 1 "world-writable directory"
expect_match "$e" "^mmstat-clean: $D: insecure" "world-writable directory: message"
chmod 700 "$D"
expect_match "$("$CLEAN" --help)" '^Usage: mmstat-clean' "help"
expect_match "$("$CLEAN" --version)" '^mmstat-clean [0-9.]+$' "version"
finish
