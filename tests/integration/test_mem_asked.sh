# mem.alloc_size counts every size asked, failed allocations' too
# (malloc's fast path counts the size before the real call): two runs of
# mem_asked with 10 and 30 rounds of a failing malloc(2^50) and a
# malloc(100); the second's histogram has exactly 40 values more, of
# 20 x (2^50 + 100) bytes, its maximum is 2^50, and mem.malloc.errors
# grows by 20. The same when the program ends by exec (the sizes a
# thread gathered are recorded at exec, not only at exit). Needs the shim
# (skipped, status 77, in sanitizer builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
skip_sanitized

run() { # ROUNDS [exec]: the JSON of the run's file in $WORK/ROUNDS.json
    rm -f "$MMSTATS_DIR"/mem_asked-*.mmstats
    shim "$PROGS/mem_asked" "$@" || fail "mem_asked $*: exit status $?"
    "$READ" --json "$(newest_file mem_asked)" >"$WORK/$1.json"
}
hist() { # ROUNDS KEY: mem.alloc_size's KEY (count, sum, max)
    jpy "$WORK/$1.json" "d['processes'][0]['fields']['mem.alloc_size']['value']['$2']"
}
errors() { # ROUNDS
    jpy "$WORK/$1.json" "d['processes'][0]['fields']['mem.malloc.errors']['value']"
}

run 10
run 30
expect_eq "$(($(hist 30 count) - $(hist 10 count)))" 40 \
    "mem.alloc_size: 20 failed and 20 good allocations more"
expect_eq "$(($(hist 30 sum) - $(hist 10 sum)))" $((20 * ((1 << 50) + 100))) \
    "mem.alloc_size: their sizes' sum"
expect_eq "$(hist 30 max)" $((1 << 50)) "mem.alloc_size: the failed size is the max"
expect_eq "$(($(errors 30) - $(errors 10)))" 20 "mem.malloc.errors: 20 more"

run 10 exec
run 30 exec
expect_eq "$(($(hist 30 count) - $(hist 10 count)))" 40 \
    "ended by exec: mem.alloc_size has the 40 sizes more"
expect_eq "$(hist 30 max)" $((1 << 50)) "ended by exec: the failed size is the max"
finish
