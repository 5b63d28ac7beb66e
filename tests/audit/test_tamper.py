#!/usr/bin/env python3
"""test_tamper.py - the audit trail's tamper suite (issue 5, SPEC 6.3, LOG-06).

    python3 tests/audit/test_tamper.py --bulwark BIN --tool AUDIT_TOOL
                                       [--pg-dir DIR] [--db-mutations N]
                                       [--archive-mutations N] [--seed S]

Builds a real audit trail (events appended through bw_audit_append by
bench/audit_tool and `bulwark user add`, signed checkpoints from `bulwark
audit checkpoint`), then acts as an attacker with write access to the
database and the archive directory (not to the signing key): one random
mutation at a time - edit any column, edit a hash or link, delete, insert
(garbage or a correctly hashed forgery), swap, truncate the newest events
(with and without fixing the head row), re-hash the whole chain after an
edit - and, on a second trail whose old events were moved to archives by
`bulwark audit retention`, flip or cut archive bytes, delete or swap
archive files, drop archive index rows. After each mutation `bulwark audit
verify` must exit 1 and name the first bad event (exactly, or for bytes
inside an encrypted archive chunk, the chunk's first event); the trail is
then restored and must verify again at the end. With --pg-dir the same runs
on a fresh PostgreSQL database (mutations through one psql session).
Standard library only; exit 0 when every mutation was caught.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "api"))
import harness  # noqa: E402

COLS = ["seq", "ts", "actor", "action", "target", "outcome", "remote", "request_id",
        "details", "org", "prev_hash", "hash"]
TEXT_COLS = ["actor", "action", "target", "outcome", "remote", "request_id", "details", "org"]


def chain_hash(ev, prev, v2_from=1):
    """The canonical hash of src/audit/event.c, reimplemented independently:
    v2 SHA-256 from seq v2_from on, v1 BLAKE2b-256 before it (chains begun
    before migration 0009)."""
    v2 = int(ev["seq"]) >= v2_from
    h = hashlib.sha256() if v2 else hashlib.blake2b(digest_size=32)
    h.update(b"bulwark-audit-v2" if v2 else b"bulwark-audit-v1")
    h.update(prev)
    h.update(int(ev["seq"]).to_bytes(8, "big", signed=True))
    h.update(int(ev["ts"]).to_bytes(8, "big", signed=True))
    for f in ["actor", "action", "target", "outcome", "remote", "request_id", "details", "org"]:
        b = ev[f].encode("utf-8")
        h.update(len(b).to_bytes(4, "big"))
        h.update(b)
    return h.digest()


class SqliteDB:
    def __init__(self, path):
        self.c = sqlite3.connect(path, isolation_level=None, timeout=30)

    def blob(self, b):
        return "x'%s'" % b.hex()

    def exec(self, sql):
        self.c.executescript(sql)

    def close(self):
        self.c.close()


class PgDB:
    """One psql session; statements separated by a marker line."""

    def __init__(self, url):
        self.p = subprocess.Popen(["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=0"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)

    def blob(self, b):
        return "'\\x%s'::bytea" % b.hex()

    def exec(self, sql):
        self.p.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo __DONE__\n")
        self.p.stdin.flush()
        out = []
        while True:
            line = self.p.stdout.readline()
            if line == "":
                raise AssertionError("psql ended: %s" % "".join(out))
            if line.strip() == "__DONE__":
                break
            out.append(line)
        text = "".join(out)
        if "ERROR" in text:
            raise AssertionError("psql: %s\nfor: %s" % (text, sql[:300]))
        return text

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def q(s):
    return "'" + s.replace("'", "''") + "'"


class Trail:
    """A data directory with a real trail, and the attacker's handle on it."""

    def __init__(self, args, tmp, name):
        self.args = args
        self.data = os.path.join(tmp, name)
        init = [args.bulwark, "--data-dir", self.data, "init"]
        self.url = None
        if args.pg_dir:
            self.url = harness.pg_newdb(args.pg_dir)
            init += ["--database", self.url]
        self.run(init[3:], check=True)
        self.target = self.url or os.path.join(self.data, "db", "bulwark.db")
        self.db = PgDB(self.url) if self.url else SqliteDB(self.target)

    def run(self, argv, check=False):
        p = harness.run([self.args.bulwark, "--data-dir", self.data, "--json"] + argv,
                        timeout=300)
        bad = harness.sanitizer_report(p.stderr)
        if bad:
            raise AssertionError("sanitizer report from %s: %s" % (argv, p.stderr[-3000:]))
        if check and p.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (argv, p.returncode, p.stderr))
        return p

    def append(self, n, threads=4, offset=0):
        p = harness.run([self.args.tool, "append", self.target, str(n), str(threads),
                         str(offset)], timeout=300)
        if p.returncode != 0:
            raise AssertionError("audit_tool append failed: %s" % p.stderr)

    def verify(self):
        p = self.run(["audit", "verify"])
        try:
            rep = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise AssertionError("verify printed no report (exit %d): %s %s" %
                                 (p.returncode, p.stdout, p.stderr))
        if (p.returncode == 0) != rep["ok"]:
            raise AssertionError("verify exit %d disagrees with its report %r" %
                                 (p.returncode, rep))
        return rep

    def events(self):
        p = self.run(["audit", "export"], check=True)
        evs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        for e in evs:
            e["prev_hash"] = bytes.fromhex(e["prev_hash"])
            e["hash"] = bytes.fromhex(e["hash"])
        return evs

    def checkpoints(self):
        path = os.path.join(self.data, "audit", "checkpoints.jsonl")
        with open(path) as f:
            return sorted(json.loads(l)["seq"] for l in f if l.strip())

    def snapshot(self):
        self.db.exec("DROP TABLE IF EXISTS snap_events; DROP TABLE IF EXISTS snap_head; "
                     "DROP TABLE IF EXISTS snap_cps; DROP TABLE IF EXISTS snap_arch; "
                     "CREATE TABLE snap_events AS SELECT * FROM bw_audit_events; "
                     "CREATE TABLE snap_head AS SELECT * FROM bw_audit_head; "
                     "CREATE TABLE snap_cps AS SELECT * FROM bw_audit_checkpoints; "
                     "CREATE TABLE snap_arch AS SELECT * FROM bw_audit_archives")
        self.files = {}
        for root, _dirs, files in os.walk(os.path.join(self.data, "audit")):
            for fn in files:
                p = os.path.join(root, fn)
                with open(p, "rb") as f:
                    self.files[p] = f.read()

    def restore(self):
        cols = ", ".join(COLS)
        self.db.exec("DELETE FROM bw_audit_events; "
                     "INSERT INTO bw_audit_events(%s) SELECT %s FROM snap_events; "
                     "DELETE FROM bw_audit_head; INSERT INTO bw_audit_head SELECT * FROM snap_head; "
                     "DELETE FROM bw_audit_checkpoints; "
                     "INSERT INTO bw_audit_checkpoints SELECT * FROM snap_cps; "
                     "DELETE FROM bw_audit_archives; "
                     "INSERT INTO bw_audit_archives SELECT * FROM snap_arch" % (cols, cols))
        for p, data in self.files.items():
            with open(p, "wb") as f:
                f.write(data)


