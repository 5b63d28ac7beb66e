#!/usr/bin/env python3
"""test_incidents.py - incident handling against a real `bulwark serve` (issue 7).

    python3 tests/api/test_incidents.py --bulwark build/release/bulwark [--pg-dir DIR] [--pg-only]

What is attacked and checked, on SQLite and (with --pg-dir) PostgreSQL:
  bruteforce  wrong passwords against one account from many addresses: the
              detection worker opens exactly ONE incident (rule
              account_lockout) with the failed logins and the lockout linked
  webhook     a local HTTP receiver gets incident.opened with a valid
              X-Bulwark-Signature (HMAC-SHA256 over "<timestamp>.<body>");
              a body the receiver re-signs with another secret does not match
  smtp        a local SMTP server (aiosmtpd from Debian) receives the
              security contact's mail and the G-15 notice of a password change
  workflow    API: open, steps in order (409 when skipped), close needs root
              cause and lessons, non-admins get 403
  intake      POST /api/v1/vulnerability-reports: 202 + tracking id, bad bodies
              400, oversize 413, report text never stored in plaintext
  readonly    containment read_only: changing routes answer 503, GET works,
              incident routes keep working, switching it off restores writes
  apikey      an organisation's API key used from 127.0.0.2 (outside its
              allow-list) below the threshold opens nothing; past it exactly
              ONE P3 (rule apikey_denied:apikey:<id>) with exactly that key's
              apikey.denied events linked; further uses add evidence only
  contain     containment for an organisation from an incident:
              revoke_org_apikeys revokes every live key of that organisation
              (each audited apikey.revoked; the keys answer 401 at once),
              revoke_org_sessions ends every session of its members (their
              tokens answer 401); a second organisation's key and member
              keep working; bad or unknown org ids change nothing (400/404);
              the same from `bulwark incident contain --org`
  report      INC-06: a signed-in non-admin reports a suspicious event
              (POST /api/v1/incidents/report): 201 receipt, a P4 `detected`
              incident with the reporter recorded, audited and notified;
              bad bodies 400, anonymous 401, API keys 403, the hourly limit
              per reporter 429 with Retry-After
  reviews     G-16: no review while the last quarter holds no closed
              incident; three incidents closed (two with one root cause in
              different wording) and their closing moved into the last
              quarter in the store: the worker stores one review flagging
              that root cause as a repeat, notifies it (signed webhook),
              audits it; `incident review` finds it done, `incident reviews`
              lists it; non-admins 403
  tamper      one audit row edited directly in the store (SQLite file or
              psql), `bulwark audit verify` exits 1 naming it, and the
              worker opens a P1 (audit_verify:trail) linking the
              audit.verify.failed event
  backup      the backup target directory disappears under the running
              scheduler (an unmounted disk): the failed log shipment /
              backup is audited by src/backup and opens a P2 (backup_failed)
"""

import argparse
import calendar
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HarnessError, Server, free_port, run  # noqa: E402
import test_identity as ti  # noqa: E402
from test_identity import Api, Fail, check, problem, strong_password  # noqa: E402

SECRET = "whsec-test-" + "k" * 24
ADMIN = "sec-admin@example.com"


