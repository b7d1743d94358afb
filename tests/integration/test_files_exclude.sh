# Exclusions decided on the path as the program gave it (an open of
# /dev/null skips the path's copy and cleaning) match those of the
# cleaned path: under MMSTATS_FILES_EXCLUDE=$D/ex, bash opens $D/ex/a
# (excluded as given), $D/ex//c and $D/ex/./e (excluded once cleaned),
# $D/ex/../in/b (given under the prefix, but cleaned it is $D/in/b: a
# record), $D/in/d (a record) and /proc/..$D/ex/g (given under no
# prefix, not even by its first letter, but cleaned it is under $D/ex).
# Exact counts: this fails if a path with ".." is excluded, or kept, on
# its raw form, or an excluded one gets a record.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized "the shim cannot be preloaded into plain programs"
skip_without python3 "the JSON is read with it"
D=$WORK/data
mkdir -p "$D/ex" "$D/in"
for f in ex/a in/b ex/c in/d ex/e ex/g; do echo x >"$D/$f"; done
MMSTATS_DIR=$WORK/s MMSTATS_FILES_EXCLUDE=$D/ex shim bash -c '
    for p in "$1/ex/a" "$1/ex/../in/b" "$1/ex//c" "$1/in/d" "$1/ex/./e" \
        "/proc/..$1/ex/g"; do
        exec 3<"$p" && read -r _ <&3 && exec 3<&-
    done' - "$D" || fail "bash: status $?"
F=$(ls "$WORK"/s/bash-*.mmstats 2>/dev/null | head -1 || true)
"$READ" --files --json "${F:-none}" >"$WORK/f.json" || fail "--files --json"
got=$(python3 - "$WORK/f.json" "$D/" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))["files"]
keys = sorted(r["key"][len(sys.argv[2]):] for r in f["records"]
              if r["key"].startswith(sys.argv[2]) and r["members"]["opens"])
print(f["excluded"], " ".join(keys))
EOF
)
expect_eq "$got" "4 in/b in/d" "excluded: a, c, e, g; records: in/b, in/d"
expect_eq "$(dropped "${F:-none}")" 0 "nothing dropped"
finish