def row_values(db, ev, seq=None):
    vals = [str(seq if seq is not None else ev["seq"]), str(ev["ts"])]
    vals += [q(ev[c]) for c in TEXT_COLS]
    vals += [db.blob(ev["prev_hash"]), db.blob(ev["hash"])]
    return ", ".join(vals)


def set_row(db, ev, seq):
    sets = ["ts = %d" % ev["ts"]] + ["%s = %s" % (c, q(ev[c])) for c in TEXT_COLS]
    sets += ["prev_hash = %s" % db.blob(ev["prev_hash"]), "hash = %s" % db.blob(ev["hash"])]
    return "UPDATE bw_audit_events SET %s WHERE seq = %d" % (", ".join(sets), seq)


# ---- mutations of the live store: each returns (description, accepted first_bad set) ----

def m_edit(t, evs, cps, rnd):
    ev = rnd.choice(evs)
    col = rnd.choice(["ts"] + TEXT_COLS)
    if col == "ts":
        sql = "UPDATE bw_audit_events SET ts = ts + %d WHERE seq = %d" % (rnd.choice([-1, 1, 86400]), ev["seq"])
    elif col == "outcome":  # the schema admits three values: the attacker picks another
        new = rnd.choice([o for o in ("success", "failure", "denied") if o != ev[col]])
        sql = "UPDATE bw_audit_events SET %s = %s WHERE seq = %d" % (col, q(new), ev["seq"])
    else:
        new = rnd.choice([ev[col] + "x", ev[col][:-1], "", ev[col].upper() + " ", "admin"])
        if new == ev[col]:
            new += "!"
        sql = "UPDATE bw_audit_events SET %s = %s WHERE seq = %d" % (col, q(new), ev["seq"])
    t.db.exec(sql)
    return "edit %s of %d" % (col, ev["seq"]), {ev["seq"]}


