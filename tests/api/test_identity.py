#!/usr/bin/env python3
"""test_identity.py - attack tests of Bulwark's identity slice over real HTTPS.

    python3 tests/api/test_identity.py --bulwark build/dev/bulwark [--pg-dir DIR]
                                       [-k PATTERN]... [-v]

Runs every test against a real `bulwark serve` on the embedded SQLite store
and, when --pg-dir names a directory prepared by `scripts/pg-test-server
start DIR`, once more on a fresh PostgreSQL database of that server. Exit
status 0 when every test passes, 1 when one fails (each failure is printed
with its reason), 2 on a usage error. Standard library only; reuses
tests/api/harness.py (Server, TLS client, sanitizer checks).

Every login goes out from its own loopback source address (127.20.0.0/14)
so that the per-address throttle (burst 20, 5/s) only bites where a test
means it to. What is attacked (SPEC 5, issue 3, CONTROLS AUTH-01..07,
SESS-01..03, G-07, G-08):

  policy      7-character, composition-breaking and e-mail-containing
              passwords refused with field errors; wrong current password 403
  common      dictionary passwords (cracklib rejects them) refused with a
              field error, by the API and by `user add`; own server, since a
              crash there must not hide the other results
  history     the current and the 5 previous passwords refused, the 6th
              previous accepted, and the window slides
  unicode     a 70-code-point password is never truncated
  lockout     200 parallel wrong guesses from 10 addresses: at most
              max_failures verifications (audit: <= 5 bad_password), one
              auth.lockout, every attempt audited; the right password while
              locked gets the same 401; other accounts unaffected; after the
              (15 s) lock the right password works
  same-401    unknown, malformed and disabled e-mails answer exactly like a
              wrong password
  eviction    a 4th login evicts the least recently used session (401 after),
              audited as session.evicted, not as a login failure
  pwchange    a password change ends every session of the user at once
  initial     an admin-issued initial password yields a password-only session
  disable     `user disable` / `user lock` end the sessions and refuse logins
  sessions    list, revoke own, 404 for another user's session, logout
  malformed   broken login bodies get 400/413/415 problem+json, never 5xx
  throttle    one address gets 429 + Retry-After after its burst
  idle        a session unused for session.idle_timeout (2 s) is gone; one
              used every 0.5 s stays
  races       simultaneous right-password logins are not failures; parallel
              logins keep max_concurrent; a password change and an admin lock
              end the sessions of logins racing with them, and the lock holds
  timing      median login time, unknown e-mail vs wrong password: within 3x
  log         no token or password ever appears in the server's stderr

Three servers per store: "main" (lockout.duration=15s, server.threads=16 -
what a 16-core machine runs by default - for more real concurrency),
"short" (session.idle_timeout=2s, lockout.max_failures=1000 for the timing
test) and "common" (defaults; alone because a crash there must not hide the
other results). Both stores take about 40 s with the ASan build on 2 cores.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import re
import secrets
import sqlite3
import ssl
import statistics
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import HarnessError, Server, do_request, run, sanitizer_report  # noqa: E402

ARGS = None
LOGIN = "/api/v1/auth/login"
PASSWORD = "/api/v1/auth/password"
SESSIONS = "/api/v1/auth/sessions"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"
TOKEN_RE = re.compile(r"^bws_[A-Za-z0-9_-]{43}$")
MAX_FAILURES = 5
HISTORY = 5
LOCK_SECONDS = 15  # long enough that a 200-guess flood under ASan on a busy 2-core box ends inside it
IDLE_SECONDS = 2
# Dictionary passwords that satisfy the composition rules (upper, lower,
# digit, >= 8) so that only the cracklib check can refuse them;
# `cracklib-check` says "it is based on a dictionary word" for each.
COMMON = ["Password1", "Welcome123", "Qwerty123", "Football1", "Sunshine1", "Letmein12"]


class Fail(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def vlog(msg):
    if ARGS is not None and ARGS.verbose:
        sys.stderr.write("    " + msg + "\n")


def strong_password(tag=""):
    """A password that every profile and cracklib accept: random, all three
    classes, and no two neighbours adjacent in code (cracklib calls runs like
    "234" or "hgf" "too simplistic/systematic"). `tag` is ignored (kept for
    readability of call sites)."""
    alnum = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    while True:
        pw = "".join(secrets.choice(alnum) for _ in range(14))
        if not (any(c.isupper() for c in pw) and any(c.islower() for c in pw) and
                any(c.isdigit() for c in pw)):
            continue
        low = pw.lower()
        if any(abs(ord(a) - ord(b)) <= 1 for a, b in zip(low, low[1:])):
            continue
        return pw


# ---- clients -----------------------------------------------------------------------

class SourceConnection(harness.HTTPSConnection):
    """harness.HTTPSConnection bound to a given local (loopback) address."""

    def __init__(self, port, context, timeout, source):
        super().__init__(port, context, timeout=timeout)
        if source is not None:
            self.source_address = (source, 0)


class Addresses:
    """Hands out distinct loopback addresses 127.20.0.1, 127.20.0.2, ..."""

    def __init__(self):
        self._n = 0
        self._mu = threading.Lock()

    def next(self):
        with self._mu:
            n = self._n
            self._n += 1
        c = n % 250 + 1
        b = (n // 250) % 250
        a = 20 + n // (250 * 250)
        return "127.%d.%d.%d" % (a, b, c)


class Api:
    """HTTPS calls against one server, recording every secret it handles so the
    log check can look for them, and failing on any 5xx answer."""

    def __init__(self, srv):
        self.srv = srv
        self.addrs = Addresses()
        self.secrets = set()
        self.state = {}
        self._mu = threading.Lock()

    def remember(self, *values):
        with self._mu:
            for v in values:
                if v:
                    self.secrets.add(v)

    def call(self, method, path, body=None, token=None, headers=None, source=None,
             raw_body=None, timeout=60.0):
        hdrs = {}
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        hdrs.update(headers or {})
        src = source if source is not None else self.addrs.next()
        c = SourceConnection(self.srv.port, self.srv.context(), timeout, src)
        try:
            r = do_request(c, method, path, body=data, headers=hdrs)
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            alive = self.srv.proc.poll() is None
            raise Fail("%s %s: no answer (%s: %s)%s" %
                       (method, path, type(e).__name__, e,
                        "" if alive else "; the server DIED (exit %s), see its log" %
                        self.srv.proc.poll()))
        finally:
            c.close()
        check(r.status < 500, "%s %s answered %d: %r" % (method, path, r.status, r.body[:300]))
        return r

    def login(self, email, password, expect=200, source=None):
        self.remember(password)
        r = self.call("POST", LOGIN, {"email": email, "password": password}, source=source)
        check(r.status == expect, "login %s: expected %d, got %d %r" %
              (email, expect, r.status, r.body[:300]))
        if r.status == 200:
            doc = r.json()
            self.remember(doc.get("token"))
            check(set(doc) == {"token", "csrf_token", "expires_at", "mfa_required",
                               "password_expired"}, "login answer members: %r" % sorted(doc))
            check(isinstance(doc["token"], str) and TOKEN_RE.match(doc["token"]),
                  "token shape: %r" % doc["token"])
            check(isinstance(doc["csrf_token"], str) and len(doc["csrf_token"]) == 43 and
                  doc["mfa_required"] is False, "csrf_token/mfa_required: %r" % doc)
            check(isinstance(doc["password_expired"], bool), "password_expired: %r" % doc)
            return doc
        return r

    def change(self, token, current, new, expect=204):
        self.remember(current, new)
        r = self.call("POST", PASSWORD, {"current": current, "new": new}, token=token)
        check(r.status == expect, "password change: expected %d, got %d %r" %
              (expect, r.status, r.body[:400]))
        return r

    def status(self, method, path, token):
        return self.call(method, path, token=token).status

    def me(self, token):
        return self.call("GET", ME, token=token)

    def sessions(self, token):
        r = self.call("GET", SESSIONS, token=token)
        check(r.status == 200, "GET sessions: %d %r" % (r.status, r.body[:300]))
        doc = r.json()
        check(set(doc) == {"items", "next_cursor"} and doc["next_cursor"] is None,
              "sessions list shape: %r" % doc)
        for s in doc["items"]:
            check(set(s) == {"id", "created_at", "last_seen_at", "expires_at", "remote",
                             "current"}, "session item members: %r" % s)
        return doc["items"]

    def current_session(self, token):
        cur = [s for s in self.sessions(token) if s["current"]]
        check(len(cur) == 1, "exactly one current session expected: %r" % cur)
        return cur[0]


def problem(r, status, type_suffix=None, what=""):
    """Asserts an RFC 9457 problem answer; returns the document."""
    check(r.status == status, "%s: expected %d, got %d %r" % (what, status, r.status,
                                                               r.body[:300]))
    check(r.header("Content-Type") == "application/problem+json",
          "%s: Content-Type %r" % (what, r.header("Content-Type")))
    try:
        doc = r.json()
    except ValueError:
        raise Fail("%s: problem body is not JSON: %r" % (what, r.body[:300]))
    check(isinstance(doc, dict), "%s: problem is not an object" % what)
    for k in ("type", "title", "status", "detail"):
        check(k in doc, "%s: problem lacks %r: %r" % (what, k, doc))
    check(doc["status"] == status, "%s: problem status %r" % (what, doc["status"]))
    if type_suffix is not None:
        check(isinstance(doc["type"], str) and doc["type"].endswith(type_suffix),
              "%s: problem type %r, want ...%s" % (what, doc["type"], type_suffix))
    if "errors" in doc:
        check(isinstance(doc["errors"], list), "%s: errors not a list" % what)
    return doc


def field_errors(doc):
    """[(field, message)] of a problem document."""
    out = []
    for e in doc.get("errors") or []:
        check(isinstance(e, dict), "error entry not an object: %r" % e)
        out.append((e.get("field"), str(e.get("message", e.get("detail", "")))))
    return out


# ---- command line and store access ---------------------------------------------------

def cli(srv, *args, expect=0, json_out=False):
    argv = srv.global_args() + (["--json"] if json_out else []) + list(args)
    p = run(argv, timeout=120)
    bad = sanitizer_report(p.stderr)
    check(bad is None, "sanitizer report from %s: %s" % (" ".join(args), p.stderr[-3000:]))
    check(p.returncode >= 0, "bulwark %s died of signal %d: %s" %
          (" ".join(args), -p.returncode, p.stderr[-500:]))
    if expect is not None:
        check(p.returncode == expect, "bulwark %s: exit %d (want %d): %s" %
              (" ".join(args), p.returncode, expect, p.stderr.strip()[-500:]))
    return p


def add_user(api, email, password=None):
    """`user add` with --password-file (or a generated password); returns
    (id, initial password)."""
    srv = api.srv
    args = ["user", "add", "--email", email]
    if password is not None:
        path = os.path.join(srv.tmp, "pw-%s" % secrets.token_hex(4))
        with open(path, "w") as f:
            f.write(password + "\n")
        os.chmod(path, 0o600)
        args += ["--password-file", path]
    p = cli(srv, *args, json_out=True, expect=None)
    if password is None and p.returncode != 0 and "refused" in p.stderr:
        raise Fail("`user add` refused the initial password it generated itself (%s); "
                   "cracklib calls about 0.3 %% of such random 20-character passwords too "
                   "simplistic/systematic, so the generator must check its result against "
                   "the policy" % p.stderr.strip().splitlines()[-1])
    check(p.returncode == 0, "bulwark user add --email %s: exit %d: %s" %
          (email, p.returncode, p.stderr.strip()[-500:]))
    if password is not None:
        os.unlink(path)
    doc = json.loads(p.stdout)
    if password is None:
        password = doc["initial_password"]
    api.remember(password)
    return doc["id"], password


def make_user(api, email, final=None):
    """A user whose password has been changed once (so logins give full
    sessions). Returns (id, password)."""
    uid, initial = add_user(api, email, strong_password("i"))
    final = final or strong_password("f")
    tok = api.login(email, initial)["token"]
    api.change(tok, initial, final)
    return uid, final


SAFE = re.compile(r"^[A-Za-z0-9._:@-]+$")


def audit(srv, action=None, target=None):
    """Rows of bw_audit_events (oldest first) as dicts, details parsed."""
    conds, params = [], []
    for col, val in (("action", action), ("target", target)):
        if val is not None:
            check(SAFE.match(val), "unsafe audit filter %r" % val)
            conds.append((col, val))
    cols = "seq, ts, actor, action, target, outcome, remote, request_id, details"
    if srv.database_url:
        where = " AND ".join("%s = '%s'" % c for c in conds) or "true"
        q = ("SELECT coalesce(json_agg(t ORDER BY t.seq), '[]') FROM (SELECT %s FROM "
             "bw_audit_events WHERE %s) t" % (cols, where))
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                            srv.database_url, "-c", q], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        check(p.returncode == 0, "psql failed: %s" % p.stderr.strip())
        rows = json.loads(p.stdout.strip() or "[]")
    else:
        where = " AND ".join("%s = ?" % c[0] for c in conds) or "1"
        db = sqlite3.connect(os.path.join(srv.data_dir, "db", "bulwark.db"), timeout=30)
        try:
            cur = db.execute("SELECT %s FROM bw_audit_events WHERE %s ORDER BY seq" %
                             (cols, where), [c[1] for c in conds])
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
        finally:
            db.close()
    for r in rows:
        try:
            r["details"] = json.loads(r["details"]) if r["details"] else {}
        except ValueError:
            raise Fail("audit details not JSON: %r" % r)
    return rows


def session_rows(srv, user_id):
    check(SAFE.match(user_id), "unsafe id")
    if srv.database_url:
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-d", srv.database_url, "-c",
                            "SELECT count(*) FROM bw_sessions WHERE user_id = '%s'" % user_id],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        check(p.returncode == 0, "psql failed: %s" % p.stderr.strip())
        return int(p.stdout.strip())
    db = sqlite3.connect(os.path.join(srv.data_dir, "db", "bulwark.db"), timeout=30)
    try:
        return db.execute("SELECT count(*) FROM bw_sessions WHERE user_id = ?",
                          (user_id,)).fetchone()[0]
    finally:
        db.close()


def comparable(r):
    """What a client can observe of a 401, minus what differs per request."""
    skip = {"date", "x-request-id"}
    return (r.status, sorted((k.lower(), v) for k, v in r.headers if k.lower() not in skip),
            r.body)


# ---- the tests ------------------------------------------------------------------------

def t_policy(api):
    """7-char, composition-breaking and e-mail-containing passwords refused."""
    email = "mallory.k@example.com"
    uid, initial = add_user(api, email, strong_password("p"))
    tok = api.login(email, initial)["token"]
    cases = [
        ("7 characters", "Ab1xyzq", ["shorter", "minimum", "length", "characters"]),
        ("no upper-case", "vr7kwpqz-4821", ["upper"]),
        ("no digit", "Vrkwpqz-Xtmn", ["digit"]),
        ("no lower-case", "VR7KWPQZ-4821", ["lower"]),
        ("e-mail local part", "Xmallory.k9Q", ["e-mail", "email"]),
        ("e-mail local part, other case", "9qMALLORY.Kz", ["e-mail", "email"]),
        ("whole e-mail", "Z1mallory.k@example.com", ["e-mail", "email"]),
    ]
    for what, pw, words in cases:
        r = api.change(tok, initial, pw, expect=400)
        doc = problem(r, 400, "/weak-password", what)
        errs = field_errors(doc)
        check(errs and all(f == "new" for f, _ in errs),
              "%s: field errors must name 'new': %r" % (what, errs))
        check(any(any(w in m.lower() for w in words) for _, m in errs),
              "%s: no error mentions %r: %r" % (what, words, errs))
        check(pw not in r.body.decode("utf-8", "replace"), "%s: password echoed" % what)
    # several rules broken at once: one field error each
    r = api.change(tok, initial, "abcdeq7", expect=400)
    errs = field_errors(problem(r, 400, "/weak-password", "7 chars, no upper"))
    check(len(errs) >= 2, "7 chars without upper-case: want >= 2 field errors, got %r" % errs)
    # the wrong current password: 403 with a field error, whatever the new one
    r = api.change(tok, initial + "x", strong_password(), expect=403)
    errs = field_errors(problem(r, 403, "/wrong-password", "wrong current"))
    check([f for f, _ in errs] == ["current"], "wrong current: field errors %r" % errs)
    # refusals end nothing; a good password then passes
    check(api.status("GET", ME, tok) == 200, "session lost after refused changes")
    api.change(tok, initial, strong_password())
    check(not [e for e in audit(api.srv, "auth.password.changed", uid) if e["outcome"] != "success"],
          "password change audit outcome")


def t_common(api):
    """Dictionary passwords (composition-valid) refused with a field error."""
    email = "carol.c@example.com"
    uid, initial = add_user(api, email, strong_password("c"))
    tok = api.login(email, initial)["token"]
    for pw in COMMON:
        r = api.change(tok, initial, pw, expect=400)
        errs = field_errors(problem(r, 400, "/weak-password", "common %r" % pw))
        check(errs and errs[0][0] == "new" and
              any("common" in m.lower() or "dictionary" in m.lower() for _, m in errs),
              "common %r: field errors %r" % (pw, errs))
    # `user add` refuses them too, and does not die doing so
    path = os.path.join(api.srv.tmp, "pw-common")
    with open(path, "w") as f:
        f.write(COMMON[0] + "\n")
    p = cli(api.srv, "user", "add", "--email", "dave.d@example.com", "--password-file", path,
            expect=None)
    check(p.returncode != 0 and "refused" in p.stderr,
          "user add with %r: exit %d, stderr %r" % (COMMON[0], p.returncode, p.stderr[-300:]))
    check(api.status("GET", ME, tok) == 200, "session lost after refused changes")


def t_history(api):
    """history=5: current + 5 previous refused, the 6th previous accepted."""
    email = "hist.h@example.com"
    uid, initial = add_user(api, email, strong_password("h"))
    n = HISTORY + 1  # changes: the current password and HISTORY previous ones
    pws = [initial] + [strong_password() for _ in range(n)]
    for i in range(1, n + 1):
        tok = api.login(email, pws[i - 1])["token"]
        api.change(tok, pws[i - 1], pws[i])
    cur = pws[n]
    tok = api.login(email, cur)["token"]
    for i in range(n, 0, -1):
        r = api.change(tok, cur, pws[i], expect=400)
        what = "current" if i == n else "%d back" % (n - i)
        errs = field_errors(problem(r, 400, "/weak-password", "reuse of P%d (%s)" % (i, what)))
        check(errs and errs[0][0] == "new" and any("used" in m for _, m in errs),
              "reuse of P%d (%s): %r" % (i, what, errs))
    # the initial password is HISTORY + 1 changes back: out of the window
    api.change(tok, cur, pws[0])
    check(api.status("GET", ME, tok) == 401, "session survived the password change")
    # the window slides: P2 is still among the last 5 previous, P1 no longer
    tok = api.login(email, pws[0])["token"]
    api.change(tok, pws[0], pws[2], expect=400)
    api.change(tok, pws[0], pws[1])
    api.login(email, pws[1])


def t_unicode(api):
    """A long non-ASCII password is used whole: no truncation, no folding."""
    email = "uni.u@example.com"
    uid, initial = add_user(api, email, strong_password("u"))
    pw = "Zz9-съешь же ещё этих мягких французских булок, да выпей чаю! 🙂🔐 Ωμέγα"
    check(len(pw) > 64, "test password too short")
    tok = api.login(email, initial)["token"]
    api.change(tok, initial, pw)
    api.login(email, pw[:64], expect=401)
    api.login(email, pw.encode("utf-8")[:72].decode("utf-8", "ignore"), expect=401)
    api.login(email, pw[:-1], expect=401)
    api.login(email, pw.upper(), expect=401)
    doc = api.login(email, pw)
    check(doc["password_expired"] is False, "changed password still expired")


def t_lockout(api):
    """200 parallel wrong guesses: at most max_failures verified, then locked."""
    srv = api.srv
    email = "locked.l@example.com"
    uid, right = make_user(api, email)
    other_email = "bystander.b@example.com"
    _, other_pw = make_user(api, other_email)
    sources = [api.addrs.next() for _ in range(10)]
    statuses = {}
    bodies = set()
    mu = threading.Lock()

    def guess(i):
        r = api.call("POST", LOGIN, {"email": email, "password": "Wrong%05dPw" % i},
                     source=sources[i % len(sources)])
        with mu:
            statuses[r.status] = statuses.get(r.status, 0) + 1
            if r.status == 401:
                bodies.add(r.body)
        return r.status

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as ex:
        list(ex.map(guess, range(200)))
    flood = time.monotonic() - t0
    vlog("200 guesses in %.1fs: %r" % (flood, statuses))
    check(flood < LOCK_SECONDS - 2, "the flood took %.1fs, too close to the %ds lock: "
          "inconclusive" % (flood, LOCK_SECONDS))
    check(set(statuses) <= {401, 429}, "guesses answered %r" % statuses)
    check(statuses.get(401, 0) >= 100, "too few guesses reached the server: %r" % statuses)
    check(len(bodies) == 1, "401 bodies differ during the flood: %r" % bodies)
    # the audit trail: every attempt, no more than max_failures verified
    failed = audit(srv, "auth.login.failed", uid)
    reasons = {}
    for e in failed:
        reasons[e["details"].get("reason")] = reasons.get(e["details"].get("reason"), 0) + 1
    vlog("auth.login.failed reasons: %r" % reasons)
    check(reasons.get("bad_password", 0) <= MAX_FAILURES,
          "%d bad_password verifications (max_failures %d): the counter raced" %
          (reasons.get("bad_password", 0), MAX_FAILURES))
    check(reasons.get("bad_password", 0) == MAX_FAILURES,
          "expected exactly %d bad_password events, got %r" % (MAX_FAILURES, reasons))
    check(set(reasons) <= {"bad_password", "locked"}, "unexpected reasons %r" % reasons)
    check(len(failed) == statuses[401],
          "%d failed-login audit events for %d refused attempts (every attempt must be "
          "audited)" % (len(failed), statuses[401]))
    locks = audit(srv, "auth.lockout", uid)
    check(len(locks) == 1, "auth.lockout events: %r" % locks)
    until = locks[0]["details"].get("locked_until")
    check(isinstance(until, int) and 0 < until - time.time() <= LOCK_SECONDS + 1,
          "locked_until %r not about %ds ahead" % (until, LOCK_SECONDS))
    # the right password during the lock: the very same answer, audited as locked
    r = api.call("POST", LOGIN, {"email": email, "password": right})
    api.remember(right)
    check(r.status == 401, "right password during the lock: %d %r" % (r.status, r.body))
    check(r.body in bodies, "locked 401 differs from wrong-password 401: %r vs %r" %
          (r.body, bodies))
    after = audit(srv, "auth.login.failed", uid)
    check(len(after) == len(failed) + 1 and after[-1]["details"].get("reason") == "locked",
          "right password during the lock audited as %r" % after[len(failed):])
    check(not audit(srv, "auth.login.succeeded", uid) or
          all(e["seq"] < locks[0]["seq"] for e in audit(srv, "auth.login.succeeded", uid)),
          "a login succeeded during the lock")
    # another account is not affected
    api.login(other_email, other_pw)
    api.state["lockout"] = (email, uid, right, until)


def t_lockout_expiry(api):
    """After lockout.duration the right password works (runs last: waits)."""
    check("lockout" in api.state, "t_lockout did not get far enough")
    email, uid, right, until = api.state["lockout"]
    if time.time() < until - 0.5:
        api.login(email, right, expect=401)  # still locked: no verification, no count
    while time.time() < until + 0.2:
        time.sleep(0.1)
    doc = api.login(email, right)
    check(doc["password_expired"] is False, "password_expired after unlock")
    check(len(audit(api.srv, "auth.lockout", uid)) == 1, "a second lockout appeared")
    ok = audit(api.srv, "auth.login.succeeded", uid)
    check(ok and ok[-1]["details"].get("session"), "successful login not audited: %r" % ok)


def t_same_401(api):
    """Unknown, malformed and disabled e-mails answer like a wrong password."""
    email = "known.k@example.com"
    _, pw = make_user(api, email)
    dis_email = "gone.g@example.com"
    make_user(api, dis_email)
    cli(api.srv, "user", "disable", dis_email)
    ref = api.call("POST", LOGIN, {"email": email, "password": pw + "x"})
    doc = problem(ref, 401, None, "wrong password")
    check("errors" not in doc, "401 lists errors: %r" % doc)
    for what, e in (("unknown e-mail", "nobody.n@example.com"),
                    ("unknown domain", "known.k@example.org"),
                    ("not an e-mail", "known.k"),
                    ("empty e-mail", ""),
                    ("disabled user", dis_email)):
        r = api.call("POST", LOGIN, {"email": e, "password": pw})
        check(comparable(r) == comparable(ref), "%s answers differently from a wrong password:"
              "\n  %r\n  %r" % (what, comparable(r), comparable(ref)))
    # e-mails are case-insensitive and trimmed: the same account
    api.login("  KNOWN.K@Example.COM ", pw)


def t_eviction(api):
    """A 4th login evicts the least recently used session (max_concurrent=3)."""
    srv = api.srv
    email = "evict.e@example.com"
    uid, pw = make_user(api, email)
    toks, sids, srcs = [], [], []
    for i in range(3):
        src = api.addrs.next()
        toks.append(api.login(email, pw, source=src)["token"])
        srcs.append(src)
        sids.append(api.current_session(toks[-1])["id"])
    before = {s["id"]: s for s in api.sessions(toks[2])}
    check(set(before) == set(sids), "3 sessions expected: %r" % before)
    for s in sids:
        check(before[s]["remote"] == srcs[sids.index(s)],
              "session remote %r, logged in from %r" % (before[s]["remote"],
                                                         srcs[sids.index(s)]))
    toks.append(api.login(email, pw)["token"])
    check(api.status("GET", ME, toks[0]) == 401, "the oldest session survived a 4th login")
    for t in toks[1:]:
        check(api.status("GET", ME, t) == 200, "a newer session was evicted instead")
    after = api.sessions(toks[3])
    check(len(after) == 3 and sids[0] not in {s["id"] for s in after},
          "after the 4th login: %r" % after)
    ev = audit(srv, "session.evicted", sids[0])
    check(len(ev) == 1 and ev[0]["actor"] == "user:%s" % uid, "session.evicted audit: %r" % ev)
    check(not audit(srv, "auth.login.failed", uid), "eviction counted as a login failure")
    check(session_rows(srv, uid) == 3, "bw_sessions rows != 3")


def login_flood(api, email, password, go, stop, threads=12):
    """Logs in with `password` from many threads from the moment `go` is set
    until `stop` is; returns (tokens obtained with the monotonic time each
    login ended, threads)."""
    got = []
    mu = threading.Lock()
    api.remember(password)

    def worker():
        go.wait(60)
        while not stop.is_set():
            r = api.call("POST", LOGIN, {"email": email, "password": password})
            if r.status == 200:
                tok = r.json()["token"]
                api.remember(tok)
                with mu:
                    got.append((tok, time.monotonic()))

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    return got, ts


def is_locked(srv, email):
    users = json.loads(cli(srv, "user", "list", json_out=True).stdout)
    return [u for u in users if u["email"] == email][0]["locked"]


def t_race_logins(api):
    """Parallel correct logins never leave more than max_concurrent sessions."""
    email = "many.m@example.com"
    uid, pw = make_user(api, email)
    out = barrier_logins(api, email, pw, 12)
    toks = [r.json()["token"] for r in out if r.status == 200]
    live = [t for t in toks if api.status("GET", ME, t) == 200]
    rows = session_rows(api.srv, uid)
    check(rows <= 3 and len(live) <= 3, "after 12 parallel logins: %d sessions stored, %d "
          "tokens work (max_concurrent 3)" % (rows, len(live)))


def barrier_logins(api, email, password, n):
    """n logins of one account released at the same instant on connections
    made beforehand; returns the answers."""
    conns = []
    for _ in range(n):
        c = SourceConnection(api.srv.port, api.srv.context(), 60, api.addrs.next())
        c.connect()
        conns.append(c)
    bar = threading.Barrier(n)
    body = json.dumps({"email": email, "password": password}).encode()

    def one(c):
        bar.wait(60)
        try:
            return do_request(c, "POST", LOGIN, body, {"Content-Type": "application/json"})
        finally:
            c.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        out = list(ex.map(one, conns))
    for r in out:
        check(r.status < 500, "login answered %d" % r.status)
        if r.status == 200:
            api.remember(r.json()["token"])
    return out


def t_race_right_logins(api):
    """Simultaneous right-password logins are not counted as failures."""
    email = "service.s@example.com"
    uid, pw = make_user(api, email)
    out = barrier_logins(api, email, pw, 30)
    st = [r.status for r in out]
    fails = audit(api.srv, "auth.login.failed", uid)
    check(st.count(200) == 30 and not fails,
          "30 simultaneous logins with the RIGHT password: %d x 200, %d x 401; audit says "
          "%r (in-flight attempts count toward lockout.max_failures=%d)" %
          (st.count(200), st.count(401), sorted({e["details"].get("reason") for e in fails}),
           MAX_FAILURES))


def race_change_round(api, email, old, new):
    """One password change under a flood of logins with the old password.
    Returns (change status, [(token, seconds after the change answered)])."""
    go, stop = threading.Event(), threading.Event()
    got, ts = login_flood(api, email, old, go, stop)
    try:
        tok = api.login(email, old)["token"]
        # connect first; the flood starts just after the change request is sent,
        # so this session passes its check before the flood's logins can evict
        # it (max_concurrent), and the flood's logins are in flight while the
        # change commits
        c = SourceConnection(api.srv.port, api.srv.context(), 60, api.addrs.next())
        c.connect()
        threading.Timer(0.02, go.set).start()
        r = do_request(c, "POST", PASSWORD, json.dumps({"current": old, "new": new}).encode(),
                       {"Content-Type": "application/json", "Authorization": "Bearer " + tok})
        c.close()
        changed = time.monotonic()
        time.sleep(0.2)
    finally:
        go.set()
        stop.set()
        for t in ts:
            t.join(60)
    check(r.status in (204, 401), "password change under a login flood: %d %r" %
          (r.status, r.body[:300]))
    return r.status, [(t, at - changed) for t, at in got]


def t_race_change(api):
    """A password change ends sessions made by logins racing with it."""
    made, alive, rounds = 0, [], 0
    for i in range(8):
        # a fresh account each round: the flood's late logins (old password,
        # now wrong) lock the account after max_failures
        email = "racer%d.r@example.com" % i
        uid, cur = make_user(api, email)
        new = strong_password("r")
        api.remember(new)
        status, got = race_change_round(api, email, cur, new)
        if status == 401:
            vlog("change session evicted by the flood before its check: again")
            continue
        rounds += 1
        made += len(got)
        alive += [(t, d) for t, d in got if api.status("GET", ME, t) == 200]
        if rounds == 3:
            break
    check(rounds == 3, "inconclusive: the change session was evicted too often")
    check(made >= 1, "inconclusive: no login with the old password won a race")
    check(not alive, "%d of %d sessions made with the OLD password survive the password "
          "change (their logins ended %s s after the change answered)" %
          (len(alive), made, ["%+.3f" % d for _, d in alive][:5]))


def t_race_lock(api):
    """An admin lock holds, and ends sessions, under a racing login flood."""
    email = "racer.l@example.com"
    uid, pw = make_user(api, email)
    go, stop = threading.Event(), threading.Event()
    got, ts = login_flood(api, email, pw, go, stop)
    try:
        go.set()
        time.sleep(0.3)
        cli(api.srv, "user", "lock", email)
        locked = time.monotonic()
        time.sleep(0.3)
    finally:
        stop.set()
        for t in ts:
            t.join(60)
    check(len(got) >= 3, "the login flood made only %d logins" % len(got))
    still = is_locked(api.srv, email)
    alive = [(t, at - locked) for t, at in got if api.status("GET", ME, t) == 200]
    after = [d for _, d in got if d > locked]
    check(still and not alive, "admin lock under a login flood: account %s; %d of %d sessions "
          "alive (%d logins succeeded after `user lock` returned; alive ones ended %s s after "
          "it)" % ("still locked" if still else "UNLOCKED again", len(alive), len(got),
                   len(after), ["%+.3f" % d for _, d in alive][:5]))
    api.login(email, pw, expect=401)
    cli(api.srv, "user", "unlock", email)


def t_pwchange_ends_sessions(api):
    """A password change ends every session of the user at once."""
    email = "change.c@example.com"
    uid, pw = make_user(api, email)
    toks = [api.login(email, pw)["token"] for _ in range(3)]
    new = strong_password("n")
    api.change(toks[1], pw, new)
    for i, t in enumerate(toks):
        check(api.status("GET", ME, t) == 401, "session %d survived the password change" % i)
        check(api.status("GET", SESSIONS, t) == 401, "session %d still lists" % i)
    check(session_rows(api.srv, uid) == 0, "bw_sessions rows remain after the change")
    api.login(email, pw, expect=401)
    tok = api.login(email, new)["token"]
    check(len(api.sessions(tok)) == 1, "more than the new session listed")
    ch = audit(api.srv, "auth.password.changed", uid)
    check(len(ch) == 2, "auth.password.changed events: %r" % ch)  # make_user + this one


def t_initial_password(api):
    """An admin-issued initial password forces a change before anything else."""
    email = "init.i@example.com"
    uid, initial = add_user(api, email)  # generated, printed once
    check(len(initial) == 20, "generated password %r" % initial)
    doc = api.login(email, initial)
    check(doc["password_expired"] is True, "initial password not expired: %r" % doc)
    tok = doc["token"]
    problem(api.call("GET", SESSIONS, token=tok), 403, "/problems/password-expired",
            "GET sessions with an expired password")
    problem(api.call("DELETE", SESSIONS + "/" + "0" * 26, token=tok), 403,
            "/problems/password-expired", "DELETE session with an expired password")
    # AC-01: every refusal is an authz.deny event naming the user and the reason
    denies = [e for e in audit(api.srv, action="authz.deny")
              if e["actor"] == "user:" + uid]
    check(len(denies) >= 2 and all(e["outcome"] == "denied" for e in denies) and
          all(e["details"].get("reason") == "password-expired" for e in denies),
          "authz.deny events: %r" % denies)
    r = api.me(tok)
    check(r.status == 200, "GET /users/me: %d" % r.status)
    me = r.json()
    check(me["password_expired"] is True and me["email"] == email and me["id"] == uid,
          "users/me: %r" % me)
    new = strong_password("x")
    api.change(tok, initial, "short1A", expect=400)
    api.change(tok, initial, new)
    check(api.status("GET", ME, tok) == 401, "password-only session survived the change")
    doc = api.login(email, new)
    check(doc["password_expired"] is False, "still expired after the change: %r" % doc)
    check(len(api.sessions(doc["token"])) == 1, "sessions after the change")
    me = api.me(doc["token"]).json()
    check(me["password_expired"] is False, "users/me after change: %r" % me)
    api.login(email, initial, expect=401)
    # logout works on a password-only session too
    uid2, init2 = add_user(api, "init2.i@example.com")
    t2 = api.login("init2.i@example.com", init2)["token"]
    check(api.status("POST", LOGOUT, t2) == 204, "logout of a password-only session")
    check(api.status("GET", ME, t2) == 401, "token alive after logout")


def t_disable(api):
    """`user disable` and `user lock` end sessions and refuse logins."""
    srv = api.srv
    email = "dis.d@example.com"
    uid, pw = make_user(api, email)
    toks = [api.login(email, pw)["token"] for _ in range(2)]
    cli(srv, "user", "disable", email)
    for t in toks:
        check(api.status("GET", ME, t) == 401, "session of a disabled user still works")
    check(session_rows(srv, uid) == 0, "sessions of a disabled user remain in bw_sessions")
    api.login(email, pw, expect=401)
    check(audit(srv, "user.disabled", uid), "no user.disabled audit event")
    fails = [e for e in audit(srv, "auth.login.failed", uid)
             if e["details"].get("reason") == "disabled"]
    check(fails, "login of a disabled user not audited with reason disabled")
    cli(srv, "user", "enable", email)
    tok = api.login(email, pw)["token"]
    cli(srv, "user", "lock", email)
    check(api.status("GET", ME, tok) == 401, "session survived an admin lock")
    api.login(email, pw, expect=401)
    cli(srv, "user", "unlock", email)
    api.login(email, pw)
    check(audit(srv, "user.locked", uid) and audit(srv, "user.unlocked", uid),
          "lock/unlock not audited")


def t_sessions(api):
    """Own sessions listed and revocable; another user's session is 404."""
    srv = api.srv
    x_email, y_email = "xavier.x@example.com", "yvonne.y@example.com"
    _, xpw = make_user(api, x_email)
    _, ypw = make_user(api, y_email)
    xt = api.login(x_email, xpw)["token"]
    xsid = api.current_session(xt)["id"]
    yt1 = api.login(y_email, ypw)["token"]
    yt2 = api.login(y_email, ypw)["token"]
    ysid2 = api.current_session(yt2)["id"]
    r = api.call("DELETE", SESSIONS + "/" + xsid, token=yt1)
    doc = problem(r, 404, None, "DELETE of another user's session")
    r2 = api.call("DELETE", SESSIONS + "/" + "z" * 26, token=yt1)
    check(r2.body == r.body, "404 for another's session differs from a missing one: %r %r" %
          (r.body, r2.body))
    check(api.status("GET", ME, xt) == 200, "another user's DELETE ended the session")
    check(not audit(srv, "session.revoked", xsid), "a refused DELETE was audited as revoked")
    check(api.status("DELETE", SESSIONS + "/" + ysid2, yt1) == 204, "DELETE own session")
    check(api.status("GET", ME, yt2) == 401, "revoked session still works")
    check(api.status("DELETE", SESSIONS + "/" + ysid2, yt1) == 404, "DELETE twice")
    check(audit(srv, "session.revoked", ysid2), "revocation not audited")
    check(api.status("POST", LOGOUT, yt1) == 204, "logout")
    check(api.status("GET", ME, yt1) == 401, "token alive after logout")
    check(api.status("POST", LOGOUT, yt1) == 401, "logout twice")
    # garbage and absent tokens
    for tok in ("", "bws_", "bws_" + "A" * 43, xt + "x", xt[:-1], xt.upper()):
        r = api.call("GET", ME, token=tok)
        problem(r, 401, None, "token %r" % tok[:10])
    problem(api.call("GET", ME, headers={"Authorization": "Basic " + xt}), 401, None,
            "Basic scheme")
    problem(api.call("GET", ME), 401, None, "no token")


