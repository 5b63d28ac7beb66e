#!/usr/bin/env python3
"""test_backup_audit.py - the files of DATA/audit/ in backups (issue 6, format 3).

    test_backup_audit.py --bulwark PATH [--only NAME,...]

Backups carry the signed retention archives (DATA/audit/archive/*.bwa) and
DATA/audit/checkpoints.jsonl as files, chunked and sealed like the snapshot
(docs/BACKUP-FORMAT.md). Cases (SQLite, the real binary):
  restore   events, `audit retention` (an archive), checkpoints; `backup run
            --full`, restore to a new directory: the files come back byte for
            byte (0600 in 0700 directories) and `audit verify` there passes
            with archives and checkpoints counted; verify and the copy target
            carry them too
  flip      one flipped byte in the chunk object of the archive, then of
            checkpoints.jsonl (object names computed from the master key as
            BACKUP-FORMAT.md defines them): `backup verify` names it and
            restore refuses, naming it, leaving nothing behind
  incremental  an incremental with no audit change writes no new file chunk;
            after a new checkpoint only checkpoints.jsonl's chunk is new; prune
            keeps the older backups' file chunks that the newest still names
  older     checkpoints signed while a backup runs (after its snapshot is
            pinned) name events beyond that backup's chain: restoring it later
            drops exactly those lines and `audit verify` passes
  live      a backup that lacks an archive its store lists (as one of format 2,
            or a latest restore replaying the log past a later retention run):
            the restore takes it from the live data directory, and verify
            passes; without it there the restore names it as missing
  symlink   a symlink in place of checkpoints.jsonl: the backup is refused,
            naming it; audit/archive as a symlink to a directory elsewhere
            (shared storage) is followed
"""

import argparse
import base64
import glob
import hashlib
import hmac
import json
import os
import shutil
import stat
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_backup as tb  # noqa: E402  (the helpers of the backup suite)
from test_backup import Fail, bw, bwj, check, flip, pad_meta  # noqa: E402,F401


def verify_report(data_dir):
    p = bw(data_dir, "--json", "audit", "verify", expect=None)
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    check((p.returncode == 0) == rep["ok"], "verify exit %d vs report %r" % (p.returncode, rep))
    return rep


def audit_ok(data_dir, what):
    rep = verify_report(data_dir)
    check(rep["ok"] and rep["events"] > 0 and rep["archives"] > 0 and rep["checkpoints"] > 0
          and rep["warning"] == "", "%s: audit verify on the restored directory: %r" %
          (what, rep))
    return rep


def audit_files(data_dir):
    """{relative name: bytes} of the files a backup carries."""
    out = {}
    base = os.path.join(data_dir, "audit")
    for p in sorted(glob.glob(os.path.join(base, "archive", "audit-*.bwa")) +
                    glob.glob(os.path.join(base, "checkpoints.jsonl"))):
        with open(p, "rb") as f:
            out[os.path.relpath(p, data_dir)] = f.read()
    return out


def events(data_dir, n):
    """n audit events: each `audit verify` records audit.verified."""
    for _ in range(n):
        bw(data_dir, "audit", "verify")


def build(tmp):
    """A data directory with an archive, checkpoints before and after it."""
    d = os.path.join(tmp, "data")
    bw(d, "init")
    events(d, 4)
    bw(d, "audit", "checkpoint")
    time.sleep(2.2)  # whole seconds: older than 1 s for sure
    res = bwj(d, "audit", "retention", overrides=["retention.audit=1s"])
    check(res["archived"] > 0, "retention archived events: %r" % res)
    events(d, 2)
    bw(d, "audit", "checkpoint")
    rep = verify_report(d)
    check(rep["ok"] and rep["archives"] >= 1 and rep["checkpoints"] >= 2,
          "live trail with an archive: %r" % rep)
    return d


