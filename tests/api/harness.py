"""harness.py - drive a real `bulwark serve` over real HTTPS from Python tests.

Standard library only (Debian 12's python3). Used by tests/api/test_api.py and
tests/attacks/hostile.py.

    with Server(bulwark, pg_dir=None) as srv:
        r = srv.request("GET", "/healthz")
        assert r.status == 200

`Server` makes a fresh temporary data directory, runs `bulwark init` (the
embedded SQLite store, or a fresh PostgreSQL database from
`scripts/pg-test-server newdb PGDIR` when pg_dir is given), picks a free
loopback port, starts `serve` with its stderr (the JSON log) going to a file,
and waits for /healthz. On exit it sends SIGTERM and checks that the server
stopped with status 0 and that its stderr holds no sanitizer report; it then
removes the temporary directory (kept, and its path printed, on failure).

TLS: every client context is TLS 1.3 only and verifies the server against the
data directory's own tls/cert.pem with the host name "localhost".
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_TEST_SERVER = os.path.join(REPO, "scripts", "pg-test-server")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ERROR: ThreadSanitizer", "UndefinedBehaviorSanitizer")


class HarnessError(AssertionError):
    """A failure of the server under test (not of the test logic)."""


def sanitizer_env(base=None):
    """Environment for running the binary: sanitizer reports are fatal and
    leak checking is on (the dev preset), harmless for a release build."""
    env = dict(os.environ if base is None else base)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    # Never let a developer's own settings leak into a test server.
    for k in list(env):
        if k.startswith("BULWARK_"):
            del env[k]
    return env


def sanitizer_report(text):
    """The first sanitizer marker found in text, or None."""
    for m in SANITIZER_MARKERS:
        if m in text:
            return m
    return None


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(args, env=None, timeout=60, input=None):
    """Runs a command; returns CompletedProcess with text stdout/stderr."""
    return subprocess.run(args, env=env if env is not None else sanitizer_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          input=input, text=True, errors="replace")


def tcp_connect(port, timeout=10.0, source=None, host="127.0.0.1"):
    """A TCP connection to host:port with TCP_NODELAY (see HTTPSConnection),
    optionally from a given local address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source is not None:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def pg_newdb(pg_dir):
    """A fresh PostgreSQL database URL from scripts/pg-test-server newdb."""
    try:
        p = subprocess.run([PG_TEST_SERVER, "newdb", pg_dir], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HarnessError("pg-test-server newdb %s failed: %s" % (pg_dir, e))
    url = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    if p.returncode != 0 or not url.startswith("postgresql://"):
        raise HarnessError("pg-test-server newdb %s failed (exit %d): %s" %
                           (pg_dir, p.returncode, p.stderr.strip()[-500:]))
    return url


# ---- TLS clients ---------------------------------------------------------------

def client_context(cafile=None, minimum=ssl.TLSVersion.TLSv1_3,
                   maximum=ssl.TLSVersion.MAXIMUM_SUPPORTED):
    """A client context; verifies against cafile when given (host 'localhost')."""
    if cafile is not None:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = minimum
    ctx.maximum_version = maximum
    return ctx


class HTTPSConnection(http.client.HTTPSConnection):
    """http.client over TLS to 127.0.0.1 that checks the certificate for the
    name 'localhost' (the self-signed certificate's name)."""

    def __init__(self, port, context, timeout=10.0, server_hostname="localhost"):
        super().__init__("127.0.0.1", port, context=context, timeout=timeout)
        self._bw_ctx = context
        self._bw_sni = server_hostname

    def connect(self):
        http.client.HTTPConnection.connect(self)
        # Without TCP_NODELAY the request waits behind the handshake's last
        # flight for a delayed ACK (~40 ms a request).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._bw_ctx.wrap_socket(self.sock, server_hostname=self._bw_sni)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value), as received
        self.body = body                # bytes

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:200])


def do_request(conn, method, path, body=None, headers=None):
    """One request on an http.client connection; returns Response."""
    hdrs = dict(headers or {})
    conn.putrequest(method, path, skip_accept_encoding=True)
    for k, v in hdrs.items():
        conn.putheader(k, v)
    if body is not None and "Content-Length" not in hdrs and "Transfer-Encoding" not in hdrs:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    data = r.read()
    _note_exchange(hdrs, body, data)
    return Response(r.status, r.reason, list(r.getheaders()), data)


def read_http_response(sock, timeout=10.0, head_only=False):
    """Reads one HTTP/1.1 response from a (TLS) socket. Returns
    (status or None, header text, body bytes, closed) where status None means
    the connection closed (or timed out) before a status line arrived."""
    sock.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise socket.timeout("no response head within %.1fs" % timeout)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, ssl.SSLEOFError):
            chunk = b""
        if not chunk:
            return None, buf.decode("latin-1"), b"", True
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    m = re.match(r"HTTP/1\.[01] (\d{3})", text)
    if not m:
        return None, text, rest, True
    status = int(m.group(1))
    length = 0
    for line in text.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    if head_only:
        length = 0
    while len(rest) < length:
        if time.monotonic() > deadline:
            raise socket.timeout("response body incomplete after %.1fs" % timeout)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        if not chunk:
            break
        rest += chunk
    return status, text, rest[:length], False