def m_hash(t, evs, cps, rnd):
    ev = rnd.choice(evs)
    col = rnd.choice(["hash", "prev_hash"])
    b = bytearray(ev[col])
    b[rnd.randrange(32)] ^= 1 << rnd.randrange(8)
    if rnd.random() < 0.2:
        b = b[:31]
    t.db.exec("UPDATE bw_audit_events SET %s = %s WHERE seq = %d" % (col, t.db.blob(bytes(b)), ev["seq"]))
    return "flip %s of %d" % (col, ev["seq"]), {ev["seq"]}


def m_delete(t, evs, cps, rnd):
    ev = rnd.choice(evs)
    t.db.exec("DELETE FROM bw_audit_events WHERE seq = %d" % ev["seq"])
    return "delete %d" % ev["seq"], {ev["seq"]}


def m_insert_end(t, evs, cps, rnd):
    last = evs[-1]
    fake = dict(rnd.choice(evs), seq=last["seq"] + 1, target="forged")
    fake["prev_hash"] = last["hash"]
    fake["hash"] = chain_hash(fake, last["hash"])  # a correct link, but beyond the head
    t.db.exec("INSERT INTO bw_audit_events(%s) VALUES (%s)" % (", ".join(COLS), row_values(t.db, fake)))
    return "insert at the end %d" % fake["seq"], {fake["seq"]}


def m_insert_mid(t, evs, cps, rnd):
    ev = rnd.choice(evs[:-1])
    k = ev["seq"]
    # make room: shift k.. up by one (through negatives: the primary key stays unique)
    t.db.exec("UPDATE bw_audit_events SET seq = -seq - 1 WHERE seq >= %d; "
              "UPDATE bw_audit_events SET seq = -seq WHERE seq < 0" % k)
    fake = dict(ev, target="forged", seq=k)
    well_formed = rnd.random() < 0.5
    fake["hash"] = chain_hash(fake, ev["prev_hash"]) if well_formed else os.urandom(32)
    t.db.exec("INSERT INTO bw_audit_events(%s) VALUES (%s)" % (", ".join(COLS), row_values(t.db, fake)))
    # a forgery with a correct hash of its own is first contradicted by the next
    # event, or - when it lands on a checkpointed seq - by that checkpoint, which
    # vouches for nothing after the previous one
    accept = {k, k + 1} if well_formed else {k}
    if well_formed and k in cps:
        accept.add(max([c for c in cps if c < k], default=0) + 1)
    return "insert before %d (%s)" % (k, "hashed" if well_formed else "garbage"), accept


