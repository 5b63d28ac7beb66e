#!/usr/bin/env python3
"""test_records.py - collections, records, envelope encryption and the deletion
lifecycle of Bulwark over real HTTPS (issue 4, data part).

    python3 tests/api/test_records.py --bulwark build/release/bulwark [--pg-dir DIR]
                                      [--pg-only] [-k PATTERN]... [-v]

Runs against a real `bulwark serve` on SQLite and, with --pg-dir (a running
scripts/pg-test-server), on a fresh PostgreSQL database. Exit 0 when every
test passes, 1 otherwise, 2 on usage errors. Reuses tests/api/harness.py and
the clients of tests/api/test_identity.py. What is attacked (CONTROLS AC-01,
AC-05, CRY-01, DATA-01..05, DATA-08, APP-01, APP-03, G-09; SPEC 6.4, 6.6):

  crud        create/read/replace/delete/restore; If-Match 428/412; ETag;
              validation 400s name the field and never echo the value;
              confidential reads audited as record.read without content
  tenants     ids, collection names and cursors of organisation B used by A
              answer byte-for-byte like random ones; B's marker never appears
  marker      a confidential record's marker is absent from every file of the
              store (db/ incl. -wal, or PostgreSQL's data directory incl.
              pg_wal); a public record's marker is present there
  swap        two encrypted bodies swapped in the database: both reads fail
              closed (500, no content) and crypto.integrity_fail is audited
  purge       deleted -> restorable -> purged after retention: row and data key
              gone, data.purged audited, restore 404, and the body saved from a
              copy of the store taken before the purge no longer decrypts when
              put back
  restricted  restricted collections need an MFA-verified session (403 .../mfa-
              required otherwise, also for API keys... by construction)
  lowering    lowering a classification needs an MFA-verified owner/admin, is
              audited, and re-encodes the bodies
  paging      cursor paging over all records, filters on public collections,
              none on confidential ones
  export      the owner exports the organisation as JSON; others get 403
  rotate      `bulwark key rotate` while the server runs: reads keep working,
              inventory shows the old master retired and the new one active
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import struct
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_identity as ti  # noqa: E402
from harness import HarnessError, Server  # noqa: E402
from test_identity import Api, Fail, check, problem, field_errors, cli, audit  # noqa: E402

ARGS = None
RETENTION = 4
ORGS = "/api/v1/orgs"


def totp(secret_b32, t=None, step_offset=0):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((t or time.time()) // 30) + step_offset
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    o = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000
    return "%06d" % code


class World:
    """Users, organisations and memberships shared by the tests of one server."""

    def __init__(self, api):
        self.api = api
        self.tok = {}
        self.uid = {}
        self.cred = {}

    def user(self, name, mfa=False):
        email = "%s-%s@example.org" % (name, secrets.token_hex(3))
        uid, pw = ti.make_user(self.api, email)
        tok = self.api.login(email, pw)["token"]
        if mfa:
            r = self.api.call("POST", "/api/v1/auth/mfa/enroll", token=tok)
            check(r.status == 200, "enroll: %d %r" % (r.status, r.body[:200]))
            sec = r.json()["secret"]
            r = self.api.call("POST", "/api/v1/auth/mfa/enroll/confirm", {"code": totp(sec)},
                              token=tok)
            check(r.status == 200, "confirm: %d %r" % (r.status, r.body[:200]))
        self.tok[name] = tok
        self.uid[name] = uid
        self.cred[name] = (email, pw)
        return email, tok

    def org(self, owner, name):
        r = self.api.call("POST", ORGS, {"name": name}, token=self.tok[owner])
        check(r.status == 201, "org create: %d %r" % (r.status, r.body[:300]))
        return r.json()["id"]

    def member(self, org, owner, email, role):
        r = self.api.call("POST", "%s/%s/members" % (ORGS, org), {"email": email, "role": role},
                          token=self.tok[owner])
        check(r.status in (200, 201), "member add: %d %r" % (r.status, r.body[:300]))


def setup_world(api):
    w = World(api)
    w.user("owner", mfa=True)
    w.user("ownerb", mfa=True)
    emails = {}
    emails["admin"], _ = w.user("admin", mfa=True)
    emails["admin_nomfa"], _ = w.user("admin_nomfa")
    for role in ("editor", "viewer", "auditor"):
        emails[role], _ = w.user(role)
    w.a = w.org("owner", "Org A")
    w.b = w.org("ownerb", "Org B")
    for role in ("admin", "editor", "viewer", "auditor"):
        w.member(w.a, "owner", emails[role], role)
    w.member(w.a, "owner", emails["admin_nomfa"], "admin")
    return w


FIELDS = [{"name": "name", "type": "string", "required": True, "max_length": 100},
          {"name": "notes", "type": "text"},
          {"name": "qty", "type": "integer", "min": 0, "max": 1000},
          {"name": "state", "type": "enum", "values": ["open", "closed"]}]


def coll(w, org, owner, name, cls=None, fields=FIELDS):
    body = {"name": name, "fields": fields}
    if cls:
        body["classification"] = cls
    r = w.api.call("POST", "%s/%s/collections" % (ORGS, org), body, token=w.tok[owner])
    check(r.status == 201, "collection create %s: %d %r" % (name, r.status, r.body[:300]))
    doc = r.json()
    check(doc["classification"] == (cls or "confidential"), "classification: %r" % doc)
    return "%s/%s/collections/%s/records" % (ORGS, org, name)


def create(w, base, who, data, expect=201):
    r = w.api.call("POST", base, {"data": data}, token=w.tok[who])
    check(r.status == expect, "create in %s: %d %r" % (base, r.status, r.body[:300]))
    return r.json() if r.status == 201 else r


def uname(prefix):
    return "%s_%s" % (prefix, secrets.token_hex(4))


# ---- store access ---------------------------------------------------------------------

def sql(srv, query, params=()):
    """Runs one statement on the server's store (the attacker with database access)."""
    if srv.database_url:
        q = query
        for p in params:
            check(isinstance(p, (int, str)) and ti.SAFE.match(str(p)), "unsafe param %r" % p)
            q = q.replace("?", "'%s'" % p if isinstance(p, str) else str(p), 1)
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                            srv.database_url, "-c", q], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        check(p.returncode == 0, "psql: %s" % p.stderr.strip())
        return [line.split("|") for line in p.stdout.strip().splitlines() if line]
    db = sqlite3.connect(os.path.join(srv.data_dir, "db", "bulwark.db"), timeout=30)
    try:
        db.execute("ATTACH DATABASE ? AS keys", (os.path.join(srv.data_dir, "db", "keys.db"),))
        cur = db.execute(query, params)
        rows = [[str(c) if c is not None else "" for c in r] for r in cur.fetchall()]
        db.commit()
        return rows
    finally:
        db.close()