def chunked_login(api, size):
    """A login body of `size` bytes sent chunked (no Content-Length)."""
    body = b'{"email":"a@b.cd","password":"' + b"x" * max(0, size - 32) + b'"}'
    s = api.srv.tls_socket(timeout=30, source=api.addrs.next())
    try:
        head = ("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % LOGIN).encode()
        data = head
        for i in range(0, len(body), 1000):
            part = body[i:i + 1000]
            data += b"%x\r\n" % len(part) + part + b"\r\n"
        data += b"0\r\n\r\n"
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        status, text, rbody, _ = harness.read_http_response(s, timeout=30)
        return status, harness.parse_head(text), rbody
    finally:
        s.close()


def t_malformed(api):
    """Broken login bodies: 400/413/415 problem+json, never 5xx."""
    j = "application/json"
    ok = {"email": "a@b.cd", "password": "x"}
    cases = [
        # (what, raw body, content type or None, allowed statuses, fields named)
        ("missing email", b'{"password":"x"}', j, {400}, ["email"]),
        ("missing password", b'{"email":"a@b.cd"}', j, {400}, ["password"]),
        ("empty object", b"{}", j, {400}, ["email", "password"]),
        ("email a number", b'{"email":1,"password":"x"}', j, {400}, ["email"]),
        ("email true", b'{"email":true,"password":"x"}', j, {400}, ["email"]),
        ("email null", b'{"email":null,"password":"x"}', j, {400}, ["email"]),
        ("password an array", b'{"email":"a@b.cd","password":["x"]}', j, {400}, ["password"]),
        ("password an object", b'{"email":"a@b.cd","password":{"a":1}}', j, {400},
         ["password"]),
        ("password a number", b'{"email":"a@b.cd","password":12345678}', j, {400},
         ["password"]),
        ("unknown member", b'{"email":"a@b.cd","password":"x","admin":true}', j, {400},
         ["admin"]),
        ("unknown member only", b'{"user":"a@b.cd","pass":"x"}', j, {400}, None),
        ("duplicate key", b'{"email":"a@b.cd","email":"c@d.ef","password":"x"}', j, {400},
         None),
        ("duplicate password", b'{"email":"a@b.cd","password":"x","password":"y"}', j, {400},
         None),
        ("oversized", json.dumps({"email": "a@b.cd", "password": "x" * 5000}).encode(), j,
         {413}, None),
        ("oversized email", json.dumps({"email": "a" * 3000 + "@b.cd",
                                        "password": "x"}).encode(), j, {400, 401}, None),
        ("password > 1024 bytes", json.dumps({"email": "a@b.cd",
                                             "password": "x" * 2000}).encode(), j,
         {400, 401}, None),
        ("NUL in password", b'{"email":"a@b.cd","password":"ab\\u0000cd"}', j, {400, 401},
         None),
        ("text/plain", json.dumps(ok).encode(), "text/plain", {415}, None),
        ("form encoded", b"email=a%40b.cd&password=x", "application/x-www-form-urlencoded",
         {415}, None),
        ("no content type", json.dumps(ok).encode(), None, {415}, None),
        ("json-ish type", json.dumps(ok).encode(), "application/jsonx", {415}, None),
        ("invalid JSON", b'{"email":"a@b.cd",', j, {400}, None),
        ("trailing garbage", b'{"email":"a@b.cd","password":"x"} {}', j, {400}, None),
        ("empty body", b"", j, {400}, None),
        ("array body", b'[{"email":"a@b.cd","password":"x"}]', j, {400}, None),
        ("string body", b'"a@b.cd"', j, {400}, None),
        ("null body", b"null", j, {400}, None),
        ("invalid UTF-8", b'{"email":"a@b.cd","password":"\xff\xfe"}', j, {400}, None),
        ("overlong UTF-8", b'{"email":"a@b.cd","password":"\xc0\xaf"}', j, {400}, None),
        ("UTF-8 BOM", b'\xef\xbb\xbf{"email":"a@b.cd","password":"x"}', j, {400}, None),
        ("deep nesting", b'{"email":' + b"[" * 1000 + b"]" * 1000 + b',"password":"x"}', j,
         {400}, None),
        ("NaN", b'{"email":"a@b.cd","password":NaN}', j, {400}, None),
        ("huge number", b'{"email":"a@b.cd","password":1' + b"0" * 400 + b"}", j, {400}, None),
        ("lone surrogate", b'{"email":"a@b.cd","password":"\\ud800"}', j, {400, 401}, None),
        ("charset parameter", json.dumps(ok).encode(), "application/json; charset=utf-8",
         {401}, None),
    ]
    for what, raw, ctype, allowed, fields in cases:
        hdrs = {"Content-Type": ctype} if ctype else {}
        r = api.call("POST", LOGIN, raw_body=raw, headers=hdrs)
        check(r.status in allowed, "%s: status %d, want %s: %r" %
              (what, r.status, sorted(allowed), r.body[:200]))
        doc = problem(r, r.status, None, what)
        if fields:
            named = {f for f, _ in field_errors(doc)}
            check(set(fields) <= named, "%s: field errors %r, want %r" % (what, named, fields))
    # chunked, no Content-Length: 413, or the connection closed unanswered
    status, headers, body = chunked_login(api, 9000)
    check(status in (413, None), "oversized chunked login: %r %r" % (status, body[:200]))
    if status is None:
        vlog("note: oversized chunked body: connection closed without a 413")
    # an e-mail with a NUL byte must not log in as its prefix
    email = "nul.n@example.com"
    _, pw = make_user(api, email)
    r = api.call("POST", LOGIN, {"email": email + "\u0000evil", "password": pw})
    check(r.status in (400, 401), "e-mail with NUL logged in as its prefix: %d" % r.status)
    if r.status == 200:
        api.remember(r.json().get("token"))


def t_throttle(api):
    """One address gets 429 + Retry-After after its burst; others do not."""
    src = api.addrs.next()
    got = []
    for _ in range(40):
        r = api.call("POST", LOGIN, raw_body=b"{}", headers={"Content-Type":
                                                             "application/json"}, source=src)
        got.append(r.status)
        if r.status == 429:
            doc = problem(r, 429, "/too-many-requests", "throttled login")
            ra = r.header("Retry-After")
            check(ra is not None and ra.isdigit() and 1 <= int(ra) <= 60,
                  "Retry-After %r" % ra)
    check(set(got) <= {400, 429}, "statuses %r" % got)
    check(got.count(429) >= 10 and 15 <= got.count(400) <= 30,
          "burst of 20: %d passed, %d throttled" % (got.count(400), got.count(429)))
    check(api.call("POST", LOGIN, raw_body=b"{}", headers={"Content-Type": "application/json"},
                   source=api.addrs.next()).status == 400, "another address was throttled")
    time.sleep(0.5)  # 5/s refill: at least one more attempt now
    r = api.call("POST", LOGIN, raw_body=b"{}", headers={"Content-Type": "application/json"},
                 source=src)
    check(r.status == 400, "no refill after 0.5 s: %d" % r.status)


def t_idle(api):
    """A session unused for session.idle_timeout is refused and removed."""
    email = "idle.i@example.com"
    uid, pw = make_user(api, email)
    tok = api.login(email, pw)["token"]
    check(api.status("GET", ME, tok) == 200, "fresh session refused")
    time.sleep(IDLE_SECONDS + 1.2)
    check(api.status("GET", ME, tok) == 401, "session alive after %ds idle (timeout %ds)" %
          (IDLE_SECONDS + 1, IDLE_SECONDS))
    check(session_rows(api.srv, uid) == 0, "idle session not removed from bw_sessions")
    api.login(email, pw)


def t_idle_active(api):
    """A session in use is not idle: requests every 0.5 s keep it alive."""
    email = "busy.b@example.com"
    uid, pw = make_user(api, email)
    tok = api.login(email, pw)["token"]
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2 * IDLE_SECONDS + 1:
        st = api.status("GET", ME, tok)
        check(st == 200, "a session used every 0.5 s was refused %.1f s after login "
              "(session.idle_timeout=%ds): last use does not count" %
              (time.monotonic() - t0, IDLE_SECONDS))
        time.sleep(0.5)


def t_timing(api):
    """Median login time: unknown e-mail within 3x of a wrong password."""
    email = "timing.t@example.com"
    _, pw = make_user(api, email)
    known, unknown = [], []

    def timed(e):
        c = SourceConnection(api.srv.port, api.srv.context(), 30, api.addrs.next())
        try:
            c.connect()
            body = json.dumps({"email": e, "password": "Wrong-Pass-9"}).encode()
            t0 = time.perf_counter()
            r = do_request(c, "POST", LOGIN, body, {"Content-Type": "application/json"})
            dt = time.perf_counter() - t0
        finally:
            c.close()
        check(r.status == 401, "timing login: %d" % r.status)
        return dt

    for i in range(14):
        known.append(timed(email))
        unknown.append(timed("nobody%d.n@example.com" % i))
    mk, mu = statistics.median(known[2:]), statistics.median(unknown[2:])
    vlog("median wrong password %.1f ms, unknown e-mail %.1f ms" % (mk * 1e3, mu * 1e3))
    check(mk / 3 <= mu <= mk * 3, "unknown e-mail median %.1f ms vs wrong password %.1f ms: "
          "not within 3x" % (mu * 1e3, mk * 1e3))
    check(mu >= 0.005, "unknown e-mail answered in %.1f ms: no hash?" % (mu * 1e3))


# ---- runner -------------------------------------------------------------------------

MAIN_TESTS = [t_policy, t_history, t_unicode, t_lockout, t_same_401, t_eviction,
              t_pwchange_ends_sessions, t_initial_password, t_disable, t_sessions,
              t_malformed, t_throttle, t_lockout_expiry, t_race_logins, t_race_right_logins,
              t_race_change, t_race_lock]
SHORT_TESTS = [t_idle, t_idle_active, t_timing]
COMMON_TESTS = [t_common]


class Runner:
    def __init__(self):
        self.results = []  # (backend, name, ok, seconds, message)

    def selected(self, fn):
        return not ARGS.patterns or any(p in fn.__name__ for p in ARGS.patterns)

    def run_server(self, backend, label, overrides, tests, pg_dir):
        tests = [t for t in tests if self.selected(t)]
        if not tests:
            return
        t0 = time.monotonic()
        try:
            with Server(ARGS.bulwark, pg_dir=pg_dir, overrides=overrides,
                        name="identity") as srv:
                api = Api(srv)
                for fn in tests:
                    self.one(backend, fn, api)
                srv.stop()
                self.log_check(backend, label, api)
        except (HarnessError, Fail, OSError) as e:
            self.results.append((backend, "%s server" % label, False,
                                 time.monotonic() - t0, str(e)[-4000:]))
            sys.stderr.write("FAIL %-8s %s server: %s\n" % (backend, label, str(e)[-4000:]))

    def one(self, backend, fn, api):
        t0 = time.monotonic()
        try:
            fn(api)
            ok, msg = True, ""
        except Fail as e:
            ok, msg = False, str(e)
        except Exception as e:  # a broken test or harness: report, go on
            ok, msg = False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
        dt = time.monotonic() - t0
        self.results.append((backend, fn.__name__, ok, dt, msg))
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        sys.stderr.write("%s %-8s %-26s %5.1fs  %s\n" % ("ok  " if ok else "FAIL", backend,
                                                         fn.__name__, dt, doc))
        if not ok:
            sys.stderr.write("     -> %s\n" % msg.replace("\n", "\n        "))

    def log_check(self, backend, label, api):
        """After stop: no token or password in the server's stderr."""
        t0 = time.monotonic()
        log = api.srv.stderr()
        leaked = sorted(s for s in api.secrets if s and s in log)
        ok = not leaked and "bws_" not in log
        msg = "" if ok else "secrets in serve stderr: %r" % [s[:12] + "..." for s in leaked]
        self.results.append((backend, "t_log_%s" % label, ok, time.monotonic() - t0, msg))
        sys.stderr.write("%s %-8s %-26s %5.1fs  %s\n" % (
            "ok  " if ok else "FAIL", backend, "t_log_%s" % label, time.monotonic() - t0,
            "no token or password (of %d) in the serve log" % len(api.secrets)))
        if not ok:
            sys.stderr.write("     -> %s\n" % msg)

    def backend(self, name, pg_dir):
        # 16 request threads: what a 16-core machine runs by default
        self.run_server(name, "main", ["lockout.duration=%ds" % LOCK_SECONDS,
                                       "server.threads=16"], MAIN_TESTS, pg_dir)
        self.run_server(name, "short", ["session.idle_timeout=%ds" % IDLE_SECONDS,
                                        "lockout.max_failures=1000"], SHORT_TESTS, pg_dir)
        self.run_server(name, "common", [], COMMON_TESTS, pg_dir)


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bulwark", required=True, help="path to the bulwark binary")
    ap.add_argument("--pg-dir", help="directory of a running scripts/pg-test-server")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only tests whose name contains this (repeatable)")
    ap.add_argument("--pg-only", action="store_true",
                    help="with --pg-dir: skip the SQLite run (CTest runs it separately)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ARGS = ap.parse_args()
    if not os.access(ARGS.bulwark, os.X_OK):
        sys.stderr.write("test_identity: %s is not an executable\n" % ARGS.bulwark)
        return 2
    if ARGS.pg_dir and not os.path.isfile(os.path.join(ARGS.pg_dir, "url")):
        sys.stderr.write("test_identity: %s/url not found: run scripts/pg-test-server start "
                         "%s\n" % (ARGS.pg_dir, ARGS.pg_dir))
        return 2
    t0 = time.monotonic()
    runner = Runner()
    if not (ARGS.pg_only and ARGS.pg_dir):
        runner.backend("sqlite", None)
    if ARGS.pg_dir:
        runner.backend("postgres", ARGS.pg_dir)
    if not runner.results:
        sys.stderr.write("test_identity: no test matched\n")
        return 2
    failed = [r for r in runner.results if not r[2]]
    sys.stderr.write("test_identity: %d checks in %.1fs against %s%s: %s\n" % (
        len(runner.results), time.monotonic() - t0, ARGS.bulwark,
        " (SQLite and PostgreSQL)" if ARGS.pg_dir else " (SQLite)",
        "OK" if not failed else "FAILED (%d)" % len(failed)))
    for backend, name, _, _, msg in failed:
        sys.stderr.write("  FAILED %s %s: %s\n" % (backend, name, msg.splitlines()[0][:300]
                                                   if msg else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
