#!/usr/bin/env bash
# bench/login.sh - password logins per second next to the raw Argon2id rate,
# session-checked requests next to /healthz, and logins again with 100,000
# stored sessions (issue 3, "Done when").
#
#   bench/login.sh
#   DURATION=20 CLIENTS=64 CONNS=32 THREADS=2 SESSIONS=100000 bench/login.sh
#   BULWARK=build/release/bulwark bench/login.sh
#   OPTS="server.threads=8" bench/login.sh     # extra -o section.key=value options
#
# What it does, on a fresh temporary data directory (SQLite store):
#  1. builds the release preset when the binary is missing, and
#     bench/argon2_raw.c with gcc + pkg-config libsodium (not CMake);
#  2. `bulwark user add` with a known password (--password-file), then logs in
#     and changes it once, so later logins give full sessions;
#  3. measures the raw crypto_pwhash_str_verify rate at Bulwark's parameters
#     (m=19 MiB, t=2, p=1) on one thread per core (argon2_raw);
#  4. password logins/s over HTTPS for DURATION seconds: CLIENTS Python
#     threads on keep-alive TLS 1.3 connections, each login from one of the
#     loopback addresses 127.0.0.2..200 in turn (the per-address throttle is
#     burst 20, 5/s: spreading keeps it out of the measurement); prints the
#     load generator's own CPU use (client_cpu, % of one core), which the
#     server does not get on the same machine;
#  5. wrk -H "Authorization: Bearer ..." on GET /api/v1/users/me next to
#     GET /healthz (THREADS, CONNS, DURATION);
#  6. stops the server, inserts SESSIONS sessions straight into bw_sessions
#     (random token hashes) for 1,000 other users added straight to bw_users
#     with a copied password hash - the bench user's own sessions stay few,
#     since each login lists them to evict beyond max_concurrent - restarts it
#     and measures logins/s and /users/me again;
#     (raw Argon2id and /healthz are measured again next to them);
#  7. prints a summary table with the ratios (aims: logins >= 90 % of raw
#     Argon2id, unchanged by stored sessions; /users/me >= 80 % of /healthz).
#     Each rate is measured right next to its reference so that other load
#     on the machine skews a ratio less; run it on a quiet machine anyway.
#
# The server runs with lockout.max_failures=1000: in-flight attempts count
# toward the lockout before they are verified, so many simultaneous logins
# of one account with the RIGHT password can lock it (see the identity tests'
# t_race_right_logins); the benchmark measures throughput, not that.
#
# Needs: python3, wrk, gcc, pkg-config, libsodium-dev (and cmake + the build
# dependencies when the release build is missing); installs the missing
# Debian packages with apt-get when run as root. Exit status: 0 measured,
# 1 a tool or the server failed, 2 usage. KEEP=1 keeps the temporary directory.
set -euo pipefail

DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-48}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
SESSIONS=${SESSIONS:-100000}
RAW_SECONDS=${RAW_SECONDS:-5}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() {
    echo "bench/login.sh: $*" >&2
    exit 1
}

[ $# -eq 0 ] || { echo "usage: [DURATION=s] [CLIENTS=n] [CONNS=n] [THREADS=n] [SESSIONS=n] [BULWARK=path] bench/login.sh" >&2; exit 2; }
for v in DURATION CLIENTS CONNS THREADS SESSIONS RAW_SECONDS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "bench/login.sh: $v must be a whole number" >&2; exit 2; }
done
[ "$DURATION" -ge 1 ] && [ "$CLIENTS" -ge 1 ] && [ "$CLIENTS" -le 199 ] && [ "$THREADS" -ge 1 ] &&
    [ "$CONNS" -ge "$THREADS" ] && [ "$RAW_SECONDS" -ge 1 ] ||
    { echo "bench/login.sh: need DURATION>=1, 1<=CLIENTS<=199, THREADS>=1, CONNS>=THREADS" >&2; exit 2; }

