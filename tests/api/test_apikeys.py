#!/usr/bin/env python3
"""test_apikeys.py - API keys bound to an organisation, a role and an IP
allow-list (AC-04), and X-Forwarded-For from trusted proxies only, over real
HTTPS on SQLite and (with --pg-dir) PostgreSQL.

    python3 tests/api/test_apikeys.py --bulwark build/release/bulwark [--pg-dir DIR]
                                      [--pg-only] [-k PATTERN]... [-v]

  allowlist   a key allowed from 127.0.0.1/32 works from 127.0.0.1 and gets
              403 + an apikey.denied event from 127.0.0.2 (the client socket
              bound there); last use (time, address) recorded; only the
              SHA-256 of the key is stored, never the key
  scope       a key never reaches /api/v1/auth/*, /users, org creation or
              another organisation (404 like a random id), holds no admin
              permission, and acts with exactly its role
  lifecycle   expired and revoked (API and CLI) keys get 401; audited
  badcreate   empty/malformed allow-lists, admin roles, past expiry: 400
  cli         `apikey create|list|revoke` (SPEC 4), usage errors exit 2
  xff         (server.trusted_proxies = 127.0.0.3/32) X-Forwarded-For is
              ignored from an untrusted peer and honoured from the trusted
              one (right-most hop that is not a trusted proxy) for the
              allow-list, the audit trail and the access log
"""

import hashlib
import json
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_identity as ti  # noqa: E402
import test_tenants as tt  # noqa: E402
from test_identity import check, problem  # noqa: E402

ORGS = "/api/v1/orgs"
KEY_RE = re.compile(r"^bwk_[A-Za-z0-9_-]{43}$")


def setup(api):
    """An organisation with an MFA-verified owner (cached per server)."""
    if "ak" not in api.state:
        w = api.state.setdefault("world", tt.World(api))
        owner = w.user("ak-owner", mfa=True)
        org = w.org(owner[1], "Keys Inc")
        api.state["ak"] = (w, owner, org)
    return api.state["ak"]


def make_key(api, org, tok, role="viewer", ips=("127.0.0.1/32",), expires=None, status=201):
    body = {"name": "k-%s" % role, "role": role, "allowed_ips": list(ips)}
    if expires is not None:
        body["expires_at"] = expires
    r = api.call("POST", "%s/%s/apikeys" % (ORGS, org), body, token=tok)
    check(r.status == status, "create key: %d %r" % (r.status, r.body[:300]))
    if status != 201:
        return r
    doc = r.json()
    api.remember(doc["key"])
    check(KEY_RE.match(doc["key"]), "key shape: %r" % doc["key"][:8])
    check(set(doc) == {"id", "key", "name", "role", "allowed_ips", "org_id", "expires_at"},
          "create answer: %r" % sorted(doc))
    return doc


def with_key(api, method, path, key, source="127.0.0.1", body=None, headers=None):
    h = {"Authorization": "ApiKey " + key}
    h.update(headers or {})
    return api.call(method, path, body, headers=h, source=source)


def stored_keys(srv):
    """(secret_hash hex, whole rows) of bw_apikeys."""
    if srv.database_url:
        import subprocess
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-d", srv.database_url, "-c",
                            "SELECT encode(secret_hash, 'hex') || '|' || "
                            "row_to_json(k)::text FROM bw_apikeys k"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        check(p.returncode == 0, "psql: %s" % p.stderr)
        return [tuple(line.split("|", 1)) for line in p.stdout.splitlines() if line]
    db = sqlite3.connect(os.path.join(srv.data_dir, "db", "bulwark.db"), timeout=30)
    try:
        return [(r[0].hex(), repr(r)) for r in db.execute("SELECT secret_hash, * FROM bw_apikeys")]
    finally:
        db.close()


# ---- the tests ------------------------------------------------------------------------

