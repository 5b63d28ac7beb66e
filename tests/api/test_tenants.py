#!/usr/bin/env python3
"""test_tenants.py - organisations, memberships and RBAC over real HTTPS.

    python3 tests/api/test_tenants.py --bulwark build/release/bulwark [--pg-dir DIR]
                                      [--pg-only] [-k PATTERN]... [-v]

Runs against a real `bulwark serve` on SQLite and (with --pg-dir) on a fresh
PostgreSQL database. Exit 0 when every test passes, 1 when one fails, 2 on
usage errors. Reuses tests/api/harness.py and the identity test's client
(test_identity.Api: every call from its own loopback address, 5xx = failure).

What is attacked (SPEC 5, 6.6; CONTROLS AC-01, AC-02, AC-05, LOG-05, G-06):

  matrix      every role (owner, admin, editor, viewer, auditor) and an
              outsider call every tenant route; the answer must be what the
              table in docs/RBAC.md grants (2xx), 403, or 404 for outsiders
  mfa         owners/admins without a verified second factor: 403
              .../mfa-required on administrative routes, reads still work
  probing     a member of org A uses org B's ids (org, member, API key) in
              every route: the same 404 document as for random ids, and
              nothing of B changes
  owners      the last owner cannot leave or be demoted (409); admins cannot
              touch owners (403); two owners removing each other at once
              leave one owner
  create      who may create organisations (platform admin with MFA for a
              named owner; users only with tenants.self_service); platform
              admins are never members; set-role --platform-admin refused
              for members (G-06); every change audited
"""

import argparse
import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import re
import secrets
import struct
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_identity as ti  # noqa: E402
from harness import HarnessError, Server  # noqa: E402
from test_identity import Fail, check, problem  # noqa: E402

ARGS = None
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORGS = "/api/v1/orgs"
ROLES = ["owner", "admin", "editor", "viewer", "auditor"]


def rbac_table():
    """The matrix of docs/RBAC.md: {permission: {role: bool}}, {perm: admin?}."""
    text = open(os.path.join(REPO, "docs", "RBAC.md"), encoding="utf-8").read()
    body = text.split("<!-- matrix", 1)[1].split("<!-- end matrix -->", 1)[0]
    grants, admin = {}, {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 7 or cells[0] in ("permission", "---") or cells[1] not in "Y-":
            continue
        grants[cells[0]] = {r: cells[1 + i] == "Y" for i, r in enumerate(ROLES)}
        admin[cells[0]] = cells[6] == "Y"
    check(len(grants) >= 13, "docs/RBAC.md matrix not found or short: %r" % grants)
    return grants, admin


# ---- TOTP (RFC 6238), to give owners and admins their second factor ---------------

def totp(secret_b32, t=None, step=0):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if t is None else t) // 30) + step
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7fffffff) % 1000000)


def enrol_mfa(api, token):
    """Enrols and confirms TOTP: the session is then MFA-verified."""
    r = api.call("POST", "/api/v1/auth/mfa/enroll", token=token)
    check(r.status == 200, "mfa enroll: %d %r" % (r.status, r.body[:200]))
    secret = r.json()["secret"]
    api.remember(secret)
    r = api.call("POST", "/api/v1/auth/mfa/enroll/confirm", {"code": totp(secret)}, token=token)
    check(r.status == 200, "mfa confirm: %d %r" % (r.status, r.body[:200]))
    return secret


class World:
    """Users and organisations shared by the tests of one server."""

    def __init__(self, api):
        self.api = api
        self.users = {}  # name -> (id, email, token)
        self.n = 0

    def user(self, name, mfa=False, admin=False):
        self.n += 1
        email = "%s.%d.%s@tenants.example" % (name, self.n, secrets.token_hex(3))
        if admin:
            p = ti.cli(self.api.srv, "user", "add", "--email", email, "--platform-admin",
                       json_out=True)
            doc = json.loads(p.stdout)
            uid, initial = doc["id"], doc["initial_password"]
            self.api.remember(initial)
            final = ti.strong_password()
            tok = self.api.login(email, initial)["token"]
            self.api.change(tok, initial, final)
        else:
            uid, final = ti.make_user(self.api, email)
        tok = self.api.login(email, final)["token"]
        if mfa:
            enrol_mfa(self.api, tok)
        self.users[name] = (uid, email, tok)
        return uid, email, tok

    def org(self, owner_email, name=None):
        p = ti.cli(self.api.srv, "org", "create", "--name", name or "Org %d" % self.n,
                   "--owner", owner_email, json_out=True)
        return json.loads(p.stdout)["id"]

    def join(self, org, email, role):
        ti.cli(self.api.srv, "user", "set-role", email, "--org", org, "--role", role)


