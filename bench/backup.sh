#!/usr/bin/env bash
# bench/backup.sh - Bulwark backups against restic and BorgBackup on the same
# ~1 GiB store (issue 6). Run by hand, never by the test suite:
#   bench/backup.sh [SIZE_MIB] [BULWARK_BINARY]
# Needs: restic, borgbackup, python3, curl (scripts/install-deps --test).
# Measures full backup, incremental after changing 5 % of the records (one
# contiguous range of rows: recent data), and full restore, for all three
# with encrypted repositories on the same disk; prints times, ratios and
# repository sizes, then Bulwark's change-log lag (RPO) and drill time (RTO).
# Bulwark's incremental is measured twice: `backup run` from the CLI after the
# offline change (a snapshot incremental: reads and hashes the whole store),
# and the scheduler's incremental inside `serve` after writing 5 % of the
# store's size through the HTTPS API (an incremental from the change log:
# proportional to the change). restic and borg back up the file after the
# same API writes too.
set -euo pipefail
size_mib=${1:-1024}
bw=$(realpath "${2:-build/release/bulwark}")
work=$(mktemp -d /var/tmp/bw-bench-backup.XXXXXX)
serve_pid=
trap '[ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT
export RESTIC_PASSWORD=bench-restic-passphrase BORG_PASSPHRASE=bench-borg-passphrase
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

now() { date +%s.%N; }
secs() { python3 -c "print('%.2f' % ($2 - $1))"; }
du_mib() { du -sm "$1" | cut -f1; }

data="$work/data"
"$bw" --data-dir "$data" init >/dev/null
db="$data/db/bulwark.db"
echo "generating a ${size_mib} MiB store in bw_meta..."
python3 - "$db" "$size_mib" <<'PY'
import os, random, sqlite3, sys
db, mib = sys.argv[1], int(sys.argv[2])
words = [w.encode() for w in "customer order invoice project contact address phone email note status".split()]
c = sqlite3.connect(db)
rows = mib * 740  # ~1.4 KiB per row on disk
with c:
    for i in range(rows):
        rnd = os.urandom(192).hex().encode()
        txt = b" ".join(random.choice(words) for _ in range(100))
        c.execute("INSERT INTO bw_meta(key, value) VALUES (?, ?)",
                  ("bench.%09d" % i, (rnd + b" " + txt)[:1000].decode()))
c.close()
PY
"$bw" --data-dir "$data" migrate >/dev/null
echo "store: $(du_mib "$data/db") MiB"

mkdir -p "$work/bw-repo"
B=("$bw" --data-dir "$data" -o "backup.target=dir:$work/bw-repo" --json)
restic_repo="$work/restic-repo"; borg_repo="$work/borg-repo"
restic init -q -r "$restic_repo"
borg init -e repokey-blake2 "$borg_repo"
sync

declare -A T
run() { local k=$1; shift; sync; local t0; t0=$(now); "$@" >/dev/null; T[$k]=$(secs "$t0" "$(now)"); }

run bw_full "${B[@]}" backup run --full
run restic_full restic -q -r "$restic_repo" backup "$db"
run borg_full borg create "$borg_repo::full" "$db"
bw_full_size=$(du_mib "$work/bw-repo"); restic_full_size=$(du_mib "$restic_repo"); borg_full_size=$(du_mib "$borg_repo")

python3 - "$db" <<'PY'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n = c.execute("SELECT count(*) FROM bw_meta WHERE key LIKE 'bench.%'").fetchone()[0]
lo, hi = int(n * 0.40), int(n * 0.45)
with c:
    for i in range(lo, hi):
        c.execute("UPDATE bw_meta SET value = ? WHERE key = ?",
                  (os.urandom(300).hex()[:1000], "bench.%09d" % i))
print("changed %d of %d records (5 %%)" % (hi - lo, n))
PY

run bw_incr "${B[@]}" backup run
run restic_incr restic -q -r "$restic_repo" backup "$db"
run borg_incr borg create "$borg_repo::incr" "$db"

run bw_restore "${B[@]}" backup restore --to "$work/bw-restored"
run restic_restore restic -q -r "$restic_repo" restore latest --target "$work/restic-restored"
mkdir -p "$work/borg-restored"
T[borg_restore]=$( cd "$work/borg-restored" && t0=$(now) && borg extract "$borg_repo::incr" && secs "$t0" "$(now)")

ratio() { python3 -c "print('%.2fx' % ($1 / max($2, 0.001)))"; }
printf '\n%-12s %10s %10s %10s %12s\n' tool full incr restore "repo MiB"
printf '%-12s %9ss %9ss %9ss %12s\n' bulwark "${T[bw_full]}" "${T[bw_incr]}" "${T[bw_restore]}" "$(du_mib "$work/bw-repo")"
printf '%-12s %9ss %9ss %9ss %12s\n' restic "${T[restic_full]}" "${T[restic_incr]}" "${T[restic_restore]}" "$(du_mib "$restic_repo")"
printf '%-12s %9ss %9ss %9ss %12s\n' borg "${T[borg_full]}" "${T[borg_incr]}" "${T[borg_restore]}" "$(du_mib "$borg_repo")"
echo "full-repo MiB after the first run: bulwark $bw_full_size, restic $restic_full_size, borg $borg_full_size"
echo "speed-up vs restic: full $(ratio "${T[restic_full]}" "${T[bw_full]}"), restore $(ratio "${T[restic_restore]}" "${T[bw_restore]}")"
echo "speed-up vs borg:   full $(ratio "${T[borg_full]}" "${T[bw_full]}"), restore $(ratio "${T[borg_restore]}" "${T[bw_restore]}")"
echo "bulwark snapshot incremental (CLI) / full: $(python3 -c "print('%.1f %%' % (100 * ${T[bw_incr]} / ${T[bw_full]}))")"