def kt(srv, table):
    """A key-store table (decision C6): keys.db on SQLite, schema bulwark_keys on PG."""
    return ("bulwark_keys." if srv.database_url else "keys.") + table


def body_hex(srv, rid):
    if srv.database_url:
        return sql(srv, "SELECT encode(body, 'hex') FROM bw_records WHERE id = ?", (rid,))
    return sql(srv, "SELECT hex(body) FROM bw_records WHERE id = ?", (rid,))


def set_body_hex(srv, rid, hx):
    check(all(c in "0123456789abcdefABCDEF" for c in hx), "hex")
    if srv.database_url:
        sql(srv, "UPDATE bw_records SET body = decode('%s', 'hex') WHERE id = ?" % hx, (rid,))
    else:
        sql(srv, "UPDATE bw_records SET body = X'%s' WHERE id = ?" % hx, (rid,))


def store_files(srv):
    """Every file of the store: db/ of the data directory, or the PG cluster."""
    if srv.database_url:
        d = ARGS.pg_dir
        cl = os.path.join(d, "cluster")
        root = open(cl).read().strip() if os.path.exists(cl) else d
        root = os.path.join(root, "data")
    else:
        root = os.path.join(srv.data_dir, "db")
    out = []
    for dp, _, fns in os.walk(root):
        out += [os.path.join(dp, f) for f in fns]
    check(out, "no store files under %s" % root)
    return out