def full_org(w, tag):
    """An organisation with one MFA-verified member per role; returns
    (org id, {role: (id, email, token)})."""
    members = {}
    for role in ROLES:
        members[role] = w.user("%s-%s" % (tag, role), mfa=role in ("owner", "admin"))
    org = w.org(members["owner"][1], "Org %s" % tag)
    for role in ROLES[1:]:
        w.join(org, members[role][1], role)
    return org, members


def same_404(a, b, what):
    check(a.status == 404 and b.status == 404, "%s: %d vs %d (%r / %r)" %
          (what, a.status, b.status, a.body[:200], b.body[:200]))
    check(a.body == b.body, "%s: 404 bodies differ: %r vs %r" % (what, a.body, b.body))
    check(a.header("Content-Type") == b.header("Content-Type"), "%s: content types" % what)


# ---- the tests ------------------------------------------------------------------------

def t_matrix(api):
    """every role x route answers as docs/RBAC.md says; outsiders 404"""
    grants, _admin = rbac_table()
    w = api.state.setdefault("world", World(api))
    org, members = full_org(w, "mx")
    outsider = w.user("mx-out")
    extra = [w.user("mx-extra-%d" % i) for i in range(len(ROLES) + 1)]
    # route -> (method, path, body, permission, success statuses)
    for i, (who, (uid, email, tok)) in enumerate(list(members.items()) + [("outsider",
                                                                          outsider)]):
        fresh = extra[i][1]
        cases = [
            ("GET", "%s/%s" % (ORGS, org), None, "org.read", {200}),
            ("GET", "%s/%s/members" % (ORGS, org), None, "member.read", {200}),
            ("POST", "%s/%s/members" % (ORGS, org), {"email": fresh, "role": "viewer"},
             "member.manage", {201}),
            ("GET", "%s/%s/apikeys" % (ORGS, org), None, "apikey.manage", {200}),
            ("POST", "%s/%s/apikeys" % (ORGS, org),
             {"name": "m", "role": "viewer", "allowed_ips": ["127.0.0.1/32"]},
             "apikey.manage", {201}),
            ("DELETE", "%s/%s/apikeys/%s" % (ORGS, org, "0" * 26), None, "apikey.manage",
             {404}),
            ("DELETE", "%s/%s/members/%s" % (ORGS, org, extra[i][0]), None, "member.manage",
             {204}),
        ]
        for method, path, body, perm, ok in cases:
            r = api.call(method, path, body, token=tok)
            if who == "outsider":
                doc = problem(r, 404, None, "outsider %s %s" % (method, path))
                check(doc["detail"] == "no such organisation",
                      "outsider %s %s: %r" % (method, path, doc))
                continue
            allowed = grants[perm][who]
            if allowed:
                check(r.status in ok, "%s %s %s (%s granted): %d %r" %
                      (who, method, path, perm, r.status, r.body[:300]))
                if r.status == 404:
                    check(r.json()["detail"] == "no such API key", "%s: %r" % (who, r.body))
            else:
                problem(r, 403, "/forbidden", "%s %s %s (%s denied)" % (who, method, path,
                                                                          perm))
    # the router recorded each refusal
    denies = ti.audit(api.srv, action="authz.deny")
    check(any(d["actor"] == "user:" + outsider[0] and d["details"].get("reason") == "not-found"
              for d in denies), "outsider's 404s not audited as authz.deny")
    check(any(d["actor"] == "user:" + members["viewer"][0] and
              d["details"].get("reason") == "forbidden" for d in denies),
          "viewer's 403s not audited as authz.deny")


