#!/usr/bin/env python3
"""test_keystore.py - the key store apart from the data (decision C6, issues 4 and 6).

    test_keystore.py --bulwark PATH [--pg-dir DIR] [--pg-only]

On SQLite and PostgreSQL, against the real binary over HTTPS:
  layout    the data file / schema holds no key table; keys.db is 0600 (SQLite)
  copy      a copy of db/bulwark.db (+ -wal) taken before a purge holds the
            record's ciphertext but neither its data key nor its organisation
            key (raw bytes searched); after the purge the live key store cannot
            open that ciphertext either (planted back: 500, audited, no content)
  backup    every `backup run` also writes a sealed key-store backup; prune with
            a short [retention] key_backups removes the ones taken before the purge;
            verify authenticates them and names a flipped one
  restore   a backup taken before the purge, restored with the live key store:
            the purged record is gone (404, data.purged key_destroyed audited in
            the restored store), a normal record restores and reads
  newhost   the same restore from a "new machine" (fresh init, same master key):
            the key store comes from the newest key-store backup, with the same
            result; with no key-store backup left the restore refuses clearly
"""

import argparse
import glob
import json
import os
import shutil
import sqlite3
import stat
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_identity as ti  # noqa: E402
import test_records as tr  # noqa: E402
from harness import HarnessError, Server, pg_newdb  # noqa: E402
from test_identity import Api, Fail, check, problem, cli, audit  # noqa: E402

ARGS = None
RETENTION = 3


def marker(p):
    return p + os.urandom(6).hex()


def key_hex(srv, table, col, val):
    enc = "encode(wrapped, 'hex')" if srv.database_url else "lower(hex(wrapped))"
    rows = tr.sql(srv, "SELECT %s FROM %s WHERE %s = ?" % (enc, tr.kt(srv, table), col), (val,))
    return rows[0][0].lower() if rows else None


def files_hold(paths, hexstr):
    b = bytes.fromhex(hexstr)
    for p in paths:
        if os.path.exists(p):
            with open(p, "rb") as f:
                if b in f.read():
                    return p
    return None


def key_objects(target):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(target, "keys", "*.keys")))


class RestoredServer(Server):
    """A server on a data directory that `backup restore` builds (instead of init)."""

    def __init__(self, bulwark, live, restore_args, database=None, **kw):
        super().__init__(bulwark, **kw)
        self.live = live
        self.restore_args = list(restore_args)
        self.restore_db = database
        self.restored = None

    def _start(self):
        real = harness.run

        def hooked(args, **kw):
            if "init" in args:
                argv = self.live.global_args() + ["--json", "backup", "restore", "--to",
                                                  self.data_dir] + self.restore_args
                if self.restore_db:
                    argv += ["--database", self.restore_db]
                p = real(argv, **kw)
                if p.returncode == 0:
                    self.restored = json.loads(p.stdout)
                return p
            return real(args, **kw)
        harness.run = hooked
        try:
            super()._start()
        finally:
            harness.run = real
        self.database_url = self.restore_db


def t_layout(srv):
    if srv.database_url:
        rows = tr.sql(srv, "SELECT schemaname FROM pg_tables WHERE tablename IN ('bw_org_keys', "
                      "'bw_data_keys', 'bw_key_inventory')")
        check(sorted(r[0] for r in rows) == ["bulwark_keys"] * 3, "key tables: %r" % rows)
        return
    db = sqlite3.connect(os.path.join(srv.data_dir, "db", "bulwark.db"))
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_schema")]
    db.close()
    check(not {"bw_org_keys", "bw_data_keys", "bw_key_inventory"} & set(names),
          "key tables in the data file: %r" % names)
    check("bw_records" in names, "not the data file: %r" % names)
    kp = os.path.join(srv.data_dir, "db", "keys.db")
    check(stat.S_IMODE(os.stat(kp).st_mode) == 0o600, "keys.db mode %o" % os.stat(kp).st_mode)


