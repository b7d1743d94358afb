# mmstat-run folds glibc's variants of a call into one row by default
# ("open*": open, open64, __open_2, openat...) and shows them apart with
# --split-variants; JSON's folded rows list their variants. pf_variants
# calls every variant the shim hooks, each once: the io and fs rows of the
# two runs must agree exactly (each folded row the sum of its split rows),
# and "% time" shares add up to 100. Needs the shim (skipped, status 77,
# in sanitizer builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

skip_sanitized "the shim cannot be preloaded in a sanitizer build"
V=$PROGS/pf_variants
mkdir -p "$WORK/v1" "$WORK/v2" "$WORK/v3"
"$RUN" --hooks io,fs --json -o "$WORK/fold.json" -- "$V" "$WORK/v1" >/dev/null
"$RUN" --hooks io,fs --json --split-variants -o "$WORK/split.json" -- \
    "$V" "$WORK/v2" >/dev/null
F=$WORK/fold.json
S=$WORK/split.json
expect_json "$F" "folded JSON"
expect_json "$S" "--split-variants JSON"
# The split rows' names, by the folded row they belong to.
fold_of='{"open": "open*", "open64": "open*", "__open_2": "open*",
 "__open64_2": "open*", "openat": "open*", "openat64": "open*",
 "__openat_2": "open*", "__openat64_2": "open*", "read": "read*",
 "__read_chk": "read*", "pread": "pread*", "pread64": "pread*",
 "__pread_chk": "pread*", "__pread64_chk": "pread*", "fstat": "fstat*",
 "fstat64": "fstat*", "__fxstat": "fstat*", "__fxstat64": "fstat*",
 "stat": "stat*", "stat64": "stat*", "__xstat": "stat*",
 "__xstat64": "stat*", "lstat64": "lstat*", "__lxstat": "lstat*",
 "preadv64v2": "preadv2*", "pwritev64v2": "pwritev2*",
 "fstatat64": "fstatat*", "__fxstatat": "fstatat*"}'
# Split rows summed per folded name (names not listed: without "64",
# with a "*" when the folded row has one).
expect_eq "$(python3 -c '
import json, sys
fold_of = json.loads(sys.argv[3])
f = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
folded = {r["call"]: r for r in f["calls"]}
want = {}
for r in s["calls"]:
    name = fold_of.get(r["call"])
    if name is None:  # lseek64, pwrite64...: the name without its 64
        name = r["call"].replace("64", "")
        if name + "*" in folded:
            name += "*"
    w = want.setdefault(name, [0, 0, 0])
    w[0] += r["calls"]; w[1] += r["errors"]; w[2] += r["bytes"] or 0
got = {k: [r["calls"], r["errors"], r["bytes"] or 0] for k, r in folded.items()}
print("same" if got == want else "folded %s != split summed %s" % (got, want))
' "$F" "$S" "$fold_of")" same "folded rows: the sums of the split rows"
expect_eq "$(jpy "$F" "sorted(r['call'] for r in d['calls'] if r['call'] in ('open*', 'pread*', 'fstat*', 'stat*'))")" \
    "['fstat*', 'open*', 'pread*', 'stat*']" "folded rows named with a *"
expect_eq "$(jpy "$F" "all(r['calls'] == sum(v['calls'] for v in r['variants']) and r['errors'] == sum(v['errors'] for v in r['variants']) for r in d['calls'])")" \
    True "JSON: each folded row's variants add up to it"
expect_eq "$(jpy "$F" "sorted(v['call'] for r in d['calls'] if r['call'] == 'pread*' for v in r['variants'])")" \
    "['__pread64_chk', 'pread64']" "JSON: pread*'s variants"
expect_eq "$(jpy "$S" "[r for r in d['calls'] if 'variants' in r or '*' in r['call']]")" \
    "[]" "--split-variants: no folded rows"
expect_eq "$(jpy "$F" "abs(sum(r['time_pct'] for r in d['calls']) - 100) < 1e-6")" \
    True "JSON: % time adds up to 100"
expect_eq "$(jpy "$F" "all(abs(r['time_pct'] - 100.0 * r['time_ns'] / sum(x['time_ns'] for x in d['calls'])) < 1e-9 for r in d['calls'])")" \
    True "JSON: % time is the share of the summed time"

# Text: the "% time" column, the folded names, the total at 100.
t=$("$RUN" --hooks io,fs -- "$V" "$WORK/v3" 2>&1 >/dev/null)
expect_match "$t" '^  family call +calls +errors +bytes % time +time +avg +p50 +p99$' \
    "text: columns"
expect_match "$t" '^  fs +open\* +[0-9]+ +0 +- +[0-9.]+ ' "text: open*"
expect_match "$t" '^  total +[0-9]+ +0 +[0-9.KMG]+ +100\.0 ' "text: total"
t=$("$RUN" --no-timing --split-variants --hooks io,fs -- "$V" "$WORK/v3" \
    2>&1 >/dev/null)
expect_match "$t" '^  fs +open64 +1 +0 +- +- +- ' \
    "text --split-variants --no-timing: open64 alone, no % time"
expect_match "$("$RUN" --help)" '--split-variants' "--help: --split-variants"
finish
