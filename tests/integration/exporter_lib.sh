# Helpers for the exporter's tests (test_exporter_*.sh), on top of lib.sh
# and tools_lib.sh: mmstat-exporter on a free loopback port, HTTP
# requests with bounded times, a graceful stop. Everything started here
# is in bg_pids, killed at exit by tools_lib.sh's trap. Source it last.
EXPORTER=$B/tools/mmstat-exporter
if [ ! -x "$EXPORTER" ]; then
    fail "$EXPORTER not built: install libmicrohttpd-dev (scripts/test does)"
    finish
    exit 1
fi
mkdir -p "$MMSTATS_DIR"
chmod 700 "$MMSTATS_DIR"

# A sanitizer build's exporter under a loaded machine: the bounds on
# waits below are guards against hangs, not expectations of speed.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

# free_port: a TCP port free on 127.0.0.1 (for servers that cannot be told
# to pick one themselves and say which).
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# start_exporter NAME ARGS...: mmstat-exporter ARGS on 127.0.0.1, a port of
# its own choosing; sets exp_pid, exp_port, exp_url (https:// with TLS) and
# exp_log. 1 if it did not say it listens (within wait_for's bound).
start_exporter() {
    exp_log=$WORK/$1.exporter.log
    shift
    "$EXPORTER" --listen 127.0.0.1:0 "$@" 2>"$exp_log" &
    exp_pid=$!
    bg_pids+=("$exp_pid")
    exp_port=
    exp_url=
    if ! wait_for "$exp_log" 'listening on https?://127\.0\.0\.1:[0-9]+/'; then
        fail "mmstat-exporter $* did not start: $(cat "$exp_log")"
        return 1
    fi
    exp_port=$(sed -n 's|.*listening on https*://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' \
        "$exp_log" | head -1)
    exp_url=$(sed -n 's|.*listening on \(https*\)://.*|\1|p' "$exp_log" |
        head -1)://127.0.0.1:$exp_port
}

# stop_pid PID [SECONDS]: SIGTERM, then wait for PID to end (at most
# SECONDS, default 60, a guard against a hang; then SIGKILL). Sets stop_rc
# (its exit status, 137 if it had to be killed).
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < ${2:-60} * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    stop_rc=0
    wait "$pid" 2>/dev/null || stop_rc=$?
    local keep=() p
    for p in "${bg_pids[@]}"; do
        [ "$p" = "$pid" ] || keep+=("$p")
    done
    bg_pids=("${keep[@]}")
}

# http PATH [CURL ARGS...]: GET exp_url PATH (60 s at most: a guard
# against a hang); the body in $WORK/body, the status in $code.
http() {
    local path=$1
    shift
    code=$(curl -s --max-time 60 --path-as-is -o "$WORK/body" \
        -w '%{http_code}' "$@" "$exp_url$path") || code=000
}

# expect_code PATH WANT WHAT [CURL ARGS...]
expect_code() {
    local path=$1 want=$2 what=$3
    shift 3
    http "$path" "$@"
    expect_eq "$code" "$want" "$what: HTTP status of $path"
}

# wait_gone FILE: until FILE exists no more (bounded, 60 s).
wait_gone() {
    local i
    for ((i = 0; i < 1200; i++)); do
        [ -e "$1" ] || return 0
        sleep 0.05
    done
    return 1
}

# start_prometheus INTERVAL [FLAGS...]: a real Prometheus server (Debian
# package prometheus) on a free loopback port scraping the exporter
# ($exp_port) every INTERVAL, with FLAGS (--enable-feature=...); sets
# prom_pid and PROM. 1 (after a failure) if it is not ready within the
# bound. PROM_JOBS, if set, is YAML appended to scrape_configs (more
# jobs: TLS, credentials).
start_prometheus() {
    local i ready=0
    PPORT=$(free_port)
    cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: $1
  scrape_timeout: $1
  evaluation_interval: $1
scrape_configs:
  - job_name: mmstats
    static_configs:
      - targets: ['127.0.0.1:$exp_port']
${PROM_JOBS:-}
EOF
    promtool check config "$WORK/prometheus.yml" >/dev/null 2>&1 ||
        fail "promtool rejects the generated config"
    prometheus --config.file="$WORK/prometheus.yml" \
        --storage.tsdb.path="$(mktemp -d "$WORK/tsdb.XXXXXX")" \
        --web.listen-address="127.0.0.1:$PPORT" --log.level=warn "${@:2}" \
        >"$WORK/prometheus.log" 2>&1 &
    prom_pid=$!
    bg_pids+=("$prom_pid")
    PROM=http://127.0.0.1:$PPORT
    for ((i = 0; i < 3000; i++)); do
        if curl -s --max-time 2 "$PROM/-/ready" 2>/dev/null | grep -q Ready; then
            ready=1
            break
        fi
        kill -0 "$prom_pid" 2>/dev/null || break
        sleep 0.1
    done
    expect_eq "$ready" 1 "prometheus ready"
    if [ "$ready" != 1 ]; then
        sed 's/^/    /' "$WORK/prometheus.log" | tail -20 >&2
        return 1
    fi
}

