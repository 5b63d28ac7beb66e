#!/usr/bin/env python3
"""secrets_scan.py - the last test of the suite (issue 5, "no password, token,
key or record body appears in any log or audit line after the whole test
suite"; CONTROL: LOG-03, G-13).

    python3 tests/audit/secrets_scan.py --dir build/test-artifacts

Every harness.Server run under CTest leaves DIR/<suite>-<pid>-<n>/ with its
serve log, `audit export` in jsonl and syslog form, and secrets.json: the
passwords, tokens, TOTP seeds, recovery codes and API keys that process
handled (tests/api/harness.py). This greps every log and export for every
secret of every suite, raw and JSON-escaped. It prints where a secret was
found by its first four characters and length, never the secret. Exit 1 on
any find, and when there is nothing to scan (a broken harness must not
look like a clean run).
"""

import argparse
import json
import os
import sys

SCANNED = ("serve.log", "audit-export.jsonl", "audit-export.syslog")


def forms(secret):
    """The secret as written raw, in a JSON string and in RFC 5424 SD-PARAM."""
    out = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    sd = secret.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
    out.add(sd)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    if not os.path.isdir(args.dir):
        print("secrets scan: no artefacts directory %s: the harness kept nothing" % args.dir)
        return 1
    runs = sorted(d for d in os.listdir(args.dir) if os.path.isdir(os.path.join(args.dir, d)))
    secrets = set()
    for r in runs:
        p = os.path.join(args.dir, r, "secrets.json")
        if os.path.exists(p):
            with open(p) as f:
                secrets.update(s for s in json.load(f) if isinstance(s, str) and len(s) >= 8)
    patterns = {}
    for s in secrets:
        for form in forms(s):
            patterns.setdefault(form, s)
    leaks, files, nbytes = [], 0, 0
    for r in runs:
        for name in SCANNED:
            p = os.path.join(args.dir, r, name)
            if not os.path.exists(p):
                continue
            with open(p, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            files += 1
            nbytes += len(text)
            for form, s in patterns.items():
                if form in text:
                    leaks.append("%s/%s: a secret %r... (%d chars)" % (r, name, s[:4], len(s)))
    print("secrets scan: %d runs, %d files, %.1f MB, %d secrets: %d found" %
          (len(runs), files, nbytes / 1e6, len(secrets), len(leaks)))
    for line in sorted(set(leaks))[:50]:
        print("LEAK", line)
    if not runs or files == 0 or not secrets:
        print("secrets scan: nothing to scan (runs %d, files %d, secrets %d)" %
              (len(runs), files, len(secrets)))
        return 1
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