def t_allowlist(api):
    """127.0.0.1 inside the allow-list works; 127.0.0.2 outside: 403 + audit"""
    _w, owner, org = setup(api)
    k = make_key(api, org, owner[2], ips=["127.0.0.1/32", "2001:db8::/32"])
    check(k["allowed_ips"] == ["127.0.0.1/32", "2001:db8::/32"], "ips: %r" % k["allowed_ips"])
    r = with_key(api, "GET", "%s/%s" % (ORGS, org), k["key"], source="127.0.0.1")
    check(r.status == 200 and r.json()["role"] == "viewer", "inside: %d %r" % (r.status, r.body))
    r = with_key(api, "GET", "%s/%s" % (ORGS, org), k["key"], source="127.0.0.2")
    problem(r, 403, "/address-not-allowed", "from 127.0.0.2")
    ev = [e for e in ti.audit(api.srv, action="apikey.denied")
          if e["details"].get("apikey") == k["id"]]
    check(len(ev) == 1 and ev[0]["remote"] == "127.0.0.2" and ev[0]["outcome"] == "denied" and
          ev[0]["target"] == org, "apikey.denied event: %r" % ev)
    # last use: time and the address of the allowed request
    r = api.call("GET", "%s/%s/apikeys" % (ORGS, org), token=owner[2])
    item = [i for i in r.json()["items"] if i["id"] == k["id"]][0]
    check(item["last_used_ip"] == "127.0.0.1" and item["last_used_at"], "last use: %r" % item)
    check("key" not in item and k["key"] not in r.body.decode(), "list shows the secret")
    # only the SHA-256 is stored
    rows = stored_keys(api.srv)
    want = hashlib.sha256(k["key"].encode()).hexdigest()
    check(any(h == want for h, _ in rows), "no row holds sha256(key)")
    check(all(k["key"] not in row and k["key"][4:] not in row for _, row in rows),
          "the key is stored in clear")
    ev = ti.audit(api.srv, action="apikey.created", target=org)
    check(any(e["details"].get("apikey") == k["id"] for e in ev), "apikey.created: %r" % ev)
    check(all(k["key"] not in json.dumps(e) for e in ti.audit(api.srv)), "key in audit trail")


def t_scope(api):
    """keys stay inside their org and role; never session or admin routes"""
    w, owner, org = setup(api)
    other_owner = w.user("ak-other", mfa=True)
    other = w.org(other_owner[1], "Other")
    viewer = make_key(api, org, owner[2], role="viewer")
    auditor = make_key(api, org, owner[2], role="auditor")
    editor = make_key(api, org, owner[2], role="editor")
    for path, method in (("/api/v1/auth/sessions", "GET"), ("/api/v1/users/me", "GET"),
                         ("/api/v1/auth/logout", "POST"), (ORGS, "GET")):
        r = with_key(api, method, path, editor["key"])
        problem(r, 403, "/forbidden", "key on %s %s" % (method, path))
    r = with_key(api, "POST", ORGS, editor["key"], body={"name": "x"})
    problem(r, 403, "/forbidden", "key creates org")
    r = with_key(api, "POST", "/api/v1/users", editor["key"], body={"email": "a@b.example"})
    problem(r, 403, "/forbidden", "key invites user")
    rnd = "0123456789abcdefghjkmnpqrs"
    for suffix in ("", "/members", "/apikeys"):
        a = with_key(api, "GET", "%s/%s%s" % (ORGS, other, suffix), auditor["key"])
        b = with_key(api, "GET", "%s/%s%s" % (ORGS, rnd, suffix), auditor["key"])
        tt.same_404(a, b, "key probing another org%s" % suffix)
    # its role, exactly: auditors read members, viewers do not; nobody manages
    r = with_key(api, "GET", "%s/%s/members" % (ORGS, org), auditor["key"])
    check(r.status == 200, "auditor key reads members: %d" % r.status)
    r = with_key(api, "GET", "%s/%s/members" % (ORGS, org), viewer["key"])
    problem(r, 403, "/forbidden", "viewer key reads members")
    for method, path, body in (
            ("POST", "%s/%s/members" % (ORGS, org), {"email": owner[1], "role": "viewer"}),
            ("GET", "%s/%s/apikeys" % (ORGS, org), None),
            ("POST", "%s/%s/apikeys" % (ORGS, org),
             {"name": "x", "role": "viewer", "allowed_ips": ["127.0.0.1"]}),
            ("DELETE", "%s/%s/apikeys/%s" % (ORGS, org, viewer["id"]), None)):
        r = with_key(api, method, path, editor["key"], body=body)
        problem(r, 403, "/forbidden", "editor key %s %s" % (method, path))
    r = with_key(api, "GET", "%s/%s" % (ORGS, org), viewer["key"])
    check(r.status == 200, "viewer key still works: %d" % r.status)


