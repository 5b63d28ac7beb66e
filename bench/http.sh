#!/usr/bin/env bash
# bench/http.sh - HTTPS throughput of Bulwark next to nginx, same machine, same run.
#
#   bench/http.sh                      # wrk -t1 -c32 -d10s, each server twice
#   THREADS=2 CONNS=64 DURATION=20s bench/http.sh
#   BULWARK=build/release/bulwark bench/http.sh     # a given binary
#
# Measures GET /healthz of a release build of Bulwark (built with the release
# preset when missing) over TLS 1.3 with keep-alive, and the same request to a
# throw-away nginx that serves a static JSON file of exactly the same size and
# content type, with the same certificate and key (the ECDSA P-256 pair that
# `bulwark init` made), TLS 1.3 only, keep-alive on, worker_processes auto,
# the same security headers as Bulwark, and an access log written to a file
# as Bulwark's is. Runs alternate (bulwark, nginx, bulwark, nginx) so that a
# drift of the machine hits both; prints every rate, the means and the ratio
# bulwark/nginx. Both servers live in a temporary directory and are stopped
# and removed at the end (KEEP=1 keeps the directory and its logs).
#
# Needs: wrk, nginx (nginx-light is enough), curl, openssl; installs the
# missing ones with apt-get when run as root. Exit status: 0 measured, 1 a
# server or tool failed, 2 usage.
set -euo pipefail

THREADS=${THREADS:-1}
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() {
    echo "bench/http.sh: $*" >&2
    exit 1
}

[ $# -eq 0 ] || { echo "usage: [THREADS=n] [CONNS=n] [DURATION=10s] [BULWARK=path] bench/http.sh" >&2; exit 2; }
[[ "$THREADS" =~ ^[1-9][0-9]*$ && "$CONNS" =~ ^[1-9][0-9]*$ && "$ROUNDS" =~ ^[1-9][0-9]*$ ]] ||
    { echo "bench/http.sh: THREADS, CONNS and ROUNDS must be positive integers" >&2; exit 2; }
[ "$CONNS" -ge "$THREADS" ] || { echo "bench/http.sh: CONNS must be >= THREADS" >&2; exit 2; }

# ---- tools ------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: install them (apt-get install -y ${missing[*]})"
    echo "bench/http.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null ||
        { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null; } ||
        die "apt-get install ${missing[*]} failed"
fi
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)

# ---- bulwark binary ---------------------------------------------------------------
BULWARK=${BULWARK:-$REPO/build/release/bulwark}
if [ ! -x "$BULWARK" ]; then
    echo "bench/http.sh: building the release preset" >&2
    (cd "$REPO" && cmake --preset release >/dev/null && cmake --build build/release -j"$(nproc)" >/dev/null) ||
        die "release build failed"
    [ -x "$BULWARK" ] || die "$BULWARK not built"
fi

# ---- temp dir, cleanup --------------------------------------------------------------
TMP=$(mktemp -d /tmp/bw-bench.XXXXXX)
chmod 0700 "$TMP"
BW_PID=""
NG_PID=""
cleanup() {
    local rc=$?
    if [ -n "$BW_PID" ] && kill -0 "$BW_PID" 2>/dev/null; then
        kill -TERM "$BW_PID" 2>/dev/null || true
        wait "$BW_PID" 2>/dev/null || true
    fi
    if [ -n "$NG_PID" ] && kill -0 "$NG_PID" 2>/dev/null; then
        kill -QUIT "$NG_PID" 2>/dev/null || true   # graceful stop of master + workers
        wait "$NG_PID" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
        echo "bench/http.sh: kept $TMP (logs: bulwark.log, nginx-error.log, nginx-access.log)" >&2
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null && return
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    die "no free port"
}

# Waits until URL answers 200 over TLS 1.3 (curl), or fails.
wait_tls13() {
    local url=$1 name=$2 pid=$3
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up"
        if curl -fsS -o /dev/null --cacert "$TMP/data/tls/cert.pem" --tlsv1.3 --tls-max 1.3 \
            --resolve "localhost:${url##*:}:127.0.0.1" "https://localhost:${url##*:}/healthz" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not answer over TLS 1.3 at $url"
}

