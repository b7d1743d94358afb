# The sync family on two threads fighting over one mutex for a known hold
# time (sync_mutex: the holder keeps the mutex until the waiter is blocked
# on it in the kernel, then HOLD ms more): every one of the waiter's
# acquisitions is contended and none of the holder's; the contended wait
# the shim reports (the call's histogram and the lock's record in
# sync.locks, mmstat-read --locks) is within 10% of what the program
# measures itself; the lock's record names the mutex's address. Needs the
# shim (skipped, status 77, in sanitizer builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

skip_sanitized "the shim cannot be preloaded in a sanitizer build"
# sync is on by default: these runs take the default.
unset MMSTATS_HOOKS

ROUNDS=8
out=$(shim "$PROGS/sync_mutex" 20 $ROUNDS) || fail "sync_mutex failed: $out"
addr=$(awk '$1 == "mutex" {print $2}' <<<"$out")
read -r _ n waited < <(grep '^waited ' <<<"$out")
expect_eq "$n" "$ROUNDS" "sync_mutex: rounds"
F=$(newest_file sync_mutex)
J=$WORK/f.json
"$READ" --json "$F" >"$J"
expect_json "$J" "mmstat-read --json"
val() { jpy "$J" "d['processes'][0]['fields']['$1']['value']"; }
# At least both threads' acquisitions (libc may lock mutexes of its own
# through pthread_mutex_lock; the core's own locks are never counted).
expect_eq "$(jpy "$J" "d['processes'][0]['fields']['sync.pthread_mutex_lock.calls']['value'] >= $((2 * ROUNDS))")" \
    True "pthread_mutex_lock: both threads' acquisitions"
expect_eq "$(val sync.pthread_mutex_lock.contended)" "$ROUNDS" \
    "pthread_mutex_lock: contended, each of the waiter's"
expect_eq "$(jpy "$J" "d['processes'][0]['fields']['sync.pthread_mutex_lock.latency']['value']['count']")" \
    "$ROUNDS" "pthread_mutex_lock: a wait timed per contended acquisition"
within() { # GOT WANT: GOT within 10% of WANT (> 0)
    python3 -c "import sys; g, w = int(sys.argv[1]), int(sys.argv[2]); print(w > 0 and abs(g - w) <= w / 10)" "$1" "$2"
}
sum=$(jpy "$J" "d['processes'][0]['fields']['sync.pthread_mutex_lock.latency']['value']['sum']")
expect_eq "$(within "$sum" "$waited")" True \
    "wait time: the shim's $sum ns, the program's $waited ns"

# The lock's own record, in text and JSON.
"$READ" --locks --json "$F" >"$J"
expect_json "$J" "--locks --json"
lock() { jpy "$J" "[l['$1'] for l in d['processes'][0]['locks']['locks'] if l['address'] == '$addr']"; }
expect_eq "$(lock contended)" "[$ROUNDS]" "--locks: the mutex, contended"
expect_eq "$(lock kind)" "['mutex']" "--locks: a mutex"
lw=$(lock wait_ns | tr -d '[]')
expect_eq "$(within "$lw" "$waited")" True \
    "--locks: wait $lw ns, the program's $waited ns"
expect_eq "$(jpy "$J" "d['processes'][0]['locks']['locks'][0]['address']")" \
    "$addr" "--locks: the mutex waited longest, first"
expect_match "$(lock first_site)" "^\['0x[0-9a-f]+'\]$" \
    "--locks: the first contention's call site"
t=$("$READ" --locks "$F")
expect_match "$t" '^LOCK +KIND +CONTENDED +WAIT +AVG +MAX +FIRST CONTENDED AT$' \
    "--locks text: columns"
expect_match "$t" "^$addr +mutex +$ROUNDS +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms +0x[0-9a-f]+$" \
    "--locks text: the mutex"

# Off: MMSTATS_HOOKS without sync records no lock.
MMSTATS_HOOKS=all,-sync shim "$PROGS/sync_mutex" 1 2 >/dev/null ||
    fail "sync_mutex without the sync family"
F=$(newest_file sync_mutex)
expect_eq "$("$READ" --json "$F" | python3 -c 'import json, sys; print([k for k in json.load(sys.stdin)["processes"][0]["fields"] if k.startswith("sync.")])')" \
    "[]" "MMSTATS_HOOKS=all,-sync: no sync fields"
# Recording off (MMSTATS_DISABLE=1): the lock hooks' early-out takes every
# lock with the real function straight; the program's rounds (each a
# contended acquisition) all happen.
out=$(MMSTATS_DISABLE=1 shim "$PROGS/sync_mutex" 1 3) ||
    fail "sync_mutex with MMSTATS_DISABLE=1: $out"
read -r _ n _ < <(grep '^waited ' <<<"$out")
expect_eq "$n" 3 "MMSTATS_DISABLE=1: the program's rounds"
# On by default: MMSTATS_HOOKS unset records the locks.
unset MMSTATS_HOOKS
shim "$PROGS/sync_mutex" 1 2 >/dev/null || fail "sync_mutex by default"
F=$(newest_file sync_mutex)
expect_eq "$("$READ" --json "$F" | python3 -c 'import json, sys; print("sync.pthread_mutex_lock.contended" in json.load(sys.stdin)["processes"][0]["fields"])')" \
    True "by default: the sync family records"
finish
