#!/usr/bin/env python3
"""Crash test (issue 2): a child commits numbered rows through the store
interface from several threads and is killed with SIGKILL mid-stream, several
times; afterwards the store opens, passes its integrity check, and every row
whose commit had returned (the child printed it) is present."""
import argparse, os, random, signal, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--child", required=True)
ap.add_argument("--store", choices=["sqlite", "pg"], required=True)
ap.add_argument("--pg-dir")
ap.add_argument("--rounds", type=int, default=5)
args = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
tmp = tempfile.mkdtemp(prefix="bw-crash-")
if args.store == "sqlite":
    target = os.path.join(tmp, "bulwark.db")
else:
    target = subprocess.check_output(
        [os.path.join(root, "scripts", "pg-test-server"), "newdb", args.pg_dir], text=True).strip()

acked = set()
for rnd in range(args.rounds):
    child = subprocess.Popen([args.child, "write", target, "4"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + random.uniform(0.5, 1.5)
    lines = []
    os.set_blocking(child.stdout.fileno(), False)
    buf = ""
    while time.time() < deadline:
        try:
            chunk = child.stdout.read()
        except TypeError:
            chunk = None
        if chunk:
            buf += chunk
        if child.poll() is not None:
            print("child exited early:", child.stderr.read(), file=sys.stderr)
            sys.exit(1)
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    rest = child.stdout.read() or ""
    buf += rest
    # only complete lines were acknowledged
    for line in buf.split("\n")[:-1]:
        t, n = line.split()
        acked.add("crash.%s.%08d" % (t, int(n)))
    print("round %d: %d commits acknowledged so far" % (rnd + 1, len(acked)))

out = subprocess.run([args.child, "verify", target], capture_output=True, text=True)
if out.returncode != 0:
    print("verify failed:", out.stderr, file=sys.stderr)
    sys.exit(1)
present = set(out.stdout.split())
missing = acked - present
print("present %d, acknowledged %d, missing %d" % (len(present), len(acked), len(missing)))
if not acked:
    print("no commit was acknowledged: the test proved nothing", file=sys.stderr)
    sys.exit(1)
if missing:
    print("lost acknowledged commits:", sorted(missing)[:10], file=sys.stderr)
    sys.exit(1)
subprocess.run(["rm", "-rf", tmp])
print("ok")
