# mmstat-top, in batch mode and on a terminal. Batch (a pipe, -b): frame
# after frame of plain text, no terminal control codes, -n frames, the
# running processes only (-a: finished too), sorted by the key in every
# frame, filtered by exe (-f) and pid (-p); the detail view of a process
# (--detail) shows the exact count of each call. On a pseudo-terminal
# (Python's pty): the screen is redrawn in place, keys change the sort,
# Enter opens the detail view of the selection and Esc leaves it, q quits
# with status 0 and the terminal as it was. Also bad usage (2), a pid
# without a file (1), and no stats yet. In sanitizer builds the shim's
# processes are left out (library writers only).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

TOP=$B/tools/mmstat-top
rows_of() { grep -E '^ +[0-9]+ [RFS] ' "$1" || true; }

# The processes: exp_work under the shim (busy, and one that made exactly
# 100 writes), a library writer (tool_step), a finished one (model).
work_pid= done_pid=
if [ "$SAN" = 0 ]; then
    LD_PRELOAD=$PRELOAD "$PROGS/exp_work" -x -r 300 -t 0 &
    work_pid=$!
    bg_pids+=("$work_pid")
    LD_PRELOAD=$PRELOAD "$PROGS/exp_work" -n 100 -r 2000 -t 0 &
    done_pid=$!
    bg_pids+=("$done_pid")