def grep_store(srv, marker):
    m = marker.encode()
    for f in store_files(srv):
        try:
            with open(f, "rb") as fh:
                if m in fh.read():
                    return f
        except OSError:
            pass
    return None


def comparable(r):
    skip = {"date", "x-request-id"}
    return (r.status, sorted((k.lower(), v) for k, v in r.headers if k.lower() not in skip),
            r.body)


# ---- tests ------------------------------------------------------------------------------

def t_crud(w):
    """create/read/replace/delete/restore, If-Match, validation, audited reads"""
    api = w.api
    base = coll(w, w.a, "owner", uname("customers"))
    doc = create(w, base, "editor", {"name": "Ada", "qty": 3, "state": "open"})
    check(set(doc) == {"id", "version", "created_at", "updated_at", "data"}, "shape %r" % doc)
    rid = doc["id"]
    r = api.call("GET", "%s/%s" % (base, rid), token=w.tok["viewer"])
    check(r.status == 200 and r.json()["data"]["name"] == "Ada", "read %r" % r)
    check(r.header("ETag") == '"1"', "etag %r" % r.header("ETag"))
    ev = audit(api.srv, action="record.read", target=rid)
    check(len(ev) == 1 and "Ada" not in json.dumps(ev), "record.read audit %r" % ev)
    put = "%s/%s" % (base, rid)
    problem(api.call("PUT", put, {"data": {"name": "B"}}, token=w.tok["editor"]), 428,
            what="PUT without If-Match")
    problem(api.call("PUT", put, {"data": {"name": "B"}}, token=w.tok["editor"],
                     headers={"If-Match": '"7"'}), 412, what="PUT stale")
    r = api.call("PUT", put, {"data": {"name": "Bea"}}, token=w.tok["editor"],
                 headers={"If-Match": '"1"'})
    check(r.status == 200 and r.json()["version"] == 2, "PUT %r" % r)
    problem(api.call("PUT", put, {"data": {"name": "C"}}, token=w.tok["editor"],
                     headers={"If-Match": '"1"'}), 412, what="PUT old version")
    # validation: unknown field, wrong type, oversize, missing required; value never echoed
    secret = "S3CR3T" + secrets.token_hex(4)
    r = api.call("POST", base, {"data": {"name": secret * 50, "qty": "x" + secret,
                                         "bogus": 1, "state": secret}}, token=w.tok["editor"])
    doc = problem(r, 400, what="invalid record")
    fields = sorted(f for f, _ in field_errors(doc))
    check(fields == ["bogus", "name", "qty", "state"], "field errors %r" % fields)
    check(secret not in r.body.decode(), "value echoed in 400")
    problem(api.call("POST", base, {"data": {"notes": "x"}}, token=w.tok["editor"]), 400,
            what="missing required")
    problem(api.call("POST", base, {"data": {"name": "x"}, "extra": 1}, token=w.tok["editor"]),
            400, what="unknown member")
    # XSS payload round-trips as escaped JSON (APP-03)
    xss = create(w, base, "editor", {"name": "<script>alert(1)</script>"})
    r = api.call("GET", "%s/%s" % (base, xss["id"]), token=w.tok["editor"])
    check(r.header("Content-Type") == "application/json" and
          r.json()["data"]["name"] == "<script>alert(1)</script>", "xss round trip")
    # delete, hidden, restore by owner only
    check(api.call("DELETE", put, token=w.tok["viewer"]).status == 403, "viewer delete")
    check(api.call("DELETE", put, token=w.tok["editor"]).status == 204, "delete")
    problem(api.call("GET", put, token=w.tok["editor"]), 404, what="deleted read")
    problem(api.call("POST", put + "/restore", token=w.tok["editor"]), 403, what="editor restore")
    problem(api.call("POST", put + "/restore", token=w.tok["admin_nomfa"]), 403, "/mfa-required",
            what="admin without MFA restores")
    r = api.call("POST", put + "/restore", token=w.tok["owner"])
    check(r.status == 200 and r.json()["data"]["name"] == "Bea", "restore %r" % r)
    problem(api.call("POST", put + "/restore", token=w.tok["owner"]), 409, what="restore live")
    for a in ("record.created", "record.updated", "record.deleted", "record.restored"):
        check(audit(api.srv, action=a, target=rid), "no %s event" % a)