def chunk_object(target, data_dir, content):
    """The target's object of a file that fits one chunk (< 64 KiB): its name
    is HMAC-SHA-256 (manifest format 4) keyed with subkey 2 of context
    "bwbackup" of the master key (crypto_kdf), docs/BACKUP-FORMAT.md."""
    check(len(content) < 64 * 1024, "test sanity: one chunk")
    master = base64.b64decode(open(os.path.join(data_dir, "keys", "master.key")).read().strip())
    sub = hashlib.blake2b(b"", digest_size=32, key=master,
                          salt=(2).to_bytes(8, "little") + bytes(8),
                          person=b"bwbackup" + bytes(8)).digest()
    cid = hmac.new(sub, content, hashlib.sha256).hexdigest()
    hits = glob.glob(os.path.join(target, "chunks", "*", cid))
    check(len(hits) >= 1, "no chunk object %s on the target" % cid)
    return sorted(hits, key=os.path.getmtime)[0]


def manifests(t):
    return sorted(os.path.basename(m)[:-9] for m in glob.glob(os.path.join(t, "backups",
                                                                            "*.manifest")))


# ---- cases ----------------------------------------------------------------------------

def t_restore(tmp):
    d = build(tmp)
    target, copy = os.path.join(tmp, "t"), os.path.join(tmp, "c")
    os.makedirs(target)
    os.makedirs(copy)
    ov = ["backup.target=dir:" + target, "backup.copy_target=dir:" + copy]
    live = audit_files(d)
    check(any(k.startswith("audit/archive/") for k in live) and "audit/checkpoints.jsonl" in live,
          "live files: %r" % list(live))
    res = bwj(d, "backup", "run", "--full", overrides=ov)
    f = res["files"]
    check(f["count"] == len(live) and f["size"] == sum(len(v) for v in live.values()) and
          f["chunks"] >= len(live) and f["new_chunks"] == f["chunks"], "backup files: %r" % f)
    ver = bwj(d, "backup", "verify", overrides=ov)
    check(ver["files"] == len(live) and ver["chunks"] >= res["chunks"] + f["chunks"],
          "verify re-read the files: %r" % ver)
    r = os.path.join(tmp, "r")
    out = bwj(d, "backup", "restore", "--to", r, overrides=ov)
    check(out["audit_files"]["count"] == len(live) and
          out["audit_files"]["checkpoints_dropped"] == 0, "restore result: %r" % out)
    got = audit_files(r)
    check(got == live, "restored files differ: %r vs %r" % (sorted(got), sorted(live)))
    for rel in ("audit", "audit/archive"):
        mode = stat.S_IMODE(os.stat(os.path.join(r, rel)).st_mode)
        check(mode == 0o700, "%s mode %o" % (rel, mode))
    for rel in got:
        mode = stat.S_IMODE(os.stat(os.path.join(r, rel)).st_mode)
        check(mode == 0o600, "%s mode %o" % (rel, mode))
    check(not os.path.exists(os.path.join(r, "audit", "restore.files")), "temporary removed")
    rep = audit_ok(r, "restore")
    # the copy target holds the file chunks too: it restores on its own
    cov = ["backup.target=dir:" + copy]
    check(bwj(d, "backup", "verify", overrides=cov)["files"] == len(live), "copy verifies")
    rc = os.path.join(tmp, "rc")
    bwj(d, "backup", "restore", "--to", rc, overrides=cov)
    check(audit_files(rc) == live, "restore from the copy: files")
    audit_ok(rc, "restore from the copy")
    print("restore: %d files (%d bytes) back byte for byte; audit verify: %d events, %d "
          "archives, %d checkpoints; the copy target restores them too" %
          (len(live), f["size"], rep["events"], rep["archives"], rep["checkpoints"]))


