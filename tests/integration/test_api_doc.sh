# Every public function (MMS_API in include/mmstats/*.h) is named in
# docs/api.md, by its full name. (Declarations made by token pasting,
# mms_##T##_set, are the typed scalar families: docs/api.md's table.)
. "$(dirname "$0")/lib.sh"
SRC=${MMS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
names=$(grep -ho 'MMS_API[^(;]*(' "$SRC"/include/mmstats/*.h |
    grep -o '[A-Za-z0-9_#]*($' | tr -d '(' | grep -E '^mms_[a-z0-9_]+$' |
    sort -u)
n=$(echo "$names" | grep -c . || true)
# The extraction itself: a header change that hides the names fails here.
checks=$((checks + 1))
[ "$n" -ge 50 ] || fail "only $n MMS_API functions found in the headers"
for f in $names; do
    checks=$((checks + 1))
    grep -q "\\b$f\\b" "$SRC/docs/api.md" || fail "$f is not in docs/api.md"
done
echo "$n public functions"
finish