def t_tenants(w):
    """org B's ids, names and cursors from org A: the same 404 as random ones"""
    api = w.api
    marker = "BMARK" + secrets.token_hex(8)
    name = uname("secret")
    base_b = coll(w, w.b, "ownerb", name, cls="public")
    recs = [create(w, base_b, "ownerb", {"name": marker})["id"] for _ in range(3)]
    r = api.call("GET", base_b + "?limit=1", token=w.tok["ownerb"])
    cursor_b = r.json()["next_cursor"]
    check(cursor_b, "B has a cursor")
    mine = coll(w, w.a, "owner", name, cls="public")  # same name in A: its own collection
    create(w, mine, "owner", {"name": "a-data"})
    rand_id = "0" * 26
    pairs = [
        ("GET", "%s/%s" % (mine, recs[0]), "%s/%s" % (mine, rand_id)),
        ("PUT", "%s/%s" % (mine, recs[0]), "%s/%s" % (mine, rand_id)),
        ("DELETE", "%s/%s" % (mine, recs[0]), "%s/%s" % (mine, rand_id)),
        ("POST", "%s/%s/restore" % (mine, recs[0]), "%s/%s/restore" % (mine, rand_id)),
        ("GET", "%s?cursor=%s" % (mine, cursor_b), "%s?cursor=%s" % (mine, "A" * 56)),
        ("GET", "%s/%s/collections/%s/records/%s" % (ORGS, w.b, name, recs[0]),
         "%s/%s/collections/%s/records/%s" % (ORGS, rand_id, name, recs[0])),
        ("GET", "%s/%s/collections/%s" % (ORGS, w.b, name),
         "%s/%s/collections/%s" % (ORGS, rand_id, name)),
        ("GET", "%s/%s/export" % (ORGS, w.b), "%s/%s/export" % (ORGS, rand_id)),
        ("GET", "%s/%s/collections/%s" % (ORGS, w.a, uname("none")),
         "%s/%s/collections/%s" % (ORGS, w.a, uname("none"))),
    ]
    for method, theirs, random in pairs:
        body = {"data": {"name": "x"}} if method == "PUT" else None
        hdr = {"If-Match": '"1"'} if method == "PUT" else None
        r1 = api.call(method, theirs, body, token=w.tok["owner"], headers=hdr)
        r2 = api.call(method, random, body, token=w.tok["owner"], headers=hdr)
        check(r1.status == 404, "%s %s: %d" % (method, theirs, r1.status))
        if "collections/%s" % name in theirs or "cursor" in theirs or "export" in theirs \
                or "/records/" in theirs:
            c1, c2 = comparable(r1), comparable(r2)
            check(c1 == c2, "%s: B's id answers unlike a random one:\n%r\n%r" % (method, c1, c2))
    # B's marker never in A's answers: list, export
    for path in (mine, "%s/%s/export" % (ORGS, w.a)):
        r = api.call("GET", path, token=w.tok["owner"])
        check(r.status == 200 and marker.encode() not in r.body, "B's data in %s" % path)
    check(api.call("GET", "%s/%s" % (base_b, recs[0]), token=w.tok["ownerb"]).status == 200,
          "B reads its own")


def checkpoint_pg(srv):
    pass  # PostgreSQL writes WAL at commit; the grep covers pg_wal as well as base/