def scenario(name, pg_dir, results):
    tmp = None

    def step(fn, *a):
        t1 = time.monotonic()
        try:
            out = fn(*a)
            results.append((name, fn.__name__, True, ""))
            sys.stderr.write("ok   %-8s %-12s %5.1fs\n" % (name, fn.__name__,
                                                          time.monotonic() - t1))
            return out
        except Fail as e:
            results.append((name, fn.__name__, False, str(e)))
        except Exception as e:
            results.append((name, fn.__name__, False, "%s: %s\n%s" %
                            (type(e).__name__, e, traceback.format_exc())))
        sys.stderr.write("FAIL %-8s %-12s -> %s\n" % (name, fn.__name__, results[-1][3]))
        raise Fail("stop")

    base_ov = ["tenants.self_service=yes", "retention.deleted_records=%ds" % RETENTION,
               "retention.purge_interval=1s", "backup.full=off", "backup.incremental=off"]
    try:
        with Server(ARGS.bulwark, pg_dir=pg_dir, name="keystore",
                    overrides=base_ov) as srv:
            target = os.path.join(srv.tmp, "target")
            os.makedirs(target, mode=0o700)
            srv.overrides.append("backup.target=dir:" + target)
            api = Api(srv)
            w = tr.setup_world(api)
            base = tr.coll(w, w.a, "owner", tr.uname("ks"))
            m_gone, m_keep = marker("GONEMARK"), marker("KEEPMARK")
            gone = tr.create(w, base, "editor", {"name": m_gone})["id"]
            keep = tr.create(w, base, "editor", {"name": m_keep})["id"]
            step(t_layout, srv)
            st = {}

            def t_copy():
                st["dek"] = key_hex(srv, "bw_data_keys", "record_id", gone)
                st["orgkey"] = key_hex(srv, "bw_org_keys", "org_id", w.a)
                check(st["dek"] and st["orgkey"], "keys not in the key store")
                st["body"] = tr.body_hex(srv, gone)[0][0].lower()
                if srv.database_url:
                    return
                cdir = os.path.join(srv.tmp, "copy")
                os.makedirs(cdir)
                files = []
                for f in ("bulwark.db", "bulwark.db-wal"):  # the FILE, as a backup tool takes it
                    p = os.path.join(srv.data_dir, "db", f)
                    if os.path.exists(p):
                        shutil.copy(p, cdir)
                        files.append(os.path.join(cdir, f))
                st["copy"] = files
                check(files_hold(files, st["body"]), "the copy does not hold the ciphertext")
                check(not files_hold(files, st["dek"]), "the copy holds the data key")
                check(not files_hold(files, st["orgkey"]), "the copy holds the org key")
            step(t_copy)
            st["b1"] = json.loads(cli(srv, "backup", "run", "--full", json_out=True).stdout)

            def t_purge():
                check(st["b1"].get("key_backup"), "no key backup with the data backup: %r" %
                      st["b1"])
                r = api.call("DELETE", "%s/%s" % (base, gone), token=w.tok["editor"])
                check(r.status == 204, "delete %d" % r.status)
                deadline = time.monotonic() + RETENTION + 20
                while time.monotonic() < deadline and not audit(srv, action="data.purged",
                                                                 target=gone):
                    time.sleep(0.5)
                check(audit(srv, action="data.purged", target=gone), "not purged")
                check(key_hex(srv, "bw_data_keys", "record_id", gone) is None, "key remains")
                if not srv.database_url:  # no destroyed key left in either WAL
                    # data.purged commits before the purge pass checkpoints both files
                    kw = os.path.join(srv.data_dir, "db", "keys.db-wal")
                    kfiles = [kw, os.path.join(srv.data_dir, "db", "keys.db")]
                    until = time.monotonic() + 15
                    while time.monotonic() < until and files_hold(kfiles, st["dek"]):
                        time.sleep(0.5)
                    check(not files_hold(kfiles, st["dek"]),
                          "destroyed key still in keys.db(-wal)")
                # the copy's ciphertext with the live key store: planted back, it fails closed
                now = int(time.time())
                org, cname = w.a, base.split("/")[-2]
                lit = ("decode('%s', 'hex')" if srv.database_url else "X'%s'") % st["body"]
                tr.sql(srv, "INSERT INTO bw_records(org_id, collection, id, version, body, "
                       "encrypted, created_at, updated_at, created_by, updated_by) VALUES "
                       "(?, ?, ?, 1, %s, 1, %d, %d, 'x', 'x')" % (lit, now, now),
                       (org, cname, gone))
                r = srv.request("GET", "%s/%s" % (base, gone),
                                headers={"Authorization": "Bearer " + w.tok["editor"]})
                check(r.status == 500 and m_gone.encode() not in r.body,
                      "old ciphertext read with the live key store: %d" % r.status)
                check(audit(srv, action="crypto.integrity_fail", target=gone), "not audited")
                tr.sql(srv, "DELETE FROM bw_records WHERE id = ?", (gone,))
            step(t_purge)

            def t_key_retention():
                time.sleep(2.2)
                st["b2"] = json.loads(cli(srv, "backup", "run", json_out=True).stdout)
                before = key_objects(target)
                check(len(before) == 2, "key backups %r" % before)
                res = json.loads(cli(srv, "-o", "retention.key_backups=2s", "backup", "prune",
                                     json_out=True).stdout)
                after = key_objects(target)
                check(res.get("removed_key_backups") == 1, "prune %r" % res)
                check(after == [os.path.basename(st["b2"]["key_backup"])],
                      "left after prune: %r (b2 %r)" % (after, st["b2"]["key_backup"]))
                check(audit(srv, action="backup.keys_pruned"), "prune not audited")
                v = json.loads(cli(srv, "backup", "verify", json_out=True).stdout)
                check(v.get("key_backups") == 1, "verify %r" % v)
                kp = os.path.join(target, "keys", after[0])
                with open(kp, "rb") as f:
                    good = f.read()
                bad = bytearray(good)
                bad[len(bad) // 2] ^= 1
                with open(kp, "wb") as f:
                    f.write(bad)
                p = cli(srv, "backup", "verify", expect=1)
                with open(kp, "wb") as f:
                    f.write(good)
                check(after[0] in p.stderr, "verify does not name the flipped object: %r" %
                      p.stderr)
            step(t_key_retention)

            def check_restored(rs, keys_from):
                out = rs.restored
                check(out and out["keys_from"].startswith(keys_from), "restore: %r" % out)
                check(out["records_without_keys"] == 1, "swept %r" % out)
                check(audit(rs, action="data.purged", target=gone), "sweep not audited")
                a = Api(rs)
                tok = a.login(*w.cred["editor"])["token"]
                problem(a.call("GET", "%s/%s" % (base, gone), token=tok), 404,
                        what="purged record after restore")
                r = a.call("GET", "%s/%s" % (base, keep), token=tok)
                check(r.status == 200 and r.json()["data"]["name"] == m_keep,
                      "kept record after restore: %d" % r.status)

            def t_restore():
                db = pg_newdb(pg_dir) if pg_dir else None
                with RestoredServer(ARGS.bulwark, srv, ["--backup", st["b1"]["name"]],
                                    database=db, name="ks-restored",
                                    overrides=base_ov) as rs:
                    check_restored(rs, "live")
            step(t_restore)

            def t_newhost():
                # a new machine: fresh init, the recovered master key, the same target
                with Server(ARGS.bulwark, pg_dir=pg_dir, name="ks-newhost",
                            overrides=base_ov + ["backup.target=dir:" + target]) as nh:
                    nh.stop()
                    shutil.copy(os.path.join(srv.data_dir, "keys", "master.key"),
                                os.path.join(nh.data_dir, "keys", "master.key"))
                    db = pg_newdb(pg_dir) if pg_dir else None
                    with RestoredServer(ARGS.bulwark, nh, ["--backup", st["b1"]["name"]],
                                        database=db, name="ks-restored2",
                                        overrides=base_ov) as rs:
                        check_restored(rs, "keys/")
                    # with no key-store backup left, the restore refuses and says why
                    for f in glob.glob(os.path.join(target, "keys", "*.keys")):
                        os.unlink(f)
                    dest = os.path.join(nh.tmp, "r-nokeys")
                    args = ["backup", "restore", "--to", dest, "--backup", st["b1"]["name"]]
                    if pg_dir:
                        args += ["--database", pg_newdb(pg_dir)]
                    p = cli(nh, *args, expect=1)
                    check("key-store backup" in p.stderr and not os.path.exists(dest),
                          "refusal: %r" % p.stderr)
            step(t_newhost)
            srv.stop()
    except Fail:
        pass
    except (HarnessError, OSError) as e:
        results.append((name, "server", False, str(e)[-3000:]))
        sys.stderr.write("FAIL %-8s server: %s\n" % (name, str(e)[-3000:]))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--pg-only", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    ARGS = ap.parse_args()
    ti.ARGS = ARGS
    tr.ARGS = ARGS
    results = []
    if not (ARGS.pg_only and ARGS.pg_dir):
        scenario("sqlite", None, results)
    if ARGS.pg_dir:
        scenario("postgres", ARGS.pg_dir, results)
    failed = [r for r in results if not r[2]]
    sys.stderr.write("test_keystore: %d checks: %s\n" % (
        len(results), "OK" if not failed else "FAILED (%d)" % len(failed)))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