# ---- bulwark ------------------------------------------------------------------------
BW_PORT=$(free_port)
"$BULWARK" --data-dir "$TMP/data" init >/dev/null || die "bulwark init failed"
# The per-address connection cap (64) must leave room for wrk's connections.
PER_IP=$((CONNS + 16 > 64 ? CONNS + 16 : 64))
"$BULWARK" --data-dir "$TMP/data" -o "server.max_connections_per_ip=$PER_IP" \
    serve --listen "127.0.0.1:$BW_PORT" 2>"$TMP/bulwark.log" &
BW_PID=$!
wait_tls13 "https://127.0.0.1:$BW_PORT" bulwark "$BW_PID"

# The body nginx serves: Bulwark's own /healthz body, byte for byte.
curl -fsS --cacert "$TMP/data/tls/cert.pem" --resolve "localhost:$BW_PORT:127.0.0.1" \
    -D "$TMP/healthz.head" -o "$TMP/healthz.json" "https://localhost:$BW_PORT/healthz" ||
    die "cannot fetch bulwark's /healthz"
BW_CTYPE=$(tr -d '\r' <"$TMP/healthz.head" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p' | head -n1)
[ -n "$BW_CTYPE" ] || die "bulwark's /healthz has no Content-Type"
BODY_SIZE=$(stat -c %s "$TMP/healthz.json")

# ---- nginx --------------------------------------------------------------------------
NG_PORT=$(free_port)
mkdir -p "$TMP/nginx/www" "$TMP/nginx/tmp"
cp "$TMP/healthz.json" "$TMP/nginx/www/healthz"
cp "$TMP/data/tls/cert.pem" "$TMP/nginx/cert.pem"
(umask 077 && cp "$TMP/data/tls/key.pem" "$TMP/nginx/key.pem")
USER_LINE=""
# workers must read the static file inside this 0700 directory
[ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
# Bulwark's security headers (SPEC 6.1), so both answers are about the same size.
ADD_HEADERS=$(tr -d '\r' <"$TMP/healthz.head" |
    grep -iE '^(strict-transport-security|content-security-policy|x-frame-options|x-content-type-options|referrer-policy|cache-control|cross-origin-opener-policy|cross-origin-resource-policy|permissions-policy):' |
    sed -E "s/^([^:]+): *(.*)$/        add_header \1 \"\2\" always;/")
cat >"$TMP/nginx/nginx.conf" <<EOF
$USER_LINE
worker_processes auto;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log $TMP/nginx-access.log;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    server_tokens off;
    etag off;
    keepalive_timeout 10s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NG_PORT ssl;
        server_name localhost;
        ssl_protocols TLSv1.3;
        ssl_certificate $TMP/nginx/cert.pem;
        ssl_certificate_key $TMP/nginx/key.pem;
        root $TMP/nginx/www;
        location = /healthz {
            default_type "$BW_CTYPE";
            types { }
$ADD_HEADERS
        }
        location / { return 404; }
    }
}
EOF
"$NGINX" -t -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" >"$TMP/nginx-test.log" 2>&1 ||
    { cat "$TMP/nginx-test.log" >&2; die "nginx rejected its configuration"; }
"$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>>"$TMP/nginx-error.log" &
NG_PID=$!
wait_tls13 "https://127.0.0.1:$NG_PORT" nginx "$NG_PID"

# ---- same answer? ---------------------------------------------------------------------
curl -fsS --cacert "$TMP/data/tls/cert.pem" --resolve "localhost:$NG_PORT:127.0.0.1" \
    -D "$TMP/nginx.head" -o "$TMP/nginx.json" "https://localhost:$NG_PORT/healthz" ||
    die "cannot fetch nginx's /healthz"