def t_lifecycle(api):
    """expired and revoked keys: 401; revocation audited"""
    _w, owner, org = setup(api)
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
    k = make_key(api, org, owner[2], expires=soon)
    r = with_key(api, "GET", "%s/%s" % (ORGS, org), k["key"])
    check(r.status == 200, "before expiry: %d" % r.status)
    time.sleep(4.2)
    r = with_key(api, "GET", "%s/%s" % (ORGS, org), k["key"])
    problem(r, 401, "/unauthenticated", "expired key")
    k = make_key(api, org, owner[2])
    r = api.call("DELETE", "%s/%s/apikeys/%s" % (ORGS, org, k["id"]), token=owner[2])
    check(r.status == 204, "revoke: %d %r" % (r.status, r.body[:200]))
    r = with_key(api, "GET", "%s/%s" % (ORGS, org), k["key"])
    problem(r, 401, "/unauthenticated", "revoked key")
    r = api.call("DELETE", "%s/%s/apikeys/%s" % (ORGS, org, k["id"]), token=owner[2])
    problem(r, 404, None, "revoked twice")
    ev = ti.audit(api.srv, action="apikey.revoked", target=org)
    check(any(e["details"].get("apikey") == k["id"] for e in ev), "apikey.revoked: %r" % ev)
    # a key that never existed and a malformed one look the same
    a = with_key(api, "GET", "%s/%s" % (ORGS, org), "bwk_" + "A" * 43)
    b = with_key(api, "GET", "%s/%s" % (ORGS, org), "nonsense")
    check(a.status == b.status == 401 and a.body == b.body, "unknown keys: %r %r" % (a, b))


