# The one table of hooked calls (preload/calls.h) is the only source:
# - docs/preload.md's table is scripts/gen-preload-calls's output, exactly;
# - the shim exports exactly the table's names (a hook outside the table
#   fails here: nothing can be hooked without an entry);
# - the fields a program's calls get are the table's, by name.
. "$(dirname "$0")/lib.sh"
SRC=${MMS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 missing: the table was not checked"
    exit 77
fi
GEN=$SRC/scripts/gen-preload-calls
gen=$(python3 "$GEN" "$SRC/preload/calls.h")
doc=$(sed -n '/^<!-- BEGIN gen-preload-calls -->$/,/^<!-- END gen-preload-calls -->$/p' \
    "$SRC/docs/preload.md" | sed '1d;$d')
checks=$((checks + 1))
if [ "$gen" != "$doc" ]; then
    fail "docs/preload.md differs from scripts/gen-preload-calls (paste its output between the markers):"
    diff <(echo "$doc") <(echo "$gen") | sed 's/^/    /' >&2 || true
fi
# Every entry of calls.h is in the table, once.
n=$(grep -cE '^ *X\([a-z]+, *[a-zA-Z0-9_]+, *[A-Z_]+,' "$SRC/preload/calls.h")
expect_match "$gen" "^$n hooks in " "the table counts every entry of calls.h"
names=$(python3 "$GEN" --names "$SRC/preload/calls.h" | sort)
expect_eq "$(sort -u <<<"$names" | wc -l)" "$n" "each name once in the table"

# What the shim exports: the table's names, nothing more, nothing less.
exported=$(nm -D --defined-only "$PRELOAD" | awk '{print $3}' | sort)
checks=$((checks + 1))
if [ "$exported" != "$names" ]; then
    fail "the shim's exported symbols differ from the table (< table, > exported):"
    diff <(echo "$names") <(echo "$exported") | sed 's/^/    /' >&2 || true
fi

# The fields of a real run: each call's counters are named as the table
# says; beyond them only latency histograms, timed calls' windowed
# counters (recent_calls) and the mem family's own (mem.heap.* once the
# heap profile took a sample: a random draw, so only sometimes).
if [ "$SAN" = 1 ]; then
    echo "(sanitizer build: the shim is not run)"
else
    mkdir -p "$WORK/counts.d"
    MMSTATS_DIR=$WORK/s LD_PRELOAD=$PRELOAD "$PROGS/counts" "$WORK/counts.d" 10 \
        >/dev/null || fail "counts under the shim: status $?"
    file=$(ls "$WORK"/s/counts-*.mmstats 2>/dev/null | head -1 || true)
    got=$("$READ" "${file:-none}" | awk '$1 ~ /^[a-z]+\.[a-zA-Z0-9_.]+$/ {print $1}' |
        grep -Ev '\.latency$|\.recent_calls$|^(mem|files)\.[a-z_]+$|^mem\.heap\.[a-z_]+$' | sort || true)
    want=$(python3 "$GEN" --fields "$SRC/preload/calls.h" | sort)
    expect_match "$got" '^io\.write\.calls$' "the run has fields"
    expect_eq "$(comm -23 <(echo "$got") <(echo "$want"))" "" \
        "every counter of the run is one the table names"
fi
finish
