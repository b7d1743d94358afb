# 200 processes under the shim finish at the same moment with the default
# policy (each folds at start-up and at exec; sweeps never wait for one
# another): nothing is lost and nothing counted twice. Each is a shell that
# waits at a barrier (a line of a FIFO), then execs dd, whose reads and
# writes are known exactly from a reference run. After mmstat-clean, the
# dd rollup holds 200 processes and exactly 200 times the reference.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
skip_sanitized "the shim cannot be preloaded in a sanitizer build"
unset MMSTATS_KEEP
N=200
export LC_ALL=C
DD="dd if=/dev/zero of=/dev/null bs=1k count=13"

# The reference: one dd, its file kept.
R=$WORK/ref
mkdir -m 700 "$R"
MMSTATS_DIR=$R MMSTATS_KEEP=all LD_PRELOAD=$PRELOAD $DD 2>/dev/null
ref=$(ls "$R"/dd-*.mmstats)
declare -A want
for f in io.read.calls io.read.bytes io.write.calls io.write.bytes; do
    want[$f]=$(field "$ref" "$f")
done
expect_match "${want[io.read.calls]}" '^[1-9][0-9]*$' "reference: dd reads"

mkfifo "$WORK/go"
# Open both ways: never blocks, and keeps a writer while workers open it.
exec 3<>"$WORK/go"
: >"$WORK/ready"
pids=()
for i in $(seq $N); do
    LD_PRELOAD=$PRELOAD sh -c 'echo x >>"$1"; read -r _ <"$2"; exec '"$DD" \
        sh "$WORK/ready" "$WORK/go" 2>/dev/null &
    pids+=($!)
done
# Every worker at the barrier (bounded: a worker that died is reported).
for _ in $(seq 6000); do
    [ "$(wc -l <"$WORK/ready")" -ge $N ] && break
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
    [ "$alive" -eq $N ] || break
    sleep 0.01
done
expect_eq "$(wc -l <"$WORK/ready")" $N "workers at the barrier"
# Release them all at once: a line each.
printf '\n%.0s' $(seq $N) >&3
for p in "${pids[@]}"; do wait "$p" || true; done
exec 3>&-

"$CLEAN" -q
roll=$MMSTATS_DIR/dd@rollup.mmstats
checks=$((checks + 1))
[ -f "$roll" ] || fail "no dd rollup"
procs=$("$READ" --json "$roll" | python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["rollup"]["processes"])' 2>/dev/null || echo none)
expect_eq "$procs" $N "dd rollup: processes"
for f in "${!want[@]}"; do
    expect_eq "$(field "$roll" "$f")" $((N * ${want[$f]})) "dd rollup: $f"
done
expect_eq "$("$READ" --json "$MMSTATS_DIR/sh@rollup.mmstats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["rollup"]["processes"])' 2>/dev/null || echo none)" \
    $N "sh rollup: processes"
left=$(find "$MMSTATS_DIR" -maxdepth 1 -name '*.mmstats' ! -name '*@rollup.mmstats' | wc -l)
expect_eq "$left" 0 "no process file left after mmstat-clean"
finish