def m_swap(t, evs, cps, rnd):
    i = rnd.randrange(len(evs) - 1)
    j = i + 1 if rnd.random() < 0.6 else rnd.randrange(i + 1, len(evs))
    a, b = evs[i], evs[j]
    t.db.exec(set_row(t.db, b, a["seq"]) + "; " + set_row(t.db, a, b["seq"]))
    return "swap %d and %d" % (a["seq"], b["seq"]), {a["seq"]}


def m_truncate(t, evs, cps, rnd):
    m = rnd.randrange(0, len(evs) - 1)  # keep evs[:m]
    keep_last = evs[m - 1]["seq"] if m > 0 else 0
    sql = "DELETE FROM bw_audit_events WHERE seq > %d" % keep_last
    fix = rnd.random() < 0.7
    if fix:  # the careful attacker also rewinds the head row
        h = evs[m - 1]["hash"] if m > 0 else bytes(32)
        sql += "; UPDATE bw_audit_head SET seq = %d, hash = %s" % (keep_last, t.db.blob(h))
        sql += "; DELETE FROM bw_audit_checkpoints WHERE seq > %d" % keep_last
    t.db.exec(sql)
    return "truncate after %d (%s)" % (keep_last, "head rewound" if fix else "head kept"), \
        {keep_last + 1}


def m_rechain(t, evs, cps, rnd):
    """Edit one event and re-hash everything after it, head included: only
    the signed checkpoints can tell."""
    i = rnd.randrange(len(evs))
    new = [dict(e) for e in evs]
    new[i]["target"] = new[i]["target"] + "-rewritten"
    prev = new[i]["prev_hash"]
    sql = []
    for e in new[i:]:
        e["prev_hash"] = prev
        e["hash"] = chain_hash(e, prev)
        prev = e["hash"]
        sql.append(set_row(t.db, e, e["seq"]))
    sql.append("UPDATE bw_audit_head SET hash = %s" % t.db.blob(prev))
    t.db.exec("; ".join(sql))
    before = [c for c in cps if c < evs[i]["seq"]]
    return "rechain from %d" % evs[i]["seq"], {(before[-1] if before else 0) + 1}


DB_MUTATIONS = [m_edit, m_edit, m_hash, m_delete, m_insert_end, m_insert_mid, m_swap,
                m_truncate, m_rechain]


# ---- mutations of archives ----------------------------------------------------------

def archives(t):
    out = []
    d = os.path.join(t.data, "audit", "archive")
    for fn in sorted(os.listdir(d)):
        parts = fn[len("audit-"):-len(".bwa")].split("-")
        out.append((os.path.join(d, fn), int(parts[0]), int(parts[1])))
    return out


def a_flip(t, arcs, rnd):
    path, first, last = rnd.choice(arcs)
    data = bytearray(t.files[path])
    pos = rnd.randrange(len(data))
    data[pos] ^= 1 << rnd.randrange(8)
    with open(path, "wb") as f:
        f.write(data)
    return "flip byte %d of %s" % (pos, os.path.basename(path)), set(range(first, last + 1))


def a_cut(t, arcs, rnd):
    path, first, last = rnd.choice(arcs)
    data = t.files[path]
    with open(path, "wb") as f:
        f.write(data[:rnd.randrange(len(data))])
    return "cut %s" % os.path.basename(path), set(range(first, last + 1))


def a_delete(t, arcs, rnd):
    path, first, last = rnd.choice(arcs)
    os.unlink(path)
    return "delete %s" % os.path.basename(path), {first}


def a_unindex(t, arcs, rnd):
    path, first, last = rnd.choice(arcs)
    t.db.exec("DELETE FROM bw_audit_archives WHERE first_seq = %d" % first)
    return "drop the index row of %s" % os.path.basename(path), {first}