# ---- tools ------------------------------------------------------------------------
missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists libsodium 2>/dev/null || missing+=(libsodium-dev)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: install them (apt-get install -y ${missing[*]})"
    echo "bench/login.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null ||
        { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null; } ||
        die "apt-get install ${missing[*]} failed"
fi
python3 -c 'import sqlite3, ssl' 2>/dev/null || die "python3 lacks the sqlite3 or ssl module"

# ---- binaries -----------------------------------------------------------------------
BULWARK=${BULWARK:-$REPO/build/release/bulwark}
if [ ! -x "$BULWARK" ]; then
    echo "bench/login.sh: building the release preset" >&2
    (cd "$REPO" && cmake --preset release >/dev/null && cmake --build build/release -j"$(nproc)" >/dev/null) ||
        die "release build failed"
    [ -x "$BULWARK" ] || die "$BULWARK not built"
fi

TMP=$(mktemp -d /tmp/bw-login-bench.XXXXXX)
chmod 0700 "$TMP"
BW_PID=""
cleanup() {
    local rc=$?
    if [ -n "$BW_PID" ] && kill -0 "$BW_PID" 2>/dev/null; then
        kill -TERM "$BW_PID" 2>/dev/null || true
        wait "$BW_PID" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
        echo "bench/login.sh: kept $TMP (server logs: bulwark-*.log)" >&2
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

gcc -std=c17 -O2 -Wall -Wextra -I "$REPO/src" "$REPO/bench/argon2_raw.c" -o "$TMP/argon2_raw" \
    $(pkg-config --cflags --libs libsodium) -lpthread || die "cannot build bench/argon2_raw.c"

# ---- the Python side: readiness, login, password change, load, bulk insert ----------
cat >"$TMP/bwbench.py" <<'PY'
import http.client, json, os, resource, secrets, socket, sqlite3, ssl, sys, threading, time

CA = os.environ["BW_CA"]
PORT = int(os.environ["BW_PORT"])


def ctx():
    c = ssl.create_default_context(cafile=CA)
    c.minimum_version = ssl.TLSVersion.TLSv1_3
    return c


class Conn(http.client.HTTPSConnection):
    def __init__(self, source=None, timeout=30):
        super().__init__("127.0.0.1", PORT, context=ctx(), timeout=timeout,
                         source_address=(source, 0) if source else None)
        self._sni = "localhost"

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._sni)


def call(method, path, body=None, token=None, conn=None, source=None):
    c = conn or Conn(source)
    hdrs = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = "Bearer " + token
    c.request(method, path, body=data, headers=hdrs)
    r = c.getresponse()
    out = r.status, r.read()
    if conn is None:
        c.close()
    return out


def ready():
    for _ in range(300):
        try:
            if call("GET", "/healthz")[0] == 200:
                return 0
        except OSError:
            pass
        time.sleep(0.1)
    return 1


def login(email, pw, source="127.0.0.201"):
    st, body = call("POST", "/api/v1/auth/login", {"email": email, "password": pw},
                    source=source)
    if st != 200:
        sys.exit("login failed: %d %r" % (st, body[:200]))
    return json.loads(body)


def change(email, old, new):
    tok = login(email, old)["token"]
    st, body = call("POST", "/api/v1/auth/password", {"current": old, "new": new}, token=tok,
                    source="127.0.0.202")
    if st != 204:
        sys.exit("password change failed: %d %r" % (st, body[:200]))
    doc = login(email, new, source="127.0.0.203")
    if doc["password_expired"]:
        sys.exit("password still expired after the change")
    print(doc["token"])


