# mmstat-exporter's HTTP side holds against bad and hostile clients:
# unknown paths 404, other methods 405, no traversal (plain or encoded)
# reaches a file, a foreign Host header is refused (DNS rebinding), huge
# headers are refused with the server alive, 150 connections at once are
# each served or refused and /metrics still answers. Slowloris: while 32
# connections from 127.0.0.1 trickle requests that never end, a scrape
# from 127.0.0.1 is served (one of them is closed to make room), and so
# it is while 6 x 32 from 127.0.0.2-7 hold more than --max-connections;
# a request trickled for longer than --request-timeout is closed. An idle
# connection is closed after --timeout, SIGTERM and SIGINT stop it with
# status 0, and big answers left unread are bounded (503 beyond
# --max-response-memory). Every wait is on the event itself (a line from
# a client, a status, a count), bounded only against a hang. Also the
# command line: --help, --version, bad usage (2), a port in use (1), a
# non-loopback address without --allow-remote (2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

# ------------------------------------------------------------ command line
out=$("$EXPORTER" --help)
expect_match "$out" '^Usage: mmstat-exporter' "--help"
expect_match "$out" '--allow-remote' "--help lists the options"
expect_eq "$("$EXPORTER" --version)" "mmstat-exporter 0.1.0" "--version"
for bad in "--listen nonsense" "--listen 127.0.0.1:99999" "--by pid" \
    "--threads 0" "--timeout x" "--include-finished=soon" "extra"; do
    rc=0
    # shellcheck disable=SC2086
    "$EXPORTER" $bad 2>"$WORK/err" || rc=$?
    expect_rc "$rc" 2 "bad usage: $bad"
done
rc=0
"$EXPORTER" --listen 0.0.0.0:0 2>"$WORK/err" || rc=$?
expect_rc "$rc" 2 "non-loopback address without --allow-remote"
expect_match "$(cat "$WORK/err")" 'not a loopback address.*--allow-remote' \
    "the refusal says why"

start_rate live 1000 0
"$B/examples/model" >/dev/null
# Trickled requests are closed by the room-making rule only, here; the
# request and idle timeouts have tests of their own below (with an idle
# timeout of 2 s here, a trickling client descheduled that long on a
# loaded machine, or still connecting its 192 sockets, saw connections
# closed as idle instead: none closed to make room, "got 0, want 65").
start_exporter main --timeout 600 --request-timeout 3600 || {
    finish
    exit 1
}

# A second exporter on the same port: cannot listen, status 1.
rc=0
timeout 60 "$EXPORTER" --listen "127.0.0.1:$exp_port" 2>"$WORK/err" || rc=$?
expect_rc "$rc" 1 "port in use"
expect_match "$(cat "$WORK/err")" "cannot listen on 127\.0\.0\.1:$exp_port" \
    "port in use: the reason"

# ------------------------------------------------------------------ routes
expect_code /metrics 200 "metrics"
expect_code / 200 "dashboard"
expect_match "$(cat "$WORK/body")" '<title>mmstats</title>' "dashboard page"
expect_code /static/dygraph.min.js 200 "dygraphs, from the allow-list"
expect_code /nope 404 "unknown path"
expect_code /metrics/ 404 "trailing slash"
expect_code /metricsx 404 "prefix of a route"
expect_code /api/v1/processes/abc 404 "pid not a number"
expect_code /api/v1/processes/-1 404 "negative pid"
expect_code /api/v1/processes/99999999999 404 "pid too long"
expect_code /api/v1/processes/2147483646 404 "pid without a file"
expect_code '/api/v1/aggregate?by=pid' 400 "bad aggregate key"
expect_code "/api/v1/processes/$rate_pid" 200 "a running process"

# Traversal: every spelling ends in a 404, nothing is read.
for p in /static/../../../../etc/passwd /static/..%2f..%2f..%2fetc%2fpasswd \
    /static/%2e%2e/%2e%2e/%2e%2e/etc/passwd /../../../../etc/passwd \
    /static//etc/passwd /static/dygraph.min.js/../../../../etc/passwd \
    /static/%2fetc%2fpasswd "/api/v1/processes/1/../../../../etc/passwd" \
    /static/dygraph.js /static/dygraph.min.js.map \
    "/static/..%5c..%5cetc%5cpasswd" /%00/etc/passwd; do
    http "$p"
    expect_eq "$code" 404 "traversal $p"
    expect_no_match "$(cat "$WORK/body")" 'root:' "traversal $p: no file"
