# mmstat-exporter --web.config.file (the Prometheus exporter-toolkit's
# web configuration): TLS with a self-signed certificate made here by
# openssl, basic auth with a bcrypt hash made here by libcrypt. A real
# Prometheus scrapes it over TLS with the credentials (up, samples), and
# its jobs without credentials (401), with a wrong password (401) and in
# plain HTTP (refused) are down; curl sees the same (401 with a Basic
# challenge, the right password 200, plain HTTP no answer). A client
# certificate: with RequireAndVerifyClientCert, one signed by the CA is
# served, none or a foreign one gets 403. Bad files: a clear error naming
# the line, exit 1. Needs prometheus, promtool, curl and openssl.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"

need_prometheus || { finish; exit 1; }
command -v openssl >/dev/null || { fail "openssl not found"; finish; exit 1; }

T=$WORK/tls
mkdir -p "$T"
# A CA, the server's certificate for 127.0.0.1 and localhost signed by
# it, a client certificate signed by it and one signed by nobody.
ssl() { openssl "$@" >>"$T/openssl.log" 2>&1 || fail "openssl $1 failed"; }
ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=mmstats-test-ca -keyout "$T/ca.key" -out "$T/ca.crt"
ssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=localhost -keyout "$T/server.key" -out "$T/server.csr"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$T/san.ext"
ssl x509 -req -in "$T/server.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" \
    -CAcreateserial -days 2 -extfile "$T/san.ext" -out "$T/server.crt"
ssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=scraper -keyout "$T/client.key" -out "$T/client.csr"
ssl x509 -req -in "$T/client.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" \
    -CAcreateserial -days 2 -out "$T/client.crt"
ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=stranger -keyout "$T/stranger.key" -out "$T/stranger.crt"

# bcrypt_hash PASSWORD: a $2y$ hash (cost 5: a fast test) by libcrypt.
bcrypt_hash() {
    python3 -c 'import ctypes, sys
c = ctypes.CDLL("libcrypt.so.1")
c.crypt_gensalt.restype = ctypes.c_char_p
c.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
c.crypt.restype = ctypes.c_char_p
c.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
print(c.crypt(sys.argv[1].encode(), c.crypt_gensalt(b"$2y$", 5, None, 0)).decode())' "$1"
}
PASS='s3cret pass:word'
HASH=$(bcrypt_hash "$PASS")
expect_match "$HASH" '^\$2y\$05\$.{53}$' "a bcrypt hash from libcrypt"

# Relative paths are relative to the file's directory.
cat >"$T/web.yml" <<EOF
# as for a Go exporter (exporter-toolkit)
tls_server_config:
  cert_file: server.crt
  key_file: server.key
basic_auth_users:
  prom: '$HASH'
EOF

start_rate live 1000 0
start_exporter tls --web.config.file "$T/web.yml" || { finish; exit 1; }
expect_match "$exp_url" '^https://127\.0\.0\.1:' "the exporter says https"
expect_match "$(cat "$exp_log")" 'basic auth' "and basic auth"

# curl: the CA verifies the server; credentials or not.
tls=(--cacert "$T/ca.crt")
expect_code /metrics 200 "TLS, right password" "${tls[@]}" -u "prom:$PASS"
expect_match "$(cat "$WORK/body")" 'mmstats_rate_ticks_total' \
    "the metrics over TLS"
code=$(curl -s --max-time 60 -o /dev/null -D "$WORK/headers" \
    -w '%{http_code}' "${tls[@]}" "$exp_url/metrics") || code=000
expect_eq "$code" 401 "TLS, no credentials"
expect_match "$(tr -d '\r' <"$WORK/headers")" \
    '[Ww][Ww][Ww]-[Aa]uthenticate: Basic realm="mmstats"' "a Basic challenge"
expect_code /metrics 401 "TLS, wrong password" "${tls[@]}" -u "prom:nope"
expect_code /metrics 401 "TLS, unknown user" "${tls[@]}" -u "eve:$PASS"
expect_code / 401 "the dashboard too" "${tls[@]}"
expect_code /api/v1/processes 401 "the API too" "${tls[@]}"
http_url=http://127.0.0.1:$exp_port
code=$(curl -s --max-time 60 -o /dev/null -w '%{http_code}' \
    -u "prom:$PASS" "$http_url/metrics") || code=000
expect_eq "$code" 000 "plain HTTP to the TLS port: no answer"
code=$(curl -s --max-time 60 -o /dev/null -w '%{http_code}' \
    -u "prom:$PASS" "$exp_url/metrics") || code=000
expect_eq "$code" 000 "an unknown CA: refused by the client"

