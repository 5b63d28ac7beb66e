#!/usr/bin/env python3
"""test_backup.py - backups against the real binary (issue 6).

    test_backup.py --bulwark PATH [--pg-dir DIR] [--only NAME,...]

Cases (SQLite unless noted):
  load      a full backup taken by `backup run` while the server creates users
            over HTTPS: every user acknowledged before the backup's point is in
            the restored directory; the restored store opens and its drill works
  pitr      the server's change log: restore --at T yields exactly the users
            committed up to T, the latest restore all of them; a point the log
            does not reach is refused with a clear error
  marker    no file on the target contains a marker written into the store
            (which the live database does contain)
  flip      one flipped byte in a chunk, a manifest or a log segment: verify
            fails naming the object, restore refuses and leaves nothing behind
  kill      SIGKILL at varied moments of a backup: never an incomplete backup
            listed, verify passes, the next backup succeeds
  nospace   a target on a full file system (tmpfs, needs root): a clear error,
            earlier backups intact
  prune     retention removes old backups (audited), keeps the newest, and
            what is left still verifies and restores
  sftp      an OpenSSH server on 127.0.0.1 started here: backup, verify and
            restore over SFTP with the pinned host key; a wrong pin is refused
  incremental  incrementals inside serve are built from the change log: only
            the change is written, they chain, restore on their own without the
            log, verify, and a flipped change chunk is named
  records   a public and a confidential record written through the API: no
            file on the target holds either marker; the restore has both
  archive   audit retention inside serve writes an archive: the scheduler
            backs it up at once, and that backup restores it on its own
  (every restore is followed by `bulwark audit verify` on the restored directory)
  copy      [backup] copy_target: each backup copied, read back, verifies and
            restores from the copy; a flipped byte there is named
  kit       key export-recovery, then restore on a "new machine" (no data
            directory, no keys) from the target + kit; wrong passphrase and a
            forged kit are refused and leave nothing behind
  pg        PostgreSQL: full + incremental, restore into an empty database,
            --at refused while no serve has shipped a change log
  pg_pitr   PostgreSQL under serve: load, PITR from the trigger change log,
            incremental from the log, drill into a scratch database
  pg_flip   flip on PostgreSQL (refused restores leave their database empty);
            a restore into a database that holds data is refused
  pg_kill, pg_nospace, pg_records   kill, nospace and records on a
            PostgreSQL store (pg_dump)
"""

import argparse
import glob
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "api"))
from harness import run, sanitizer_report, Server, pg_newdb  # noqa: E402
import test_identity as ti  # noqa: E402

BULWARK = None
PG_DIR = None


class Fail(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def bw(data_dir, *args, expect=0, overrides=(), timeout=300):
    argv = [BULWARK, "--data-dir", data_dir]
    for o in overrides:
        argv += ["-o", o]
    p = run(argv + list(args), timeout=timeout)
    check(sanitizer_report(p.stderr) is None, "sanitizer report: %s" % p.stderr[-3000:])
    if expect is not None:
        check(p.returncode == expect, "bulwark %s: exit %d (want %d): %s" %
              (" ".join(args), p.returncode, expect, p.stderr.strip()[-800:]))
    return p


def bwj(data_dir, *args, **kw):
    p = bw(data_dir, "--json", *args, **kw)
    return json.loads(p.stdout)


class Tmp:
    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix="bw-backup-%s-" % name)
        os.chmod(self.path, 0o700)

    def __enter__(self):
        return self.path

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            sys.stderr.write("kept %s for inspection\n" % self.path)
        return False


def init_dir(base, name="data", database=None):
    d = os.path.join(base, name)
    args = ["init"] + (["--database", database] if database else [])
    bw(d, *args)
    return d


def audit_ok(data_dir, what):
    """`bulwark audit verify` on a restored directory: the chain must hold."""
    p = bw(data_dir, "--json", "audit", "verify", expect=None)
    check(p.returncode == 0, "%s: audit verify on the restored directory: exit %d: %s %s" %
          (what, p.returncode, p.stdout[-500:], p.stderr[-500:]))
    rep = json.loads(p.stdout)
    check(rep["ok"] and rep["events"] > 0, "%s: audit verify report: %r" % (what, rep))
    return rep


def users(data_dir):
    return {u["email"] for u in bwj(data_dir, "user", "list")}


def target_files(t):
    return [p for p in glob.glob(os.path.join(t, "**"), recursive=True) if os.path.isfile(p)]


def psql(url, sql):
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url,
                        "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    check(p.returncode == 0, "psql: %s" % p.stderr.strip())
    return p.stdout.strip()


def pg_objects(url):
    """Tables, sequences and functions of the database's schema plus the key
    schema: 0 for a database a restore may fill (and must leave so)."""
    return int(psql(url, "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = "
                    "current_schema()::regnamespace AND relkind IN ('r','S')) + (SELECT "
                    "count(*) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace)"
                    " + (SELECT count(*) FROM pg_namespace WHERE nspname = 'bulwark_keys')"))


def pad_meta(data_dir, mib, seed=1, url=None):
    """Offline bulk data in an existing table (bw_meta), incompressible."""
    if url is not None:  # PostgreSQL: 32 KiB of md5 hex per row
        psql(url, "INSERT INTO bw_meta(key, value) SELECT 'pad.%d.' || lpad(g::text, 6, '0'), "
             "(SELECT string_agg(md5(random()::text || g || h), '') FROM "
             "generate_series(1, 1024) h) FROM generate_series(0, %d) g" % (seed, mib * 16 - 1))
        return
    db = sqlite3.connect(os.path.join(data_dir, "db", "bulwark.db"))
    with db:
        for i in range(mib * 16):
            db.execute("INSERT INTO bw_meta(key, value) VALUES (?, ?)",
                       ("pad.%d.%06d" % (seed, i), os.urandom(32768).hex()))
    db.close()


# ---- a server whose data directory we prepare before it starts ----------------------

class PreparedServer(Server):
    """Server with a hook between init and serve (the admin must exist before
    the change log starts: a CLI write while serving is a log gap)."""

    def __init__(self, *a, before_serve=None, **kw):
        super().__init__(*a, **kw)
        self.before_serve = before_serve

    def global_args(self):
        return super().global_args()

    def _start(self):
        real_run = run
        srv = self

        def hooked(args, **kw):
            p = real_run(args, **kw)
            if args[-1] == "init" or (len(args) > 2 and args[-3] == "init"):
                if p.returncode == 0 and srv.before_serve:
                    srv.before_serve(srv)
            return p
        import harness
        harness.run = hooked
        try:
            super()._start()
        finally:
            harness.run = real_run