def t_badcreate(api):
    """bad allow-lists, admin roles and past expiry are 400 and change nothing"""
    _w, owner, org = setup(api)
    before = len(stored_keys(api.srv))
    bad = [
        {"name": "x", "role": "viewer", "allowed_ips": []},
        {"name": "x", "role": "viewer"},
        {"name": "x", "role": "viewer", "allowed_ips": "127.0.0.1"},
        {"name": "x", "role": "viewer", "allowed_ips": ["10.0.0.0/33"]},
        {"name": "x", "role": "viewer", "allowed_ips": ["10.0.0/8"]},
        {"name": "x", "role": "viewer", "allowed_ips": ["::1/129"]},
        {"name": "x", "role": "viewer", "allowed_ips": ["127.0.0.1,10.0.0.1"]},
        {"name": "x", "role": "viewer", "allowed_ips": [7]},
        {"name": "x", "role": "viewer", "allowed_ips": ["1.2.3.4"] * 33},
        {"name": "x", "role": "owner", "allowed_ips": ["127.0.0.1"]},
        {"name": "x", "role": "admin", "allowed_ips": ["127.0.0.1"]},
        {"name": "x", "role": "root", "allowed_ips": ["127.0.0.1"]},
        {"name": "", "role": "viewer", "allowed_ips": ["127.0.0.1"]},
        {"name": "x", "role": "viewer", "allowed_ips": ["127.0.0.1"],
         "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "x", "role": "viewer", "allowed_ips": ["127.0.0.1"], "expires_at": "tomorrow"},
        {"name": "x", "role": "viewer", "allowed_ips": ["127.0.0.1"], "extra": True},
    ]
    for body in bad:
        r = api.call("POST", "%s/%s/apikeys" % (ORGS, org), body, token=owner[2])
        doc = problem(r, 400, None, "bad create %r" % body)
        check(doc.get("errors"), "no field errors for %r" % body)
    check(len(stored_keys(api.srv)) == before, "a refused create stored a key")


def t_cli(api):
    """apikey create|list|revoke on the command line"""
    _w, _owner, org = setup(api)
    srv = api.srv
    p = ti.cli(srv, "apikey", "create", "--org", org, "--role", "editor", "--allow",
               "127.0.0.1/32,::1", "--expires", "2099-01-01", json_out=True)
    doc = json.loads(p.stdout)
    api.remember(doc["key"])
    check(KEY_RE.match(doc["key"]) and doc["allowed_ips"] == "127.0.0.1/32,::1/128",
          "cli create: %r" % {k: v for k, v in doc.items() if k != "key"})
    r = with_key(api, "GET", "%s/%s" % (ORGS, org), doc["key"])
    check(r.status == 200 and r.json()["role"] == "editor", "cli key: %d" % r.status)
    p = ti.cli(srv, "apikey", "list", "--org", org, json_out=True)
    items = json.loads(p.stdout)
    check(any(i["id"] == doc["id"] for i in items) and doc["key"] not in p.stdout,
          "cli list: %r" % p.stdout[:300])
    p = ti.cli(srv, "apikey", "list", json_out=True)
    check(any(i["id"] == doc["id"] and i["org_id"] == org for i in json.loads(p.stdout)),
          "cli list (all)")
    ti.cli(srv, "apikey", "revoke", doc["id"])
    r = with_key(api, "GET", "%s/%s" % (ORGS, org), doc["key"])
    check(r.status == 401, "cli-revoked key: %d" % r.status)
    ti.cli(srv, "apikey", "revoke", doc["id"], expect=1)
    for args in (["--org", org, "--role", "viewer"],
                 ["--org", org, "--role", "viewer", "--allow", ""],
                 ["--org", org, "--role", "admin", "--allow", "127.0.0.1"],
                 ["--org", org, "--role", "viewer", "--allow", "300.1.1.1"],
                 ["--org", org, "--role", "viewer", "--allow", "127.0.0.1", "--expires", "2001-01-01"]):
        p = ti.cli(srv, "apikey", "create", *args, expect=2)
        check(p.stderr.count("\n") == 1 and p.stderr.startswith("bulwark: "),
              "one-line usage error: %r" % p.stderr)
    ti.cli(srv, "apikey", "create", "--org", "0" * 26, "--role", "viewer", "--allow",
           "127.0.0.1", expect=1)


def t_xff(api):
    """X-Forwarded-For: ignored from untrusted peers, honoured from 127.0.0.3"""
    _w, owner, org = setup(api)
    k = make_key(api, org, owner[2], ips=["203.0.113.7/32"])
    path = "%s/%s" % (ORGS, org)
    # an untrusted peer cannot claim the allowed address
    r = with_key(api, "GET", path, k["key"], source="127.0.0.1",
                 headers={"X-Forwarded-For": "203.0.113.7"})
    problem(r, 403, "/address-not-allowed", "XFF from an untrusted peer")
    rid_untrusted = r.header("X-Request-Id")
    # the trusted proxy: right-most hop that is not a proxy is the client
    r = with_key(api, "GET", path, k["key"], source="127.0.0.3",
                 headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
    check(r.status == 200, "XFF from the trusted proxy: %d %r" % (r.status, r.body[:200]))
    rid_ok = r.header("X-Request-Id")
    r = with_key(api, "GET", path, k["key"], source="127.0.0.3",
                 headers={"X-Forwarded-For": "203.0.113.7, 127.0.0.3"})
    check(r.status == 200, "XFF through two trusted hops: %d" % r.status)
    # a client-written left part proves nothing
    r = with_key(api, "GET", path, k["key"], source="127.0.0.3",
                 headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.1"})
    problem(r, 403, "/address-not-allowed", "spoofed left-most XFF")
    rid_spoof = r.header("X-Request-Id")
    r = with_key(api, "GET", path, k["key"], source="127.0.0.3",
                 headers={"X-Forwarded-For": "garbage"})
    problem(r, 403, "/address-not-allowed", "malformed XFF")
    ev = {e["request_id"]: e for e in ti.audit(api.srv, action="apikey.denied")}
    check(ev[rid_untrusted]["remote"] == "127.0.0.1", "untrusted: %r" % ev[rid_untrusted])
    check(ev[rid_spoof]["remote"] == "198.51.100.1", "spoofed: %r" % ev[rid_spoof])
    time.sleep(0.3)
    log = {x.get("rid"): x for x in api.srv.access_log()}
    check(log[rid_ok]["remote"] == "203.0.113.7", "access log: %r" % log.get(rid_ok))
    check(log[rid_untrusted]["remote"] == "127.0.0.1", "access log untrusted")
    r = api.call("GET", "%s/%s/apikeys" % (ORGS, org), token=owner[2])
    item = [i for i in r.json()["items"] if i["id"] == k["id"]][0]
    check(item["last_used_ip"] == "203.0.113.7", "last use via proxy: %r" % item)


MAIN_TESTS = [t_allowlist, t_scope, t_lifecycle, t_badcreate, t_cli]
PROXY_TESTS = [t_xff]


def main():
    args = tt.parse_args(__doc__)
    runner = tt.Runner(args, "test_apikeys")
    for backend, pg in tt.backends(args):
        runner.run_server(backend, pg, [], MAIN_TESTS)
        runner.run_server(backend, pg, ["server.trusted_proxies=127.0.0.3/32"], PROXY_TESTS)
    return runner.report()


if __name__ == "__main__":
    sys.exit(main())