done

# Methods: GET and HEAD only.
for m in POST PUT DELETE PATCH OPTIONS TRACE; do
    code=$(curl -s --max-time 60 -X "$m" -o /dev/null -w '%{http_code}' \
        "$exp_url/metrics") || code=000
    expect_eq "$code" 405 "method $m"
done
hdr=$(curl -s --max-time 60 -X POST -D - -o /dev/null "$exp_url/metrics")
expect_match "$hdr" $'^Allow: GET, HEAD\r?$' "405 says what is allowed"
hdr=$(curl -s --max-time 60 -I "$exp_url/metrics")
expect_match "$hdr" '^HTTP/1\.1 200' "HEAD"
expect_match "$hdr" '^Content-Type: text/plain; version=0\.0\.4' \
    "HEAD: the exposition format's type"
expect_match "$hdr" '^Content-Length: [1-9]' "HEAD: the length, no body"

# DNS rebinding: a page whose name resolves to 127.0.0.1 sends its name.
expect_code /metrics 403 "foreign Host" -H 'Host: attacker.example:10464'
expect_code /metrics 403 "foreign Host, IP-like" -H 'Host: 127.0.0.1.example'
expect_code /metrics 200 "Host localhost" -H 'Host: localhost:10464'
expect_code /metrics 200 "Host [::1]" -H 'Host: [::1]:10464'

# ------------------------------------------------- hostile clients, python
# hostile.py MODE PORT ARGS: a client that misbehaves; prints what it saw.
# Clients that hold connections run until STOP (a file) exists.
cat >"$WORK/hostile.py" <<'EOF'
import os, select, socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
addr = ("127.0.0.1", port)
# A guard against a hang, not an expectation of speed.
BOUND = 120

def status(sock, deadline):
    """The status code of the answer, 'closed' or 'timeout'."""
    data = b""
    while time.time() < deadline:
        r, _, _ = select.select([sock], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = sock.recv(4096)
        except OSError:
            return "closed"
        if not chunk:
            break
        data += chunk
        if b"\r\n" in data:
            break
    if data.startswith(b"HTTP/1."):
        return data.split()[1].decode()
    return "closed" if time.time() < deadline else "timeout"

def gone(sock):
    """Whether the server closed SOCK (readable: at the end, or reset)."""
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        return not sock.recv(4096)
    except OSError:
        return True

if mode == "huge":
    # 1 MiB of one header: far over the connection's memory limit.
    s = socket.create_connection(addr, timeout=BOUND)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " +
                  b"a" * (1 << 20) + b"\r\n\r\n")
    except OSError:
        pass  # refused while sending: fine
    print(status(s, time.time() + BOUND))
