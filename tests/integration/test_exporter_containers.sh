# The container rehearsal of docs/containers.md, without docker or podman:
# an "app container" (a cgroup of its own, a pid namespace of its own
# made by unshare) runs a program under the shim, writing its stats file
# to a "shared volume" (a directory); the exporter, the "sidecar", on the
# host side serves that directory. The app's process, pid 1 in its
# namespace, is exported and shown as running, with a container label
# named by its cgroup; a host process beside it has none; its calls reach
# the default per-program /metrics, and the dashboard (headless Chromium)
# shows it running in its container; when it ends it shows as finished.
# Needs root (unshare, a cgroup); skipped (77) otherwise, and in
# sanitizer builds (the shim cannot be preloaded there).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
skip_sanitized "the shim cannot be preloaded"
skip_without_pidns
# The cgroup v2 hierarchy: /sys/fs/cgroup, or /sys/fs/cgroup/unified in
# the hybrid layout.
CG=
for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    [ -e "$d/cgroup.procs" ] && [ -e "$d/cgroup.subtree_control" -o \
        "$(stat -f -c %T "$d")" = cgroup2fs ] && CG=$d && break
done
NAME=mmstats-rehearsal-$$
if [ -z "$CG" ] || ! mkdir "$CG/$NAME" 2>/dev/null; then
    echo "SKIP: no cgroup v2 hierarchy to make a cgroup in"
    exit 77
fi
. "$(dirname "$0")/exporter_lib.sh"

# The shared volume.
VOL=$WORK/volume
mkdir -m 700 "$VOL"

# The app container: its cgroup, then its own pid namespace; the app,
# cat under the shim, is pid 1 there and reads a fifo the test holds.
mkfifo "$WORK/app.in"
sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG/$NAME" \
    unshare --pid --fork --mount-proc env LD_PRELOAD="$PRELOAD" \
    MMSTATS_DIR="$VOL" MMSTATS_LABEL=demo cat <"$WORK/app.in" >/dev/null &
app_pid=$!
bg_pids+=("$app_pid")
exec 3>"$WORK/app.in"
# And a process on the host beside it, not in a container.
mkfifo "$WORK/host.in"
MMSTATS_DIR=$VOL LD_PRELOAD=$PRELOAD cat <"$WORK/host.in" >/dev/null 3>&- &
host_pid=$!
bg_pids+=("$host_pid")
exec 4>"$WORK/host.in"
echo hello >&3
echo hello >&4

# Until both stats files exist (bounded against a hang).
for ((i = 0; i < 1200; i++)); do
    [ -e "$VOL/cat-demo-1.mmstats" ] && [ -e "$VOL/cat-$host_pid.mmstats" ] && break
    sleep 0.05
done
expect_eq "$(cd "$VOL" && ls cat-*.mmstats | sort | tr '\n' ' ')" \
    "$(printf '%s\n' cat-demo-1.mmstats "cat-$host_pid.mmstats" | sort | tr '\n' ' ')" \
    "the app's file (pid 1 in its namespace) and the host's in the volume"

# The sidecar: the exporter on the volume, per process.
# (Every process started from here on without the fifos' write ends:
# the apps see their end of input only when no one holds one.)
start_exporter sidecar --dir "$VOL" --per-process 3>&- 4>&- ||
    { finish; exit 1; }
http /api/v1/processes
expect_eq "$code" 200 "/api/v1/processes"
cp "$WORK/body" "$WORK/list.json"
expect_eq "$(jpy "$WORK/list.json" '[(p["pid"], p["liveness"], p["container"])
    for p in sorted(d["processes"], key=lambda p: p["pid"])]')" \
    "[(1, 'running', '$NAME'), ($host_pid, 'running', None)]" \
    "the app is running, in its container; the host's process in none"
http /metrics
cp "$WORK/body" "$WORK/pp.prom"
expect_match "$(cat "$WORK/pp.prom")" \
    "^mmstats_calls_total\{pid=\"1\",exe=\"cat\",label=\"demo\",container=\"$NAME\",family=\"io\",call=\"read\"\} [1-9]" \
    "its calls, with the container label"
expect_match "$(cat "$WORK/pp.prom")" \
    "^mmstats_calls_total\{pid=\"$host_pid\",exe=\"cat\",family=\"io\",call=\"read\"\} [1-9]" \
    "the host's process: no container label"
expect_promtool_ok "$WORK/pp.prom" "/metrics --per-process"
# The dashboard shows it running, in its container (a column of its own
# once a process is in one).
if need_chromium; then
    chrome --virtual-time-budget=6000 --dump-dom >"$WORK/dom.html" \
        2>"$WORK/chrome.err" 3>&- 4>&- || true
    dom=$(cat "$WORK/dom.html")
    expect_match "$dom" '<th class="l sortable" data-sort="container" id="th-container" title=' \
        "the dashboard: a container column"
    expect_match "$dom" "<tr class=\"proc[^\"]*\" data-pid=\"1\"><td>1</td><td class=\"l exe\" title=\"cat\">cat</td><td class=\"l\">demo</td><td class=\"l ctr\">$NAME</td><td class=\"l\"><span class=\"state running\">running</span>" \
        "the dashboard: the app, running, in its container"
fi
stop_pid "$exp_pid"

# The default exporter, per program: the app's calls are there too.
start_exporter program --dir "$VOL" 3>&- 4>&- || { finish; exit 1; }
http /metrics
expect_match "$(cat "$WORK/body")" \
    '^mmstats_calls_total\{exe="cat",label="demo",family="io",call="read"\} [1-9]' \
    "per program: the app's calls"

# The app ends: finished, seen from the host.
exec 3>&-
wait "$app_pid" || true
http /api/v1/processes
expect_eq "$(jpy "$WORK/body" '[p["liveness"] for p in d["processes"]
    if p["pid"] == 1]')" "['finished']" "the app, ended: finished"
stop_pid "$exp_pid"
exec 4>&-
wait "$host_pid" || true
rmdir "$CG/$NAME"
finish
