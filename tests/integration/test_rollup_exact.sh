# Rollups are exact (docs/format.md section 15): real programs (a shell
# loop of dd, cat, python3, env and sh -c chains) under the shim.
# 1. One run kept whole (MMSTATS_KEEP=all), added up by mmstat-read --sum,
#    then folded by mmstat-clean --fold: the rollups add up to the same
#    counters and histograms (count, sum, min, max, every bucket), and no
#    process file is left.
# 2. The same deterministic workload (no timing) run with MMSTATS_KEEP=all
#    and with the default policy (which folds at each start-up and exec):
#    every counter and non-latency histogram of the programs' calls is the
#    same. Gauges are not compared: a rollup keeps the last value seen.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
skip_sanitized "the shim cannot be preloaded in a sanitizer build"
skip_without python3

export PYTHONHASHSEED=0 LC_ALL=C
# python3 may be a version manager's wrapper scripts (pyenv): part 1 runs
# it so (a chain of bash, env, readlink... per call), part 2 the real
# interpreter (PY), whose calls do not depend on timing.
PY=$(python3 -c 'import sys; print(sys.executable)')
export PY PYTHON=python3
workload() {
    local i
    for i in 1 2 3; do
        dd if=/dev/zero of=/dev/null bs=4k count=$((i * 5)) 2>/dev/null
        cat /etc/passwd /etc/group >/dev/null
        env true
        sh -c 'exec cat /etc/hostname' >/dev/null
        "$PYTHON" -c 'import json; print(json.dumps([1, 2]))' >/dev/null
    done
}
export -f workload

# sums FILE: the counters and histograms of an --sum --json document, as
# "name value" lines (histograms: count sum min max and the buckets).
sums() {
    python3 - "$1" "${2:-}" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
skip_latency = sys.argv[2] == "nolatency"
for g in doc["groups"]:
    for name, f in sorted(g["fields"].items()):
        if skip_latency and name.endswith(".latency"):
            continue
        if f["kind"] == "counter":
            print(name, f["value"])
        elif f["kind"] == "histogram":
            v = f["value"]
            print(name, v["count"], v["sum"], v.get("min"), v.get("max"),
                  json.dumps(v.get("buckets", [])))
EOF
}
# procs FILE: the processes an --sum --json document adds up.
procs() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(max(f["processes"] for g in d["groups"] for f in g["fields"].values()))' "$1"
}
# files DIR: the stats files in DIR, rollups apart.
nfiles() { find "$1" -maxdepth 1 -name '*.mmstats' ! -name '*@rollup.mmstats' | wc -l; }
nrollups() { find "$1" -maxdepth 1 -name '*@rollup.mmstats' | wc -l; }

# ---- 1. the same run, kept whole then folded
A=$WORK/a
mkdir -m 700 "$A"
MMSTATS_DIR=$A MMSTATS_KEEP=all LD_PRELOAD=$PRELOAD bash -c workload
n_all=$(nfiles "$A")
# 3 x (dd, cat, env->true, sh->cat, python3) + the bash running the loop
# (and the steps of python3's wrapper scripts, if any)
expect_match "$n_all" '^(1[6-9]|[2-9][0-9]|[1-9][0-9][0-9]+)$' "keep=all: a file per process"
nexe=$("$READ" -d "$A" --json --list | python3 -c 'import json,sys; print(len({p["exe"] for p in json.load(sys.stdin)["processes"]}))')
"$READ" -d "$A" --sum --json >"$WORK/a1.json"
"$CLEAN" -q -d "$A" --fold
expect_eq "$(nfiles "$A")" 0 "--fold: no process file left"
expect_eq "$(nrollups "$A")" "$nexe" "--fold: a rollup per program"
"$READ" -d "$A" --sum --json >"$WORK/a2.json"
sums "$WORK/a1.json" >"$WORK/a1.txt"
sums "$WORK/a2.json" >"$WORK/a2.txt"
checks=$((checks + 1))
if ! diff -u "$WORK/a1.txt" "$WORK/a2.txt" >"$WORK/diff1"; then
    fail "the rollups differ from the sum of the files:"
    head -40 "$WORK/diff1" >&2
fi
expect_match "$(wc -l <"$WORK/a1.txt")" '^[1-9][0-9]+$' "fields compared"
expect_eq "$(procs "$WORK/a2.json")" "$(procs "$WORK/a1.json")" "processes held"

# ---- 2. the policy does not change what is recorded
# Sizes are left out: strings holding pids of other lengths make other
# allocation sizes and bytes from one run to the next.
calls_only() { grep -E '\.(calls|errors) ' "$1"; }
run_in() {
    local d=$1 keep=$2
    mkdir -m 700 "$d"
    MMSTATS_DIR=$d MMSTATS_KEEP=$keep MMSTATS_TIMING=0 PYTHON=$PY \
        LD_PRELOAD=$PRELOAD bash -c workload
    "$READ" -d "$d" --json --list >"$d.list.json"
    "$CLEAN" -q -d "$d" --fold
    "$READ" -d "$d" --sum --json >"$d.json"
    sums "$d.json" >"$d.all"
    calls_only "$d.all" >"$d.txt"
}
run_in "$WORK/b" all
run_in "$WORK/c" auto
run_in "$WORK/d" rollup
for d in c d; do
    keep=$([ $d = c ] && echo auto || echo rollup)
    checks=$((checks + 1))
    if ! diff -u "$WORK/b.txt" "$WORK/$d.txt" >"$WORK/diff2"; then
        fail "keep=$keep: totals differ from keep=all:"
        head -40 "$WORK/diff2" >&2
    fi
    expect_eq "$(procs "$WORK/$d.json")" "$(procs "$WORK/b.json")" \
        "keep=$keep: processes held"
done
finish