elif mode == "many":
    # 150 connections at once, each sends a request, then all are read.
    socks = []
    for i in range(150):
        s = socket.socket()
        s.settimeout(BOUND)
        try:
            s.connect(addr)
            socks.append(s)
        except OSError:
            print("refused")
    for s in socks:
        try:
            s.sendall(b"GET /api/v1/processes HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
        except OSError:
            pass
    deadline = time.time() + BOUND
    for s in socks:
        print(status(s, deadline))
        s.close()
elif mode == "trickle":
    # trickle PORT SOURCES N STOP: N connections from each source address
    # (comma-separated), each with a request that never ends: a byte of
    # header every 0.2 s. "ready M" once all are connected, "closed K"
    # whenever the server has closed more of them, "end K of M" at STOP.
    srcs, n, stop = sys.argv[3].split(","), int(sys.argv[4]), sys.argv[5]
    socks = []
    for src in srcs:
        for i in range(n):
            s = socket.socket()
            s.bind((src, 0))
            s.settimeout(BOUND)
            s.connect(addr)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
    print("ready", len(socks), flush=True)
    closed = set()
    deadline = time.time() + 10 * BOUND
    while not os.path.exists(stop) and time.time() < deadline:
        before = len(closed)
        for s in socks:
            if s in closed:
                continue
            try:
                if gone(s):
                    closed.add(s)
                else:
                    s.send(b"X")
            except OSError:
                closed.add(s)
        if len(closed) != before:
            print("closed", len(closed), flush=True)
        time.sleep(0.2)
    print("end", len(closed), "of", len(socks), flush=True)
elif mode == "slow":
    # One request trickled a byte every 0.2 s, never finished: "closed"
    # once the server closes it.
    s = socket.create_connection(addr, timeout=BOUND)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    deadline = time.time() + BOUND
    while time.time() < deadline:
        try:
            if gone(s):
                break
            s.send(b"X")
        except OSError:
            break
        time.sleep(0.2)
    print("closed" if time.time() < deadline else "open")
elif mode == "hold":
    # hold PORT STOP: asks for /metrics and reads nothing until STOP
    # exists: an answer bigger than the socket buffers stays in the
    # exporter's memory meanwhile. "sent" once the request is out.
    stop = sys.argv[3]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect(addr)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    print("sent", flush=True)
    deadline = time.time() + 10 * BOUND
    while not os.path.exists(stop) and time.time() < deadline:
        time.sleep(0.05)
    s.close()
    print("held", flush=True)
elif mode == "idle":
    # Connects and says nothing: closed after --timeout (2 s here).
    s = socket.create_connection(addr, timeout=BOUND)
    t0 = time.time()
    print(status(s, t0 + BOUND), round(time.time() - t0, 1))
EOF
hostile() { python3 "$WORK/hostile.py" "$1" "$exp_port" "${@:2}"; }
# metric NAME: the value of NAME in $WORK/body.
metric() { awk -v n="$1" '$1 == n {print $2}' "$WORK/body"; }

# Huge headers: refused (an error status or the connection closed).
res=$(hostile huge)
expect_match "$res" '^(4[0-9][0-9]|closed)$' "huge headers refused"
expect_code /metrics 200 "alive after huge headers"

# 150 at once (the default limits: 32 from one address): each served or
# refused, none left hanging; /metrics answers afterwards.
hostile many >"$WORK/many.out"
total=$(wc -l <"$WORK/many.out")
served=$(grep -c '^200$' "$WORK/many.out" || true)
refused=$(grep -Ec '^(refused|closed|503)$' "$WORK/many.out" || true)
expect_eq "$total" 150 "150 connections: an outcome each"
expect_eq "$((served + refused))" 150 "150 connections: served or refused"
checks=$((checks + 1))
[ "$served" -ge 1 ] || fail "150 connections: none served"
echo "150 connections: $served served, $refused refused"
expect_code /metrics 200 "alive after 150 connections"

# accept_queue_empty: no connection waits in the exporter's listening
# socket's accept queue (/proc/net/tcp's rx_queue of a LISTEN socket is
# that queue's length); true too where the socket is not found there.
accept_queue_empty() {
    local port local_addr st queues
    port=$(printf '%04X' "$exp_port")
    while read -r _ local_addr _ st queues _; do
        [ "$st" = 0A ] && [ "${local_addr##*:}" = "$port" ] || continue
        [ $((16#${queues##*:})) -eq 0 ]
        return
    done </proc/net/tcp
}

# slowloris SOURCES N ROOM WHAT: N trickling connections from each
# source; then a scrape from 127.0.0.1 must be served. In all ROOM of
# them are closed to make room (for each other and for the scrape): the
# exporter counts that many, and the clients see them closed. The scrape
# waits until the exporter has taken every trickling connection (its
# accept queue empty, and the clients have seen the ROOM - 1 closed as
# they came): "ready" says only that the kernel has them, and a scrape
# taken before the last of them (CI, TSan build, loaded) needed no room:
# "got 0, want 65", the clients seeing 64 closed.
slowloris() {
    local srcs=$1 n=$2 room=$3 what=$4 out=$WORK/trickle.$2.out before tpid
    http /metrics
    before=$(metric mmstats_exporter_connections_closed_for_room_total)
    rm -f "$WORK/stop"
    hostile trickle "$srcs" "$n" "$WORK/stop" >"$out" &
    tpid=$!
    bg_pids+=("$tpid")
    wait_for "$out" '^ready ' || fail "$what: the clients did not connect"
    local i
    for ((i = 0; i < 1200; i++)); do
        accept_queue_empty && break
        sleep 0.05
    done
    if [ "$room" -gt 1 ]; then
        wait_for "$out" "^closed $((room - 1))\$" ||
            fail "$what: the clients did not see $((room - 1)) closed first"
    fi
    http /metrics
    expect_eq "$code" 200 "$what: a scrape from 127.0.0.1"
    expect_eq "$(($(metric mmstats_exporter_connections_closed_for_room_total) - \
        ${before:-0}))" "$room" "$what: connections closed to make room"
    wait_for "$out" "^closed $room\$" ||
        fail "$what: the clients did not see $room closed"
    touch "$WORK/stop"
    wait "$tpid" || true
    echo "$what: $(tail -1 "$out") closed"
}
slowloris 127.0.0.1 32 1 "32 trickling from 127.0.0.1"
# 192 connections for 128 places: 64 closed as they came, one for the
# scrape.
slowloris 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7 32 65 \
    "6 x 32 trickling from 127.0.0.2-7"
http /metrics
expect_eq "$(metric mmstats_exporter_slow_requests_closed_total)" 0 \
    "--request-timeout 3600: none closed for being slow"

expect_code /metrics 200 "alive at the end"

# --------------------------------------------------------------- shutdown
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "SIGTERM"
expect_match "$(cat "$exp_log")" 'Terminated: stopping' "SIGTERM: says so"
# SIGINT likewise (stop_pid sends TERM; here INT by hand).
start_exporter int2 || true
kill -INT "$exp_pid"
rc=0
for ((i = 0; i < 1200; i++)); do
    kill -0 "$exp_pid" 2>/dev/null || break
    sleep 0.05
done
wait "$exp_pid" || rc=$?
expect_rc "$rc" 0 "SIGINT"

# An idle connection is closed after --timeout 2 (and not before).
start_exporter idle --timeout 2 || true
res=$(hostile idle)
expect_match "$res" '^closed ([2-9]|[1-9][0-9]+)\.[0-9]$' \
    "idle connection closed by timeout"
expect_code /metrics 200 "alive after an idle connection"
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "exporter with --timeout 2 stopped"

# A request trickled for longer than --request-timeout 2 is closed,
# though it never stops sending.
start_exporter slow --request-timeout 2 || true
res=$(hostile slow)
expect_eq "$res" closed "a request trickled past --request-timeout"
http /metrics
expect_eq "$(metric mmstats_exporter_slow_requests_closed_total)" 1 \
    "slow requests closed: counted"
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "exporter with --request-timeout stopped"

# Answers in flight are bounded: while a client leaves a big answer
# (7 MB: --per-process, 80 processes of 600 fields, a quarter
# histograms) unread, data requests get 503 (--max-response-memory 4K); the dashboard page is
# still served, and once the client is gone, everything again. Polled on
# a cheap data request (a pid without a file: 404 when not busy).
MANY=$WORK/many
mkdir -m 700 "$MANY"
MMSTATS_DIR=$MANY "$PROGS/exp_many" -t 0 80 600 >"$WORK/many.out" 2>&1 &
bg_pids+=("$!")
wait_for "$WORK/many.out" '^ready 80$' 60 "$!" ||
    fail "exp_many did not start: $(cat "$WORK/many.out")"
start_exporter busy --dir "$MANY" --per-process --max-response-memory 4K || true
rm -f "$WORK/stop"
hostile hold "$WORK/stop" >"$WORK/hold.out" &
hold_pid=$!
bg_pids+=("$hold_pid")
wait_for "$WORK/hold.out" '^sent$' || fail "hold: request not sent"
probe=/api/v1/processes/2147483646
code=
for ((i = 0; i < 1200; i++)); do
    http $probe
    [ "$code" = 503 ] && break
    sleep 0.05
done
expect_eq "$code" 503 "a big answer unread: data requests refused"
expect_match "$(cat "$WORK/body")" '^busy' "503: says why"
expect_code / 200 "the page while busy"
touch "$WORK/stop"
wait "$hold_pid" || true
code=
for ((i = 0; i < 1200; i++)); do
    http $probe
    [ "$code" = 404 ] && break
    sleep 0.05
done
expect_eq "$code" 404 "served again once the reader is gone"
http /metrics
expect_eq "$code" 200 "/metrics again"
expect_match "$(cat "$WORK/body")" '^mmstats_exporter_busy_refusals_total [1-9]' \
    "refusals counted"
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "busy exporter stopped"
finish