def load(email, pw, seconds, clients):
    """Logins/s over keep-alive connections, each login from the next of this
    client's loopback addresses (127.0.0.2..200)."""
    addrs = ["127.0.0.%d" % x for x in range(2, 201)]
    body = json.dumps({"email": email, "password": pw}).encode()
    hdrs = {"Content-Type": "application/json"}
    warm = 1.0
    t_start = time.monotonic() + warm
    t_end = t_start + seconds
    stop = threading.Event()
    mu = threading.Lock()
    stats = {"ok": 0, "lat": [], "status": {}, "errors": 0}

    def worker(mine):
        conns = {}
        i = 0
        while not stop.is_set():
            a = mine[i % len(mine)]
            i += 1
            c = conns.get(a)
            t0 = time.monotonic()
            try:
                if c is None:
                    c = conns[a] = Conn(a)
                c.request("POST", "/api/v1/auth/login", body=body, headers=hdrs)
                r = c.getresponse()
                r.read()
                st = r.status
                if r.getheader("Connection", "").lower() == "close":
                    c.close()
                    conns.pop(a, None)
            except (OSError, http.client.HTTPException):
                st = None
                if c is not None:
                    c.close()
                conns.pop(a, None)
            t1 = time.monotonic()
            if t_start <= t1 <= t_end:
                with mu:
                    if st is None:
                        stats["errors"] += 1
                    else:
                        stats["status"][st] = stats["status"].get(st, 0) + 1
                    if st == 200:
                        stats["ok"] += 1
                        stats["lat"].append(t1 - t0)
        for c in conns.values():
            c.close()

    ts = [threading.Thread(target=worker, args=(addrs[k::clients],), daemon=True)
          for k in range(clients)]
    for t in ts:
        t.start()
    while time.monotonic() < t_start:
        time.sleep(0.01)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    while time.monotonic() < t_end:
        time.sleep(0.05)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    for t in ts:
        t.join(60)
    lat = sorted(stats["lat"]) or [0.0]
    p50 = lat[len(lat) // 2] * 1e3
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3
    others = {k: v for k, v in stats["status"].items() if k != 200}
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    print("rate=%.1f ok=%d seconds=%d p50_ms=%.1f p99_ms=%.1f other=%s errors=%d "
          "client_cpu=%.0f%%" % (
              stats["ok"] / seconds, stats["ok"], seconds, p50, p99,
              json.dumps(others, sort_keys=True).replace(" ", ""), stats["errors"],
              100.0 * cpu / seconds))


B32 = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id():
    return "".join(secrets.choice(B32) for _ in range(26))


def bulk(db_path, email, nsessions, nusers=1000):
    """nsessions sessions for nusers new users (copies of the bench user's
    row with a new id and e-mail), inserted directly into the store."""
    db = sqlite3.connect(db_path, timeout=60)
    db.row_factory = sqlite3.Row
    u = db.execute("SELECT * FROM bw_users WHERE email = ?", (email,)).fetchone()
    s = db.execute("SELECT * FROM bw_sessions WHERE user_id = ? LIMIT 1", (u["id"],)).fetchone()
    if u is None or s is None:
        sys.exit("bench user or its session not found")
    ucols, scols = list(u.keys()), list(s.keys())
    now = int(time.time())
    users = []
    with db:
        for k in range(nusers):
            row = dict(u)
            row["id"] = new_id()
            row["email"] = "bulk%05d@bench.example" % k
            users.append(row["id"])
            db.execute("INSERT INTO bw_users(%s) VALUES (%s)" % (
                ",".join(ucols), ",".join("?" * len(ucols))), [row[c] for c in ucols])
        rows = []
        for k in range(nsessions):
            row = dict(s)
            row["id"] = new_id()
            row["token_hash"] = secrets.token_bytes(32)
            row["user_id"] = users[k % nusers]
            row["created_at"] = row["last_seen_at"] = now
            row["expires_at"] = now + 12 * 3600
            if "remote" in row:
                row["remote"] = "127.0.0.%d" % (2 + k % 199)
            rows.append([row[c] for c in scols])
        db.executemany("INSERT INTO bw_sessions(%s) VALUES (%s)" % (
            ",".join(scols), ",".join("?" * len(scols))), rows)
    n = db.execute("SELECT count(*) FROM bw_sessions").fetchone()[0]
    db.close()
    print(n)


cmd = sys.argv[1]
if cmd == "ready":
    sys.exit(ready())
elif cmd == "change":
    change(sys.argv[2], sys.argv[3], sys.argv[4])
elif cmd == "login":
    print(login(sys.argv[2], sys.argv[3], source=sys.argv[4])["token"])
elif cmd == "load":
    load(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
elif cmd == "bulk":
    bulk(sys.argv[2], sys.argv[3], int(sys.argv[4]))
else:
    sys.exit("unknown command " + cmd)
PY

py() { python3 "$TMP/bwbench.py" "$@"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

DATA="$TMP/data"
BW=("$BULWARK" --data-dir "$DATA" -o lockout.max_failures=1000
    -o "server.max_connections_per_ip=$((CONNS + 16 > 64 ? CONNS + 16 : 64))")
for o in ${OPTS:-}; do
    BW+=(-o "$o")
done
PORT=$(free_port)
export BW_PORT=$PORT BW_CA="$DATA/tls/cert.pem"

start_server() {
    "${BW[@]}" serve --listen "127.0.0.1:$PORT" 2>"$TMP/bulwark-$1.log" &
    BW_PID=$!
    py ready || { tail -n 5 "$TMP/bulwark-$1.log" >&2; die "bulwark did not start"; }
    kill -0 "$BW_PID" 2>/dev/null || die "bulwark exited during start-up"
}

stop_server() {
    kill -TERM "$BW_PID"
    if ! wait "$BW_PID"; then
        BW_PID=""
        tail -n 5 "$TMP/bulwark-$1.log" >&2
        die "bulwark did not stop cleanly"
    fi
    BW_PID=""
}

# ---- set-up ---------------------------------------------------------------------------
"$BULWARK" --data-dir "$DATA" init >/dev/null || die "bulwark init failed"
EMAIL=bench.user@example.com
# Random passwords with all three classes and no runs like "234" or "hgf"
# (cracklib calls those "too simplistic/systematic").
gen_password() {
    python3 -c '
import secrets
A = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
while True:
    p = "".join(secrets.choice(A) for _ in range(16))
    l = p.lower()
    if (any(c.isupper() for c in p) and any(c.islower() for c in p) and any(c.isdigit() for c in p)
            and all(abs(ord(a) - ord(b)) > 1 for a, b in zip(l, l[1:]))):
        print(p)
        break'
}
PW0=$(gen_password)
PW=$(gen_password)
(umask 077 && printf '%s\n' "$PW0" >"$TMP/password")
"${BW[@]}" user add --email "$EMAIL" --password-file "$TMP/password" >/dev/null ||
    die "bulwark user add failed"
rm -f "$TMP/password"
start_server 1
py change "$EMAIL" "$PW0" "$PW" >/dev/null || die "cannot change the bench user's password"

NCPU=$(nproc)
echo "bench/login.sh: $("$BULWARK" --version 2>/dev/null | head -n1), $NCPU CPUs, SQLite store, port $PORT"

# ---- measurements -----------------------------------------------------------------------
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

measure_raw() {
    local out
    out=$("$TMP/argon2_raw" "$NCPU" "$RAW_SECONDS") || die "argon2_raw failed"
    echo "  raw Argon2id verify:     $(field argon2id_verify_per_sec "$out")/s ($out)" >&3
    field argon2id_verify_per_sec "$out"
}

measure_logins() {
    local label=$1 out
    out=$(py load "$EMAIL" "$PW" "$DURATION" "$CLIENTS") || die "login load failed"
    echo "  logins ($label): $out" >&3
    [ "$(field ok "$out")" -gt 0 ] || die "no login succeeded ($out)"
    [ "$(field other "$out")" = "{}" ] && [ "$(field errors "$out")" = 0 ] ||
        echo "bench/login.sh: warning: logins ($label) had non-200 answers or errors: $out" >&2
    field rate "$out"
}

measure_wrk() {
    local label=$1 path=$2 out rate
    shift 2
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@" "https://127.0.0.1:$PORT$path" 2>&1) ||
        { echo "$out" >&2; die "wrk failed on $path"; }
    echo "$out" >"$TMP/wrk-$(tr -c 'A-Za-z0-9\n' _ <<<"$label")-$(date +%s%N).txt"
    if grep -q "Non-2xx or 3xx responses" <<<"$out"; then
        echo "$out" >&2
        die "$path gave non-2xx answers"
    fi
    rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    [ -n "$rate" ] || { echo "$out" >&2; die "no rate in wrk's output for $path"; }
    printf '  %-24s %10.1f req/s   p50 %-8s p99 %s\n' "$label" "$rate" \
        "$(awk '/^ +50%/ {print $2}' <<<"$out")" "$(awk '/^ +99%/ {print $2}' <<<"$out")" >&3
    echo "$rate"
}

exec 3>&1
# Each rate is measured next to its reference, so that a drift of the machine
# (other load) hits both sides of a ratio alike.
echo "raw Argon2id (m=19 MiB, t=2, p=1, $NCPU threads, ${RAW_SECONDS}s):"
RAW1=$(measure_raw)
echo "password logins over HTTPS ($CLIENTS clients, keep-alive, 199 source addresses, ${DURATION}s):"
LOGIN1=$(measure_logins "few sessions")
TOKEN=$(py login "$EMAIL" "$PW" 127.0.0.250) || die "cannot log in for wrk"
echo "session-checked requests (wrk -t$THREADS -c$CONNS -d${DURATION}s):"
HEALTH1=$(measure_wrk "GET /healthz" /healthz)
ME1=$(measure_wrk "GET /api/v1/users/me" /api/v1/users/me -H "Authorization: Bearer $TOKEN")

# ---- 100,000 stored sessions ---------------------------------------------------------------
stop_server 1
echo "inserting $SESSIONS sessions for 1,000 other users into bw_sessions ..."
TOTAL=$(py bulk "$DATA/db/bulwark.db" "$EMAIL" "$SESSIONS") || die "bulk insert failed"
start_server 2
echo "with $TOTAL stored sessions:"
RAW2=$(measure_raw)
LOGIN2=$(measure_logins "$TOTAL sessions")
TOKEN=$(py login "$EMAIL" "$PW" 127.0.0.251) || die "cannot log in for wrk"
HEALTH2=$(measure_wrk "GET /healthz" /healthz)
ME2=$(measure_wrk "GET /api/v1/users/me" /api/v1/users/me -H "Authorization: Bearer $TOKEN")
stop_server 2

# ---- summary ------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
echo
echo "summary ($NCPU CPUs, release build, SQLite, ${DURATION}s runs):"
printf '  %-44s %10s   %-28s %10s   %6s  %s\n' "measured" "rate/s" "reference" "rate/s" "ratio" "aim"
printf '  %-44s %10.1f   %-28s %10.1f   %6s  %s\n' "password logins (HTTPS)" "$LOGIN1" \
    "raw Argon2id verify" "$RAW1" "$(ratio "$LOGIN1" "$RAW1")" ">= 0.90"
printf '  %-44s %10.1f   %-28s %10.1f   %6s  %s\n' "GET /api/v1/users/me (Bearer)" "$ME1" \
    "GET /healthz" "$HEALTH1" "$(ratio "$ME1" "$HEALTH1")" ">= 0.80"
printf '  %-44s %10.1f   %-28s %10.1f   %6s  %s\n' "password logins, $TOTAL sessions stored" "$LOGIN2" \
    "raw Argon2id verify" "$RAW2" "$(ratio "$LOGIN2" "$RAW2")" ">= 0.90"
printf '  %-44s %10s   %-28s %10s   %6s  %s\n' "  logins/raw, $TOTAL sessions vs few" \
    "$(ratio "$LOGIN2" "$RAW2")" "(few sessions)" "$(ratio "$LOGIN1" "$RAW1")" \
    "$(awk -v a="$(ratio "$LOGIN2" "$RAW2")" -v b="$(ratio "$LOGIN1" "$RAW1")" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')" "~ 1.00"
printf '  %-44s %10.1f   %-28s %10.1f   %6s  %s\n' "GET /api/v1/users/me, $TOTAL sessions" "$ME2" \
    "GET /healthz" "$HEALTH2" "$(ratio "$ME2" "$HEALTH2")" ">= 0.80"
