#!/usr/bin/env python3
"""test_rbac_matrix.py - every (role x route x method) of the organisation-scoped
API against the permission table (CONTROL: AC-01; issue 4 "Done when").

    python3 tests/api/test_rbac_matrix.py --bulwark build/release/bulwark [--pg-dir DIR]
                                          [--pg-only]

The expected answer of each cell comes from the matrix in docs/RBAC.md (the
same table tenant/rbac.c holds; tests/unit/tenant compares those two): a
granted permission must not be refused (any answer but 403), a denied one must
be 403 and recorded as an authz.deny event. Every route under
/api/v1/orgs/{org} in src/http/routes.c must appear in ROUTES below, so a new
route without a declared permission fails this test (deny by default is then
checked by the router and the matrix). Owners and admins have a verified
second factor (administrative permissions need one); the others do not.
"""

import argparse
import os
import re
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_identity as ti  # noqa: E402
import test_records as tr  # noqa: E402
from harness import HarnessError, Server  # noqa: E402
from test_identity import Api, Fail, check, audit  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = ["owner", "admin", "editor", "viewer", "auditor"]

# (method, pattern as in routes.c, permission, body)
ROUTES = [
    ("GET", "/api/v1/orgs/{org}", "org.read", None),
    ("GET", "/api/v1/orgs/{org}/members", "member.read", None),
    ("POST", "/api/v1/orgs/{org}/members", "member.manage",
     {"email": "nobody@example.org", "role": "viewer"}),
    ("DELETE", "/api/v1/orgs/{org}/members/{user}", "member.manage", None),
    ("GET", "/api/v1/orgs/{org}/collections", "collection.read", None),
    ("POST", "/api/v1/orgs/{org}/collections", "collection.manage", "NEWCOLL"),
    ("GET", "/api/v1/orgs/{org}/collections/{c}", "collection.read", None),
    ("PUT", "/api/v1/orgs/{org}/collections/{c}", "collection.manage",
     {"classification": "internal"}),
    ("GET", "/api/v1/orgs/{org}/collections/{c}/records", "record.read", None),
    ("POST", "/api/v1/orgs/{org}/collections/{c}/records", "record.write",
     {"data": {"name": "x"}}),
    ("GET", "/api/v1/orgs/{org}/collections/{c}/records/{id}", "record.read", None),
    ("PUT", "/api/v1/orgs/{org}/collections/{c}/records/{id}", "record.write",
     {"data": {"name": "y"}}),
    ("DELETE", "/api/v1/orgs/{org}/collections/{c}/records/{id}", "record.delete", None),
    ("POST", "/api/v1/orgs/{org}/collections/{c}/records/{id}/restore", "record.restore", None),
    ("GET", "/api/v1/orgs/{org}/export", "export", None),
    ("GET", "/api/v1/orgs/{org}/audit", "audit.read", None),
]


def matrix():
    """{permission: {role: bool}} from docs/RBAC.md."""
    text = open(os.path.join(REPO, "docs", "RBAC.md")).read()
    block = text.split("<!-- matrix")[1].split("<!-- end matrix -->")[0]
    out = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or cells[0] in ("permission", "") or cells[0].startswith("---"):
            continue
        out[cells[0]] = {r: cells[1 + i] == "Y" for i, r in enumerate(ROLES)}
    check(out, "no matrix rows in docs/RBAC.md")
    return out


def org_routes():
    text = open(os.path.join(REPO, "src", "http", "routes.c")).read()
    rows = re.findall(r'\{BW_(GET|POST|PUT|DELETE|PATCH), "(/api/v1/orgs/\{org\}[^"]*)"', text)
    return set(rows)


def t_matrix(api):
    m = matrix()
    declared = {(meth, pat) for meth, pat, _, _ in ROUTES}
    for meth, pat in org_routes():
        if "/apikeys" in pat:  # the API-key routes of the tenants branch: apikey.manage
            continue
        if (meth, pat) == ("DELETE", "/api/v1/orgs/{org}"):
            continue  # would delete the matrix's organisation: test_records.py t_org_delete
                      # checks org.manage for every role on an organisation of its own
        check((meth, pat) in declared, "route %s %s has no entry in ROUTES" % (meth, pat))
    w = tr.World(api)
    emails = {}
    for r in ROLES:
        emails[r], _ = w.user(r, mfa=r in ("owner", "admin"))
    org = w.org("owner", "Matrix Org")
    for r in ROLES[1:]:
        w.member(org, "owner", emails[r], r)
    name = tr.uname("m")
    tr.coll(w, org, "owner", name, cls="public")
    rid = tr.create(w, "%s/%s/collections/%s/records" % (tr.ORGS, org, name), "owner",
                    {"name": "seed"})["id"]
    before = len(audit(api.srv, action="authz.deny"))
    denials = 0
    cells = 0
    for meth, pat, perm, body in ROUTES:
        check(perm in m, "permission %s not in docs/RBAC.md" % perm)
        for role in ROLES:
            path = (pat.replace("{org}", org).replace("{c}", name).replace("{id}", rid)
                    .replace("{user}", "0" * 26))
            if meth in ("DELETE",) and "{id}" in pat or meth == "POST" and "restore" in pat:
                path = path.replace(rid, "1" * 26)  # keep the seed: allowed -> 404, denied -> 403
            b = body
            if body == "NEWCOLL":
                b = {"name": tr.uname("c"), "fields": tr.FIELDS, "classification": "public"}
            hdr = {"If-Match": '"999"'} if meth == "PUT" and "{id}" in pat else None
            r = api.call(meth, path, b, token=w.tok[role], headers=hdr)
            allowed = m[perm][role]
            cells += 1
            if allowed:
                check(r.status != 403, "%s %s as %s: %s granted, got 403 %r" %
                      (meth, pat, role, perm, r.body[:200]))
            else:
                check(r.status == 403, "%s %s as %s: %s denied, got %d %r" %
                      (meth, pat, role, perm, r.status, r.body[:200]))
                denials += 1
    after = len(audit(api.srv, action="authz.deny"))
    check(after - before == denials, "authz.deny events %d, denials %d" % (after - before,
                                                                         denials))
    sys.stderr.write("     %d cells, %d denials, all as the table says\n" % (cells, denials))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--pg-only", action="store_true")
    args = ap.parse_args()
    ti.ARGS = args
    tr.ARGS = args
    failed = 0
    backends = ([] if args.pg_only and args.pg_dir else [None]) + ([args.pg_dir] if args.pg_dir
                                                                  else [])
    for pg in backends:
        name = "postgres" if pg else "sqlite"
        try:
            with Server(args.bulwark, pg_dir=pg, name="rbac",
                        overrides=["tenants.self_service=yes"]) as srv:
                t_matrix(Api(srv))
            sys.stderr.write("ok   %-8s t_matrix\n" % name)
        except (Fail, HarnessError, OSError) as e:
            failed += 1
            sys.stderr.write("FAIL %-8s t_matrix: %s\n" % (name, e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