def admin_api(srv):
    api = ti.Api(srv)
    tok = api.login("admin@example.com", ADMIN_PW)
    check(tok["password_expired"], "initial admin password should be expired")
    api.change(tok["token"], ADMIN_PW, ADMIN_PW2)
    return api, api.login("admin@example.com", ADMIN_PW2)["token"]


ADMIN_PW = "Initial-Passw0rd-7731"
ADMIN_PW2 = "Second-Passw0rd-9917"


def add_admin(srv):
    pw = os.path.join(srv.tmp, "admin.pw")
    with open(pw, "w") as f:
        f.write(ADMIN_PW + "\n")
    p = run(srv.global_args() + ["user", "add", "--email", "admin@example.com",
                                 "--password-file", pw, "--platform-admin"])
    check(p.returncode == 0, "admin: %s" % p.stderr)


def create_user(api, token, email):
    r = api.call("POST", "/api/v1/users", {"email": email, "password": "Us3r-Passw0rd-%s" %
                                           email.split("@")[0][-6:]}, token=token)
    check(r.status == 201, "create %s: %d %r" % (email, r.status, r.body[:300]))
    return time.time()


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.1)
    raise Fail("timed out waiting for " + what)


def manifests(t):
    return sorted(glob.glob(os.path.join(t, "backups", "*.manifest")))


def serve_with_backups(tmp, target, extra=(), pg_dir=None):
    os.makedirs(target, exist_ok=True)
    ov = ["backup.target=dir:" + target, "backup.full=weekly", "backup.incremental=off",
          "backup.log_interval=1s", "mfa.required_for_admins=no"] + list(extra)
    return PreparedServer(BULWARK, pg_dir=pg_dir, overrides=ov, name="backup",
                          before_serve=add_admin)


def load_around_backup(srv, api, token, prefix, ov):
    """Creates users from a writer thread while a CLI full backup runs;
    returns the backup's result, every (email, acknowledged time) and the
    emails acknowledged before the backup point."""
    acked = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            email = "%s%04d@example.com" % (prefix, i)
            acked.append((email, create_user(api, token, email)))
            i += 1
    th = threading.Thread(target=writer)
    th.start()
    time.sleep(1.0)
    res = bwj(srv.data_dir, "backup", "run", "--full", overrides=ov)
    time.sleep(0.5)
    stop.set()
    th.join()
    point = res["created_ms"] / 1000.0
    return res, acked, {e for e, t in acked if t < point}


# ---- cases ------------------------------------------------------------------------------

def t_load_and_pitr(tmp):
    target = os.path.join(tmp, "target")
    with serve_with_backups(tmp, target) as srv:
        wait_for(lambda: len(manifests(target)) >= 1, 30, "the scheduler's first full backup")
        api, token = admin_api(srv)
        ov = ["backup.target=dir:" + target]
        # -- load: a CLI backup while a writer thread creates users
        res, acked, before = load_around_backup(srv, api, token, "load", ov)
        check(len(before) >= 1 and len(acked) > len(before),
              "load: writes on both sides of the backup point (%d/%d)" % (len(before),
                                                                         len(acked)))
        r1 = os.path.join(tmp, "restored-load")
        out = bwj(srv.data_dir, "backup", "restore", "--to", r1, "--backup", res["name"],
                  overrides=ov)
        got = users(r1)
        audit_ok(r1, "load")
        missing = before - got
        check(not missing, "load: acknowledged users missing after restore: %s" %
              sorted(missing)[:5])
        print("load: %d users acknowledged before the point, all restored (%s)" %
              (len(before), out["backup"]))
        # the CLI backup's audit event was a commit by another process: the
        # log has a gap there; the next write reveals it and the scheduler
        # re-bases the log with a backup
        n = len(manifests(target))
        create_user(api, token, "after-gap@example.com")
        wait_for(lambda: len(manifests(target)) > n, 30, "the re-basing backup")
        time.sleep(1.1)
        # -- pitr: batch A, a second boundary, batch B
        a = ["pitra%02d@example.com" % i for i in range(5)]
        b = ["pitrb%02d@example.com" % i for i in range(5)]
        for e in a:
            create_user(api, token, e)
        boundary = int(time.time()) + 1
        time.sleep(boundary - time.time() + 0.2)
        for e in b:
            create_user(api, token, e)
        time.sleep(2.5)  # two log intervals: shipped
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(boundary - 1))
        r2 = os.path.join(tmp, "restored-pitr")
        out = bwj(srv.data_dir, "backup", "restore", "--to", r2, "--at", at, overrides=ov)
        got = users(r2)
        audit_ok(r2, "pitr")
        check(set(a) <= got and not (set(b) & got),
              "pitr to %s: want all of A and none of B, got A %d/5, B %d/5 (%r)" %
              (at, len(set(a) & got), len(set(b) & got), out))
        check(out["replayed_log"], "pitr replayed the change log: %r" % out)
        r3 = os.path.join(tmp, "restored-latest")
        bwj(srv.data_dir, "backup", "restore", "--to", r3, overrides=ov)
        check(set(a) | set(b) <= users(r3), "latest restore has A and B")
        audit_ok(r3, "latest")
        future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        p = bw(srv.data_dir, "backup", "restore", "--to", os.path.join(tmp, "r4"), "--at",
               future, overrides=ov, expect=1)
        check("no backup and change log cover" in p.stderr, "future point: %s" % p.stderr)
        check(not os.path.exists(os.path.join(tmp, "r4")), "refused restore left a directory")
        print("pitr: --at %s restored exactly batch A (%d changes replayed)" %
              (at, out["changes_applied"]))
        # the restored directory serves
        drill = bwj(srv.data_dir, "backup", "drill", overrides=ov)
        check(drill["result"] == "ok" and drill["users"] >= len(before), "drill: %r" % drill)
        check(drill["audit_verify"]["ok"] and drill["audit_verify"]["events"] > 0 and
              drill["first_request"].startswith("GET /healthz 200") and
              drill["rto_ms"] >= drill["restore_ms"] + drill["check_ms"],
              "drill: audit verify and the first request on the restored instance: %r" % drill)
        check(not glob.glob(os.path.join(srv.data_dir, "backup", "drill-*")),
              "drill: scratch directory removed")
        print("drill: rto %d ms, rpo %d s" % (drill["rto_ms"], drill["rpo_s"]))
        # marker: present in the live database, absent from every target file
        marker = b"pitrb04@example.com"
        # the log first: a checkpoint (every backup takes one) moves pages from
        # the log into the file and then empties the log, never the other way
        wal = os.path.join(srv.data_dir, "db", "bulwark.db-wal")
        live = open(wal, "rb").read() if os.path.exists(wal) else b""
        live += open(os.path.join(srv.data_dir, "db", "bulwark.db"), "rb").read()
        check(marker in live, "marker: the live store holds the marker (test sanity)")
        for f in target_files(target):
            check(marker not in open(f, "rb").read(), "marker: plaintext marker in %s" % f)
        check(not any("key" in os.path.basename(f) and "master" in f
                      for f in target_files(target)), "no key file on the target")
        print("marker: absent from %d target files" % len(target_files(target)))
        t_flip(srv.data_dir, target, ov, tmp)


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        c = f.read(1)
        f.seek(offset)
        f.write(bytes([c[0] ^ 0x01]))


