# The AddressSanitizer build of the shim preloaded into real, plain
# programs: the sanitizer's runtime is preloaded first, so every hook,
# the start-up, fork, exec and exit paths and the core's writer run
# instrumented inside bash, dd, tar, gzip, sort and python3. Any report
# fails the test (abort_on_error), and each program must give the same
# output and exit status as without the shim. The other shim tests skip
# in sanitizer builds; test_preload_valgrind covers the release build.
. "$(dirname "$0")/lib.sh"
if ! grep -Eq '^CMAKE_C_FLAGS[A-Z_]*:[A-Z]+=.*-fsanitize=[a-z,]*address' \
    "$B/CMakeCache.txt" 2>/dev/null; then
    echo "SKIP: not an AddressSanitizer build (the asan preset runs this)"
    exit 77
fi
ASAN_RT=$(${CC:-cc} -print-file-name=libasan.so)
if [ ! -e "$ASAN_RT" ]; then
    fail "libasan.so not found ($ASAN_RT)"
    finish
    exit 1
fi
mkdir -p "$MMSTATS_DIR" "$WORK/tree"
# The programs' own leaks are not the shim's: leak checking off (the unit
# tests check the core's). Any other report aborts the program and shows
# in its output, which then differs from the bare run's. (Not log_path:
# the runtime then makes the log's directory with mkdir at its start,
# through the shim's instrumented hook, before its shadow memory exists.)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# same NAME CMD...: CMD bare, then under the instrumented shim; the same
# output and status, and no sanitizer report.
same() {
    local name=$1 want got st_want=0 st_got=0
    shift
    want=$("$@" 2>&1) || st_want=$?
    got=$(LD_PRELOAD=$ASAN_RT:$PRELOAD "$@" 2>&1) || st_got=$?
    expect_eq "$got" "$want" "$name: output under the shim"
    expect_eq "$st_got" "$st_want" "$name: exit status under the shim"
}

for i in $(seq 1 40); do
    printf 'line %s\n' "$i" >"$WORK/tree/f$i"
done
# run_programs: the programs, each compared with its bare run.
run_programs() {
    same bash-loop bash -c 'for i in 1 2 3 4 5; do /bin/true; echo "$i"; done;
    (echo sub; exit 3); echo "st=$?"; x=$(echo captured); echo "$x"'
    same pipeline bash -c "cat $WORK/tree/f* | sort -r | gzip -c | gzip -dc |
    head -5"
    same dd dd if=/dev/zero of=/dev/null bs=4096 count=300 status=none
    same tar bash -c "tar -C $WORK -czf $WORK/t.tgz tree && mkdir -p $WORK/x &&
    tar -C $WORK/x -xzf $WORK/t.tgz && cat $WORK/x/tree/f7"
    same missing-file cat "$WORK/no-such-file"
    same python python3 -c '
import threading, os, json
out = []
def work(n):
    with open(os.devnull, "w") as f:
        for i in range(200):
            f.write("x" * n)
    out.append(n)
ts = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(sorted(out)))
pid = os.fork()
if pid == 0:
    os._exit(7)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
'
}
# The default options, then every costly path at once: a heap sample for
# each allocation (stack walks), timed malloc/free, a record per file,
# clock_gettime for latencies.
run_programs
MMSTATS_HEAP_SAMPLE=1 MMSTATS_TIMING_MEM=1 MMSTATS_FILES_FOLD=0 \
    MMSTATS_CLOCK=monotonic run_programs

# The shim recorded: the files it wrote read, and bash's holds its writes.
expect_files_read "by the instrumented shim"
expect_match "$("$READ" --sum -d "$MMSTATS_DIR" 2>&1)" \
    '^ *io\.write\.calls +[1-9]' \
    "io.write.calls summed over the files"
# The instrumented readers on what the shim wrote: python3's files (its
# threads, locks, heap samples and per-file records) through every view.
for f in "$MMSTATS_DIR"/python3*.mmstats; do
    for view in --json --prometheus --threads --locks --heap --files \
        "--heap --folded"; do
        # shellcheck disable=SC2086 # a view is one or two options
        out=$("$READ" $view "$f" 2>&1) || fail "mmstat-read $view $f: $out"
        checks=$((checks + 1))
    done
done
expect_match "$("$READ" --heap "$MMSTATS_DIR"/python3*.mmstats 2>&1)" \
    '[1-9]' "the heap view of python3 under the asan-built shim"
finish