def t_mfa(api):
    """owners/admins without a second factor: 403 mfa-required on admin routes"""
    w = api.state.setdefault("world", World(api))
    _, oemail, otok = w.user("nomfa-owner")
    _, aemail, atok = w.user("nomfa-admin")
    _, vemail, _ = w.user("nomfa-viewer")
    org = w.org(oemail)
    w.join(org, aemail, "admin")
    for tok in (otok, atok):
        r = api.call("POST", "%s/%s/members" % (ORGS, org), {"email": vemail, "role": "viewer"},
                     token=tok)
        problem(r, 403, "/mfa-required", "member add without MFA")
        r = api.call("POST", "%s/%s/apikeys" % (ORGS, org),
                     {"name": "k", "role": "viewer", "allowed_ips": ["10.0.0.0/8"]}, token=tok)
        problem(r, 403, "/mfa-required", "apikey create without MFA")
        r = api.call("GET", "%s/%s/apikeys" % (ORGS, org), token=tok)
        problem(r, 403, "/mfa-required", "apikey list without MFA")
        r = api.call("GET", "%s/%s" % (ORGS, org), token=tok)
        check(r.status == 200, "org read without MFA: %d" % r.status)
        r = api.call("GET", "%s/%s/members" % (ORGS, org), token=tok)
        check(r.status == 200, "member list without MFA: %d" % r.status)
    enrol_mfa(api, otok)
    r = api.call("POST", "%s/%s/members" % (ORGS, org), {"email": vemail, "role": "viewer"},
                 token=otok)
    check(r.status == 201, "member add after MFA: %d %r" % (r.status, r.body[:200]))


def t_probing(api):
    """org B's ids used from org A answer like random ids; B unchanged"""
    w = api.state.setdefault("world", World(api))
    oa = w.user("pa-owner", mfa=True)
    ob = w.user("pb-owner", mfa=True)
    vb = w.user("pb-viewer")
    org_a, org_b = w.org(oa[1]), w.org(ob[1])
    w.join(org_b, vb[1], "viewer")
    r = api.call("POST", "%s/%s/apikeys" % (ORGS, org_b),
                 {"name": "b", "role": "viewer", "allowed_ips": ["127.0.0.1"]}, token=ob[2])
    check(r.status == 201, "B key: %d %r" % (r.status, r.body[:200]))
    kb = r.json()
    api.remember(kb["key"])
    rnd = "".join(secrets.choice("0123456789abcdefghjkmnpqrstvwxyz") for _ in range(26))
    tok = oa[2]
    pairs = [
        ("GET", "%s/%s", None),
        ("GET", "%s/%s/members", None),
        ("GET", "%s/%s/apikeys", None),
        ("POST", "%s/%s/members", {"email": oa[1], "role": "owner"}),
        ("POST", "%s/%s/apikeys", {"name": "x", "role": "viewer", "allowed_ips": ["0.0.0.0/0"]}),
        ("DELETE", "%s/%s/members/" + vb[0], None),
        ("DELETE", "%s/%s/members/" + ob[0], None),
        ("DELETE", "%s/%s/apikeys/" + kb["id"], None),
    ]
    for method, pat, body in pairs:
        a = api.call(method, pat % (ORGS, org_b), body, token=tok)
        b = api.call(method, pat % (ORGS, rnd), body, token=tok)
        same_404(a, b, "%s %s" % (method, pat))
    # B's ids inside A's own organisation: like random ids of A
    a = api.call("DELETE", "%s/%s/apikeys/%s" % (ORGS, org_a, kb["id"]), token=tok)
    b = api.call("DELETE", "%s/%s/apikeys/%s" % (ORGS, org_a, rnd), token=tok)
    same_404(a, b, "B's key id under A")
    a = api.call("DELETE", "%s/%s/members/%s" % (ORGS, org_a, vb[0]), token=tok)
    b = api.call("DELETE", "%s/%s/members/%s" % (ORGS, org_a, rnd), token=tok)
    same_404(a, b, "B's member id under A")
    # nothing of B changed, nothing of B leaked into A's listings
    r = api.call("GET", "%s/%s/members" % (ORGS, org_b), token=ob[2])
    emails = sorted(m["email"] for m in r.json()["items"])
    check(emails == sorted([ob[1], vb[1]]), "B's members changed: %r" % emails)
    r = api.call("GET", "%s/%s/apikeys" % (ORGS, org_b), token=ob[2])
    check([k["revoked_at"] for k in r.json()["items"]] == [None], "B's key changed: %r" % r.body)
    r = api.call("GET", ORGS, token=tok)
    check([o["id"] for o in r.json()["items"]] == [org_a], "A's org list: %r" % r.body)
    r = api.call("GET", "%s/%s/apikeys" % (ORGS, org_a), token=tok)
    check(r.json()["items"] == [], "B's key listed under A: %r" % r.body)