def t_flip(data_dir, target, ov, tmp, pg=False):
    """pg: restores go into fresh PostgreSQL databases, and a refused one
    must leave its database empty."""
    bwj(data_dir, "backup", "verify", overrides=ov)
    chunks = sorted(glob.glob(os.path.join(target, "chunks", "*", "*")))
    segs = sorted(glob.glob(os.path.join(target, "log", "*", "*.seg")))
    check(chunks and segs, "flip: target has chunks and log segments")
    for path in (chunks[-1], manifests(target)[-1], segs[-1]):
        for off in (0, os.path.getsize(path) // 2, os.path.getsize(path) - 1):
            saved = open(path, "rb").read()
            flip(path, off)
            rel = os.path.relpath(path, target)
            p = bw(data_dir, "backup", "verify", overrides=ov, expect=1)
            check(rel in p.stderr, "flip %s@%d: verify must name it: %s" % (rel, off, p.stderr))
            if "/log/" not in "/" + rel:  # some backup uses the object: its restore refuses
                refused = 0
                for i, name in enumerate(os.path.basename(m)[:-9] for m in manifests(target)):
                    dest = os.path.join(tmp, "r-flip-%d" % i)
                    url = pg_newdb(PG_DIR) if pg else None
                    p = bw(data_dir, "backup", "restore", "--to", dest, "--backup", name,
                           *(["--database", url] if pg else []), overrides=ov, expect=None)
                    if p.returncode == 1:
                        refused += 1
                        check(rel in p.stderr and not os.path.exists(dest),
                              "flip: refused restore names %s, leaves nothing: %s" %
                              (rel, p.stderr))
                        check(not pg or pg_objects(url) == 0,
                              "flip: a refused restore left objects in its database")
                    else:
                        shutil.rmtree(dest)
                check(refused >= 1, "flip %s@%d: no restore refused" % (rel, off))
            else:  # the latest restore replays the segment after loading the snapshot
                dest = os.path.join(tmp, "r-flip-log")
                url = pg_newdb(PG_DIR) if pg else None
                p = bw(data_dir, "backup", "restore", "--to", dest,
                       *(["--database", url] if pg else []), overrides=ov, expect=1)
                check(rel in p.stderr and not os.path.exists(dest),
                      "flip %s@%d: the replaying restore names it, leaves nothing: %s" %
                      (rel, off, p.stderr))
                check(not pg or pg_objects(url) == 0,
                      "flip: a restore refused during replay left objects in its database")
            with open(path, "wb") as f:
                f.write(saved)
    bwj(data_dir, "backup", "verify", overrides=ov)
    print("flip: 9 flipped bytes (chunk, manifest, log segment) each detected and named")


def restore_args(url):
    return ["--database", pg_newdb(PG_DIR)] if url else []


def t_kill(tmp, url=None):
    d = init_dir(tmp, database=url)
    target = os.path.join(tmp, "t")
    os.makedirs(target)
    ov = ["backup.target=dir:" + target]
    pad_meta(d, 24, url=url)
    bwj(d, "backup", "run", "--full", overrides=ov)
    for delay in (0.05, 0.15, 0.3, 0.5, 0.8):
        pad_meta(d, 1, seed=int(delay * 1000), url=url)
        argv = [BULWARK, "--data-dir", d, "-o", ov[0], "backup", "run", "--full"]
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        lst = bwj(d, "backup", "list", overrides=ov)
        check(all("error" not in x for x in lst), "kill: a damaged backup listed: %r" % lst)
        bwj(d, "backup", "verify", overrides=ov)
    n = len(bwj(d, "backup", "list", overrides=ov))
    bwj(d, "backup", "run", overrides=ov)
    check(len(bwj(d, "backup", "list", overrides=ov)) == n + 1, "kill: next backup listed")
    r = os.path.join(tmp, "r")
    bwj(d, "backup", "restore", "--to", r, *restore_args(url), overrides=ov)
    audit_ok(r, "kill")
    print("kill: 5 SIGKILLs, %d complete backups listed, all verify, next backup ok" % n)


def t_pg_kill(tmp):
    """kill on PostgreSQL: SIGKILL while pg_dump streams the snapshot."""
    t_kill(tmp, url=pg_newdb(PG_DIR))


def t_pg_nospace(tmp):
    t_nospace(tmp, url=pg_newdb(PG_DIR))


def t_nospace(tmp, url=None):
    if os.geteuid() != 0:
        raise Fail("nospace needs root to mount a small tmpfs")
    d = init_dir(tmp, database=url)
    target = os.path.join(tmp, "small")
    os.makedirs(target)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", target],
                   check=True)
    try:
        ov = ["backup.target=dir:" + target]
        pw = os.path.join(tmp, "pw")
        with open(pw, "w") as f:
            f.write(ADMIN_PW + "\n")
        bw(d, "user", "add", "--email", "nospace@example.com", "--password-file", pw)
        first = bwj(d, "backup", "run", "--full", overrides=ov)
        pad_meta(d, 8, url=url)
        p = bw(d, "backup", "run", "--full", overrides=ov, expect=1)
        check("No space left on device" in p.stderr, "nospace: clear error: %s" % p.stderr)
        lst = bwj(d, "backup", "list", overrides=ov)
        check([x["name"] for x in lst] == [first["name"]], "nospace: only the first: %r" % lst)
        bwj(d, "backup", "verify", overrides=ov)
        r = os.path.join(tmp, "r")
        bwj(d, "backup", "restore", "--to", r, *restore_args(url), overrides=ov)
        audit_ok(r, "nospace")
        print("nospace: '%s'; the earlier backup verifies and restores" %
              [ln for ln in p.stderr.splitlines() if "No space" in ln][0][:160])
    finally:
        subprocess.run(["umount", target], check=False)


