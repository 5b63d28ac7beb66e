#!/usr/bin/env python3
"""keystore_crash_test.py - crash safety of the key store apart from the data
(decision C6). On SQLite the data file and db/keys.db commit one after the
other, never atomically, so a record's data key is committed in a transaction
of its own before the record. Here four clients stream creates of confidential
records (each needs a new data key) over HTTPS while `bulwark serve` is killed
with SIGKILL at random moments, several rounds; after each restart every
record whose create was acknowledged (201) reads back with its data, and no
sealed record exists without its data key (the reverse - an orphan key - is
allowed: the purge job destroys it).

    keystore_crash_test.py --bulwark PATH [--pg-dir DIR] [--rounds N]
"""
import argparse
import os
import random
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "api"))
import harness  # noqa: E402
import test_identity as ti  # noqa: E402
import test_records as tr  # noqa: E402
from harness import Server  # noqa: E402
from test_identity import Api, check  # noqa: E402


def restart(srv):
    """serve again on the same data directory (and database)."""
    for _ in range(5):
        srv.port = harness.free_port()
        srv._log_file = open(srv.log_path, "ab")
        srv.proc = harness.subprocess.Popen(
            srv.global_args() + ["serve", "--listen", "127.0.0.1:%d" % srv.port],
            stdin=harness.subprocess.DEVNULL, stdout=srv._log_file, stderr=srv._log_file,
            env=harness.sanitizer_env())
        if srv._wait_ready() == "ready":
            return
        srv.proc.wait()
        srv._log_file.close()
    raise harness.HarnessError("restart failed: " + srv.stderr()[-2000:])


def stream(api, w, base, acked, stop, lock, t):
    n = 0
    while not stop.is_set():
        name = "crash-%d-%d" % (t, n)
        try:
            r = api.call("POST", base + "", {"data": {"name": name}}, token=w.tok["editor"])
        except Exception:
            r = None  # the server died under us: not acknowledged
        if r is not None and r.status == 201:
            with lock:
                acked[r.json()["id"]] = name
        n += 1


def keyless(srv):
    q = ("SELECT count(*) FROM bw_records r WHERE r.encrypted = 1 AND NOT EXISTS (SELECT 1 "
         "FROM %s k WHERE k.org_id = r.org_id AND k.record_id = r.id)" %
         tr.kt(srv, "bw_data_keys"))
    return int(tr.sql(srv, q)[0][0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    ti.ARGS = tr.ARGS = args
    with Server(args.bulwark, pg_dir=args.pg_dir, name="kscrash",
                overrides=["tenants.self_service=yes", "backup.full=off",
                           "backup.incremental=off"]) as srv:
        api = Api(srv)
        w = tr.setup_world(api)
        base = tr.coll(w, w.a, "owner", tr.uname("crash"))
        acked, lock = {}, threading.Lock()
        for rnd in range(args.rounds):
            stop = threading.Event()
            th = [threading.Thread(target=stream, args=(api, w, base, acked, stop, lock, t))
                  for t in range(4)]
            for t in th:
                t.start()
            time.sleep(random.uniform(1.0, 2.5))
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            stop.set()
            for t in th:
                t.join()
            srv._log_file.close()
            restart(srv)
            check(keyless(srv) == 0, "round %d: a sealed record without its data key" % rnd)
            with lock:
                items = list(acked.items())
            lost = []
            for rid, name in items:
                r = api.call("GET", "%s/%s" % (base, rid), token=w.tok["editor"])
                if r.status != 200 or r.json()["data"]["name"] != name:
                    lost.append((rid, r.status))
            check(not lost, "round %d: acknowledged records lost or unreadable: %r" %
                  (rnd, lost[:5]))
            print("round %d: %d acknowledged records, all read back" % (rnd + 1, len(items)))
        check(len(acked) > 20, "too few acknowledged creates (%d): proved nothing" % len(acked))
        srv.stop()
    print("ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (AssertionError, harness.HarnessError) as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
