# docs/preload.md's table of hooked calls is scripts/gen-preload-calls's
# output, exactly: the doc and preload/calls.h never drift apart.
. "$(dirname "$0")/lib.sh"
SRC=${MMS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 missing: the table was not checked"
    exit 77
fi
gen=$(python3 "$SRC/scripts/gen-preload-calls" "$SRC/preload/calls.h")
doc=$(sed -n '/^<!-- BEGIN gen-preload-calls -->$/,/^<!-- END gen-preload-calls -->$/p' \
    "$SRC/docs/preload.md" | sed '1d;$d')
checks=$((checks + 1))
if [ "$gen" != "$doc" ]; then
    fail "docs/preload.md differs from scripts/gen-preload-calls (paste its output between the markers):"
    diff <(echo "$doc") <(echo "$gen") | sed 's/^/    /' >&2 || true
fi
# Every call of calls.h is in the table, once.
n=$(grep -cE '^ *X\([a-z]+, *[a-z0-9_]+, *[A-Z]+\)' "$SRC/preload/calls.h")
expect_match "$gen" "^$n calls in " "the table counts every call of calls.h"
finish
