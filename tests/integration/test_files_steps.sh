# The files family's descriptor map and pool of open files grow in steps
# (issue 12, item 1): a program of a few files has the map's static part
# (1024 descriptors) and one chunk of 32 open files, no more, as the
# gauges files.map_slots and files.pool_slots say (exact: this fails if
# the map or the pool is reserved whole up front again). A descriptor
# past 1024 maps one leaf of 1024 and is tracked through it; 50 files
# open at once take a second chunk, each with its record.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized "the shim cannot be preloaded into plain programs"
skip_without python3 "the JSON is read with it"
checks=0
# Each file has its own record here, even one only read: the subject is
# the map and the pool (files read and closed are folded by default).
export MMSTATS_FILES_FOLD=0
D=$WORK/data
mkdir -p "$D"
for ((i = 10; i < 60; i++)); do echo "line $i" >"$D/f$i"; done

# members JSON KEY M...: members M of KEY's record, space-separated
# ("none" if KEY has no record).
members() {
    python3 - "$@" <<'EOF'
import json, sys
recs = {r["key"]: r for r in json.load(open(sys.argv[1]))["files"]["records"]}
r = recs.get(sys.argv[2])
print(" ".join(str(r["members"][m]) for m in sys.argv[3:]) if r else "none")
EOF
}

# A few files: the static part of the map, one chunk.
checks=$((checks + 1))
MMSTATS_DIR=$WORK/a shim cat "$D/f10" >/dev/null || fail "cat: status $?"
F=$(ls "$WORK"/a/cat-*.mmstats 2>/dev/null | head -1 || true)
expect_eq "$(pnum "${F:-none}" files.map_slots)" 1024 "cat: map slots"
expect_eq "$(pnum "${F:-none}" files.pool_slots)" 32 "cat: pool slots"
"$READ" --files --json "${F:-none}" >"$WORK/a.json" || fail "cat: --files"
expect_eq "$(members "$WORK/a.json" "$D/f10" opens closes bytes_read)" \
    "1 1 8" "cat: the file's record"

# Descriptor 3000 (bash: open, dup2 to 3000, close): one leaf more, and
# the read through it recorded.
checks=$((checks + 1))
MMSTATS_DIR=$WORK/b shim bash -c \
    'exec 3000<"$1"; IFS= read -r x <&3000; exec 3000<&-' - "$D/f11" ||
    fail "bash, fd 3000: status $?"
F=$(ls "$WORK"/b/bash-*.mmstats 2>/dev/null | head -1 || true)
expect_eq "$(pnum "${F:-none}" files.map_slots)" 2048 "fd 3000: map slots"
expect_eq "$(pnum "${F:-none}" files.pool_slots)" 32 "fd 3000: pool slots"
expect_eq "$(pnum "${F:-none}" files.untracked)" 0 "fd 3000: untracked"
"$READ" --files --json "${F:-none}" >"$WORK/b.json" || fail "fd 3000: --files"
expect_eq "$(members "$WORK/b.json" "$D/f11" bytes_read)" 8 \
    "fd 3000: the read through the leaf"

# 50 files open at once: a second chunk; every file has its record.
checks=$((checks + 1))
MMSTATS_DIR=$WORK/c shim bash -c '
    for ((i = 10; i < 60; i++)); do eval "exec $i<\"\$1/f$i\""; done
    for ((i = 10; i < 60; i++)); do eval "read -r x <&$i"; done' - "$D" ||
    fail "bash, 50 files: status $?"
F=$(ls "$WORK"/c/bash-*.mmstats 2>/dev/null | head -1 || true)
expect_eq "$(pnum "${F:-none}" files.pool_slots)" 64 "50 files: pool slots"
expect_eq "$(pnum "${F:-none}" files.map_slots)" 1024 "50 files: map slots"
"$READ" --files --json "${F:-none}" >"$WORK/c.json" || fail "50 files: --files"
got=$(python3 - "$WORK/c.json" "$D" <<'EOF'
import json, sys
recs = {r["key"]: r for r in json.load(open(sys.argv[1]))["files"]["records"]}
print(sum(recs.get(f"{sys.argv[2]}/f{i}", {"members": {}})["members"]
          .get("bytes_read") == 8 for i in range(10, 60)))
EOF
)
expect_eq "$got" 50 "50 files: records with their 8 bytes read"
expect_eq "$(dropped "${F:-none}")" 0 "50 files: nothing dropped"
finish