fi
start_step
step 10 1000
out=$("$B/examples/model")
model_path=${out#writing }
model_pid=${model_path##*-}
model_pid=${model_pid%.mmstats}
# Every file there before the first frame.
for p in $work_pid $done_pid $step_pid; do
    for ((i = 0; i < 1200; i++)); do
        ls "$MMSTATS_DIR"/*-"$p".mmstats >/dev/null 2>&1 && break
        sleep 0.05
    done
done

# ---- batch: plain frames
rc=0
timeout 600 "$TOP" -n 3 -d 0.1 >"$WORK/b.out" 2>"$WORK/b.err" || rc=$?
expect_rc "$rc" 0 "batch"
expect_no_match "$(cat "$WORK/b.out")" $'\e' "batch: no control codes"
expect_eq "$(grep -c '^mmstat-top ' "$WORK/b.out")" 3 "batch: -n 3 frames"
expect_match "$(head -1 "$WORK/b.out")" \
    '^mmstat-top [0-9:]{8}  [0-9]+ process(es)?, [0-9]+ running  every 0\.1s  sort: calls$' \
    "batch: title"
expect_match "$(cat "$WORK/b.out")" \
    '^ +PID S +CALLS/S +ERRORS/S +BYTES/S +P99 SLOWEST +LIVE  COMMAND$' \
    "batch: columns"
expect_match "$(rows_of "$WORK/b.out")" "^ +$step_pid R .* tool_step$" \
    "batch: the library writer"
expect_no_match "$(rows_of "$WORK/b.out")" "^ +$model_pid " \
    "batch: finished processes left out"
"$TOP" -b -a -n 1 -d 0.1 >"$WORK/a.out"
expect_match "$(rows_of "$WORK/a.out")" "^ +$model_pid F .* model$" \
    "--all: finished processes, state F"

if [ "$SAN" = 0 ]; then
    # The busy process's rates: calls, bytes, a p99 and live memory, in
    # some frame (each one is an interval of 0.1 s).
    "$TOP" -b --raw -n 20 -d 0.1 >"$WORK/r.out"
    expect_match "$(awk -v p="$work_pid" '$1 == p && $3 > 0 && $5 > 0 &&
        $6 > 0 && $7 ~ /\./ && $8 > 0' "$WORK/r.out" | head -1)" . \
        "busy process: calls/s, bytes/s, p99, slowest call, live memory"
    # Sorted by the key in every frame (--raw: numbers to compare).
    for key in calls errors bytes p99 mem pid; do
        "$TOP" -b --raw -a -n 3 -d 0.1 -s "$key" >"$WORK/s.out"
        col=$(case $key in calls) echo 3 ;; errors) echo 4 ;; bytes) echo 5 ;;
            p99) echo 6 ;; mem) echo 8 ;; pid) echo 1 ;; esac)
        bad=$(awk -v c="$col" -v k="$key" '
            /^mmstat-top / { prev = ""; next }
            /^ +[0-9]+ [RFS] / {
                v = ($c == "-") ? -1 : $c + 0
                if (prev != "" && ((k == "pid" && v < prev) ||
                                   (k != "pid" && v > prev)))
                    print "out of order: " $0
                prev = v
            }' "$WORK/s.out")
        expect_eq "$bad" "" "sorted by $key in every frame"
        expect_match "$(head -1 "$WORK/s.out")" "sort: $key\$" "--sort $key: title"
    done
    # Filters: by exe, by pid.
    "$TOP" -b -n 1 -d 0.1 -f 'exp_*' >"$WORK/f.out"
    expect_eq "$(rows_of "$WORK/f.out" | awk '{print $NF}' | sort -u)" exp_work \
        "--filter: exe"
    "$TOP" -b -n 1 -d 0.1 -p "$done_pid" -p "$step_pid" >"$WORK/p.out"
    expect_eq "$(rows_of "$WORK/p.out" | awk '{print $1}' | sort -n | tr '\n' ' ')" \
        "$(printf '%s\n' "$done_pid" "$step_pid" | sort -n | tr '\n' ' ')" \
        "--pid: those processes"
    # The detail view: exactly 100 writes, and the call's columns.
    for ((i = 0; i < 1200; i++)); do
        "$TOP" -b -n 1 -d 0.1 --detail "$done_pid" >"$WORK/d.out"
        grep -Eq '^io +write +100 ' "$WORK/d.out" && break
        sleep 0.05
    done
    expect_match "$(cat "$WORK/d.out")" "^mmstat-top [0-9:]{8}  pid $done_pid exp_work running " \
        "detail: title"
    expect_match "$(cat "$WORK/d.out")" \
        '^FAMILY +CALL +CALLS +CALLS/S +ERRORS/S +BYTES/S +P50 +P99$' \
        "detail: columns"
    expect_match "$(cat "$WORK/d.out")" '^io +write +100 +0 +0 +0B +- +-$' \
        "detail: 100 writes, none in the last interval"
    # The busy one allocates: its memory line.
    "$TOP" -b -n 1 -d 0.1 --detail "$work_pid" >"$WORK/dm.out"
    expect_match "$(cat "$WORK/dm.out")" '^memory: live [0-9.]+[BKMG], peak ' \
        "detail: memory"
fi
# The detail view of a library writer: its own counters.
"$TOP" -b -n 1 -d 0.1 --detail "$step_pid" >"$WORK/d2.out"
expect_match "$(cat "$WORK/d2.out")" '^step\.ticks +10 +0$' \
    "detail: a program's own counter, value and rate"

# ---- a terminal: redrawn in place, keys
cat >"$WORK/drive_top.py" <<'EOF'
import fcntl, os, pty, select, struct, sys, termios, time
top, want = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(top, [top, "-d", "0.2"])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
seen = b""
def until(pat, bound=120):
    """Read until PAT shows up (bounded against a hang)."""
    global seen
    end = time.time() + bound
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if pat in seen:
            seen = seen[seen.index(pat) + len(pat):]
            return True
    return False
def say(what, ok):
    print(what, "ok" if ok else "MISSING")
say("alternate screen", until(b"\x1b[?1049h"))
say("list", until(want.encode()))
os.write(fd, b"b")
say("sort by bytes", until(b"sort: bytes"))
os.write(fd, b"n")
say("sort by name", until(b"sort: name"))
os.write(fd, b"\r")
say("detail", until(b"FAMILY"))
os.write(fd, b"\x1b")
say("back to the list", until(b"SLOWEST"))
os.write(fd, b"q")
say("screen restored", until(b"\x1b[?1049l"))
_, st = os.waitpid(pid, 0)
print("exit", os.WEXITSTATUS(st) if os.WIFEXITED(st) else "signal")
EOF
timeout 600 python3 "$WORK/drive_top.py" "$TOP" tool_step >"$WORK/pty.out" 2>&1 || true
for what in "alternate screen" list "sort by bytes" "sort by name" detail \
    "back to the list" "screen restored"; do
    expect_match "$(cat "$WORK/pty.out")" "^$what ok$" "terminal: $what"
done
expect_match "$(cat "$WORK/pty.out")" '^exit 0$' "terminal: q quits, status 0"

# ---- usage, errors, no stats yet
for bad in "--sort bogus" "-d 0" "-n x" "--detail abc" "extra" "--bogus"; do
    rc=0
    # shellcheck disable=SC2086
    "$TOP" -b $bad >/dev/null 2>&1 || rc=$?
    expect_rc "$rc" 2 "usage: $bad"
done
rc=0
e=$("$TOP" -b -n 1 -d 0.1 --detail 2147483646 2>&1 >/dev/null) || rc=$?
expect_rc "$rc" 1 "--detail of a pid without a file"
expect_eq "$e" "mmstat-top: 2147483646: no stats file for this pid in $MMSTATS_DIR" \
    "--detail of a pid without a file: message"
rc=0
MMSTATS_DIR=$WORK/none "$TOP" -b -n 1 -d 0.1 >"$WORK/n.out" 2>"$WORK/n.err" || rc=$?
expect_rc "$rc" 0 "no stats yet"
expect_match "$(cat "$WORK/n.err")" "^mmstat-top: no stats files yet: $WORK/none does not exist\\.$" \
    "no stats yet: where"
expect_match "$(cat "$WORK/n.out")" "no running process with a stats file in $WORK/none" \
    "no stats yet: the frame says so"
h=$("$TOP" --help)
expect_match "$h" '^Usage: mmstat-top ' "help"
for o in --delay --iterations --batch --sort --filter --pid --all --detail \
    --dir --raw --help --version; do
    expect_match "$h" "^ +(-[a-zA-Z], )?$o" "help lists $o"
done
expect_match "$("$TOP" --version)" '^mmstat-top [0-9.]+$' "version"
stop_step
finish
