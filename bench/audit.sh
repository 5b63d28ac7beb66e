#!/usr/bin/env bash
# bench/audit.sh - audit trail throughput, same machine, same run (issue 5).
#
#   bench/audit.sh                  # 32 writers x 100000 events, SQLite
#   EVENTS=50000 WRITERS=32 bench/audit.sh
#   BUILD=build/release bench/audit.sh
#
# 1. durable appends/s: bench/audit_tool appends EVENTS events from WRITERS
#    threads, one bw_store_write (one transaction, durable on return) and
#    one chained bw_audit_append each, on a fresh SQLite data directory;
# 2. the one-fsync-per-event baseline: single-row transactions, WAL,
#    synchronous=FULL, one after another (audit_tool rawsqlite);
# 3. verification: `bulwark audit verify` over the whole trail, events/s and
#    MB/s of canonical bytes hashed (SHA-256 + store reads + checks), per
#    wall-clock second and per CPU second of the verifying thread;
# 4. the two floors verify cannot go below: reading the rows alone
#    (audit_tool scan, no hashing) and hashing alone (audit_tool hash, no
#    store), both per CPU second;
# 5. `openssl speed -evp sha256` on this machine (256-, 1024- and 8192-byte
#    blocks) for scale. openssl divides by CPU time, so the aim's ratio uses
#    verify's CPU-time figure (the machine may be shared); both are printed.
# Prints every figure and the two ratios of the issue's aim (appends >= 3x the
# baseline, verification >= 50 % of SHA-256 throughput). Exit 0 measured.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$REPO/build/release}
EVENTS=${EVENTS:-100000}
WRITERS=${WRITERS:-32}
BASE=${BASE:-2000}
B=$BUILD/bulwark
T=$BUILD/tests/audit_tool
if [ ! -x "$B" ] || [ ! -x "$T" ]; then
  (cd "$REPO" && cmake --preset release >/dev/null && cmake --build build/release -j2 >/dev/null)
fi
tmp=$(mktemp -d /tmp/bw-bench-audit-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$B" --data-dir "$tmp/data" init >/dev/null
num() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

app=$("$T" append "$tmp/data/db/bulwark.db" "$EVENTS" "$WRITERS")
raw=$("$T" rawsqlite "$tmp/raw.db" "$BASE")
ver=$("$B" --data-dir "$tmp/data" --json audit verify)
scan=$("$T" scan "$tmp/data/db/bulwark.db")
hsh=$("$T" hash 1000000)
# columns: 16 64 256 1024 8192 16384 bytes, in 1000s of bytes per second
sha=$(openssl speed -evp sha256 -seconds 2 2>/dev/null | awk '/^sha256/ {print $4, $5, $6}')

app_ps=$(echo "$app" | num per_second)
raw_ps=$(echo "$raw" | num per_second)
v_eps=$(echo "$ver" | num events_per_second)
v_mbs=$(echo "$ver" | num mb_per_second)
v_cpu=$(echo "$ver" | num mb_per_cpu_second)
v_ecpu=$(echo "$ver" | num events_per_cpu_second)
s_mbs=$(echo "$scan" | num mb_per_cpu_second)
h_mbs=$(echo "$hsh" | num mb_per_cpu_second)
mbs() { echo "$sha" | awk -v c="$1" '{v=$c; sub(/k$/,"",v); printf "%.0f", v*1000/1e6}'; }
sha256b=$(mbs 1)
sha1k=$(mbs 2)
sha8k=$(mbs 3)

printf 'durable appends, %s writers:        %s events/s   (%s)\n' "$WRITERS" "$app_ps" "$app"
printf 'one fsync per event (synchronous=FULL): %s events/s   (%s)\n' "$raw_ps" "$raw"
printf 'verify:                                 %.0f events/s, %.1f MB/s wall; %.0f events, %.1f MB per CPU second\n' \
  "$v_eps" "$v_mbs" "$v_ecpu" "$v_cpu"
printf 'floor, reading rows only (no hashing):  %.1f MB per CPU second\n' "$s_mbs"
printf 'floor, chain hashes only (no store):    %.1f MB per CPU second\n' "$h_mbs"
echo "openssl speed sha256:                   $sha256b MB/s (256 B blocks), $sha1k MB/s (1 KiB), $sha8k MB/s (8 KiB)"
python3 - "$app_ps" "$raw_ps" "$v_cpu" "$v_mbs" "$sha8k" "$s_mbs" <<'PY'
import sys
a, r, v, vw, s, floor = map(float, sys.argv[1:])
print("appends / baseline: %.1fx (aim >= 3x)" % (a / r))
print("verify / sha256:    %.0f %% per CPU second, %.0f %% wall (aim >= 50 %%); "
      "reading the rows alone reaches %.0f %%" % (100 * v / s, 100 * vw / s, 100 * floor / s))
PY