def t_flip(tmp):
    d = build(tmp)
    target = os.path.join(tmp, "t")
    os.makedirs(target)
    ov = ["backup.target=dir:" + target]
    live = audit_files(d)
    res = bwj(d, "backup", "run", "--full", overrides=ov)
    arch = [k for k in live if k.startswith("audit/archive/")][0]
    for which in (arch, "audit/checkpoints.jsonl"):
        path = chunk_object(target, d, live[which])
        rel = os.path.relpath(path, target)
        saved = open(path, "rb").read()
        for off in (0, len(saved) // 2, len(saved) - 1):
            flip(path, off)
            p = bw(d, "backup", "verify", overrides=ov, expect=1)
            check(rel in p.stderr, "flip %s@%d: verify must name it: %s" % (rel, off, p.stderr))
            dest = os.path.join(tmp, "r-flip")
            p = bw(d, "backup", "restore", "--to", dest, "--backup", res["name"], overrides=ov,
                   expect=1)
            check(rel in p.stderr and not os.path.exists(dest) and
                  not glob.glob(dest + ".restore-*"),
                  "flip %s@%d: restore refuses naming it, leaves nothing: %s" %
                  (rel, off, p.stderr))
            with open(path, "wb") as f:
                f.write(saved)
        print("flip: the chunk of %s (%s) flipped at 3 offsets: verify and restore name it" %
              (which, rel))
    bwj(d, "backup", "verify", overrides=ov)


def t_incremental(tmp):
    d = build(tmp)
    target = os.path.join(tmp, "t")
    os.makedirs(target)
    ov = ["backup.target=dir:" + target]
    full = bwj(d, "backup", "run", "--full", overrides=ov)
    before = set(glob.glob(os.path.join(target, "chunks", "*", "*")))
    inc = bwj(d, "backup", "run", overrides=ov)
    check(inc["kind"] == "incremental" and inc["files"]["count"] == full["files"]["count"],
          "incremental: %r" % inc)
    check(inc["files"]["new_chunks"] == 0 and inc["files"]["new_bytes"] == 0,
          "an incremental with no audit change writes no file chunk: %r" % inc["files"])
    new = set(glob.glob(os.path.join(target, "chunks", "*", "*"))) - before
    check(len(new) == inc["new_chunks"], "only new snapshot chunks were written: %d vs %r" %
          (len(new), inc))
    bw(d, "audit", "checkpoint")  # the backups appended events: a new checkpoint line
    inc2 = bwj(d, "backup", "run", overrides=ov)
    check(inc2["files"]["new_chunks"] == 1, "after a checkpoint only checkpoints.jsonl's chunk "
          "is new: %r" % inc2["files"])
    # prune the two older backups: the archive's chunk (written by the full
    # backup, under its data key) stays because the newest names it
    time.sleep(2.1)
    pr = bwj(d, "backup", "prune", overrides=ov + ["retention.full_backups=2s",
                                                   "retention.incremental_backups=2s"])
    check(len(pr["removed_backups"]) == 2 and manifests(target) == [inc2["name"]],
          "prune: %r" % pr)
    ver = bwj(d, "backup", "verify", overrides=ov)
    check(ver["files"] == inc2["files"]["count"], "the kept backup verifies: %r" % ver)
    r = os.path.join(tmp, "r")
    bwj(d, "backup", "restore", "--to", r, overrides=ov)
    audit_ok(r, "after prune")
    print("incremental: no audit change -> 0 new file chunks; a checkpoint -> 1; prune keeps "
          "the file chunks the newest backup names")


def t_older(tmp):
    """Checkpoints signed after a backup's snapshot was pinned but before its
    files were read are in its checkpoints.jsonl yet name events its store
    does not hold; restoring that backup must drop them."""
    d = build(tmp)
    target = os.path.join(tmp, "t")
    os.makedirs(target)
    ov = ["backup.target=dir:" + target]
    pad_meta(d, 96)  # the snapshot takes a while to chunk: the window
    for attempt in range(6):
        stop = threading.Event()
        signed = []

        def during():
            # wait until the snapshot's chunks are being written (it is pinned;
            # the files are read after the last chunk), then sign more
            end = time.time() + 60
            before = set(glob.glob(os.path.join(target, "chunks", "*")))
            while not stop.is_set() and time.time() < end:
                if set(glob.glob(os.path.join(target, "chunks", "*"))) - before:
                    break
                time.sleep(0.005)
            if stop.is_set():
                return
            bw(d, "audit", "verify")
            p = bw(d, "audit", "checkpoint")
            signed.append(p.stdout)
        th = threading.Thread(target=during)
        th.start()
        res = bwj(d, "backup", "run", "--full", overrides=ov)
        stop.set()
        th.join()
        # a newer backup exists: restoring `res` is an older restore
        events(d, 1)
        bwj(d, "backup", "run", overrides=ov)
        r = os.path.join(tmp, "r%d" % attempt)
        out = bwj(d, "backup", "restore", "--to", r, "--backup", res["name"], overrides=ov)
        dropped = out["audit_files"]["checkpoints_dropped"]
        rep = audit_ok(r, "older restore")
        seqs = [json.loads(line)["seq"] for line in
                open(os.path.join(r, "audit", "checkpoints.jsonl")) if line.strip()]
        check(seqs and max(seqs) <= rep["last_seq"],
              "kept checkpoints name only the restored chain: %r vs %r" % (seqs, rep))
        if dropped > 0:
            print("older: %d checkpoint line(s) beyond the restored chain dropped (attempt %d); "
                  "audit verify passes (%d checkpoints kept)" % (dropped, attempt + 1,
                                                                len(seqs)))
            return
        shutil.rmtree(r)
    raise Fail("older: no checkpoint landed inside a backup's window in 6 attempts")


def t_live(tmp):
    d = build(tmp)
    target = os.path.join(tmp, "t")
    os.makedirs(target)
    ov = ["backup.target=dir:" + target]
    arch = os.path.join(d, "audit", "archive")
    aside = os.path.join(tmp, "archive-aside")
    os.rename(arch, aside)
    try:
        res = bwj(d, "backup", "run", "--full", overrides=ov)
    finally:
        os.rename(aside, arch)
    check(res["files"]["count"] == 1, "only checkpoints.jsonl backed up: %r" % res["files"])
    names = sorted(os.listdir(arch))
    r = os.path.join(tmp, "r")
    out = bwj(d, "backup", "restore", "--to", r, overrides=ov)
    af = out["audit_files"]
    check(af["archives_from_live"] == len(names) and af["archives_missing"] == [],
          "archives from the live directory: %r" % af)
    check(sorted(os.listdir(os.path.join(r, "audit", "archive"))) == names, "copied archives")
    audit_ok(r, "archives from the live directory")
    os.rename(arch, aside)
    try:
        r2 = os.path.join(tmp, "r2")
        out = bwj(d, "backup", "restore", "--to", r2, overrides=ov)
    finally:
        os.rename(aside, arch)
    check(out["audit_files"]["archives_missing"] == names, "missing named: %r" % out)
    rep = verify_report(r2)
    check(not rep["ok"] and "is missing" in rep["reason"] and names[0] in rep["reason"],
          "verify names the missing archive: %r" % rep)
    print("live: %d archive(s) the backup lacked came from the live directory; without them "
          "the restore and verify name them" % len(names))


def t_symlink(tmp):
    d = build(tmp)
    target = os.path.join(tmp, "t")
    os.makedirs(target)
    ov = ["backup.target=dir:" + target]
    ck = os.path.join(d, "audit", "checkpoints.jsonl")
    elsewhere = os.path.join(tmp, "elsewhere.jsonl")
    shutil.move(ck, elsewhere)
    os.symlink(elsewhere, ck)
    try:
        p = bw(d, "backup", "run", "--full", overrides=ov, expect=1)
        check("audit/checkpoints.jsonl" in p.stderr and "not a regular file" in p.stderr,
              "symlink refused by name: %s" % p.stderr)
        check(manifests(target) == [], "no backup listed")
    finally:
        os.unlink(ck)
        shutil.move(elsewhere, ck)
    bwj(d, "backup", "run", "--full", overrides=ov)
    # the archive directory on "shared storage": followed, like the audit code does
    arch = os.path.join(d, "audit", "archive")
    shared = os.path.join(tmp, "shared-archive")
    shutil.move(arch, shared)
    os.symlink(shared, arch)
    live = audit_files(d)
    res = bwj(d, "backup", "run", "--full", overrides=ov)
    check(res["files"]["count"] == len(live) == 2, "symlinked archive directory: %r" % res)
    r = os.path.join(tmp, "r")
    bwj(d, "backup", "restore", "--to", r, "--backup", res["name"], overrides=ov)
    check(audit_files(r) == live and not os.path.islink(os.path.join(r, "audit", "archive")),
          "restored as a plain directory")
    audit_ok(r, "symlinked archive directory")
    print("symlink: a symlinked checkpoints.jsonl is refused by name; a symlinked archive "
          "directory is followed")


CASES = {"restore": t_restore, "flip": t_flip, "incremental": t_incremental, "older": t_older,
         "live": t_live, "symlink": t_symlink}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--only")
    a = ap.parse_args()
    tb.BULWARK = os.path.abspath(a.bulwark)
    return tb.run_cases(CASES, a.only.split(",") if a.only else list(CASES), "audit-")


if __name__ == "__main__":
    sys.exit(main())