def t_owners(api):
    """last owner stays (409); admins cannot touch owners; racing removals"""
    w = api.state.setdefault("world", World(api))
    o1 = w.user("ow-1", mfa=True)
    ad = w.user("ow-admin", mfa=True)
    o2 = w.user("ow-2", mfa=True)
    org = w.org(o1[1])
    w.join(org, ad[1], "admin")
    r = api.call("DELETE", "%s/%s/members/%s" % (ORGS, org, o1[0]), token=o1[2])
    problem(r, 409, "/last-owner", "last owner removes self")
    r = api.call("POST", "%s/%s/members" % (ORGS, org), {"email": o1[1], "role": "admin"},
                 token=o1[2])
    problem(r, 409, "/last-owner", "last owner demotes self")
    r = api.call("DELETE", "%s/%s/members/%s" % (ORGS, org, o1[0]), token=ad[2])
    problem(r, 403, "/forbidden", "admin removes owner")
    r = api.call("POST", "%s/%s/members" % (ORGS, org), {"email": ad[1], "role": "owner"},
                 token=ad[2])
    problem(r, 403, "/forbidden", "admin makes self owner")
    out = ti.cli(api.srv, "user", "set-role", o1[1], "--org", org, "--role", "none", expect=1)
    check("last owner" in out.stderr, "cli last owner: %r" % out.stderr)
    # a second owner (first an editor: a role change); then both remove each
    # other at the same moment, several times
    w.join(org, o2[1], "editor")
    for _ in range(5):
        r = api.call("POST", "%s/%s/members" % (ORGS, org), {"email": o2[1], "role": "owner"},
                     token=o1[2])
        check(r.status in (200, 201), "add 2nd owner: %d %r" % (r.status, r.body[:200]))
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            f1 = ex.submit(api.call, "DELETE", "%s/%s/members/%s" % (ORGS, org, o2[0]),
                           None, o1[2])
            f2 = ex.submit(api.call, "DELETE", "%s/%s/members/%s" % (ORGS, org, o1[0]),
                           None, o2[2])
            s = sorted([f1.result().status, f2.result().status])
        check(s[0] == 204 and s[1] in (404, 409), "racing removals: %r" % s)
        r = api.call("GET", "%s/%s/members" % (ORGS, org), token=ad[2])
        owners = [m for m in r.json()["items"] if m["role"] == "owner"]
        check(len(owners) == 1, "owners after the race: %r" % owners)
        if owners[0]["user_id"] == o2[0]:
            o1, o2 = o2, o1
    events = [e["action"] for e in ti.audit(api.srv, target=org)]
    for a in ("org.created", "member.added", "member.removed", "member.role_changed"):
        check(a in events, "%s not audited: %r" % (a, sorted(set(events))))


def t_create(api):
    """who creates organisations; platform admins never members (G-06)"""
    w = api.state.setdefault("world", World(api))
    u = w.user("cr-user")
    r = api.call("POST", ORGS, {"name": "Mine"}, token=u[2])
    problem(r, 403, "/forbidden", "user creates org without self_service")
    adm = w.user("cr-admin", admin=True)
    r = api.call("POST", ORGS, {"name": "X", "owner": u[1]}, token=adm[2])
    problem(r, 403, "/mfa-required", "platform admin without MFA")
    enrol_mfa(api, adm[2])
    r = api.call("POST", ORGS, {"name": "X"}, token=adm[2])
    doc = problem(r, 400, None, "platform admin without owner")
    check(any(e.get("field") == "owner" for e in doc.get("errors", [])), "owner field: %r" % doc)
    r = api.call("POST", ORGS, {"name": "X", "owner": adm[1]}, token=adm[2])
    problem(r, 409, "/platform-admin", "platform admin as owner")
    for bad in ({"name": ""}, {"name": "a\nb", "owner": u[1]}, {"name": 5, "owner": u[1]},
                {"name": "x" * 201, "owner": u[1]}, {"name": "ok", "owner": u[1], "x": 1}):
        r = api.call("POST", ORGS, bad, token=adm[2])
        problem(r, 400, None, "bad body %r" % bad)
    r = api.call("POST", ORGS, {"name": "Created by admin", "owner": u[1]}, token=adm[2])
    check(r.status == 201, "create: %d %r" % (r.status, r.body[:200]))
    org = r.json()["id"]
    r = api.call("GET", "%s/%s" % (ORGS, org), token=adm[2])
    problem(r, 404, None, "platform admin reads customer org")
    r = api.call("GET", "%s/%s" % (ORGS, org), token=u[2])
    check(r.status == 200 and r.json()["role"] == "owner", "owner: %r" % r.body)
    # G-06: a member is never promoted; a fresh account may be, and back
    ti.cli(api.srv, "user", "set-role", u[1], "--platform-admin", "yes", expect=1)
    fresh = w.user("cr-fresh")
    ti.cli(api.srv, "user", "set-role", fresh[1], "--platform-admin", "yes")
    r = api.call("GET", "/api/v1/users/me", token=fresh[2])
    check(r.status == 401, "sessions survive a privilege change: %d" % r.status)
    ti.cli(api.srv, "user", "set-role", fresh[1], "--platform-admin", "no")
    ev = ti.audit(api.srv, action="user.role_changed", target=fresh[0])
    check([e["details"]["platform_admin"] for e in ev] == [True, False], "audit: %r" % ev)
    ti.cli(api.srv, "user", "set-role", adm[1], "--org", org, "--role", "viewer", expect=1)