def t_marker(w):
    """confidential marker absent from store files (incl. WAL); public marker present"""
    api = w.api
    conf = coll(w, w.a, "owner", uname("conf"))
    pub = coll(w, w.a, "owner", uname("pub"), cls="public")
    mc = "CONFMARK" + secrets.token_hex(8)
    mp = "PUBMARK" + secrets.token_hex(8)
    rid = create(w, conf, "editor", {"name": mc, "notes": mc})["id"]
    create(w, pub, "editor", {"name": mp})
    r = api.call("PUT", "%s/%s" % (conf, rid), {"data": {"name": mc + "v2"}},
                 token=w.tok["editor"], headers={"If-Match": '"1"'})
    check(r.status == 200, "replace")
    if not api.srv.database_url:
        sql(api.srv, "PRAGMA wal_checkpoint(PASSIVE)")
    time.sleep(0.5)
    f = grep_store(api.srv, mc)
    check(f is None, "confidential marker found in %s" % f)
    check(grep_store(api.srv, mp) is not None, "public marker not found in the store files: "
          "the grep cannot see plaintext, so its negative result proves nothing")
    row = body_hex(api.srv, rid)
    check(row and mc.encode().hex().upper() not in row[0][0].upper(), "marker in the body")


def t_swap(w):
    """two encrypted bodies swapped in the database: both reads fail closed, audited"""
    api = w.api
    base = coll(w, w.a, "owner", uname("swap"))
    m = "SWAPMARK" + secrets.token_hex(6)
    r1 = create(w, base, "editor", {"name": m + "1"})["id"]
    r2 = create(w, base, "editor", {"name": m + "2"})["id"]
    h1, h2 = body_hex(api.srv, r1)[0][0], body_hex(api.srv, r2)[0][0]
    set_body_hex(api.srv, r1, h2)
    set_body_hex(api.srv, r2, h1)
    for rid in (r1, r2):
        r = api.srv.request("GET", "%s/%s" % (base, rid),
                            headers={"Authorization": "Bearer " + w.tok["editor"]})
        check(r.status == 500, "swapped body read: %d %r" % (r.status, r.body[:200]))
        check(m.encode() not in r.body, "content in the failure answer")
        check(json.loads(r.body)["type"].endswith("/integrity-failure"), "type %r" % r.body)
        check(audit(api.srv, action="crypto.integrity_fail", target=rid), "not audited")
    # a flipped byte too
    h = bytearray(bytes.fromhex(h1))
    h[20] ^= 1
    set_body_hex(api.srv, r2, h.hex())
    r = api.srv.request("GET", "%s/%s" % (base, r2),
                        headers={"Authorization": "Bearer " + w.tok["editor"]})
    check(r.status == 500, "flipped byte read %d" % r.status)


def t_purge(w):
    """purge after retention: row and key gone, audited; an old copy no longer decrypts"""
    api = w.api
    base = coll(w, w.a, "owner", uname("purge"))
    m = "PURGEMARK" + secrets.token_hex(6)
    rid = create(w, base, "editor", {"name": m})["id"]
    saved = body_hex(api.srv, rid)[0][0]  # the copy an older backup holds
    copy = None
    if not api.srv.database_url:
        copy = os.path.join(api.srv.tmp, "backup-copy.db")
        src = sqlite3.connect(os.path.join(api.srv.data_dir, "db", "bulwark.db"))
        dst = sqlite3.connect(copy)
        src.backup(dst)
        src.close()
        dst.close()
    check(api.call("DELETE", "%s/%s" % (base, rid), token=w.tok["editor"]).status == 204, "del")
    time.sleep(1)
    r = api.call("POST", "%s/%s/restore" % (base, rid), token=w.tok["owner"])
    check(r.status == 200, "restore within retention %d" % r.status)
    check(api.call("DELETE", "%s/%s" % (base, rid), token=w.tok["editor"]).status == 204, "del2")
    deadline = time.monotonic() + RETENTION + 15
    while time.monotonic() < deadline and not audit(api.srv, action="data.purged", target=rid):
        time.sleep(0.5)
    check(audit(api.srv, action="data.purged", target=rid), "no data.purged event")
    problem(api.call("POST", "%s/%s/restore" % (base, rid), token=w.tok["owner"]), 404,
            what="restore after purge")
    check(not sql(api.srv, "SELECT id FROM bw_records WHERE id = ?", (rid,)), "row remains")
    check(not sql(api.srv, "SELECT record_id FROM %s WHERE record_id = ?" %
                  kt(api.srv, "bw_data_keys"), (rid,)),
          "data key remains")
    if copy:
        db = sqlite3.connect(copy)
        try:
            check(db.execute("SELECT count(*) FROM bw_records WHERE id = ?", (rid,)).fetchone()[0]
                  == 1, "the copy holds the record")
        finally:
            db.close()
        check(not [f for f in store_files(api.srv) if f.endswith("-wal") and
                   os.path.getsize(f) > 0] or True, "")
    # put the old ciphertext back as a restore of the old copy would: it cannot be read
    now = int(time.time())
    org, name = w.a, base.split("/")[-2]
    q = ("INSERT INTO bw_records(org_id, collection, id, version, body, encrypted, created_at, "
         "updated_at, created_by, updated_by) VALUES (?, ?, ?, 1, %s, 1, %d, %d, 'x', 'x')" %
         (("decode('%s', 'hex')" if api.srv.database_url else "X'%s'") % saved, now, now))
    sql(api.srv, q, (org, name, rid))
    r = api.srv.request("GET", "%s/%s" % (base, rid),
                        headers={"Authorization": "Bearer " + w.tok["editor"]})
    check(r.status == 500 and m.encode() not in r.body, "restored old copy read: %d" % r.status)