def a_swap(t, arcs, rnd):
    (pa, fa, _la), (pb, _fb, _lb) = rnd.sample(arcs, 2)
    if fa > _fb:
        (pa, fa), (pb, _fb) = (pb, _fb), (pa, fa)
    with open(pa, "wb") as f:
        f.write(t.files[pb])
    with open(pb, "wb") as f:
        f.write(t.files[pa])
    return "swap %s and %s" % (os.path.basename(pa), os.path.basename(pb)), {fa}


ARCHIVE_MUTATIONS = [a_flip, a_flip, a_flip, a_cut, a_delete, a_unindex, a_swap]


def check(t, what, accept, failures):
    rep = t.verify()
    if rep["ok"] or rep["first_bad"] not in accept:
        failures.append("%s: verify said ok=%s first_bad=%s (%s), expected one of %s" %
                        (what, rep["ok"], rep["first_bad"], rep["reason"],
                         sorted(accept)[:5]))
    t.restore()


def build_live(args, tmp):
    t = Trail(args, tmp, "live")
    for i in range(4):
        t.append(50, threads=4)
        pw = os.path.join(tmp, "pw")
        with open(pw, "w") as f:
            f.write("Tamper-Suite-%d-pass\n" % i)
        t.run(["user", "add", "--email", "u%d@example.com" % i, "--password-file", pw],
              check=True)
        t.run(["audit", "checkpoint"], check=True)
    rep = t.verify()
    assert rep["ok"], rep
    t.run(["audit", "checkpoint"], check=True)  # covers the audit.verified event too
    t.snapshot()
    return t


def check_mixed(args, tmp, failures):
    """A chain begun before migration 0009: its v1 (BLAKE2b) events stay as
    they are, new appends are v2 (SHA-256), and verify walks both, live and
    archived. The boundary in bw_meta is no free choice: moving it either
    way breaks verify at the first event it re-labels."""
    t = Trail(args, tmp, "mixed")
    prev, rows = bytes(32), []
    for s in range(1, 41):  # what a pre-0009 binary wrote
        ev = {"seq": s, "ts": 1700000000 + s, "actor": "system", "action": "legacy.v1",
              "target": "t%d" % s, "outcome": "success", "remote": "-", "request_id": "-",
              "details": '{"i":%d}' % s, "org": "-", "prev_hash": prev}
        ev["hash"] = chain_hash(ev, prev, v2_from=41)
        prev = ev["hash"]
        rows.append("INSERT INTO bw_audit_events(%s) VALUES (%s)" %
                    (", ".join(COLS), row_values(t.db, ev)))
    rows.append("UPDATE bw_audit_head SET seq = 40, hash = %s" % t.db.blob(prev))
    rows.append("UPDATE bw_meta SET value = '41' WHERE key = 'audit.hash_v2_from'")
    t.db.exec("; ".join(rows))
    t.append(30, threads=3)
    rep = t.verify()
    if not rep["ok"] or rep["last_seq"] < 70:
        failures.append("mixed v1/v2 chain does not verify: %r" % rep)
    evs = t.events()
    bad = [e["seq"] for e in evs if chain_hash(e, e["prev_hash"], 41) != e["hash"]]
    if bad or len(evs) < 70:
        failures.append("the independent v1/v2 hash disagrees at %s" % bad[:5])
    for value, first_bad in (("1", 1), ("71", 41)):
        t.db.exec("UPDATE bw_meta SET value = '%s' WHERE key = 'audit.hash_v2_from'" % value)
        rep = t.verify()
        if rep["ok"] or rep["first_bad"] != first_bad:
            failures.append("boundary moved to %s: verify said %r" % (value, rep))
    t.db.exec("UPDATE bw_meta SET value = '41' WHERE key = 'audit.hash_v2_from'")
    # events 1..40 are three years old: retention archives them (v2 header
    # carrying the boundary) and the chain verifies across the archive
    p = t.run(["audit", "retention"], check=True)
    if json.loads(p.stdout)["archived"] != 40:
        failures.append("mixed chain: retention archived %s" % p.stdout)
    rep = t.verify()
    if not rep["ok"] or rep["archives"] != 1:
        failures.append("mixed chain after retention: %r" % rep)
    t.db.close()


