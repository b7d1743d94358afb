# Paths only stat'ed cost no record of their own (issue 12, item 1: a
# file costs what it uses; python3 -c pass stats 73 paths it never opens):
# a stat of a path without a record counts in its directory's record,
# keyed "DIR/*"; a path with a record (opened, renamed) keeps its stats.
# MMSTATS_FILES_STAT_PATHS=1 gives every stat'ed path its own record, as
# before. Exact counts: this fails if stat-only paths get records again,
# or if their stats are lost.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/preload_lib.sh"
skip_sanitized "the shim cannot be preloaded into plain programs"
skip_without python3 "the JSON is read with it"
D=$WORK/data
mkdir -p "$D"
for f in a b c; do echo "$f" >"$D/$f"; done

# records JSON PREFIX: "KEY:stats:opened" (opened: 1 if opens > 0) of
# every record whose key starts with PREFIX, sorted, space-separated.
records() {
    python3 - "$@" <<'EOF'
import json, sys
recs = json.load(open(sys.argv[1]))["files"]["records"]
print(" ".join(sorted("%s:%d:%d" % (r["key"][len(sys.argv[2]):],
                                    r["members"]["stats"], r["members"]["opens"] > 0)
                      for r in recs if r["key"].startswith(sys.argv[2]))))
EOF
}

# stat(1) of three paths never opened: one record, the directory's.
MMSTATS_DIR=$WORK/s1 shim stat -c %s "$D/a" "$D/b" "$D/c" >/dev/null ||
    fail "stat: status $?"
F=$(ls "$WORK"/s1/stat-*.mmstats 2>/dev/null | head -1 || true)
"$READ" --files --json "${F:-none}" >"$WORK/s1.json" || fail "stat: --files"
expect_eq "$(records "$WORK/s1.json" "$D/")" "*:3:0" \
    "stat of 3 paths: the directory's record only"
expect_eq "$(dropped "${F:-none}")" 0 "stat: nothing dropped"

# A file opened, then stat'ed, keeps its stat; a path only stat'ed goes to
# the directory's record.
MMSTATS_DIR=$WORK/s2 shim bash -c \
    'exec 3<"$1/b"; [ -e "$1/b" ] && [ -e "$1/a" ]; exec 3<&-' - "$D" ||
    fail "bash: status $?"
F=$(ls "$WORK"/s2/bash-*.mmstats 2>/dev/null | head -1 || true)
"$READ" --files --json "${F:-none}" >"$WORK/s2.json" || fail "bash: --files"
expect_eq "$(records "$WORK/s2.json" "$D/")" "*:1:0 b:1:1" \
    "opened then stat'ed: its own record; stat only: the directory's"

# MMSTATS_FILES_STAT_PATHS=1: a record per path, as before.
MMSTATS_DIR=$WORK/s3 MMSTATS_FILES_STAT_PATHS=1 shim stat -c %s \
    "$D/a" "$D/b" "$D/c" >/dev/null || fail "STAT_PATHS: status $?"
F=$(ls "$WORK"/s3/stat-*.mmstats 2>/dev/null | head -1 || true)
"$READ" --files --json "${F:-none}" >"$WORK/s3.json" || fail "STAT_PATHS: --files"
expect_eq "$(records "$WORK/s3.json" "$D/")" "a:1:0 b:1:0 c:1:0" \
    "MMSTATS_FILES_STAT_PATHS=1: a record per path"
finish
