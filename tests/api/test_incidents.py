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
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
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


TESTS = [t_bruteforce, t_webhook, t_smtp, t_workflow, t_intake, t_readonly]


def run_backend(args, pg_dir):
    label = "postgres" if pg_dir else "sqlite"
    Hook.received = []
    hook = start_hook()
    import tempfile
    tmp = tempfile.mkdtemp(prefix="bw-smtp-")
    smtp, sport, sout = start_smtp(tmp)
    failed = 0
    overrides = ["mfa.required_for_admins=no", "lockout.max_failures=3", "lockout.duration=60s",
                 "incident.lockout_threshold=1", "incident.detect_interval=1s",
                 "incident.admin_new_address=no",
                 "notify.webhook_url=http://127.0.0.1:%d/hook" % hook.server_address[1],
                 "notify.webhook_secret=" + SECRET,
                 "notify.smtp_url=smtp://127.0.0.1:%d" % sport, "notify.smtp_tls=no",
                 "notify.security_contacts=soc@example.com", "notify.retry_base=1s"]
    try:
        with Server(args.bulwark, pg_dir=pg_dir, overrides=overrides, name="incident") as srv:
            api = Api(srv)
            st = {"smtp_out": sout}
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