NG_CTYPE=$(tr -d '\r' <"$TMP/nginx.head" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p' | head -n1)
cmp -s "$TMP/healthz.json" "$TMP/nginx.json" || die "nginx's body differs from bulwark's"
[ "$NG_CTYPE" = "$BW_CTYPE" ] || die "content types differ: bulwark '$BW_CTYPE', nginx '$NG_CTYPE'"
for port in "$BW_PORT" "$NG_PORT"; do
    proto=$(curl -sS -o /dev/null -w '%{http_version} %{ssl_verify_result}' --cacert "$TMP/data/tls/cert.pem" \
        --resolve "localhost:$port:127.0.0.1" -v "https://localhost:$port/healthz" 2>&1 |
        sed -n 's/^\* SSL connection using \(TLSv[0-9.]*\).*/\1/p' | head -n1)
    [ "$proto" = "TLSv1.3" ] || die "port $port did not negotiate TLS 1.3 (got '${proto:-nothing}')"
    if curl -fsS -o /dev/null -k --tlsv1.2 --tls-max 1.2 "https://127.0.0.1:$port/healthz" 2>/dev/null; then
        die "port $port accepts TLS 1.2"
    fi
done
BW_HEAD_BYTES=$(wc -c <"$TMP/healthz.head")
NG_HEAD_BYTES=$(wc -c <"$TMP/nginx.head")

echo "bench/http.sh: GET /healthz, body $BODY_SIZE bytes ($BW_CTYPE), response head bulwark $BW_HEAD_BYTES / nginx $NG_HEAD_BYTES bytes"
echo "bench/http.sh: wrk -t$THREADS -c$CONNS -d$DURATION, TLS 1.3 keep-alive, $(nproc) CPUs, $ROUNDS rounds"
echo "bench/http.sh: $("$BULWARK" --version 2>/dev/null | head -n1) on :$BW_PORT, nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') on :$NG_PORT"

# ---- measure ---------------------------------------------------------------------------
exec 3>&1 # progress lines from inside $(measure ...)
# Prints the rate; fails on socket errors or non-2xx answers.
measure() {
    local name=$1 port=$2 out rate
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "https://127.0.0.1:$port/healthz" 2>&1) ||
        { echo "$out" >&2; die "wrk failed against $name"; }
    echo "$out" >"$TMP/wrk-$name-$(date +%s%N).txt"
    if grep -q "Non-2xx or 3xx responses" <<<"$out"; then
        echo "$out" >&2
        die "$name gave non-2xx answers"
    fi
    if grep -q "Socket errors" <<<"$out"; then
        echo "bench/http.sh: warning: $name: $(grep 'Socket errors' <<<"$out" | sed 's/^ *//')" >&2
    fi
    rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    [ -n "$rate" ] || { echo "$out" >&2; die "no rate in wrk's output for $name"; }
    local p50 p99
    p50=$(awk '/^ +50%/ {print $2}' <<<"$out")
    p99=$(awk '/^ +99%/ {print $2}' <<<"$out")
    printf '  %-8s %12.1f req/s   p50 %-8s p99 %s\n' "$name" "$rate" "$p50" "$p99" >&3
    echo "$rate"
}

bw_rates=()
ng_rates=()
for round in $(seq "$ROUNDS"); do
    echo "round $round:"
    bw_rates+=("$(measure bulwark "$BW_PORT")")
    ng_rates+=("$(measure nginx "$NG_PORT")")
done

# Both servers still healthy, and both logged every request to their files.
kill -0 "$BW_PID" 2>/dev/null || die "bulwark died during the benchmark"
kill -0 "$NG_PID" 2>/dev/null || die "nginx died during the benchmark"
BW_LINES=$(grep -c '"event":"http.request"' "$TMP/bulwark.log" || true)
NG_LINES=$(wc -l <"$TMP/nginx-access.log")

mean() { printf '%s\n' "$@" | awk '{s+=$1} END {printf "%.1f", s/NR}'; }
BW_MEAN=$(mean "${bw_rates[@]}")
NG_MEAN=$(mean "${ng_rates[@]}")
RATIO=$(awk -v a="$BW_MEAN" -v b="$NG_MEAN" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}')
echo
printf 'bulwark: %s req/s (runs: %s; %s access-log lines)\n' "$BW_MEAN" "${bw_rates[*]}" "$BW_LINES"
printf 'nginx:   %s req/s (runs: %s; %s access-log lines)\n' "$NG_MEAN" "${ng_rates[*]}" "$NG_LINES"
printf 'ratio bulwark/nginx: %s\n' "$RATIO"

# Graceful stop of bulwark: exit status 0 expected.
kill -TERM "$BW_PID"
if ! wait "$BW_PID"; then
    BW_PID=""
    tail -n 5 "$TMP/bulwark.log" >&2
    die "bulwark did not stop cleanly"
fi
BW_PID=""