def parse_head(text):
    """Header text -> list of (name, value) (status line skipped)."""
    out = []
    for line in text.split("\r\n")[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            out.append((k.strip(), v.strip()))
    return out


# ---- the server ----------------------------------------------------------------

class Server:
    """A `bulwark serve` on a fresh data directory (see the module docstring).

    overrides: list of "section.key=value" passed as -o global options to
    both init and serve. env: extra environment for serve. pg_dir: use a
    fresh PostgreSQL database from pg-test-server instead of SQLite."""

    def __init__(self, bulwark, pg_dir=None, overrides=(), env=None, name="bulwark",
                 start_timeout=60.0, stop_timeout=60.0, security_contact=None,
                 after_init=None):
        self.bulwark = os.path.abspath(bulwark)
        self.after_init = after_init  # called with the server after init, before serve
        self.pg_dir = pg_dir
        self.overrides = list(overrides)
        self.extra_env = dict(env or {})
        self.name = name
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.security_contact = security_contact
        self.tmp = None
        self.data_dir = None
        self.port = None
        self.proc = None
        self.log_path = None
        self.database_url = None
        self._log_file = None
        self._ctx = None
        self.exit_status = None

    # -- lifecycle --
    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self._teardown(failed=True)
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        failed = exc_type is not None
        try:
            self.stop()
        except BaseException:
            self._teardown(failed=True)
            raise
        self._teardown(failed=failed)
        return False

    def global_args(self):
        args = [self.bulwark, "--data-dir", self.data_dir]
        for o in self.overrides:
            args += ["-o", o]
        return args

    def _start(self):
        self.tmp = tempfile.mkdtemp(prefix="bw-%s-" % self.name)
        os.chmod(self.tmp, 0o700)
        self.data_dir = os.path.join(self.tmp, "data")
        init = self.global_args() + ["init"]
        if self.pg_dir:
            self.database_url = pg_newdb(self.pg_dir)
            init += ["--database", self.database_url]
        p = run(init, timeout=120)
        if p.returncode != 0:
            raise HarnessError("bulwark init failed (exit %d): %s" %
                               (p.returncode, p.stderr.strip()))
        if sanitizer_report(p.stderr):
            raise HarnessError("sanitizer report from init:\n" + p.stderr)
        if self.after_init is not None:
            self.after_init(self)
        self._ctx = client_context(cafile=self.cafile)
        self.log_path = os.path.join(self.tmp, "serve.log")
        last_err = ""
        for _attempt in range(5):
            self.port = free_port()
            self._log_file = open(self.log_path, "wb")
            env = sanitizer_env()
            env.update(self.extra_env)
            self.proc = subprocess.Popen(
                self.global_args() + ["serve", "--listen", "127.0.0.1:%d" % self.port],
                stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=self._log_file,
                env=env)
            state = self._wait_ready()
            if state == "ready":
                return
            self.exit_status = self.proc.wait()
            self._log_file.close()
            last_err = self.stderr()
            if "address already in use" not in last_err:
                break
        raise HarnessError("bulwark serve did not start (exit %s): %s" %
                           (self.exit_status, last_err.strip()[-2000:]))

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            try:
                r = self.request("GET", "/healthz", timeout=2.0)
                if r.status == 200:
                    return "ready"
            except (OSError, ssl.SSLError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        self.proc.kill()
        raise HarnessError("bulwark serve did not answer /healthz within %.0fs: %s" %
                           (self.start_timeout, self.stderr()[-2000:]))

    def stop(self, sig=signal.SIGTERM):
        """Stops the server; asserts exit status 0 and no sanitizer report."""
        if self.proc is None or self.exit_status is not None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.exit_status = self.proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exit_status = self.proc.wait()
            raise HarnessError("bulwark serve did not stop within %.0fs of SIGTERM" %
                               self.stop_timeout)
        finally:
            if self._log_file is not None:
                self._log_file.close()
        err = self.stderr()
        bad = sanitizer_report(err)
        if bad:
            raise HarnessError("sanitizer report (%s) in serve stderr:\n%s" %
                               (bad, err[-6000:]))
        if self.exit_status != 0:
            raise HarnessError("bulwark serve exited with status %d after SIGTERM:\n%s" %
                               (self.exit_status, err[-3000:]))

    def _teardown(self, failed):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()
        if self.tmp is None:
            return
        keep_artifacts(self)
        if failed:
            sys.stderr.write("harness: kept %s for inspection (serve log: %s)\n" %
                             (self.tmp, self.log_path))
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- inspection --
    @property
    def cafile(self):
        return os.path.join(self.data_dir, "tls", "cert.pem")

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        if self.log_path is None or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_records(self):
        """The JSON lines of the serve log (non-JSON lines are skipped)."""
        out = []
        for line in self.stderr().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def access_log(self):
        return [r for r in self.log_records() if r.get("event") == "http.request"]

    def rss_kib(self):
        """VmRSS of the server process in KiB (Linux /proc)."""
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise HarnessError("no VmRSS for pid %d" % self.pid)

    # -- clients --
    def context(self):
        return self._ctx

    def connection(self, timeout=10.0):
        return HTTPSConnection(self.port, self._ctx, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        """One request on a fresh connection."""
        c = self.connection(timeout=timeout)
        try:
            return do_request(c, method, path, body=body, headers=headers)
        finally:
            c.close()

    def tls_socket(self, timeout=10.0, context=None, source=None):
        """A raw TLS 1.3 socket to the server, for hand-made requests.
        source: a loopback address to connect from (127.0.0.0/8), so that
        tests can act as several clients under the per-IP connection cap."""
        s = tcp_connect(self.port, timeout=timeout, source=source)
        try:
            return (context or self._ctx).wrap_socket(s, server_hostname="localhost")
        except BaseException:
            s.close()
            raise

    def raw(self, data, timeout=10.0, head_only=False, shut_write=False):
        """Sends raw bytes over a fresh TLS connection and reads one response.
        Returns (status or None if closed without an answer, headers list,
        body bytes)."""
        s = self.tls_socket(timeout=timeout)
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass
            status, text, body, _closed = read_http_response(s, timeout=timeout,
                                                             head_only=head_only)
            return status, parse_head(text) if status else [], body
        finally:
            s.close()


# ---- test artefacts for the final secret scan (audit trail, issue 5) ---------
# Under CTest, BW_TEST_ARTIFACTS names a directory (build/test-artifacts).
# Every Server then leaves there, when it is torn down, its serve log, an
# `audit export` of its trail and the secrets this process handled over
# HTTPS: passwords in request bodies, tokens and keys in Authorization
# headers, and tokens, TOTP seeds, recovery codes and API keys in answers
# (plus whatever a suite adds with note_secret). The last CTest test,
# tests/audit/secrets_scan.py, greps every kept log and export for every
# kept secret (CONTROL: LOG-03, G-13).
ARTIFACTS = os.environ.get("BW_TEST_ARTIFACTS") or None
_SECRETS = set()
_SECRETS_MU = threading.Lock()
_KEPT = [0]
_BODY_SECRETS = ("password", "current", "new", "recovery_code")
_ANSWER_SECRETS = ("token", "secret", "otpauth_uri", "recovery_codes")
_APIKEY_RE = re.compile(r"^bwk_[A-Za-z0-9_-]{20,}$")


def note_secret(*values):
    """Records values a log or audit line must never hold (8+ characters:
    shorter ones, such as 6-digit codes, would match by chance)."""
    with _SECRETS_MU:
        for v in values:
            if isinstance(v, str) and len(v) >= 8:
                _SECRETS.add(v)


def _json_secrets(data, names):
    try:
        doc = json.loads(data)
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        return  # hostile bodies (nesting bombs) are the suites' business, not ours
    if not isinstance(doc, dict):
        return
    for k, v in doc.items():
        if k in names or (k == "key" and isinstance(v, str) and _APIKEY_RE.match(v)):
            note_secret(*(v if isinstance(v, list) else [v]))


def _note_exchange(hdrs, body, answer):
    if ARTIFACTS is None:
        return  # outside CTest nobody scans: spare the suites' timing checks
    for k, v in hdrs.items():
        if k.lower() == "authorization" and isinstance(v, str):
            note_secret(v.split(" ", 1)[-1].strip())
    if isinstance(body, (bytes, str)) and body:
        _json_secrets(body, _BODY_SECRETS)
    if answer:
        _json_secrets(answer, _ANSWER_SECRETS)


def keep_artifacts(srv):
    """Copies srv's serve log and an audit export into ARTIFACTS/<suite>-<pid>-<n>/
    with the secrets seen so far. Never fails the suite."""
    if ARTIFACTS is None or srv.data_dir is None:
        return
    try:
        _KEPT[0] += 1
        d = os.path.join(ARTIFACTS, "%s-%d-%d" % (srv.name, os.getpid(), _KEPT[0]))
        os.makedirs(d, mode=0o700, exist_ok=True)
        if srv.log_path and os.path.exists(srv.log_path):
            shutil.copy(srv.log_path, os.path.join(d, "serve.log"))
        for fmt in ("jsonl", "syslog"):
            p = run(srv.global_args() + ["audit", "export", "--format", fmt], timeout=120)
            if p.returncode != 0:  # no file: an empty one would count as scanned
                sys.stderr.write("harness: audit export --format %s failed (exit %d); not "
                                 "kept\n" % (fmt, p.returncode))
                continue
            with open(os.path.join(d, "audit-export.%s" % fmt), "w") as f:
                f.write(p.stdout)
        with _SECRETS_MU:
            secrets_now = sorted(_SECRETS)
        fd = os.open(os.path.join(d, "secrets.json"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(secrets_now, f)
    except (OSError, subprocess.SubprocessError) as e:
        sys.stderr.write("harness: could not keep test artefacts: %s\n" % e)