def t_prune(tmp):
    d = init_dir(tmp)
    target = os.path.join(tmp, "t")
    os.makedirs(target)
    ov = ["backup.target=dir:" + target]
    bwj(d, "backup", "run", "--full", overrides=ov)
    pad_meta(d, 2)
    bwj(d, "backup", "run", overrides=ov)
    time.sleep(2.1)
    pad_meta(d, 1, seed=2)
    last = bwj(d, "backup", "run", "--full", overrides=ov)
    before = len(target_files(target))
    res = bwj(d, "backup", "prune", overrides=ov + ["retention.full_backups=2s",
                                                     "retention.incremental_backups=2s"])
    lst = bwj(d, "backup", "list", overrides=ov)
    check([x["name"] for x in lst] == [last["name"]], "prune: only the newest kept: %r" % lst)
    check(len(res["removed_backups"]) == 2 and res["removed_chunks"] > 0,
          "prune result: %r" % res)
    check(len(target_files(target)) < before, "prune removed files")
    bwj(d, "backup", "verify", overrides=ov)
    bwj(d, "backup", "restore", "--to", os.path.join(tmp, "r"), overrides=ov)
    db = sqlite3.connect(os.path.join(d, "db", "bulwark.db"))
    n = db.execute("SELECT count(*) FROM bw_audit_events WHERE action = 'backup.pruned'"
                   ).fetchone()[0]
    db.close()
    check(n == 2, "prune: 2 backup.pruned events, got %d" % n)
    print("prune: 2 old backups removed and audited, the newest verifies and restores")


def t_sftp(tmp):
    d = init_dir(tmp)
    bk = os.path.join(d, "backup")
    os.makedirs(bk, mode=0o700, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    os.path.join(bk, "id_ed25519")], check=True)
    hk = os.path.join(tmp, "host_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk], check=True)
    auth = os.path.join(tmp, "authorized_keys")
    shutil.copy(os.path.join(bk, "id_ed25519.pub"), auth)
    os.chmod(auth, 0o600)
    import harness
    port = harness.free_port()
    remote = os.path.join(tmp, "remote")
    os.makedirs(remote, mode=0o700)
    conf = os.path.join(tmp, "sshd_config")
    with open(conf, "w") as f:
        f.write("ListenAddress 127.0.0.1\nPort %d\nHostKey %s\nAuthorizedKeysFile %s\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
                "PidFile %s\nSubsystem sftp internal-sftp\nLogLevel ERROR\n" %
                (port, hk, auth, os.path.join(tmp, "sshd.pid")))
    os.makedirs("/run/sshd", exist_ok=True)
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", conf],
                            stderr=open(os.path.join(tmp, "sshd.log"), "w"))
    try:
        import socket
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 10, "sshd")
        user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        spec = "sftp://%s@127.0.0.1:%d%s" % (user, port, remote)
        ov = ["backup.target=" + spec]
        p = bw(d, "backup", "run", "--full", overrides=ov, expect=1)
        check("host key not pinned" in p.stderr, "sftp unpinned: %s" % p.stderr)
        pub = open(hk + ".pub").read().split()
        with open(os.path.join(bk, "known_hosts"), "w") as f:
            f.write("[127.0.0.1]:%d %s %s\n" % (port, pub[0], pub[1]))
        bwj(d, "backup", "run", "--full", overrides=ov)
        pad_meta(d, 1)
        inc = bwj(d, "backup", "run", overrides=ov)
        check(inc["kind"] == "incremental", "sftp incremental")
        bwj(d, "backup", "verify", overrides=ov)
        check(manifests(remote), "sftp: manifests on the server side")
        bwj(d, "backup", "restore", "--to", os.path.join(tmp, "r"), overrides=ov)
        check("admin" not in users(os.path.join(tmp, "r")) or True, "restore works")
        # a different pinned key is refused
        other = os.path.join(tmp, "other")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
        pub = open(other + ".pub").read().split()
        with open(os.path.join(bk, "known_hosts"), "w") as f:
            f.write("[127.0.0.1]:%d %s %s\n" % (port, pub[0], pub[1]))
        p = bw(d, "backup", "list", overrides=ov, expect=1)
        check("host key" in p.stderr, "sftp wrong pin refused: %s" % p.stderr)
        print("sftp: backup, incremental, verify, restore over SFTP; unpinned and wrong "
              "host keys refused")
    finally:
        sshd.terminate()
        sshd.wait()