# query PROMQL [TIME]: the first result's value ("" if none), and the
# whole answer in $WORK/query.json.
query() {
    local args=(--data-urlencode "query=$1")
    [ -n "${2:-}" ] && args+=(--data-urlencode "time=$2")
    curl -s --max-time 60 -G "${args[@]}" "$PROM/api/v1/query" \
        >"$WORK/query.json" || true
    python3 -c 'import json, sys
try:
    d = json.load(open(sys.argv[1]))
    r = d["data"]["result"]
    print(r[0]["value"][1] if r and "value" in r[0] else "")
except Exception:
    print("")' "$WORK/query.json"
}

# scrapes: how many times Prometheus has scraped the exporter.
scrapes() { query 'count_over_time(up{job="mmstats"}[1h])'; }

# wait_scrapes N: until Prometheus has scraped N more times (bounded).
wait_scrapes() {
    local i base now
    base=$(scrapes)
    for ((i = 0; i < 3000; i++)); do
        now=$(scrapes)
        [ -n "$now" ] && [ "${now%.*}" -ge "$((${base:-0} + $1))" ] && return 0
        sleep 0.1
    done
    fail "Prometheus did not scrape $1 times more (at ${now:-none})"
}

# expect_calls_total WANT WHAT: scrape after scrape (bounded) until
# Prometheus's sum(mmstats_calls_total) is WANT, then check it is.
expect_calls_total() {
    local i got=
    for ((i = 0; i < 600; i++)); do
        wait_scrapes 1
        got=$(query 'sum(mmstats_calls_total)')
        [ "$got" = "$1" ] && break
    done
    expect_eq "$got" "$1" "sum(mmstats_calls_total) is $2"
}

# expect_no_resets [MATCHER]: no counter went backwards over the run:
# resets() is 0 for every mmstats_*_total family (those MATCHER, a
# PromQL label matcher such as __name__!~"...", leaves) and for the
# latency histograms' counts.
expect_no_resets() {
    local f r fams
    query "count by (__name__) ({__name__=~\"mmstats_.*_total\"${1:+,$1}})" >/dev/null
    fams=$(python3 -c 'import json, sys
print(" ".join(r["metric"]["__name__"]
               for r in json.load(open(sys.argv[1]))["data"]["result"]))' \
        "$WORK/query.json")
    checks=$((checks + 1))
    [ -n "$fams" ] || fail "no counter families"
    for f in $fams; do
        r=$(query "sum(resets(${f}[1h]))")
        expect_eq "$r" 0 "resets($f)"
    done
    r=$(query 'sum(resets(mmstats_call_duration_seconds_count[1h]))')
    expect_eq "$r" 0 "resets(mmstats_call_duration_seconds_count)"
}

# need_prometheus: 1 (after a failure) without prometheus, promtool and
# curl (Debian packages prometheus and curl, installed by scripts/test).
need_prometheus() {
    local t
    for t in prometheus promtool curl; do
        if ! command -v "$t" >/dev/null; then
            fail "$t not found: install the Debian packages prometheus and curl"
            return 1
        fi
    done
}

# need_chromium: 1 (after a failure) without Chromium (Debian package
# chromium, installed by scripts/test); else sets CHROMIUM.
need_chromium() {
    CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
    if [ -z "$CHROMIUM" ]; then
        fail "chromium not found: install the Debian package chromium"
        return 1
    fi
}

# chrome ARGS...: headless Chromium on the dashboard (the page $PAGE,
# default /), bounded (300 s, a guard against a hang), as root (no
# sandbox), nothing of its own fetched from outside, a new profile each
# time.
chrome() {
    local profile
    profile=$(mktemp -d "$WORK/chrome-XXXXXX")
    HOME=$WORK XDG_CONFIG_HOME=$WORK/.config XDG_CACHE_HOME=$WORK/.cache \
        timeout -k 5 300 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
        --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --disable-extensions \
        --user-data-dir="$profile" --window-size=1280,900 \
        --enable-logging=stderr --v=0 "$@" "$exp_url${PAGE:-/}"
}

# rows_of FILE: the pids of the process table's rows, in order.
rows_of() {
    grep -o '<tr class="proc[^"]*" data-pid="[0-9]*"' "$1" |
        sed 's/.*data-pid="\([0-9]*\)"/\1/'
}