class Hook(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        ts = self.headers.get("X-Bulwark-Timestamp", "")
        sig = self.headers.get("X-Bulwark-Signature", "")
        want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
        forged = "sha256=" + hmac.new(b"other", ts.encode() + b"." + body,
                                      hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(sig, want) and sig != forged
        Hook.received.append((ok, self.headers.get("X-Bulwark-Event"), json.loads(body)))
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *a):
        pass


def start_hook():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def start_smtp(tmp):
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
    port = free_port()
    out = open(os.path.join(tmp, "smtp.out"), "wb")
    p = subprocess.Popen([py, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:%d" % port, "-c",
                          "aiosmtpd.handlers.Debugging"], stdout=out, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p, port, out.name
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise HarnessError("aiosmtpd did not start (python3-aiosmtpd installed?)")


def wait_for(fn, what, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.3)
    raise Fail("timed out waiting for " + what)




def setup_admin(api):
    srv = api.srv
    pw0 = strong_password()
    path = os.path.join(srv.tmp, "admin-pw")
    with open(path, "w") as f:
        f.write(pw0 + "\n")
    ti.cli(srv, "user", "add", "--email", ADMIN, "--platform-admin", "--password-file", path)
    tok = api.login(ADMIN, pw0, source="127.0.0.1")["token"]
    final = strong_password()
    api.call("POST", ti.PASSWORD, {"current": pw0, "new": final}, token=tok, source="127.0.0.1")
    return api.login(ADMIN, final, source="127.0.0.1")["token"]


def incidents(api, tok):
    r = api.call("GET", "/api/v1/incidents", token=tok, source="127.0.0.1")
    check(r.status == 200, "GET incidents: %d %r" % (r.status, r.body[:200]))
    return r.json()["items"]


def t_bruteforce(api, st):
    """a brute-force run opens exactly one incident with the evidence linked"""
    uid, _ = ti.make_user(api, "victim@example.com")
    for i in range(12):
        api.login("victim@example.com", "Wrong-guess-%d" % i, expect=401)
    items = wait_for(lambda: [i for i in incidents(api, st["admin"])
                              if (i.get("rule") or "").startswith("account_lockout:")],
                     "the brute-force incident")
    time.sleep(2.5)  # two more detection rounds: still one
    items = [i for i in incidents(api, st["admin"])]
    check(len(items) == 1, "exactly one incident expected: %r" % [i.get("rule") for i in items])
    inc = api.call("GET", "/api/v1/incidents/" + items[0]["id"], token=st["admin"],
                   source="127.0.0.1").json()
    check(inc["rule"] == "account_lockout:" + uid and inc["severity"] == "P3",
          "rule/severity: %r" % inc)
    actions = sorted(set(e["action"] for e in inc["evidence"]))
    check(actions == ["auth.lockout", "auth.login.failed"], "evidence actions: %r" % actions)
    check(all(e["target"] == uid for e in inc["evidence"]), "evidence of another account")
    check(inc["deadlines"]["response"]["state"] == "open", "response clock: %r" % inc)
    st["incident"] = inc["id"]


def t_webhook(api, st):
    """the webhook receiver gets incident.opened with a valid HMAC-SHA256 signature"""
    got = wait_for(lambda: [h for h in Hook.received if h[1] == "incident.opened"],
                   "the incident.opened webhook")
    check(all(ok for ok, _, _ in got), "signature check failed at the receiver: %r" % got)
    check(got[0][2]["data"]["incident"] == st["incident"], "webhook payload: %r" % got[0][2])
    rows = ti.audit(api.srv, action="notify.delivered")
    check(any(r["details"].get("channel") == "webhook" for r in rows), "delivery not audited")


def t_smtp(api, st):
    """the SMTP receiver gets the security contact's mail and the G-15 notice"""
    def mail():
        with open(st["smtp_out"], "rb") as f:
            t = f.read().decode("utf-8", "replace")
        return t if ("incident opened" in t and "Security notice" in t) else None
    text = wait_for(mail, "mail at the SMTP receiver")
    check("soc@example.com" in text, "contact address missing in the SMTP transcript")
    check(ADMIN in text, "G-15 notice to the user missing")


def t_workflow(api, st):
    """steps in order, closing needs the review, non-admins are refused"""
    tok = st["admin"]
    base = "/api/v1/incidents/" + st["incident"]
    r = api.call("POST", base + "/transition", {"to": "investigating", "note": "skip"},
                 token=tok, source="127.0.0.1")
    problem(r, 409, what="skipping a stage")
    for s in ("contained", "investigating", "remediated", "reported"):
        r = api.call("POST", base + "/transition", {"to": s, "note": "n"}, token=tok,
                     source="127.0.0.1")
        check(r.status == 200, "transition %s: %d %r" % (s, r.status, r.body[:300]))
    r = api.call("POST", base + "/transition", {"to": "closed", "note": "n"}, token=tok,
                 source="127.0.0.1")
    doc = problem(r, 400, what="closing without review")
    check(ti.field_errors(doc)[0][0] == "root_cause", "field: %r" % doc)
    r = api.call("POST", base + "/transition", {"to": "closed", "note": "n", "root_cause": "weak pw",
                                                 "lessons": "MFA"}, token=tok, source="127.0.0.1")
    check(r.status == 200 and r.json()["tasks"][0]["kind"] == "policy_review",
          "close: %d %r" % (r.status, r.body[:300]))
    r = api.call("POST", "/api/v1/incidents", {"title": "x", "severity": "P9"}, token=tok,
                 source="127.0.0.1")
    problem(r, 400, what="bad severity")
    uid, pw = ti.make_user(api, "plain@example.com")
    utok = api.login("plain@example.com", pw, source="127.0.0.1")["token"]
    r = api.call("GET", "/api/v1/incidents", token=utok, source="127.0.0.1")
    problem(r, 403, what="non-admin")


def t_intake(api, st):
    """researcher intake: 202 + tracking id, 400/413 on bad input, sealed at rest"""
    secret_text = "SQLi-in-login-" + os.urandom(6).hex()
    r = api.call("POST", "/api/v1/vulnerability-reports",
                 {"description": secret_text, "contact": "r@example.org"}, source="127.0.0.9")
    check(r.status == 202, "intake: %d %r" % (r.status, r.body[:300]))
    tid = r.json()["tracking_id"]
    check(secret_text.encode() not in r.body, "the answer echoes the report")
    for bad in ({}, {"description": 5}, {"description": "x", "extra": "y"},
                {"description": "a\x00b"}):
        problem(api.call("POST", "/api/v1/vulnerability-reports", bad, source="127.0.0.9"), 400,
                what="bad report %r" % bad)
    r = api.call("POST", "/api/v1/vulnerability-reports",
                 raw_body=json.dumps({"description": "x" * 40000}).encode(),
                 headers={"Content-Type": "application/json"}, source="127.0.0.9")
    check(r.status == 413, "oversize report: %d" % r.status)
    items = api.call("GET", "/api/v1/vulnerabilities", token=st["admin"],
                     source="127.0.0.1").json()["items"]
    rep = [v for v in items if v["source"] == "report"]
    check(len(rep) == 1 and rep[0]["severity"] == "untriaged", "report finding: %r" % rep)
    opened = api.call("GET", "/api/v1/vulnerability-reports/" + tid, token=st["admin"],
                      source="127.0.0.1")
    check(opened.status == 200 and opened.json()["report"]["description"] == secret_text,
          "admin cannot open the report: %r" % opened.body[:200])
    if not api.srv.database_url:
        for name in os.listdir(os.path.join(api.srv.data_dir, "db")):
            with open(os.path.join(api.srv.data_dir, "db", name), "rb") as f:
                check(secret_text.encode() not in f.read(), "report in plaintext in %s" % name)


def t_readonly(api, st):
    """read-only containment: writes 503, reads and incident routes work"""
    tok = st["admin"]
    r = api.call("POST", "/api/v1/incidents", {"title": "contain me", "severity": "P2"},
                 token=tok, source="127.0.0.1")
    check(r.status == 201, "open: %d %r" % (r.status, r.body[:200]))
    iid = r.json()["id"]
    r = api.call("POST", "/api/v1/incidents/%s/contain" % iid,
                 {"action": "read_only", "enabled": True}, token=tok, source="127.0.0.1")
    check(r.status == 200, "contain: %d %r" % (r.status, r.body[:200]))
    vuln = {"title": "t", "component": "c", "severity": "low", "scope": "product"}
    r = api.srv.request("POST", "/api/v1/vulnerabilities", body=json.dumps(vuln).encode(),
                        headers={"Content-Type": "application/json",
                                 "Authorization": "Bearer " + tok})
    problem(r, 503, "/read-only", what="write in read-only mode")
    check(api.call("GET", "/api/v1/vulnerabilities", token=tok, source="127.0.0.1").status == 200,
          "GET in read-only mode")
    r = api.call("POST", "/api/v1/incidents/%s/contain" % iid,
                 {"action": "read_only", "enabled": False}, token=tok, source="127.0.0.1")
    check(r.status == 200, "un-contain: %d" % r.status)
    r = api.call("POST", "/api/v1/vulnerabilities", vuln, token=tok, source="127.0.0.1")
    check(r.status == 201, "write after read-only: %d %r" % (r.status, r.body[:200]))
    check(ti.audit(api.srv, action="server.read_only"), "read-only not audited")


def store_exec(srv, sql, params=()):
    """Runs one statement directly against the store as an attacker with
    database access would (SQLite file or psql); params are ints or our own
    strings (quoted for psql, which gets no bound parameters)."""
    if srv.database_url:
        text = sql
        for v in params:
            lit = str(v) if isinstance(v, int) else "'%s'" % v.replace("'", "''")
            text = text.replace("?", lit, 1)
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                            srv.database_url, "-c", text], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        check(p.returncode == 0, "psql: %s" % p.stderr.strip())
        return p.stdout
    db = sqlite3.connect(os.path.join(srv.data_dir, "db", "bulwark.db"), timeout=30)
    try:
        db.execute(sql, params)
        db.commit()
    finally:
        db.close()
    return ""


def by_rule(api, tok, prefix):
    return [i for i in incidents(api, tok) if (i.get("rule") or "").startswith(prefix)]


def incident(api, tok, iid):
    r = api.call("GET", "/api/v1/incidents/" + iid, token=tok, source="127.0.0.1")
    check(r.status == 200, "GET incident: %d %r" % (r.status, r.body[:200]))
    return r.json()


def detect_rounds(n=3):
    time.sleep(1.2 * n)  # incident.detect_interval=1s


def t_apikey(api, st):
    """API key from a disallowed address: past the threshold exactly one P3 with its evidence"""
    srv, tok = api.srv, st["admin"]
    owner, owner_pw = ti.make_user(api, "ak-owner@example.com")
    st["org_owner_id"] = owner
    org = json.loads(ti.cli(srv, "org", "create", "--name", "Leaky Keys", "--owner",
                            "ak-owner@example.com", json_out=True).stdout)["id"]
    keys = []
    for _ in range(2):
        doc = json.loads(ti.cli(srv, "apikey", "create", "--org", org, "--role", "viewer",
                                "--allow", "127.0.0.1/32", json_out=True).stdout)
        api.remember(doc["key"])
        keys.append(doc)
    st["org"], st["org_keys"], st["org_owner"] = org, keys, ("ak-owner@example.com", owner_pw)
    k, other = keys

    def use(key, source):
        return api.call("GET", "/api/v1/orgs/" + org, headers={"Authorization": "ApiKey " + key},
                        source=source)
    r = use(k["key"], "127.0.0.1")
    check(r.status == 200, "key from its allowed address: %d %r" % (r.status, r.body[:200]))
    # below the threshold (3): two uses of one key, two of the other
    for key in (k, k, other, other):
        problem(use(key["key"], "127.0.0.2"), 403, "/address-not-allowed", what="from 127.0.0.2")
    detect_rounds()
    check(not by_rule(api, tok, "apikey_denied:"), "opened below the threshold: %r" %
          by_rule(api, tok, "apikey_denied:"))
    problem(use(k["key"], "127.0.0.2"), 403, "/address-not-allowed", what="third use")
    items = wait_for(lambda: by_rule(api, tok, "apikey_denied:"), "the API-key incident")
    detect_rounds()
    items = by_rule(api, tok, "apikey_denied:")
    check(len(items) == 1, "exactly one API-key incident expected: %r" % items)
    inc = incident(api, tok, items[0]["id"])
    check(inc["rule"] == "apikey_denied:apikey:" + k["id"] and inc["severity"] == "P3" and
          inc["status"] == "detected", "rule/severity/status: %r" % inc)
    denied = [e for e in ti.audit(srv, action="apikey.denied")
              if e["details"].get("apikey") == k["id"]]
    check(len(denied) == 3 and all(e["remote"] == "127.0.0.2" for e in denied),
          "apikey.denied events: %r" % denied)
    ev = inc["evidence"]
    check(sorted(e["audit_seq"] for e in ev) == sorted(e["seq"] for e in denied),
          "evidence %r != the key's denials %r" % (ev, [e["seq"] for e in denied]))
    check(all(e["action"] == "apikey.denied" and e["target"] == org for e in ev),
          "evidence rows: %r" % ev)
    # more abuse links more evidence to the same incident
    problem(use(k["key"], "127.0.0.2"), 403, "/address-not-allowed", what="fourth use")
    wait_for(lambda: len(incident(api, tok, items[0]["id"])["evidence"]) == 4,
             "the fourth denial as evidence")
    check(len(by_rule(api, tok, "apikey_denied:")) == 1, "a second API-key incident")
    st["apikey_incident"] = items[0]["id"]


def t_contain(api, st):
    """containment for an organisation: keys revoked, members' sessions ended, others untouched"""
    srv, tok = api.srv, st["admin"]
    org, keys = st["org"], st["org_keys"]
    email, pw = st["org_owner"]
    member_id, member_pw = ti.make_user(api, "org-member@example.com")
    ti.cli(srv, "user", "set-role", "org-member@example.com", "--org", org, "--role", "viewer")
    # a second organisation that must not be touched
    _, c_pw = ti.make_user(api, "ctl-owner@example.com")
    ctl = json.loads(ti.cli(srv, "org", "create", "--name", "Bystander", "--owner",
                            "ctl-owner@example.com", json_out=True).stdout)["id"]
    ckey = json.loads(ti.cli(srv, "apikey", "create", "--org", ctl, "--role", "viewer", "--allow",
                             "127.0.0.1/32", json_out=True).stdout)
    api.remember(ckey["key"])
    members = [api.login(email, pw, source="127.0.0.1")["token"]]
    ctl_tok = api.login("ctl-owner@example.com", c_pw, source="127.0.0.1")["token"]

    def key_status(key):
        return api.call("GET", "/api/v1/orgs/" + (org if key is not ckey else ctl),
                        headers={"Authorization": "ApiKey " + key["key"]},
                        source="127.0.0.1").status

    def me(t):
        return api.call("GET", "/api/v1/users/me", token=t, source="127.0.0.1").status
    check([key_status(k) for k in keys] == [200, 200] and key_status(ckey) == 200,
          "keys before containment")
    check(me(members[0]) == 200 and me(ctl_tok) == 200, "sessions before containment")
    base = "/api/v1/incidents/%s/contain" % st["apikey_incident"]
    # bad input changes nothing
    for body, status, field in (({"action": "revoke_org_apikeys"}, 400, "org"),
                                ({"action": "revoke_org_apikeys", "org": "x"}, 400, "org"),
                                ({"action": "revoke_org_apikeys", "org": 5}, 400, "org"),
                                ({"action": "revoke_org_apikeys", "org": "0" * 26}, 404, None),
                                ({"action": "revoke_org_everything", "org": org}, 400, "action"),
                                ({"action": "revoke_org_sessions", "org": org, "x": 1}, 400,
                                 "x")):
        doc = problem(api.call("POST", base, body, token=tok, source="127.0.0.1"), status,
                      what="contain %r" % body)
        if field:
            check(ti.field_errors(doc)[0][0] == field, "field of %r: %r" % (body, doc))
    check([key_status(k) for k in keys] == [200, 200] and me(members[0]) == 200,
          "a refused containment changed something")
    check(not [e for e in ti.audit(srv, action="apikey.revoked") if e["target"] == org],
          "a refused containment revoked keys")
    # revoke every key of the organisation
    r = api.call("POST", base, {"action": "revoke_org_apikeys", "org": org}, token=tok,
                 source="127.0.0.1")
    check(r.status == 200, "revoke_org_apikeys: %d %r" % (r.status, r.body[:300]))
    doc = r.json()
    check(sorted(doc["revoked"]) == sorted(k["id"] for k in keys) and doc["verified"] is True and
          doc["org"] == org, "result: %r" % doc)
    check([key_status(k) for k in keys] == [401, 401], "revoked keys still work")
    check(key_status(ckey) == 200, "the other organisation's key was revoked")
    rev = [e for e in ti.audit(srv, action="apikey.revoked") if e["target"] == org]
    check(sorted(e["details"]["apikey"] for e in rev) == sorted(k["id"] for k in keys) and
          all(e["actor"].startswith("user:") for e in rev), "apikey.revoked events: %r" % rev)
    # a second call finds nothing left to revoke
    r = api.call("POST", base, {"action": "revoke_org_apikeys", "org": org}, token=tok,
                 source="127.0.0.1")
    check(r.status == 200 and r.json()["revoked"] == [], "second revoke: %r" % r.body[:200])
    # end every session of the organisation's members
    members.append(api.login("org-member@example.com", member_pw, source="127.0.0.1")["token"])
    r = api.call("POST", base, {"action": "revoke_org_sessions", "org": org}, token=tok,
                 source="127.0.0.1")
    check(r.status == 200, "revoke_org_sessions: %d %r" % (r.status, r.body[:300]))
    doc = r.json()
    check(sorted(doc["users"]) == sorted([st["org_owner_id"], member_id]) and
          doc["sessions_ended"] >= 2 and doc["verified"] is True, "result: %r" % doc)
    check([me(t) for t in members] == [401, 401], "members' sessions survived")
    check(me(ctl_tok) == 200 and me(tok) == 200, "a bystander's session was ended")
    ev = [e for e in ti.audit(srv, action="incident.containment")
          if e["target"] == st["apikey_incident"]]
    check(sorted(e["details"]["action"] for e in ev) ==
          ["revoke_org_apikeys", "revoke_org_apikeys", "revoke_org_sessions"],
          "incident.containment events: %r" % ev)
    inc = incident(api, tok, st["apikey_incident"])
    check(sum(1 for s_ in inc["steps"] if ("containment: revoke_org" in (s_.get("note") or "")))
          == 3, "containment steps: %r" % inc["steps"])
    # the command line does the same for the bystander organisation
    p = ti.cli(srv, "incident", "contain", st["apikey_incident"], "--action",
               "revoke_org_apikeys", "--org", ctl, json_out=True)
    check(json.loads(p.stdout)["revoked"] == [ckey["id"]], "cli: %r" % p.stdout)
    check(key_status(ckey) == 401, "cli-revoked key still works")
    ti.cli(srv, "incident", "contain", st["apikey_incident"], "--action", "revoke_org_sessions",
           "--org", "0" * 26, expect=1)


def t_report(api, st):
    """staff report a suspicious event: P4 detected with the reporter, limits, refusals"""
    srv, tok = api.srv, st["admin"]
    uid, pw = ti.make_user(api, "staff-reporter@example.com")
    utok = api.login("staff-reporter@example.com", pw, source="127.0.0.1")["token"]
    path = "/api/v1/incidents/report"
    text = "Caller pretending to be IT asked for my MFA code " + os.urandom(4).hex()
    r = api.call("POST", path, {"description": text}, token=utok, source="127.0.0.1")
    check(r.status == 201, "report: %d %r" % (r.status, r.body[:300]))
    doc = r.json()
    check(set(doc) == {"id", "status", "severity", "received_at"} and doc["status"] ==
          "detected" and doc["severity"] == "P4", "receipt: %r" % doc)
    inc = incident(api, tok, doc["id"])
    check(inc["severity"] == "P4" and inc["status"] == "detected" and
          inc["created_by"] == "user:" + uid and inc["steps"][0]["note"] == text and
          "staff-reporter@example.com" in inc["title"], "reported incident: %r" % inc)
    ev = [e for e in ti.audit(srv, action="incident.reported") if e["target"] == doc["id"]]
    check(len(ev) == 1 and ev[0]["details"]["reporter"] == uid and
          ev[0]["actor"] == "user:" + uid, "incident.reported: %r" % ev)
    wait_for(lambda: [h for h in Hook.received if h[1] == "incident.opened" and
                      h[2]["data"].get("incident") == doc["id"]], "on-call notified")
    # the reporter still cannot read the register
    problem(api.call("GET", "/api/v1/incidents/" + doc["id"], token=utok, source="127.0.0.1"),
            403, what="reporter reading the incident")
    before = len(incidents(api, tok))
    for body in ({}, {"description": ""}, {"description": 5}, {"description": "x", "y": 1},
                 {"description": "a\x00b"}, {"description": "x" * 4001}):
        problem(api.call("POST", path, body, token=utok, source="127.0.0.1"), 400,
                what="bad report %r" % (body if len(str(body)) < 60 else "long"))
    problem(api.call("POST", path, {"description": "anon"}, source="127.0.0.1"), 401,
            what="anonymous report")
    key = json.loads(ti.cli(srv, "apikey", "create", "--org", st["org"], "--role", "editor",
                            "--allow", "127.0.0.1/32", json_out=True).stdout)["key"]
    api.remember(key)
    problem(api.call("POST", path, {"description": "from a key"},
                     headers={"Authorization": "ApiKey " + key}, source="127.0.0.1"), 403,
            what="API-key report")
    check(len(incidents(api, tok)) == before, "a refused report opened an incident")
    # incident.report_limit=3 an hour per reporter
    for i in range(2):
        r = api.call("POST", path, {"description": "again %d" % i}, token=utok,
                     source="127.0.0.1")
        check(r.status == 201, "report %d: %d" % (i, r.status))
    r = api.call("POST", path, {"description": "one too many"}, token=utok, source="127.0.0.1")
    problem(r, 429, what="fourth report within the hour")
    check(r.header("Retry-After") == "3600", "Retry-After: %r" % r.header("Retry-After"))
    check(len(incidents(api, tok)) == before + 2, "the limited report opened an incident")


def close_incident(api, tok, title, cause):
    r = api.call("POST", "/api/v1/incidents", {"title": title, "severity": "P3"}, token=tok,
                 source="127.0.0.1")
    check(r.status == 201, "open: %d %r" % (r.status, r.body[:200]))
    iid = r.json()["id"]
    for s_ in ("contained", "investigating", "remediated", "reported", "closed"):
        body = {"to": s_, "note": "n"}
        if s_ == "closed":
            body.update(root_cause=cause, lessons="l")
        r = api.call("POST", "/api/v1/incidents/%s/transition" % iid, body, token=tok,
                     source="127.0.0.1")
        check(r.status == 200, "transition %s: %d %r" % (s_, r.status, r.body[:200]))
    return iid


def t_reviews(api, st):
    """G-16: the worker's quarterly review groups closed incidents and flags a repeat"""
    srv, tok = api.srv, st["admin"]

    def reviews():
        r = api.call("GET", "/api/v1/incident-reviews", token=tok, source="127.0.0.1")
        check(r.status == 200, "reviews: %d %r" % (r.status, r.body[:200]))
        return r.json()["items"]
    detect_rounds(2)
    check(reviews() == [], "a review without closed incidents in the last quarter")
    ids = [close_incident(api, tok, "phish %d" % i, c)
           for i, c in enumerate(("Weak pw.", "  weak PW", "Vendor outage"))]
    # their closing moves into the last quarter, as if they had closed then
    now = time.gmtime()
    qm = (now.tm_mon - 1) // 3 * 3 + 1
    q_start = calendar.timegm((now.tm_year, qm, 1, 0, 0, 0))
    # one statement: the worker must never review a quarter holding only some of them
    store_exec(srv, "UPDATE bw_incidents SET closed_at = ? WHERE id IN (?, ?, ?)",
               (q_start - 10 * 86400, ids[0], ids[1], ids[2]))
    items = wait_for(reviews, "the worker's review of the last quarter")
    check(len(items) == 1, "one review per quarter: %r" % items)
    rv = items[0]
    check(rv["period_end"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(q_start)) and
          rv["actor"] == "system" and rv["incidents"] == 3 and rv["repeats"] == 1,
          "review: %r" % rv)
    g = rv["root_causes"][0]
    check(g["key"] == "weak pw" and g["repeat"] is True and g["count"] == 2 and
          sorted(g["incidents"]) == sorted(ids[:2]), "repeat group: %r" % g)
    check(rv["root_causes"][1]["repeat"] is False, "vendor outage flagged: %r" % rv)
    hooks = wait_for(lambda: [h for h in Hook.received if h[1] == "incident.recurrence"],
                     "the incident.recurrence webhook")
    check(all(ok for ok, _, _ in hooks) and hooks[0][2]["data"]["review"] == rv["id"],
          "recurrence webhook: %r" % hooks)
    p = ti.cli(srv, "incident", "review", json_out=True)
    check(p.stdout.strip() == "null", "a second review of the quarter: %r" % p.stdout)
    p = ti.cli(srv, "incident", "reviews", json_out=True)
    check(json.loads(p.stdout)["items"][0]["id"] == rv["id"], "cli reviews")
    check(len(ti.audit(srv, action="incident.recurrence.review")) == 1, "review not audited")
    uid, pw = ti.make_user(api, "not-admin-reviews@example.com")
    utok = api.login("not-admin-reviews@example.com", pw, source="127.0.0.1")["token"]
    problem(api.call("GET", "/api/v1/incident-reviews", token=utok, source="127.0.0.1"), 403,
            what="non-admin reading the reviews")


def t_tamper(api, st):
    """an audit row edited in the store + `bulwark audit verify` opens a P1"""
    srv, tok = api.srv, st["admin"]
    check(not by_rule(api, tok, "audit_verify:"), "P1 before any tampering")
    ti.cli(srv, "audit", "verify")  # intact: exit 0
    victim = [e for e in ti.audit(srv, action="auth.login.succeeded")][0]
    store_exec(srv, "UPDATE bw_audit_events SET details = ? WHERE seq = ?",
               ('{"forged":true}', victim["seq"]))
    p = ti.cli(srv, "audit", "verify", expect=1)
    check(str(victim["seq"]) in p.stdout + p.stderr,
          "verify does not name event %d: %r" % (victim["seq"], (p.stdout + p.stderr)[-500:]))
    failed = ti.audit(srv, action="audit.verify.failed")
    check(len(failed) == 1 and failed[0]["details"].get("first_bad") == victim["seq"],
          "audit.verify.failed event: %r" % failed)
    items = wait_for(lambda: by_rule(api, tok, "audit_verify:"), "the P1 after verify")
    detect_rounds(2)
    items = by_rule(api, tok, "audit_verify:")
    check(len(items) == 1, "exactly one audit P1: %r" % items)
    inc = incident(api, tok, items[0]["id"])
    check(inc["severity"] == "P1" and inc["rule"] == "audit_verify:trail", "P1: %r" % inc)
    check([e["audit_seq"] for e in inc["evidence"]] == [failed[0]["seq"]] and
          inc["evidence"][0]["action"] == "audit.verify.failed", "evidence: %r" % inc["evidence"])
    check(any(h[1] == "incident.opened" and h[2]["data"]["incident"] == inc["id"]
              for h in wait_for(lambda: [h for h in Hook.received
                                         if h[2]["data"].get("incident") == inc["id"]],
                                "the P1 webhook")), "P1 not notified")
    # put the row back so the rest of the run has an intact trail
    store_exec(srv, "UPDATE bw_audit_events SET details = ? WHERE seq = ?",
               (json.dumps(victim["details"], separators=(",", ":")), victim["seq"]))


def t_backup(api, st):
    """the backup target disappears: src/backup audits the failure and a P2 opens"""
    srv, tok = api.srv, st["admin"]
    wait_for(lambda: ti.audit(srv, action="backup.completed"), "the scheduler's first backup",
             timeout=120)
    check(not by_rule(api, tok, "backup_"), "backup incident before any failure: %r" %
          by_rule(api, tok, "backup_"))
    shutil.rmtree(st["backup_dir"])
    # the change log ships every second; its failure is audited by src/backup
    api.call("POST", "/api/v1/incidents", {"title": "a write for the log", "severity": "P4"},
             token=tok, source="127.0.0.1")
    items = wait_for(lambda: by_rule(api, tok, "backup_failed:"), "the backup P2", timeout=60)
    detect_rounds(2)
    items = by_rule(api, tok, "backup_failed:")
    check(len(items) == 1, "exactly one backup incident: %r" % items)
    inc = incident(api, tok, items[0]["id"])
    check(inc["severity"] == "P2", "severity: %r" % inc)
    failed = {e["seq"] for e in ti.audit(srv, action="backup.failed")}
    check(failed and {e["audit_seq"] for e in inc["evidence"]} <= failed | {
        e["seq"] for e in ti.audit(srv, action="backup.missed")} and
        any(e["audit_seq"] in failed for e in inc["evidence"]),
        "evidence %r vs backup.failed %r" % (inc["evidence"], failed))


TESTS = [t_bruteforce, t_webhook, t_smtp, t_workflow, t_intake, t_readonly, t_apikey, t_contain,
         t_report, t_reviews, t_tamper, t_backup]


def run_backend(args, pg_dir):
    label = "postgres" if pg_dir else "sqlite"
    Hook.received = []
    hook = start_hook()
    import tempfile
    tmp = tempfile.mkdtemp(prefix="bw-smtp-")
    smtp, sport, sout = start_smtp(tmp)
    backup_dir = os.path.join(tmp, "backups")
    os.mkdir(backup_dir, 0o700)
    failed = 0
    overrides = ["backup.target=dir:" + backup_dir, "backup.log_interval=1s",
                 "incident.apikey_denied_threshold=3", "incident.report_limit=3",
                 # PostgreSQL has no change log: a short incremental interval makes the
                 # scheduler touch the (then missing) target soon
                 "backup.incremental=%s" % ("3s" if pg_dir else "daily"), "mfa.required_for_admins=no", "lockout.max_failures=3", "lockout.duration=60s",
                 "incident.lockout_threshold=1", "incident.detect_interval=1s",
                 "incident.admin_new_address=no",
                 "notify.webhook_url=http://127.0.0.1:%d/hook" % hook.server_address[1],
                 "notify.webhook_secret=" + SECRET,
                 "notify.smtp_url=smtp://127.0.0.1:%d" % sport, "notify.smtp_tls=no",
                 "notify.security_contacts=soc@example.com", "notify.retry_base=1s"]
    try:
        with Server(args.bulwark, pg_dir=pg_dir, overrides=overrides, name="incident") as srv:
            api = Api(srv)
            st = {"smtp_out": sout, "backup_dir": backup_dir}
            st["admin"] = setup_admin(api)
            for fn in TESTS:
                if args.patterns and not any(p in fn.__name__ for p in args.patterns):
                    continue
                t0 = time.monotonic()
                try:
                    fn(api, st)
                    sys.stderr.write("ok   %-8s %-14s %5.1fs  %s\n" % (label, fn.__name__,
                                     time.monotonic() - t0, fn.__doc__))
                except Fail as e:
                    failed += 1
                    sys.stderr.write("FAIL %-8s %-14s -> %s\n" % (label, fn.__name__, e))
    except (HarnessError, Fail) as e:
        failed += 1
        sys.stderr.write("FAIL %s server: %s\n" % (label, e))
    finally:
        hook.shutdown()
        smtp.terminate()
        smtp.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--pg-only", action="store_true")
    ap.add_argument("-k", dest="patterns", action="append", default=[])
    args = ap.parse_args()
    ti.ARGS = argparse.Namespace(verbose=False, patterns=[], bulwark=args.bulwark)
    failed = 0
    if not (args.pg_only and args.pg_dir):
        failed += run_backend(args, None)
    if args.pg_dir:
        failed += run_backend(args, args.pg_dir)
    sys.stderr.write("test_incidents: %s\n" % ("OK" if not failed else "FAILED (%d)" % failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
