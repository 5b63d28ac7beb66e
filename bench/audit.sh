#!/usr/bin/env bash
# bench/audit.sh - audit trail throughput, same machine, same run (issue 5).
#
#   bench/audit.sh                  # 32 writers x 20000 events, SQLite
#   EVENTS=50000 WRITERS=32 bench/audit.sh
#   BUILD=build/release bench/audit.sh
#
# 1. durable appends/s: bench/audit_tool appends EVENTS events from WRITERS
#    threads, one bw_store_write (one transaction, durable on return) and
#    one chained bw_audit_append each, on a fresh SQLite data directory;
# 2. the one-fsync-per-event baseline: single-row transactions, WAL,
#    synchronous=FULL, one after another (audit_tool rawsqlite);
# 3. verification: `bulwark audit verify` over the whole trail, events/s and
#    MB/s of canonical bytes hashed (BLAKE2b-256 + store reads + checks);
# 4. `openssl speed -evp sha256` on this machine (1024- and 8192-byte blocks)
#    for scale.
# Prints every figure and the two ratios of the issue's aim (appends >= 3x the
# baseline, verification >= 50 % of SHA-256 throughput). Exit 0 measured.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$REPO/build/release}
EVENTS=${EVENTS:-20000}
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
sha=$(openssl speed -evp sha256 -seconds 2 2>/dev/null | awk '/^sha256/ {print $(NF-1), $NF}')

app_ps=$(echo "$app" | num per_second)
raw_ps=$(echo "$raw" | num per_second)
v_eps=$(echo "$ver" | num events_per_second)
v_mbs=$(echo "$ver" | num mb_per_second)
sha1k=$(echo "$sha" | awk '{sub(/k$/,"",$1); printf "%.0f", $1*1000/1e6}')
sha8k=$(echo "$sha" | awk '{sub(/k$/,"",$2); printf "%.0f", $2*1000/1e6}')

echo "durable appends, $WRITERS writers:        $app_ps events/s   ($app)"
echo "one fsync per event (synchronous=FULL): $raw_ps events/s   ($raw)"
echo "verify:                                 $v_eps events/s, $v_mbs MB/s"
echo "openssl speed sha256:                   $sha1k MB/s (1 KiB blocks), $sha8k MB/s (8 KiB blocks)"
python3 - "$app_ps" "$raw_ps" "$v_mbs" "$sha8k" <<'PY'
import sys
a, r, v, s = map(float, sys.argv[1:])
print("appends / baseline: %.1fx (aim >= 3x)" % (a / r))
print("verify / sha256:    %.0f %% (aim >= 50 %%)" % (100 * v / s))
PY