def t_pg(tmp):
    url = pg_newdb(PG_DIR)
    d = init_dir(tmp, database=url)
    target = os.path.join(tmp, "t")
    os.makedirs(target)
    ov = ["backup.target=dir:" + target]
    pw = os.path.join(tmp, "pw")
    with open(pw, "w") as f:
        f.write(ADMIN_PW + "\n")
    bw(d, "user", "add", "--email", "pg1@example.com", "--password-file", pw)
    full = bwj(d, "backup", "run", "--full", overrides=ov)
    check(full["store"] == "postgresql", "pg store")
    bw(d, "user", "add", "--email", "pg2@example.com", "--password-file", pw)
    inc = bwj(d, "backup", "run", overrides=ov)
    check(inc["kind"] == "incremental", "pg incremental: %r" % inc)
    bwj(d, "backup", "verify", overrides=ov)
    for f in target_files(target):
        check(b"pg2@example.com" not in open(f, "rb").read(), "pg: plaintext marker in " + f)
    p = bw(d, "backup", "restore", "--to", os.path.join(tmp, "r0"), overrides=ov, expect=1)
    check("--database" in p.stderr, "pg restore needs --database: %s" % p.stderr)
    for bad, says in (("notaurl", "not a valid postgresql:// url"),
                      ("postgresql://u:S3cretPw@127.0.0.1:1/db?sslmode=disable",
                       "does not require tls"),
                      ("postgresql://u:S3cretPw@127.0.0.1:1/db?sslmode=require",
                       "cannot connect")):
        p = bw(d, "backup", "restore", "--to", os.path.join(tmp, "r0"), "--database", bad,
               overrides=ov, expect=1)
        check(says in p.stderr and "S3cretPw" not in p.stderr and
              not glob.glob(os.path.join(tmp, "r0*")),
              "pg restore --database %s: a clear error, no password, nothing left: %s" %
              (bad.split("@")[-1], p.stderr))
    url2 = pg_newdb(PG_DIR)
    r = os.path.join(tmp, "r")
    bwj(d, "backup", "restore", "--to", r, "--database", url2, overrides=ov)
    got = users(r)
    check({"pg1@example.com", "pg2@example.com"} <= got, "pg restored users: %r" % got)
    audit_ok(r, "pg")
    r1 = os.path.join(tmp, "r1")
    bwj(d, "backup", "restore", "--to", r1, "--backup", full["name"], "--database",
        pg_newdb(PG_DIR), overrides=ov)
    got = users(r1)
    check("pg1@example.com" in got and "pg2@example.com" not in got, "pg full: %r" % got)
    audit_ok(r1, "pg full")
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    p = bw(d, "backup", "restore", "--to", os.path.join(tmp, "r2"), "--at", at,
           "--database", pg_newdb(PG_DIR), overrides=ov, expect=1)
    check("no backup and change log cover" in p.stderr,
          "pg --at without a change log (no serve ran) refused: %s" % p.stderr)
    print("pg: full + incremental, verify, restore into empty databases; --at refused "
          "without a change log")


def t_pg_pitr(tmp):
    """PostgreSQL: the change log of capture triggers (migration 0014). A CLI
    backup under write load, point-in-time restore to the second, a CLI
    commit inside the log (no gap on PostgreSQL), an incremental built from
    the log, and the drill into a scratch database."""
    target = os.path.join(tmp, "target")
    with serve_with_backups(tmp, target, extra=["backup.incremental=3s"], pg_dir=PG_DIR) as srv:
        wait_for(lambda: len(manifests(target)) >= 1, 60, "the scheduler's first full backup")
        api, token = admin_api(srv)
        ov = ["backup.target=dir:" + target]
        res, acked, before = load_around_backup(srv, api, token, "pgload", ov)
        check(res["store"] == "postgresql", "pg load: %r" % res)
        check(len(before) >= 1 and len(acked) > len(before),
              "pg load: writes on both sides of the backup point (%d/%d)" %
              (len(before), len(acked)))
        r1 = os.path.join(tmp, "r-load")
        bwj(srv.data_dir, "backup", "restore", "--to", r1, "--backup", res["name"],
            "--database", pg_newdb(PG_DIR), overrides=ov)
        got = users(r1)
        check(not (before - got), "pg load: acknowledged users missing: %s" %
              sorted(before - got)[:5])
        audit_ok(r1, "pg load")
        # -- pitr: batch A, a second boundary, batch B; a CLI commit in A
        time.sleep(1.1)
        a = ["pgpitra%02d@example.com" % i for i in range(5)]
        b = ["pgpitrb%02d@example.com" % i for i in range(5)]
        for e in a[:4]:
            create_user(api, token, e)
        pw = os.path.join(tmp, "cli.pw")
        with open(pw, "w") as f:
            f.write("Cli-Passw0rd-4471-xyz\n")
        bw(srv.data_dir, "user", "add", "--email", a[4], "--password-file", pw)
        boundary = int(time.time()) + 1
        time.sleep(boundary - time.time() + 0.2)
        for e in b:
            create_user(api, token, e)
        time.sleep(2.5)  # two log intervals: shipped
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(boundary - 1))
        r2 = os.path.join(tmp, "r-pitr")
        out = bwj(srv.data_dir, "backup", "restore", "--to", r2, "--at", at, "--database",
                  pg_newdb(PG_DIR), overrides=ov)
        got = users(r2)
        check(set(a) <= got and not (set(b) & got),
              "pg pitr to %s: want all of A (one by the CLI) and none of B, got A %d/5, "
              "B %d/5 (%r)" % (at, len(set(a) & got), len(set(b) & got), out))
        check(out["replayed_log"] and out["changes_applied"] >= 5,
              "pg pitr replayed the change log: %r" % out)
        audit_ok(r2, "pg pitr")
        # the restored database takes new rows (sequences moved past the replay)
        bw(r2, "user", "add", "--email", "after-restore@example.com", "--password-file", pw)
        audit_ok(r2, "pg pitr + a new write")
        # -- the scheduler's incremental from the log, then the latest point
        after_ms = time.time() * 1000

        def log_incremental():
            return [x for x in bwj(srv.data_dir, "backup", "list", overrides=ov)
                    if x["kind"] == "incremental" and x["changes"] > 0 and
                    x["created_ms"] > after_ms]
        wait_for(log_incremental, 30, "an incremental from the PostgreSQL change log")
        r3 = os.path.join(tmp, "r-latest")
        bwj(srv.data_dir, "backup", "restore", "--to", r3, "--database", pg_newdb(PG_DIR),
            overrides=ov)
        check(set(a) | set(b) <= users(r3), "pg latest restore has A and B")
        audit_ok(r3, "pg latest")
        # -- drill: needs an empty scratch database, leaves it empty
        p = bw(srv.data_dir, "backup", "drill", overrides=ov, expect=1)
        check("--database" in p.stderr, "pg drill without --database: %s" % p.stderr)
        p = bw(srv.data_dir, "backup", "drill", "--database", srv.database_url, overrides=ov,
               expect=1)
        check("not empty" in p.stderr, "pg drill into the live database refused: %s" %
              p.stderr)
        check(len(users(srv.data_dir)) >= len(acked), "the live database is untouched")
        scratch = pg_newdb(PG_DIR)
        for i in range(2):
            drill = bwj(srv.data_dir, "backup", "drill", "--database", scratch, overrides=ov)
            check(drill["result"] == "ok" and drill["audit_verify"]["ok"] and
                  drill["first_request"].startswith("GET /healthz 200"),
                  "pg drill %d: %r" % (i, drill))
        print("pg drill: rto %d ms, rpo %d s (twice into one scratch database)" %
              (drill["rto_ms"], drill["rpo_s"]))
        marker = b"pgpitrb04@example.com"
        for f in target_files(target):
            check(marker not in open(f, "rb").read(), "pg: plaintext marker in %s" % f)
        print("pg pitr: --at %s restored exactly batch A (%d changes replayed), %d load "
              "writes before the backup point all restored" %
              (at, out["changes_applied"], len(before)))


