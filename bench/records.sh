#!/usr/bin/env bash
# bench/records.sh - confidential-record reads and writes per second over
# TLS 1.3 next to /healthz in the same run, and the raw SQLite
# synchronous=FULL single-row commit rate on the same file system (issue 4,
# "Done when"). By hand, not in the suite.
#
#   bench/records.sh
#   DURATION=20 CONNS=64 THREADS=2 BULWARK=build/release/bulwark bench/records.sh
#   DATABASE=postgresql://... OVERRIDES="backup.target=dir:/x" ONLY=write bench/records.sh
# DATABASE: a PostgreSQL store instead of SQLite; OVERRIDES: more -o
# assignments for every command; ONLY=write: the write phase alone (used by
# bench/changelog.sh).
#
# On a fresh temporary data directory (SQLite store, tenants.self_service=yes):
#  1. a user (password changed once), an organisation, a confidential
#     collection and one record to read (all through the API);
#  2. wrk -c CONNS over TLS 1.3 (keep-alive): GET /healthz, then GET of the
#     confidential record (decrypt + record.read audit event committed per
#     read), then POST of new confidential records (seal + data key +
#     record.created, durable: group commit) - each for DURATION seconds,
#     with p50/p99 latencies;
#  3. the raw rate: one Python sqlite3 connection on a WAL database with
#     synchronous=FULL committing one row per transaction for DURATION s;
#  4. a summary with the ratios (aims: reads >= 40 % of /healthz; writes >=
#     the raw single-row commit rate).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BULWARK=${BULWARK:-$HERE/build/release/bulwark}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { echo "records.sh: wrk not found (apt-get install wrk)" >&2; exit 2; }
[ -x "$BULWARK" ] || (cd "$HERE" && cmake --preset release >/dev/null && cmake --build build/release -j2 >/dev/null)
TMP=$(mktemp -d /tmp/bw-bench-rec.XXXXXX)
chmod 700 "$TMP"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BW=("$BULWARK" --data-dir "$TMP/data" -o tenants.self_service=yes -o lockout.max_failures=1000
    -o mfa.required_for_admins=no) # the bench owner creates a collection without a TOTP dance
for o in ${OVERRIDES:-}; do BW+=(-o "$o"); done
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
"${BW[@]}" init ${DATABASE:+--database "$DATABASE"} >/dev/null
printf 'Zq7Kx9Lm2Pw4Rt8Vn\n' >"$TMP/pw"; chmod 600 "$TMP/pw"
"${BW[@]}" user add --email bench@example.org --password-file "$TMP/pw" >/dev/null
"${BW[@]}" serve --listen "127.0.0.1:$PORT" 2>"$TMP/serve.log" &
PID=$!
for _ in $(seq 100); do curl -sk "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
read -r TOKEN BASE RID < <(python3 - "$PORT" <<'PY'
import json, ssl, sys, http.client
port = int(sys.argv[1])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def call(m, p, body=None, tok=None):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    h = {"Content-Type": "application/json"}
    if tok: h["Authorization"] = "Bearer " + tok
    c.request(m, p, json.dumps(body) if body is not None else None, h)
    r = c.getresponse(); d = r.read(); c.close()
    return r.status, (json.loads(d) if d else None)
_, d = call("POST", "/api/v1/auth/login", {"email": "bench@example.org", "password": "Zq7Kx9Lm2Pw4Rt8Vn"})
call("POST", "/api/v1/auth/password", {"current": "Zq7Kx9Lm2Pw4Rt8Vn", "new": "Hy3Wb8Nc5Gd2Jf7Ms"}, d["token"])
_, d = call("POST", "/api/v1/auth/login", {"email": "bench@example.org", "password": "Hy3Wb8Nc5Gd2Jf7Ms"})
tok = d["token"]
st, o = call("POST", "/api/v1/orgs", {"name": "bench"}, tok)
if st != 201: sys.exit("org create: %d %r" % (st, o))
base = "/api/v1/orgs/%s/collections/customers/records" % o["id"]
call("POST", "/api/v1/orgs/%s/collections" % o["id"], {"name": "customers", "fields": [
    {"name": "name", "type": "string", "required": True}, {"name": "notes", "type": "text"}]}, tok)
_, r = call("POST", base, {"data": {"name": "Ada Lovelace", "notes": "x" * 200}}, tok)
print(tok, base, r["id"])
PY
)
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"data":{"name":"Grace Hopper","notes":"${RANDOM}confidential notes of about one hundred bytes, written by the benchmark run"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
run_wrk() { # name, args...
    local name=$1; shift
    wrk --latency -t "$THREADS" -c "$CONNS" -d "${DURATION}s" "$@" >"$TMP/$name.txt"
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/$name.txt")
    p50=$(awk '$1=="50%" {print $2}' "$TMP/$name.txt")
    p99=$(awk '$1=="99%" {print $2}' "$TMP/$name.txt")
    printf '%-26s %10s req/s  p50 %-9s p99 %-9s %s\n' "$name" "$rps" "$p50" "$p99" \
        "$(grep -o 'Non-2xx.*' "$TMP/$name.txt" || true)"
    echo "$rps" >"$TMP/$name.rps"
}
URL="https://127.0.0.1:$PORT"
if [ "${ONLY:-}" = write ]; then
    run_wrk confidential_write -s "$TMP/post.lua" "$URL$BASE"
    grep -q '"change log stream' "$TMP/serve.log" && echo "change_log on" || echo "change_log off"
    exit 0
fi
run_wrk healthz "$URL/healthz"
run_wrk confidential_read -H "Authorization: Bearer $TOKEN" "$URL$BASE/$RID"
run_wrk confidential_write -s "$TMP/post.lua" "$URL$BASE"
RAW=$(python3 - "$TMP/raw.db" "$DURATION" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
n, end = 0, time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    db.execute("BEGIN"); db.execute("INSERT INTO t(body) VALUES (?)", (b"x" * 200,)); db.execute("COMMIT"); n += 1
print("%.1f" % (n / float(sys.argv[2])))
PY
)
printf '%-26s %10s commits/s (python sqlite3, WAL, synchronous=FULL)\n' raw_sqlite_commit "$RAW"
python3 - "$(cat "$TMP/healthz.rps")" "$(cat "$TMP/confidential_read.rps")" \
    "$(cat "$TMP/confidential_write.rps")" "$RAW" <<'PY'
import sys
h, r, w, raw = map(float, sys.argv[1:])
print("reads  / healthz    = %5.1f %%  (aim >= 40 %%)" % (100 * r / h))
print("writes / raw commit = %5.2f x   (aim >= 1)" % (w / raw))
PY