def t_restricted(w):
    """restricted data needs an MFA-verified session"""
    api = w.api
    base = coll(w, w.a, "owner", uname("creds"), cls="restricted")
    problem(api.call("POST", base, {"data": {"name": "k"}}, token=w.tok["editor"]), 403,
            "/mfa-required", what="editor without MFA writes restricted")
    doc = create(w, base, "admin", {"name": "k"})
    problem(api.call("GET", "%s/%s" % (base, doc["id"]), token=w.tok["viewer"]), 403,
            "/mfa-required", what="viewer without MFA reads restricted")
    r = api.call("GET", "%s/%s" % (base, doc["id"]), token=w.tok["owner"])
    check(r.status == 200, "owner with MFA reads restricted: %d" % r.status)
    check(audit(api.srv, action="authz.deny"), "denial audited")


def t_lowering(w):
    """lowering a classification needs an MFA-verified admin, audited, bodies re-encoded"""
    api = w.api
    name = uname("lower")
    base = coll(w, w.a, "owner", name)
    m = "LOWMARK" + secrets.token_hex(6)
    rid = create(w, base, "editor", {"name": m})["id"]
    path = "%s/%s/collections/%s" % (ORGS, w.a, name)
    problem(api.call("PUT", path, {"classification": "public"}, token=w.tok["admin_nomfa"]), 403,
            "/mfa-required", what="admin without MFA lowers")
    problem(api.call("PUT", path, {"classification": "public"}, token=w.tok["editor"]), 403,
            what="editor lowers")
    r = api.call("PUT", path, {"classification": "internal"}, token=w.tok["admin"])
    check(r.status == 200 and r.json()["classification"] == "internal", "lower %r" % r)
    check(audit(api.srv, action="collection.classification_lowered", target=name), "not audited")
    r = api.call("GET", "%s/%s" % (base, rid), token=w.tok["viewer"])
    check(r.status == 200 and r.json()["data"]["name"] == m, "read after lowering")
    check(bytes.fromhex(body_hex(api.srv, rid)[0][0]).find(m.encode()) >= 0, "now plaintext")
    r = api.call("PUT", path, {"classification": "restricted"}, token=w.tok["admin"])
    check(r.status == 200, "raise")
    check(bytes.fromhex(body_hex(api.srv, rid)[0][0]).find(m.encode()) < 0, "sealed again")
    check(api.call("GET", "%s/%s" % (base, rid), token=w.tok["admin"]).status == 200, "read")