# ---- incremental from the change log: 5 % of the store written through serve ----
pw="$work/admin.pw"; printf 'Bench-Passw0rd-4411\n' >"$pw"
"$bw" --data-dir "$data" user add --email ops@example.com --password-file "$pw" --platform-admin >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bw" --data-dir "$data" -o "backup.target=dir:$work/bw-repo" -o backup.log_interval=1s \
  -o backup.full=off -o backup.incremental=15s -o mfa.required_for_admins=no \
  serve --listen "127.0.0.1:$port" 2>"$work/serve-incr.log" &
serve_pid=$!
for _ in $(seq 100); do curl -sk "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
mans() { ls "$work/bw-repo/backups" | wc -l; }
n0=$(mans)
echo "waiting for the scheduler's first incremental (a snapshot: it joins the change-log stream)..."
while [ "$(mans)" -le "$n0" ]; do sleep 0.5; done
python3 - "$port" "$size_mib" <<'PY'
import http.client, json, os, ssl, sys
port, mib = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl._create_unverified_context()
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
def call(method, path, body=None, tok=None, csrf=None):
    h = {"Content-Type": "application/json"}
    if tok: h["Authorization"] = "Bearer " + tok
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    r = c.getresponse(); data = r.read()
    return r.status, (json.loads(data) if data else None)
st, t = call("POST", "/api/v1/auth/login", {"email": "ops@example.com", "password": "Bench-Passw0rd-4411"})
assert st == 200, (st, t)
st, _ = call("POST", "/api/v1/auth/password", {"current": "Bench-Passw0rd-4411", "new": "Bench-Passw0rd-5522"}, tok=t["token"])
st, t = call("POST", "/api/v1/auth/login", {"email": "ops@example.com", "password": "Bench-Passw0rd-5522"})
tok = t["token"]
st, inc = call("POST", "/api/v1/incidents", {"title": "bench", "severity": "P3"}, tok=tok)
assert st == 201, (st, inc)
st, r = call("POST", "/api/v1/incidents/%s/assess" % inc["id"], {"significant": True}, tok=tok)
assert st == 200, (st, r)
want, done, n = mib * 1024 * 1024 // 20, 0, 0
while done < want:
    content = os.urandom(16000).hex()[:32000]
    st, r = call("POST", "/api/v1/incidents/%s/submissions" % inc["id"],
                 {"kind": "nis2_notification", "content": content}, tok=tok)
    assert st == 201, (st, r)
    done += len(content); n += 1
print("wrote %d MiB through the API (%d submissions)" % (done >> 20, n))
PY
n1=$(mans)
while [ "$(mans)" -le "$n1" ]; do sleep 0.5; done
kill "$serve_pid"; wait "$serve_pid" || true; serve_pid=
T[bw_log_incr]=$(python3 - "$data/db/bulwark.db" <<'PY'
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
rows = c.execute("SELECT details FROM bw_audit_events WHERE action='backup.completed' ORDER BY seq").fetchall()
d = json.loads(rows[-1][0])
assert d["mode"] == "changes", d
print("%.2f" % d["seconds"])
PY
)
run restic_api_incr restic -q -r "$restic_repo" backup "$db"
run borg_api_incr borg create "$borg_repo::api-incr" "$db"
printf '\nincremental after 5 %% written through the API (serve running the change log):\n'
printf '  bulwark (from the change log) %ss   restic %ss   borg %ss\n' "${T[bw_log_incr]}" "${T[restic_api_incr]}" "${T[borg_api_incr]}"
echo "  bulwark change-log incremental / full: $(python3 -c "print('%.1f %%' % (100 * ${T[bw_log_incr]} / ${T[bw_full]}))")"
echo "  bulwark snapshot incremental / full (CLI, offline change): $(python3 -c "print('%.1f %%' % (100 * ${T[bw_incr]} / ${T[bw_full]}))")"

# change-log lag (RPO): a write over HTTPS, then the first segment that holds it
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bw" --data-dir "$data" -o "backup.target=dir:$work/bw-repo" -o backup.log_interval=1s \
  -o backup.full=off -o backup.incremental=off serve --listen "127.0.0.1:$port" 2>"$work/serve.log" &
serve_pid=$!
for _ in $(seq 100); do curl -sk "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
segs() { find "$work/bw-repo/log" -name '*.seg' 2>/dev/null | wc -l || true; }
lags=()
for i in 1 2 3 4 5; do
  before=$(segs)
  t0=$(now)
  curl -sk -o /dev/null -H 'Content-Type: application/json' \
    -d '{"email":"nobody'$i'@example.com","password":"wrong-password"}' \
    "https://127.0.0.1:$port/api/v1/auth/login"
  while [ "$(segs)" -le "$before" ]; do sleep 0.02; done
  lags+=("$(secs "$t0" "$(now)")")
  sleep 0.7
done
kill "$serve_pid"; wait "$serve_pid" || true; serve_pid=
echo "change-log lag (RPO) over 5 writes: ${lags[*]} s"
drill=$("${B[@]}" backup drill)
echo "drill (RTO: restore + integrity + audit verify + serve until the first HTTPS /healthz): $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['rto_ms'])" "$drill") ms"