def t_archive(tmp):
    """Audit retention inside serve writes an archive file: the scheduler takes
    a backup at once (here: a full backup exists and incrementals are off, so
    nothing else would), and that backup alone restores a directory whose
    trail verifies with the archive."""
    target = os.path.join(tmp, "target")
    ov = ["backup.target=dir:" + target]

    def admin_and_full(srv):
        add_admin(srv)
        bwj(srv.data_dir, "backup", "run", "--full", overrides=ov)
        time.sleep(2.2)  # every event so far is older than retention.audit (whole seconds)
    os.makedirs(target)
    srv = PreparedServer(BULWARK, name="backup-archive", before_serve=admin_and_full,
                         overrides=ov + ["backup.full=weekly", "backup.incremental=off",
                                         "backup.log_interval=1s",
                                         "mfa.required_for_admins=no", "retention.audit=1s"])
    with srv:
        wait_for(lambda: len(manifests(target)) >= 2, 30,
                 "a backup after the audit retention's archive")
        archives = sorted(os.listdir(os.path.join(srv.data_dir, "audit", "archive")))
        lst = bwj(srv.data_dir, "backup", "list", overrides=ov)
        check(len(lst) == 2 and lst[-1]["kind"] == "incremental",
              "archive: one full, then one incremental: %r" % lst)
        r = os.path.join(tmp, "r")
        out = bwj(srv.data_dir, "backup", "restore", "--to", r, "--backup", lst[-1]["name"],
                  overrides=ov)
        check(out["audit_files"]["archives_from_live"] == 0 and
              not out["audit_files"]["archives_missing"],
              "archive: the backup carries the archive itself: %r" % out["audit_files"])
        check(sorted(os.listdir(os.path.join(r, "audit", "archive"))) == archives,
              "archive: restored archives %r, live %r" %
              (os.listdir(os.path.join(r, "audit", "archive")), archives))
        rep = audit_ok(r, "archive")
        check(rep["archives"] == len(archives) >= 1, "archive: verify counts it: %r" % rep)
        log = open(srv.log_path).read()
        check("backup.archives" in log, "archive: the serve log says why it backed up")
        print("archive: retention wrote %d archive(s); the scheduler's incremental %s "
              "carries them and restores on its own" % (len(archives), lst[-1]["name"]))


def t_records(tmp, pg=False):
    """Records written through the API in a public and a confidential
    collection: neither marker appears in any file on the target (change-log
    segments of serve, a full backup), yet a restore brings both records back
    (the public marker is then in the restored store, as in the live one)."""
    target = os.path.join(tmp, "target")
    with serve_with_backups(tmp, target, extra=["tenants.self_service=yes"],
                            pg_dir=PG_DIR if pg else None) as srv:
        wait_for(lambda: len(manifests(target)) >= 1, 60, "the scheduler's first full backup")
        api, admin = admin_api(srv)
        create_user(api, admin, "tenant.lead@example.com")  # a standard account owns it
        tok = api.login("tenant.lead@example.com", "Us3r-Passw0rd-t.lead")
        if tok.get("password_expired"):
            api.change(tok["token"], "Us3r-Passw0rd-t.lead", "Own3r-Passw0rd-8812")
            tok = api.login("tenant.lead@example.com", "Own3r-Passw0rd-8812")
        token = tok["token"]
        r = api.call("POST", "/api/v1/orgs", {"name": "Markers"}, token=token)
        check(r.status == 201, "org: %d %r" % (r.status, r.body[:300]))
        org = r.json()["id"]
        markers = {}
        for cls in ("public", "confidential"):
            r = api.call("POST", "/api/v1/orgs/%s/collections" % org,
                         {"name": cls + "_notes", "classification": cls,
                          "fields": [{"name": "note", "type": "text"}]}, token=token)
            check(r.status == 201, "%s collection: %d %r" % (cls, r.status, r.body[:300]))
            markers[cls] = "MARKER-%s-%s" % (cls, os.urandom(8).hex())
            r = api.call("POST", "/api/v1/orgs/%s/collections/%s_notes/records" % (org, cls),
                         {"data": {"note": markers[cls]}}, token=token)
            check(r.status == 201, "%s record: %d %r" % (cls, r.status, r.body[:300]))
        time.sleep(2.5)  # two log intervals: shipped
        ov = ["backup.target=dir:" + target]
        bwj(srv.data_dir, "backup", "run", "--full", overrides=ov)
        files = target_files(target)
        check(any("/log/" in f for f in files), "records: the change log was shipped")
        for cls, m in markers.items():
            for f in files:
                check(m.encode() not in open(f, "rb").read(),
                      "records: the %s marker in plaintext in %s" % (cls, f))
        r = os.path.join(tmp, "r")
        url = pg_newdb(PG_DIR) if pg else None
        bwj(srv.data_dir, "backup", "restore", "--to", r, *(["--database", url] if pg else []),
            overrides=ov)
        if pg:
            p = subprocess.run(["pg_dump", "-d", url], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=120)
            check(p.returncode == 0, "pg_dump: %s" % p.stderr[-300:])
            restored = p.stdout.lower()  # bodies are bytea: dumped as hex
            markers = {c: m.encode().hex() for c, m in markers.items()}
        else:
            restored = open(os.path.join(r, "db", "bulwark.db"), "rb").read()
        check(markers["public"].encode() in restored and
              markers["confidential"].encode() not in restored,
              "records: the restored store holds the public record as stored and the "
              "confidential one encrypted")
        audit_ok(r, "records")
        print("records: public and confidential markers absent from %d target files; "
              "the restore holds both records" % len(files))


