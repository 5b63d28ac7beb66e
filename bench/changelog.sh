#!/usr/bin/env bash
# bench/changelog.sh - what the continuous change log (issue 6) costs the
# write path: confidential record writes per second over TLS 1.3
# (bench/records.sh, ONLY=write) with and without [backup] target set, so
# that `serve` captures and ships every commit, on SQLite (session
# extension) and on PostgreSQL (capture triggers, migration 0014). By hand,
# not in the suite.
#
#   bench/changelog.sh            DURATION=10 CONNS=64 bench/changelog.sh
#
# PostgreSQL runs on scripts/pg-test-server (127.0.0.1, fsync off: a test
# server), so its absolute rates are higher than on a durable server; the
# ratio with/without the log is the figure.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
export DURATION=${DURATION:-10}
PGDIR=$(mktemp -d /tmp/bw-bench-cl.XXXXXX)
BK=$(mktemp -d /tmp/bw-bench-cl-target.XXXXXX)
trap '"$HERE/scripts/pg-test-server" stop "$PGDIR" >/dev/null 2>&1; rm -rf "$PGDIR" "$BK"' EXIT
"$HERE/scripts/pg-test-server" start "$PGDIR" >/dev/null
rate() { # store(off|on) -> writes/s
    local db=$1 log=$2 out
    local ov=""
    if [ "$log" = on ]; then
        local t; t=$(mktemp -d "$BK/target.XXXXXX")
        ov="backup.target=dir:$t backup.log_interval=1s backup.full=weekly backup.incremental=off"
    fi
    out=$(DATABASE=$db OVERRIDES=$ov ONLY=write "$HERE/bench/records.sh" 2>"$BK/records.err") ||
        { cat "$BK/records.err" >&2; exit 1; }
    echo "$out" | grep -q "^change_log $log\$" ||
        { echo "changelog.sh: serve's change log was not $log: $out" >&2; exit 1; }
    echo "$out" | awk '/confidential_write/ {print $2}'
}
printf '%-12s %14s %14s %8s\n' store "no log w/s" "log w/s" ratio
for store in sqlite postgresql; do
    if [ $store = sqlite ]; then a=""; b=""; else
        a=$("$HERE/scripts/pg-test-server" newdb "$PGDIR" | tail -1)
        b=$("$HERE/scripts/pg-test-server" newdb "$PGDIR" | tail -1)
    fi
    off=$(rate "$a" off); on=$(rate "$b" on)
    printf '%-12s %14s %14s %7.2fx\n' $store "$off" "$on" "$(python3 -c "print($on / $off)")"
done
