# mmstat-exporter's HTTP side holds against bad and hostile clients:
# unknown paths 404, other methods 405, no traversal (plain or encoded)
# reaches a file, a foreign Host header is refused (DNS rebinding), huge
# headers are refused with the server alive, 150 connections at once are
# each served or refused and /metrics still answers, slowloris clients do
# not slow /metrics down, an idle connection is closed after --timeout,
# SIGTERM stops it promptly with status 0, and big answers left unread
# are bounded (503 beyond --max-response-memory). Also the command line:
# --help, --version, bad usage (2), a port in use (1), a non-loopback
# address without --allow-remote (2).
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

start_rate live 1000 60
"$B/examples/model" >/dev/null
start_exporter main --timeout 2 || { finish; exit 1; }

# A second exporter on the same port: cannot listen, status 1.
rc=0
timeout 10 "$EXPORTER" --listen "127.0.0.1:$exp_port" 2>"$WORK/err" || rc=$?
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
    code=$(curl -s --max-time 10 -X "$m" -o /dev/null -w '%{http_code}' \
        "$exp_url/metrics") || code=000
    expect_eq "$code" 405 "method $m"
done
hdr=$(curl -s --max-time 10 -X POST -D - -o /dev/null "$exp_url/metrics")
expect_match "$hdr" $'^Allow: GET, HEAD\r?$' "405 says what is allowed"
hdr=$(curl -s --max-time 10 -I "$exp_url/metrics")
expect_match "$hdr" '^HTTP/1\.1 200' "HEAD"
expect_match "$hdr" '^Content-Type: text/plain; version=0\.0\.4' \
    "HEAD: the exposition format's type"
expect_match "$hdr" '^Content-Length: [1-9]' "HEAD: the length, no body"

# DNS rebinding: a page whose name resolves to 127.0.0.1 sends its name.
expect_code /metrics 403 "foreign Host" -H 'Host: attacker.example:9464'
expect_code /metrics 403 "foreign Host, IP-like" -H 'Host: 127.0.0.1.example'
expect_code /metrics 200 "Host localhost" -H 'Host: localhost:9464'
expect_code /metrics 200 "Host [::1]" -H 'Host: [::1]:9464'

# ------------------------------------------------- hostile clients, python
# hostile.py MODE PORT: a client that misbehaves; prints what it saw.
cat >"$WORK/hostile.py" <<'EOF'
import select, socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
addr = ("127.0.0.1", port)

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

if mode == "huge":
    # 1 MiB of one header: far over the connection's memory limit.
    s = socket.create_connection(addr, timeout=10)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " +
                  b"a" * (1 << 20) + b"\r\n\r\n")
    except OSError:
        pass  # refused while sending: fine
    print(status(s, time.time() + 10))
elif mode == "many":
    # 150 connections at once, each sends a request, then all are read.
    socks = []
    for i in range(150):
        s = socket.socket()
        s.settimeout(5)
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
    deadline = time.time() + 20
    for s in socks:
        print(status(s, deadline))
        s.close()