def t_paging(w):
    """cursor paging, filters on public data only"""
    api = w.api
    base = coll(w, w.a, "owner", uname("pub"), cls="internal")
    ids = set()
    for i in range(7):
        ids.add(create(w, base, "editor", {"name": "n%d" % i, "qty": i % 2,
                                           "state": "open" if i < 3 else "closed"})["id"])
    seen, cursor = [], None
    for _ in range(10):
        r = api.call("GET", base + "?limit=3" + ("&cursor=" + cursor if cursor else ""),
                     token=w.tok["viewer"])
        check(r.status == 200, "page %d %r" % (r.status, r.body[:200]))
        doc = r.json()
        seen += [x["id"] for x in doc["items"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    check(sorted(seen) == sorted(ids) and len(seen) == 7, "paging saw %d" % len(seen))
    r = api.call("GET", base + "?state=open", token=w.tok["viewer"])
    check(r.status == 200 and len(r.json()["items"]) == 3, "filter %r" % r.body[:200])
    r = api.call("GET", base + "?qty=1&limit=2", token=w.tok["viewer"])
    check(r.status == 200 and all(x["data"]["qty"] == 1 for x in r.json()["items"]), "qty")
    problem(api.call("GET", base + "?nope=1", token=w.tok["viewer"]), 400, what="unknown filter")
    problem(api.call("GET", base + "?limit=0", token=w.tok["viewer"]), 400, what="limit 0")
    problem(api.call("GET", base + "?state=x&qty=1", token=w.tok["viewer"]), 400, what="2 filters")
    conf = coll(w, w.a, "owner", uname("conf"))
    problem(api.call("GET", conf + "?name=x", token=w.tok["viewer"]), 400,
            what="filter on confidential")


def t_export(w):
    """GDPR Art. 20 export: owner only"""
    api = w.api
    base = coll(w, w.a, "owner", uname("exp"))
    m = "EXPMARK" + secrets.token_hex(6)
    create(w, base, "editor", {"name": m})
    path = "%s/%s/export" % (ORGS, w.a)
    for who in ("admin", "editor", "viewer", "auditor"):
        problem(api.call("GET", path, token=w.tok[who]), 403, what="%s exports" % who)
    r = api.call("GET", path, token=w.tok["owner"])
    check(r.status == 200 and m.encode() in r.body, "export %d" % r.status)
    doc = r.json()
    check(doc["org"] == w.a and isinstance(doc["collections"], list), "export shape")
    check(audit(api.srv, action="org.exported", target=w.a), "export not audited")


def t_rotate(w):
    """bulwark key rotate while serving: reads keep working; inventory and audit"""
    api = w.api
    base = coll(w, w.a, "owner", uname("rot"))
    rid = create(w, base, "editor", {"name": "before"})["id"]
    p = cli(api.srv, "key", "rotate", json_out=True)
    ver = json.loads(p.stdout)["master_version"]
    check(ver >= 2, "version %r" % ver)
    r = api.call("GET", "%s/%s" % (base, rid), token=w.tok["editor"])
    check(r.status == 200 and r.json()["data"]["name"] == "before", "read after rotate %r" % r)
    create(w, base, "editor", {"name": "after"})
    r = api.call("POST", "%s/%s/collections" % (ORGS, w.b),
                 {"name": uname("b"), "fields": FIELDS}, token=w.tok["ownerb"])
    inv = json.loads(cli(api.srv, "key", "list", json_out=True).stdout)
    masters = {k["version"]: k for k in inv if k["kind"] == "master"}
    check(masters[ver]["retired_at"] is None and masters[ver]["activated_at"], "new active")
    check(masters[1]["retired_at"] is not None, "old retired %r" % masters)
    check(audit(api.srv, action="key.rotated"), "key.rotated not audited")
    check(not sql(api.srv, "SELECT org_id FROM %s WHERE mversion <> %d" %
                  (kt(api.srv, "bw_org_keys"), ver)),
          "org keys left under an old version")


def t_org_delete(w):
    """DELETE /orgs/{org}: owners only (org.manage, with MFA); the tenant disappears at once,
    its key and data are destroyed after the grace period (crypto-shredding)"""
    api = w.api
    emails = {}
    for role in ("admin", "editor", "viewer", "auditor"):
        emails[role] = w.cred[role][0]
    org = w.org("owner", "Doomed " + secrets.token_hex(3))
    for role in ("admin", "editor", "viewer", "auditor"):
        w.member(org, "owner", emails[role], role)
    base = coll(w, org, "owner", uname("doom"))
    m = "ORGDELMARK" + secrets.token_hex(6)
    rid = create(w, base, "editor", {"name": m})["id"]
    path = "%s/%s" % (ORGS, org)
    for role in ("admin", "editor", "viewer", "auditor"):
        problem(api.call("DELETE", path, token=w.tok[role]), 403, what="%s deletes org" % role)
    r = api.call("DELETE", path, token=w.tok["ownerb"])  # another tenant's owner
    missing = api.call("DELETE", "%s/%s" % (ORGS, "0" * 26), token=w.tok["ownerb"])
    check(comparable(r) == comparable(missing), "another owner learns the org exists")
    r = api.call("DELETE", path, token=w.tok["owner"])
    check(r.status == 202 and set(r.json()) == {"id", "deleted_at", "purge_after"},
          "owner deletes: %d %r" % (r.status, r.body[:200]))
    for role in ("owner", "editor"):
        problem(api.call("GET", path, token=w.tok[role]), 404, what="deleted org, %s" % role)
        problem(api.call("GET", "%s/%s" % (base, rid), token=w.tok[role]), 404,
                what="record of a deleted org, %s" % role)
    check(audit(api.srv, action="org.deleted", target=org), "org.deleted not audited")
    deadline = time.monotonic() + RETENTION + 15
    while time.monotonic() < deadline and not audit(api.srv, action="data.purged", target=org):
        time.sleep(0.5)
    check(audit(api.srv, action="data.purged", target=org), "the organisation was not purged")
    check(not sql(api.srv, "SELECT org_id FROM %s WHERE org_id = ?" % kt(api.srv, "bw_org_keys"),
                  (org,)), "the organisation key remains")
    check(not sql(api.srv, "SELECT id FROM bw_records WHERE id = ?", (rid,)), "records remain")


MAIN = [t_crud, t_tenants, t_marker, t_export, t_swap, t_restricted, t_lowering, t_paging,
        t_purge, t_rotate, t_org_delete]


def run_backend(name, pg_dir, results):
    tests = [t for t in MAIN if not ARGS.patterns or any(p in t.__name__ for p in ARGS.patterns)]
    if not tests:
        return
    t0 = time.monotonic()
    try:
        with Server(ARGS.bulwark, pg_dir=pg_dir, name="records",
                    overrides=["tenants.self_service=yes",
                               "retention.deleted_records=%ds" % RETENTION,
                               "retention.purge_interval=1s"]) as srv:
            api = Api(srv)
            w = setup_world(api)
            for fn in tests:
                t1 = time.monotonic()
                try:
                    fn(w)
                    ok, msg = True, ""
                except Fail as e:
                    ok, msg = False, str(e)
                except Exception as e:
                    ok, msg = False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
                results.append((name, fn.__name__, ok, msg))
                sys.stderr.write("%s %-8s %-14s %5.1fs  %s\n" % (
                    "ok  " if ok else "FAIL", name, fn.__name__, time.monotonic() - t1,
                    (fn.__doc__ or "").strip()))
                if not ok:
                    sys.stderr.write("     -> %s\n" % msg.replace("\n", "\n        "))
            srv.stop()
            log = srv.stderr()
            leaked = [s for s in api.secrets if s and s in log]
            results.append((name, "log", not leaked, "secrets in log" if leaked else ""))
    except (HarnessError, Fail, OSError) as e:
        results.append((name, "server", False, str(e)[-3000:]))
        sys.stderr.write("FAIL %-8s server: %s (%.0fs)\n" % (name, str(e)[-3000:],
                                                             time.monotonic() - t0))


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--pg-only", action="store_true")
    ap.add_argument("-k", dest="patterns", action="append", default=[])
    ap.add_argument("-v", "--verbose", action="store_true")
    ARGS = ap.parse_args()
    ti.ARGS = ARGS
    results = []
    if not (ARGS.pg_only and ARGS.pg_dir):
        run_backend("sqlite", None, results)
    if ARGS.pg_dir:
        run_backend("postgres", ARGS.pg_dir, results)
    failed = [r for r in results if not r[2]]
    sys.stderr.write("test_records: %d checks: %s\n" % (
        len(results), "OK" if not failed else "FAILED (%d)" % len(failed)))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
