# The shim's own memory calls are not the program's: mapping its tables
# (the heap profile's sampled-block table at start-up and again in a fork
# child, the files family's steps) goes by direct system call, never
# through its own mmap/munmap/madvise hooks. They counted as the program's
# calls before, and in a fork child, still writing into its parent's file
# when its fork handler ran, each child added another group of the same
# names to the parent's file (files.mmap and mem.madvise twice each in
# tool_io -f 2's file). tool_io maps nothing itself: no file of its run
# may show an mmap, munmap or madvise, nor any field name twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
skip_sanitized "the shim cannot be preloaded in a sanitizer build"
mkdir -p -m 700 "$MMSTATS_DIR"
shim "$PROGS/tool_io" -w 50 -m 300 -f 3 >/dev/null
n=0
for f in "$MMSTATS_DIR"/tool_io-*.mmstats; do
    n=$((n + 1))
    "$READ" "$f" >"$WORK/dump"
    # Field lines are indented: their first word is the name.
    dups=$(awk '/^  [a-z]/ {print $1}' "$WORK/dump" | sort | uniq -d | head -5)
    expect_eq "$dups" "" "$(basename "$f"): names given twice"
    maps=$(grep -E '^  (files\.mmap|mem\.(munmap|madvise|mprotect))\.' \
        "$WORK/dump" | head -3 || true)
    expect_eq "$maps" "" "$(basename "$f"): the shim's own mappings counted"
    expect_match "$(field "$f" mem.malloc.calls)" '^[0-9]+$' \
        "$(basename "$f"): the mem family recorded"
done
expect_eq "$n" 4 "files: the parent and its three children"
finish