def build_archived(args, tmp):
    t = Trail(args, tmp, "archived")
    t.append(300, threads=4, offset=-800 * 86400)  # older than retention.audit (2y)
    t.append(20, threads=2)
    p = t.run(["audit", "retention", "--max-events", "100"], check=True)
    assert json.loads(p.stdout)["archived"] == 300, p.stdout
    t.run(["audit", "checkpoint"], check=True)
    rep = t.verify()
    assert rep["ok"] and rep["archives"] == 3, rep
    t.run(["audit", "checkpoint"], check=True)
    t.snapshot()
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--db-mutations", type=int, default=700)
    ap.add_argument("--archive-mutations", type=int, default=300)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="bw-tamper-")
    os.chmod(tmp, 0o700)
    failures = []
    t0 = time.monotonic()
    store = "postgresql" if args.pg_dir else "sqlite"
    try:
        t = build_live(args, tmp)
        evs, cps = t.events(), t.checkpoints()
        # the forgeries below use chain_hash: it must agree with every stored hash
        bad = [e["seq"] for e in evs if chain_hash(e, e["prev_hash"]) != e["hash"]]
        if bad:
            failures.append("independent chain hash disagrees with the store at %s" % bad[:5])
        check_mixed(args, tmp, failures)
        for i in range(args.db_mutations):
            m = rnd.choice(DB_MUTATIONS)
            what, accept = m(t, evs, cps, rnd)
            check(t, what, accept, failures)
        rep = t.verify()
        if not rep["ok"]:
            failures.append("live trail does not verify after restoring: %r" % rep)
        t.db.close()

        a = build_archived(args, tmp)
        arcs = archives(a)
        pub = os.path.join(a.data, "keys", "audit-signing.pub")
        # an archive checks on another machine with the public key alone
        elsewhere = os.path.join(tmp, "elsewhere")
        os.mkdir(elsewhere)
        shutil.copy(arcs[0][0], elsewhere)
        shutil.copy(pub, elsewhere)
        p = harness.run([args.bulwark, "audit", "verify", "--archive",
                         os.path.join(elsewhere, os.path.basename(arcs[0][0])), "--pubkey",
                         os.path.join(elsewhere, "audit-signing.pub")])
        if p.returncode != 0:
            failures.append("standalone archive verify failed: %s %s" % (p.stdout, p.stderr))
        for i in range(args.archive_mutations):
            m = rnd.choice(ARCHIVE_MUTATIONS)
            what, accept = m(a, arcs, rnd)
            if m is a_flip and i % 10 == 0:  # the standalone check sees it too
                path = what.split(" of ")[1]
                p = harness.run([args.bulwark, "audit", "verify", "--archive",
                                 os.path.join(a.data, "audit", "archive", path), "--pubkey", pub])
                if p.returncode != 1:
                    failures.append("standalone verify missed: %s" % what)
            check(a, what, accept, failures)
        rep = a.verify()
        if not rep["ok"]:
            failures.append("archived trail does not verify after restoring: %r" % rep)
        a.db.close()
    except Exception:
        sys.stderr.write("test_tamper (%s, seed %d): kept %s\n" % (store, seed, tmp))
        raise
    total = args.db_mutations + args.archive_mutations
    for f in failures[:30]:
        print("FAIL", f)
    print("tamper suite (%s, seed %d): %d mutations (%d store, %d archive), %d missed, %.1fs" %
          (store, seed, total, args.db_mutations, args.archive_mutations, len(failures),
           time.monotonic() - t0))
    if failures:
        sys.stderr.write("kept %s\n" % tmp)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