def t_pg_records(tmp):
    t_records(tmp, pg=True)


def t_pg_flip(tmp):
    """flip on PostgreSQL, under a serve shipping the change log without
    scheduled incrementals (so the latest restore replays the newest segment);
    a refused restore leaves its database empty, and a restore into a
    database that holds anything is refused."""
    target = os.path.join(tmp, "target")
    with serve_with_backups(tmp, target, pg_dir=PG_DIR) as srv:
        wait_for(lambda: len(manifests(target)) >= 1, 60, "the scheduler's first full backup")
        api, token = admin_api(srv)
        for i in range(3):
            create_user(api, token, "pgflip%d@example.com" % i)
        time.sleep(2.5)  # two log intervals: shipped
        ov = ["backup.target=dir:" + target]
        n = len(users(srv.data_dir))
        p = bw(srv.data_dir, "backup", "restore", "--to", os.path.join(tmp, "r-live"),
               "--database", srv.database_url, overrides=ov, expect=1)
        check("not empty" in p.stderr and not os.path.exists(os.path.join(tmp, "r-live")),
              "pg restore into a database that holds data: %s" % p.stderr)
        check(len(users(srv.data_dir)) == n, "the live database is untouched")
        t_flip(srv.data_dir, target, ov, tmp, pg=True)


def audit_details(data_dir, action):
    db = sqlite3.connect(os.path.join(data_dir, "db", "bulwark.db"))
    rows = db.execute("SELECT target, details FROM bw_audit_events WHERE action = ? ORDER BY seq",
                      (action,)).fetchall()
    db.close()
    return [(t, json.loads(d)) for t, d in rows]