def t_self_service(api):
    """with tenants.self_service any user creates an org and owns it"""
    w = api.state.setdefault("world", World(api))
    u = w.user("ss-user")
    r = api.call("POST", ORGS, {"name": "Self served"}, token=u[2])
    check(r.status == 201 and r.json()["role"] == "owner", "self service: %r" % r.body)
    org = r.json()["id"]
    r = api.call("POST", ORGS, {"name": "x", "owner": u[1]}, token=u[2])
    problem(r, 400, None, "user names another owner")
    ev = ti.audit(api.srv, action="org.created", target=org)
    check(len(ev) == 1 and ev[0]["actor"] == "user:" + u[0], "org.created: %r" % ev)


# ---- runner -----------------------------------------------------------------------------

MAIN_TESTS = [t_matrix, t_mfa, t_probing, t_owners, t_create]
SELF_TESTS = [t_self_service]


class Runner:
    def __init__(self, args, name):
        self.args = args
        self.name = name
        self.results = []

    def run_server(self, backend, pg_dir, overrides, tests):
        tests = [t for t in tests if not self.args.patterns or
                 any(p in t.__name__ for p in self.args.patterns)]
        if not tests:
            return None
        t0 = time.monotonic()
        try:
            with Server(self.args.bulwark, pg_dir=pg_dir, overrides=overrides,
                        name=self.name) as srv:
                api = ti.Api(srv)
                for fn in tests:
                    self.one(backend, fn, api)
                srv.stop()
                leaked = sorted(s for s in api.secrets if s and s in srv.stderr())
                self.results.append((backend, "log has no secrets", not leaked,
                                     "leaked: %r" % [s[:8] for s in leaked]))
                return api
        except (HarnessError, Fail, OSError) as e:
            self.results.append((backend, "server", False, str(e)[-3000:]))
            sys.stderr.write("FAIL %-8s server: %s\n" % (backend, str(e)[-3000:]))
        return None

    def one(self, backend, fn, api):
        t0 = time.monotonic()
        try:
            fn(api)
            ok, msg = True, ""
        except Fail as e:
            ok, msg = False, str(e)
        except Exception as e:  # a broken test: report, go on
            ok, msg = False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
        self.results.append((backend, fn.__name__, ok, msg))
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        sys.stderr.write("%s %-8s %-22s %5.1fs  %s\n" % ("ok  " if ok else "FAIL", backend,
                                                         fn.__name__, time.monotonic() - t0,
                                                         doc))
        if not ok:
            sys.stderr.write("     -> %s\n" % msg.replace("\n", "\n        "))

    def report(self):
        failed = [r for r in self.results if not r[2]]
        sys.stderr.write("%s: %d checks: %s\n" % (self.name, len(self.results),
                                                  "OK" if not failed else
                                                  "FAILED (%d)" % len(failed)))
        for backend, name, _, msg in failed:
            sys.stderr.write("  FAILED %s %s: %s\n" % (backend, name,
                                                      msg.splitlines()[0][:300] if msg else ""))
        return 1 if failed or not self.results else 0


def parse_args(doc):
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--pg-only", action="store_true")
    ap.add_argument("-k", dest="patterns", action="append", default=[])
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    ti.ARGS = args
    return args


def backends(args):
    out = []
    if not (args.pg_only and args.pg_dir):
        out.append(("sqlite", None))
    if args.pg_dir:
        out.append(("postgres", args.pg_dir))
    return out


def main():
    args = parse_args(__doc__)
    runner = Runner(args, "test_tenants")
    for backend, pg in backends(args):
        runner.run_server(backend, pg, ["server.threads=4"], MAIN_TESTS)
        runner.run_server(backend, pg, ["tenants.self_service=yes"], SELF_TESTS)
    return runner.report()


if __name__ == "__main__":
    sys.exit(main())
