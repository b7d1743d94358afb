# The sync family on a condition-variable ping-pong (sync_cond: two
# threads taking turns, counting their own pthread_cond_wait calls): the
# shim counts exactly those waits, per thread too (mmstat-read --threads),
# and times each one; the joins are counted and timed. Needs the shim
# (skipped, status 77, in sanitizer builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

skip_sanitized "the shim cannot be preloaded in a sanitizer build"
# sync is on by default: these runs take the default.
unset MMSTATS_HOOKS

out=$(shim "$PROGS/sync_cond" 500) || fail "sync_cond failed: $out"
waits=$(awk '$1 == "waits" {print $2}' <<<"$out")
F=$(newest_file sync_cond)
J=$WORK/f.json
"$READ" --json "$F" >"$J"
f() { jpy "$J" "d['processes'][0]['fields']['$1']['value']"; }
expect_eq "$(f sync.pthread_cond_wait.calls)" "$waits" \
    "pthread_cond_wait: the program's own count"
expect_eq "$(jpy "$J" "d['processes'][0]['fields']['sync.pthread_cond_wait.latency']['value']['count']")" \
    "$waits" "pthread_cond_wait: each wait timed"
expect_eq "$(jpy "$J" "d['processes'][0]['fields']['sync.pthread_cond_wait.latency']['value']['sum'] > 0")" \
    True "pthread_cond_wait: time waited"
expect_eq "$(f sync.pthread_join.calls)" 2 "pthread_join"
expect_eq "$(f sync.pthread_cond_wait.errors)" 0 "pthread_cond_wait: no error"
# Per thread: the waits are the two players', none the main thread's.
"$READ" --threads --json "$F" >"$J"
expect_eq "$(jpy "$J" "sum(t['calls'].get('sync.pthread_cond_wait', {}).get('calls', 0) for t in d['processes'][0]['threads'])")" \
    "$waits" "--threads: the waits"
expect_eq "$(jpy "$J" "[t['families']['sync']['calls'] for t in d['processes'][0]['threads'] if t['state'] == 'running' and 'sync' in t['families']]")" \
    "[2]" "--threads: the main thread's joins"
finish