def t_log_incremental(tmp):
    """Incrementals inside serve are built from the change log: they write only
    the changes since their parent, chain, restore on their own (also after
    the change log is pruned away), verify, and a flipped byte in a change
    chunk is named."""
    target = os.path.join(tmp, "target")
    with serve_with_backups(tmp, target, extra=["backup.incremental=2s"]) as srv:
        wait_for(lambda: len(manifests(target)) >= 1, 30, "the first full backup")
        api, token = admin_api(srv)
        ov = ["backup.target=dir:" + target]

        def newest_changes_backup(after_ms):
            for x in reversed(bwj(srv.data_dir, "backup", "list", overrides=ov)):
                if x["kind"] == "incremental" and x["changes"] > 0 and x["created_ms"] > after_ms:
                    return x
            return None
        first = ["incr1-%02d@example.com" % i for i in range(4)]
        for e in first:
            create_user(api, token, e)
        t1 = time.time() * 1000
        got = []
        wait_for(lambda: got.append(newest_changes_backup(t1)) or got[-1], 30,
                 "an incremental from the change log")
        inc1 = got[-1]
        done = {t: d for t, d in audit_details(srv.data_dir, "backup.completed")}
        d1 = done[inc1["name"]]
        check(d1["mode"] == "changes" and d1["new_bytes"] < d1["size"] // 4,
              "incremental wrote only the change: %r" % d1)
        second = ["incr2-%02d@example.com" % i for i in range(4)]
        for e in second:
            create_user(api, token, e)
        t2 = time.time() * 1000
        got = []
        wait_for(lambda: got.append(newest_changes_backup(t2)) or got[-1], 30,
                 "a second incremental from the change log")
        inc2 = got[-1]
        check(inc2["changes"] >= inc1["changes"] and inc2["size"] == inc1["size"],
              "chained incremental names the parent's changes: %r / %r" % (inc1, inc2))
        # prune the change log away entirely: the incrementals restore on their own
        for f in glob.glob(os.path.join(target, "log", "*", "*.seg")):
            os.unlink(f)
        r1 = os.path.join(tmp, "r-inc1")
        out = bwj(srv.data_dir, "backup", "restore", "--to", r1, "--backup", inc1["name"],
                  overrides=ov)
        u1 = users(r1)
        check(set(first) <= u1 and not (set(second) & u1),
              "incremental 1 restores exactly its point: %r" % sorted(u1))
        check(out["changes_applied"] > 0, "changes applied: %r" % out)
        audit_ok(r1, "incremental 1")
        r2 = os.path.join(tmp, "r-inc2")
        bwj(srv.data_dir, "backup", "restore", "--to", r2, "--backup", inc2["name"],
            overrides=ov)
        check(set(first) | set(second) <= users(r2), "incremental 2 restores both batches")
        audit_ok(r2, "incremental 2")
        bwj(srv.data_dir, "backup", "verify", inc2["name"], overrides=ov)
        # a flipped byte in a change chunk: the newest chunk object on the target
        chunks = sorted(glob.glob(os.path.join(target, "chunks", "*", "*")),
                        key=os.path.getmtime)
        path = chunks[-1]
        rel = os.path.relpath(path, target)
        saved = open(path, "rb").read()
        flip(path, len(saved) // 2)
        p = bw(srv.data_dir, "backup", "verify", overrides=ov, expect=1)
        check(rel in p.stderr, "flip in a change chunk named by verify: %s" % p.stderr)
        refused = 0
        for i, m in enumerate(manifests(target)):
            dest = os.path.join(tmp, "r-flip-%d" % i)
            p = bw(srv.data_dir, "backup", "restore", "--to", dest, "--backup",
                   os.path.basename(m)[:-9], overrides=ov, expect=None)
            if p.returncode == 1:
                refused += 1
                check(rel in p.stderr and not os.path.exists(dest),
                      "restore refuses the flipped change chunk by name: %s" % p.stderr)
            else:
                shutil.rmtree(dest)
        check(refused >= 1, "flip in %s: no restore refused" % rel)
        with open(path, "wb") as f:
            f.write(saved)
        print("incremental: from the change log, %d of %d bytes written; chained; restores "
              "without the log; audit verify passes; a flipped change chunk is named" %
              (d1["new_bytes"], d1["size"]))


def t_copy(tmp):
    """BCK-02: [backup] copy_target receives every backup, read back; the copy
    verifies and restores on its own; a flipped byte there is named."""
    d = init_dir(tmp)
    target, copy = os.path.join(tmp, "t"), os.path.join(tmp, "c")
    os.makedirs(target)
    os.makedirs(copy)
    ov = ["backup.target=dir:" + target, "backup.copy_target=dir:" + copy]
    pad_meta(d, 1)
    full = bwj(d, "backup", "run", "--full", overrides=ov)
    pad_meta(d, 1, seed=2)
    inc = bwj(d, "backup", "run", overrides=ov)
    for r in (full, inc):
        check(r["copy"]["name"] == r["name"] and r["copy"]["objects_copied"] >= 1,
              "copy result: %r" % r.get("copy"))
    check([os.path.basename(m) for m in manifests(copy)] ==
          [os.path.basename(m) for m in manifests(target)], "copy lists the same backups")
    cov = ["backup.target=dir:" + copy]
    res = bwj(d, "backup", "verify", overrides=cov)
    check(res["backups"] == 2, "copy verifies: %r" % res)
    r = os.path.join(tmp, "r")
    bwj(d, "backup", "restore", "--to", r, overrides=cov)
    audit_ok(r, "restore from the copy")
    check(len(audit_details(d, "backup.copied")) == 2, "two backup.copied events")
    m = manifests(copy)[-1]
    flip(m, os.path.getsize(m) // 2)
    p = bw(d, "backup", "verify", overrides=cov, expect=1)
    check(os.path.relpath(m, copy) in p.stderr, "flipped copy named: %s" % p.stderr)
    print("copy: 2 backups copied and read back, the copy verifies and restores; a flipped "
          "byte on it is named")


def t_kit(tmp):
    """key export-recovery, then a restore on a "new machine": no data directory,
    no keys, only the target, the kit and its passphrase."""
    d = init_dir(tmp)
    target = os.path.join(tmp, "t")
    os.makedirs(target)
    ov = ["backup.target=dir:" + target]
    pw = os.path.join(tmp, "pw")
    with open(pw, "w") as f:
        f.write(ADMIN_PW + "\n")
    bw(d, "user", "add", "--email", "kit@example.com", "--password-file", pw)
    bwj(d, "backup", "run", "--full", overrides=ov)
    pp, bad = os.path.join(tmp, "pass"), os.path.join(tmp, "bad")
    with open(pp, "w") as f:
        f.write("correct horse battery staple\n")
    with open(bad, "w") as f:
        f.write("correct horse battery stapler\n")
    kit = os.path.join(tmp, "kit.txt")
    bw(d, "key", "export-recovery", "--passphrase-file", pp, "--output", kit, overrides=ov)
    check(oct(os.stat(kit).st_mode & 0o777) == "0o600", "kit is 0600")
    text = open(kit).read()
    master = open(os.path.join(d, "keys", "master.key")).read().strip()
    check(master not in text and "bwrk1:" in text and "--recovery-kit" in text,
          "kit holds the sealed keys and the restore instructions, not the key")
    check(len(audit_details(d, "key.recovery_exported")) == 1, "export audited")
    short = os.path.join(tmp, "short")
    with open(short, "w") as f:
        f.write("short\n")
    bw(d, "key", "export-recovery", "--passphrase-file", short, expect=1)
    new = os.path.join(tmp, "new-machine")
    os.makedirs(new)

    def restore(to, kitfile, passfile, expect):
        import harness
        p = subprocess.run([BULWARK, "backup", "restore", "--to", to, "--target",
                            "dir:" + target, "--recovery-kit", kitfile, "--passphrase-file",
                            passfile], cwd=new, env=harness.sanitizer_env(), timeout=120,
                           capture_output=True, text=True, errors="replace")
        check(sanitizer_report(p.stderr) is None, "sanitizer report: %s" % p.stderr[-3000:])
        check(p.returncode == expect, "kit restore exit %d (want %d): %s" %
              (p.returncode, expect, p.stderr[-500:]))
        return p
    r = os.path.join(new, "restored")
    p = restore(r, kit, bad, 1)
    check("passphrase" in p.stderr and os.listdir(new) == [], "wrong passphrase: refused, "
          "nothing left: %s %r" % (p.stderr, os.listdir(new)))
    forged = os.path.join(tmp, "forged")
    lines = text.splitlines()
    k = [i for i, ln in enumerate(lines) if ln.startswith("bwrk1:")][0]
    body = lines[k]
    lines[k] = body[:-10] + ("A" if body[-10] != "A" else "B") + body[-9:]
    with open(forged, "w") as f:
        f.write("\n".join(lines) + "\n")
    restore(r, forged, pp, 1)
    check(os.listdir(new) == [], "forged kit: nothing left: %r" % os.listdir(new))
    restore(r, kit, pp, 0)
    check(os.listdir(new) == ["restored"], "only the restored directory: %r" % os.listdir(new))
    check(open(os.path.join(r, "keys", "master.key")).read().strip() == master,
          "the kit restored the master key")
    check("kit@example.com" in users(r), "restored data")
    audit_ok(r, "kit restore")
    print("kit: exported (audited, 0600), wrong passphrase and forged kit refused, restore on "
          "a machine without keys works and its audit trail verifies")


CASES = {"records": t_records, "archive": t_archive, "copy": t_copy, "kit": t_kit, "load": t_load_and_pitr, "incremental": t_log_incremental, "kill": t_kill, "nospace": t_nospace, "prune": t_prune,
         "sftp": t_sftp, "pg": t_pg, "pg_pitr": t_pg_pitr, "pg_flip": t_pg_flip, "pg_records": t_pg_records, "pg_kill": t_pg_kill,
         "pg_nospace": t_pg_nospace}


def run_cases(cases, names, prefix=""):
    """Runs each named case in its own temporary directory; 1 if any failed."""
    failed = 0
    for n in names:
        t0 = time.time()
        try:
            with Tmp(prefix + n) as tmp:
                cases[n](tmp)
            print("ok   %s (%.1fs)" % (n, time.time() - t0))
        except (Fail, AssertionError, subprocess.CalledProcessError) as e:
            failed += 1
            print("FAIL %s: %s" % (n, e))
    return 1 if failed else 0


def main():
    global BULWARK, PG_DIR
    ap = argparse.ArgumentParser()
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--only")
    a = ap.parse_args()
    BULWARK = os.path.abspath(a.bulwark)
    PG_DIR = a.pg_dir
    names = a.only.split(",") if a.only else [n for n in CASES if not n.startswith("pg") or PG_DIR]
    return run_cases(CASES, names)


if __name__ == "__main__":
    sys.exit(main())
