#!/usr/bin/env python3
"""test_compliance.py - `bulwark check` and GET /api/v1/compliance over real
HTTPS (check feature), on the embedded SQLite store or with --pg-dir on a
fresh PostgreSQL database. Standard library only; exit 0 when all pass.

  api      a platform admin gets every control of docs/COMPLIANCE.md with
           {id,title,source,status,evidence,checked_at}, statuses from the
           catalogue's set; ?control= narrows; unknown parameters and ids are
           400; a standard user gets 403; a GET stores nothing
  cli      the default configuration passes every configuration check (exit
           0); `-o password.min_length=6` makes `check` exit 1 naming AUTH-03
           and the key and value; an unknown control is a usage error (2);
           a full run exits 1 exactly when its JSON says failed, is stored
           and audited
  backup   a backup target on the data directory's file system is reported
           by BCK-02 (issue 6); the clock check G-03 agrees with
           `bulwark audit clock`
  history  `serve` runs the checks by itself (compliance.first_delay) and
           stores a "schedule" assessment; history pages with a cursor;
           one assessment by id; unknown ids 404, bad cursors 400
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAILS = []
STATUSES = {"pass", "fail", "warning", "not_applicable", "error", "not_checked"}
CONFIG_CONTROLS = ["AUTH-03", "AUTH-04", "AUTH-05", "AUTH-06", "AUTH-07", "SESS-01", "SESS-02",
                   "DATA-06", "DATA-07", "BCK-03", "BCK-04", "BCK-05", "G-05", "VUL-01",
                   "VUL-05", "INC-01", "INC-03", "G-01"]


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL", msg)
    return cond


def doc_ids():
    ids = []
    with open(os.path.join(REPO, "docs", "COMPLIANCE.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\| ([A-Z]+-\d+) \|", line)
            if m:
                ids.append(m.group(1))
    return ids


def cli(srv, *args, extra=()):
    p = harness.run(srv.global_args() + list(extra) + list(args), timeout=300)
    if harness.sanitizer_report(p.stderr):
        raise AssertionError("sanitizer report from %s: %s" % (args, p.stderr))
    return p


def call(srv, method, path, body=None, token=None):
    hdrs = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = "Bearer " + token
    c = harness.HTTPSConnection(srv.port, srv._ctx, timeout=120)
    try:
        return harness.do_request(c, method, path, body=data, headers=hdrs)
    finally:
        c.close()


def make_user(srv, email, password, admin=False):
    initial = "Initial-%s-Pw1" % os.urandom(4).hex()
    pw = os.path.join(srv.tmp, "pw")
    with open(pw, "w") as f:
        f.write(initial + "\n")
    args = ["user", "add", "--email", email, "--password-file", pw]
    if admin:
        args.append("--platform-admin")
    p = cli(srv, *args)
    check(p.returncode == 0, "user add: %s" % p.stderr)
    os.unlink(pw)
    r = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": initial})
    tok = r.json()["token"]
    r = call(srv, "POST", "/api/v1/auth/password", {"current": initial, "new": password}, tok)
    check(r.status == 204, "password change: %d" % r.status)
    r = call(srv, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    return r.json()["token"]


def history(srv, tok, **q):
    qs = urllib.parse.urlencode(q)
    return call(srv, "GET", "/api/v1/compliance/history" + ("?" + qs if qs else ""), token=tok)


def test_api(srv, admin, user):
    ids = doc_ids()
    before = history(srv, admin).json()["items"]
    r = call(srv, "GET", "/api/v1/compliance", token=admin)
    check(r.status == 200, "GET /api/v1/compliance: %d %r" % (r.status, r.body[:300]))
    body = r.json()
    items = body["items"]
    check([i["id"] for i in items] == ids,
          "every control of docs/COMPLIANCE.md, in order (%d vs %d)" % (len(items), len(ids)))
    for i in items:
        for k in ("id", "title", "source", "status", "evidence", "checked_at"):
            check(k in i, "%s has %s" % (i.get("id"), k))
        check(i["status"] in STATUSES, "%s status %s" % (i["id"], i["status"]))
        check(isinstance(i["evidence"], dict), "%s evidence is an object" % i["id"])
        check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", i["checked_at"]) is not None,
              "checked_at is RFC 3339 UTC")
    by = {i["id"]: i for i in items}
    check(by["AUTH-03"]["status"] == "pass", "AUTH-03 passes by default: %r" % by["AUTH-03"])
    check(by["AUTH-02"]["status"] == "fail" and
          "mfa.required_for_admins = no" in by["AUTH-02"]["detail"],
          "AUTH-02 fails with mfa.required_for_admins=no: %r" % by["AUTH-02"])
    check(by["AC-04"]["status"] == "pass", "AC-04: %r" % by["AC-04"])
    check(body["failed"] == any(i["status"] in ("fail", "error") for i in items),
          "failed flag matches the items")
    text = json.dumps(body)
    for secret in ("master.key\":\"", "BEGIN", "password_hash", "$argon2id$"):
        check(secret not in text, "no secret material in evidence (%s)" % secret)
    after = history(srv, admin).json()["items"]
    check(len(after) == len(before), "a GET stores no assessment")
    r = call(srv, "GET", "/api/v1/compliance?control=AUTH-03,SESS-01", token=admin)
    check(r.status == 200 and [i["id"] for i in r.json()["items"]] == ["AUTH-03", "SESS-01"],
          "?control= narrows: %r" % r.body[:200])
    for q in ("?control=NOPE-1", "?bogus=1", "?control=" + "A" * 600):
        r = call(srv, "GET", "/api/v1/compliance" + q, token=admin)
        check(r.status == 400, "GET /api/v1/compliance%s -> %d" % (q[:30], r.status))
    r = call(srv, "GET", "/api/v1/compliance", token=user)
    check(r.status == 403, "a standard user gets 403: %d" % r.status)
    r = call(srv, "GET", "/api/v1/compliance")
    check(r.status == 401, "anonymous gets 401: %d" % r.status)
    r = call(srv, "GET", "/api/v1/compliance/history", token=user)
    check(r.status == 403, "history: a standard user gets 403: %d" % r.status)


def test_cli(srv, admin):
    p = cli(srv, "--json", "check", "--control", ",".join(CONFIG_CONTROLS))
    out = json.loads(p.stdout) if p.stdout.strip() else {}
    bad = [i for i in out.get("items", []) if i["status"] not in ("pass", "not_applicable")]
    check(p.returncode == 0 and not bad,
          "the default configuration passes the configuration checks: exit %d %r" %
          (p.returncode, bad))
    p = cli(srv, "--json", "check", "--control", "AUTH-03",
            extra=["-o", "password.min_length=6"])
    check(p.returncode == 1, "password.min_length=6: check exits 1 (got %d)" % p.returncode)
    it = json.loads(p.stdout)["items"][0] if p.stdout.strip() else {}
    check(it.get("id") == "AUTH-03" and it.get("status") == "fail" and
          "password.min_length = 6" in it.get("detail", ""),
          "AUTH-03 fails naming the key and value: %r" % it)
    errs = [ln for ln in p.stderr.splitlines() if ln.startswith("bulwark:")]
    check(len(errs) == 1 and "1 control(s) failing" in errs[0],
          "one error line on stderr: %r" % p.stderr)
    p = cli(srv, "check", "--control", "AUTH-03", extra=["-o", "password.min_length=6"])
    check(p.returncode == 1 and "AUTH-03" in p.stdout and "password.min_length = 6" in p.stdout,
          "text output names AUTH-03 and the value: %r" % p.stdout[:300])
    p = cli(srv, "check", "--control", "NOPE-1")
    check(p.returncode == 2, "unknown control: exit 2 (got %d)" % p.returncode)
    p = cli(srv, "check", "--bogus")
    check(p.returncode == 2, "unknown option: exit 2 (got %d)" % p.returncode)
    # a full run: exit status agrees with the result, stored and audited
    p = cli(srv, "--json", "check")
    out = json.loads(p.stdout)
    check(p.returncode == (1 if out["failed"] else 0),
          "full run: exit %d, failed %s" % (p.returncode, out["failed"]))
    aid = out.get("assessment")
    check(aid is not None, "the full run names its stored assessment")
    r = call(srv, "GET", "/api/v1/compliance/history/%s" % aid, token=admin)
    check(r.status == 200 and r.json()["trigger"] == "cli" and
          len(r.json()["items"]) == len(out["items"]),
          "the stored assessment: %d %r" % (r.status, r.body[:200]))
    r = call(srv, "GET", "/api/v1/audit?action=compliance.assessed&target=%s" % aid, token=admin)
    ev = r.json()["items"] if r.status == 200 else []
    check(len(ev) == 1 and ev[0]["actor"] == "cli" and
          ev[0]["outcome"] == ("failure" if out["failed"] else "success"),
          "compliance.assessed audited once: %r" % ev)


def test_backup_and_clock(srv):
    bk = os.path.join(srv.tmp, "bk")
    os.mkdir(bk, 0o700)
    p = cli(srv, "--json", "check", "--control", "BCK-02,BCK-01,G-03",
            extra=["-o", "backup.target=dir:" + bk])
    items = {i["id"]: i for i in json.loads(p.stdout)["items"]}
    b2 = items["BCK-02"]
    check(b2["evidence"].get("target_same_filesystem") is True and
          "same file system as the data directory" in b2["detail"],
          "BCK-02 reports a target on the data's file system: %r" % b2)
    check(items["BCK-01"]["status"] == "fail" and "no readable backup" in items["BCK-01"]["detail"],
          "BCK-01 fails without a backup: %r" % items["BCK-01"])
    c = cli(srv, "audit", "clock")
    want = "pass" if c.returncode == 0 else "fail"
    check(items["G-03"]["status"] == want, "G-03 %s agrees with audit clock (exit %d)" %
          (items["G-03"]["status"], c.returncode))


def test_history(srv, admin):
    deadline = time.monotonic() + 60
    sched = []
    while time.monotonic() < deadline:
        items = history(srv, admin, limit=500).json()["items"]
        sched = [i for i in items if i["trigger"] == "schedule"]
        if sched:
            break
        time.sleep(0.5)
    check(sched and sched[0]["actor"] == "system",
          "serve stored a scheduled assessment: %r" % sched[:1])
    all_items = history(srv, admin, limit=500).json()["items"]
    check(len(all_items) >= 2, "at least two assessments: %d" % len(all_items))
    r = history(srv, admin, limit=1)
    first = r.json()
    check(len(first["items"]) == 1 and first["next_cursor"] is not None, "limit=1 pages")
    r = history(srv, admin, limit=1, cursor=first["next_cursor"])
    second = r.json()["items"]
    check(second and second[0]["id"] == all_items[1]["id"],
          "the cursor continues without a gap: %r" % second)
    for k in ("pass", "fail", "warning", "not_applicable", "error", "not_checked"):
        check(k in all_items[0]["summary"], "summary has %s" % k)
    for q in ({"cursor": "x"}, {"limit": "0"}, {"limit": "501"}, {"zzz": "1"}):
        r = history(srv, admin, **q)
        check(r.status == 400, "history %r -> %d" % (q, r.status))
    for bad in ("0000000000000000000000000z", "..%2F..", "x" * 40):
        r = call(srv, "GET", "/api/v1/compliance/history/" + bad, token=admin)
        check(r.status == 404, "unknown assessment %s -> %d" % (bad[:12], r.status))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--pg-dir")
    args = ap.parse_args()
    t0 = time.monotonic()
    ov = ["mfa.required_for_admins=no", "compliance.first_delay=3s"]
    with harness.Server(args.bulwark, pg_dir=args.pg_dir, overrides=ov,
                        name="compliance") as srv:
        admin = make_user(srv, "root@example.com", "Kestrel-Vault-93", admin=True)
        user = make_user(srv, "bob@example.com", "Heron-Lantern-57")
        test_api(srv, admin, user)
        test_cli(srv, admin)
        test_backup_and_clock(srv)
        test_history(srv, admin)
    store = "postgresql" if args.pg_dir else "sqlite"
    print("compliance API/CLI tests (%s): %d failures, %.1fs" %
          (store, len(FAILS), time.monotonic() - t0))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