elif mode == "slowloris":
    # 5 clients send their headers a byte every 0.2 s, for 8 s; none
    # finishes. Prints how many were still open at the end.
    socks = []
    for i in range(5):
        s = socket.create_connection(addr, timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks.append(s)
    end = time.time() + 8
    n = 0
    while time.time() < end:
        for s in socks:
            try:
                s.send(b"X-Slow-%d: y\r\n"[n % 12:n % 12 + 1] or b"y")
            except OSError:
                pass
        n += 1
        time.sleep(0.2)
    print("open", sum(1 for s in socks if s.fileno() >= 0))
elif mode == "hold":
    # Asks for /metrics and reads nothing for 12 s: an answer bigger than
    # the socket buffers stays in the exporter's memory meanwhile (long
    # enough for a sanitizer build to have produced it).
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect(addr)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    time.sleep(12)
    s.close()
    print("held")
elif mode == "idle":
    # Connects and says nothing: closed after --timeout (2 s here).
    s = socket.create_connection(addr, timeout=10)
    t0 = time.time()
    print(status(s, t0 + 8), round(time.time() - t0, 1))
EOF
hostile() { timeout 40 python3 "$WORK/hostile.py" "$1" "$exp_port"; }

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

# Slowloris: while 5 clients dribble headers, /metrics stays fast.
hostile slowloris >"$WORK/slow.out" &
slow_pid=$!
bg_pids+=("$slow_pid")
sleep 1
worst=0
for i in 1 2 3 4 5 6; do
    us=$(curl -s --max-time 5 -o /dev/null -w '%{time_total}' \
        "$exp_url/metrics" | awk '{printf "%d", $1 * 1000000}')
    [ "$us" -gt "$worst" ] && worst=$us
    sleep 0.5
done
checks=$((checks + 1))
[ "$worst" -lt 1000000 ] || fail "slowloris: /metrics took $worst us"
echo "slowloris: slowest /metrics $((worst / 1000)).$((worst / 100 % 10)) ms"
wait "$slow_pid" || true
expect_match "$(cat "$WORK/slow.out")" '^open 5$' "slowloris ran"

# An idle connection is closed after --timeout 2.
res=$(hostile idle)
expect_match "$res" '^closed [2-7]\.[0-9]$' "idle connection closed by timeout"
expect_code /metrics 200 "alive at the end"

# --------------------------------------------------------------- shutdown
pid=$exp_pid
stop_pid "$pid" 10
expect_rc "$stop_rc" 0 "SIGTERM"
checks=$((checks + 1))
[ "$stop_ms" -lt 3000 ] || fail "SIGTERM: took $stop_ms ms"
expect_match "$(cat "$exp_log")" 'Terminated: stopping' "SIGTERM: says so"
start_exporter int || true
stop_pid "$exp_pid" 10
# SIGINT likewise (stop_pid sends TERM; here INT by hand).
start_exporter int2 || true
kill -INT "$exp_pid"
rc=0
for ((i = 0; i < 100; i++)); do
    kill -0 "$exp_pid" 2>/dev/null || break
    sleep 0.05
done
wait "$exp_pid" || rc=$?
expect_rc "$rc" 0 "SIGINT"

# Answers in flight are bounded: while a client leaves a big answer
# (7 MB: 80 processes of 100 fields, a quarter histograms) unread, data
# requests get 503 (--max-response-memory 4K); the dashboard page is
# still served, and once the client is gone, everything again.
MANY=$WORK/many
mkdir -m 700 "$MANY"
MMSTATS_DIR=$MANY "$PROGS/exp_many" -t 60 80 100 >"$WORK/many.out" &
bg_pids+=("$!")
wait_for "$WORK/many.out" '^ready 80$' 30 || fail "exp_many did not start"
start_exporter busy --dir "$MANY" --max-response-memory 4K || true
hostile hold >"$WORK/hold.out" &
hold_pid=$!
bg_pids+=("$hold_pid")
code=
for ((i = 0; i < 100; i++)); do # up to 10 s: slower in sanitizer builds
    sleep 0.1
    http /metrics
    [ "$code" = 503 ] && break
done
expect_eq "$code" 503 "a big answer unread: data requests refused"
expect_match "$(cat "$WORK/body")" '^busy' "503: says why"
expect_code / 200 "the page while busy"
wait "$hold_pid" || true
code=
for ((i = 0; i < 50; i++)); do
    http /metrics
    [ "$code" = 200 ] && break
    sleep 0.1
done
expect_eq "$code" 200 "served again once the reader is gone"
expect_match "$(cat "$WORK/body")" '^mmstats_exporter_busy_refusals_total [1-9]' \
    "refusals counted"
expect_match "$(cat "$WORK/body")" '^mmstats_exporter_response_bytes_in_flight 0$' \
    "nothing left in flight"
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "busy exporter stopped"
finish