# A real Prometheus: the job over TLS with credentials is up; the same
# without them, with a wrong password, and plain HTTP (the default job
# of start_prometheus) are down, each for its reason.
job() { # NAME SCHEME [AUTH LINES]
    printf '  - job_name: %s\n    scheme: %s\n' "$1" "$2"
    printf '    tls_config:\n      ca_file: %s\n' "$T/ca.crt"
    [ -n "${3:-}" ] && printf '    basic_auth:\n      username: prom\n      password: %s\n' "$3"
    printf "    static_configs:\n      - targets: ['127.0.0.1:%s']\n" "$exp_port"
}
PROM_JOBS="$(job tls https "'$PASS'")
$(job noauth https)
$(job wrongpass https nope)"
start_prometheus 1s || { finish; exit 1; }

# Until every job has been scraped once (bounded against a hang).
for ((i = 0; i < 3000; i++)); do
    [ "$(query 'count(up)')" = 4 ] &&
        [ -n "$(query 'mmstats_rate_ticks_total{job="tls"}')" ] && break
    sleep 0.1
done
expect_eq "$(query 'up{job="tls"}')" 1 "Prometheus over TLS with credentials: up"
expect_match "$(query 'mmstats_rate_ticks_total{job="tls"}')" '^[1-9][0-9]*$' \
    "Prometheus stores the samples"
expect_eq "$(query 'up{job="noauth"}')" 0 "without credentials: down"
expect_eq "$(query 'up{job="wrongpass"}')" 0 "wrong password: down"
expect_eq "$(query 'up{job="mmstats"}')" 0 "plain HTTP: down"
curl -s --max-time 60 "$PROM/api/v1/targets" >"$WORK/targets.json"
errs=$(python3 -c 'import json, sys
for t in json.load(open(sys.argv[1]))["data"]["activeTargets"]:
    print(t["labels"]["job"], t["health"], t["lastError"])' "$WORK/targets.json" |
    sort)
expect_match "$errs" 'noauth down .*401' "Prometheus saw 401 without credentials"
expect_match "$errs" 'wrongpass down .*401' "and with a wrong password"
expect_match "$errs" 'tls up $' "and no error with them"
stop_pid "$prom_pid"
stop_pid "$exp_pid"
expect_rc "$stop_rc" 0 "the TLS exporter stops on SIGTERM"

# ------------------------------------------------------ client certificates
cat >"$T/mtls.yml" <<EOF
tls_server_config:
  cert_file: $T/server.crt
  key_file: $T/server.key
  client_ca_file: $T/ca.crt
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS12
EOF
start_exporter mtls --web.config.file "$T/mtls.yml" || { finish; exit 1; }
expect_code /metrics 200 "a client certificate of the CA" "${tls[@]}" \
    --cert "$T/client.crt" --key "$T/client.key"
http /metrics "${tls[@]}"
expect_eq "$code" 403 "no client certificate: refused"
http /metrics "${tls[@]}" --cert "$T/stranger.crt" --key "$T/stranger.key"
expect_eq "$code" 403 "a certificate of another CA: refused"
stop_pid "$exp_pid"

# ------------------------------------------------------------- bad files
bad_config() { # WHAT PATTERN (the file in $T/bad.yml)
    local rc=0
    "$EXPORTER" --listen 127.0.0.1:0 --web.config.file "$T/bad.yml" \
        2>"$WORK/err" </dev/null &
    local pid=$!
    bg_pids+=("$pid")
    wait "$pid" || rc=$?
    expect_rc "$rc" 1 "$1"
    expect_match "$(cat "$WORK/err")" "$2" "$1: the message"
}
printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n  cipher_suites: [x]\n' \
    "$T/server.crt" "$T/server.key" >"$T/bad.yml"
bad_config "an unsupported key" "bad.yml:4: .*'cipher_suites' is not supported"
printf 'basic_auth_users:\n  prom: secret\n' >"$T/bad.yml"
bad_config "a password, not a hash" "bad.yml:2: .*prom: not a bcrypt hash"
printf 'tls_server_config:\n  cert_file: server.crt\n' >"$T/bad.yml"
bad_config "a certificate without its key" "cert_file and key_file go together"
printf 'tls_server_config:\n  cert_file: nothere.crt\n  key_file: server.key\n' >"$T/bad.yml"
bad_config "a missing file" "bad.yml:2: cert_file .*/nothere.crt: No such file"
printf 'basic_auth_users: [\n' >"$T/bad.yml"
bad_config "not YAML" "bad.yml: line"
printf 'basic_auth_users:\n  a: %s\n  a: %s\n' "$HASH" "$HASH" >"$T/bad.yml"
bad_config "a user twice" "'a' twice"
printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n' >"$T/bad.yml"
bad_config "a CA without a client_auth_type" "client_ca_file without"
rc=0
"$EXPORTER" --web.config.file "$T/none.yml" 2>"$WORK/err" || rc=$?
expect_rc "$rc" 1 "no such file"
expect_match "$(cat "$WORK/err")" 'none.yml: No such file' "no such file: the message"

stop_rate "$rate_pid"
finish
