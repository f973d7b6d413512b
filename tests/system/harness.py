"""Process harness for the service system tests: start the fake Nexon upstream and `maplexp
serve` on loopback ports, read their structured logs, and stop them with a signal.

Every wait here waits on a condition (a log line, a port, a process exit) with a deadline; no
test sleeps to let something happen."""
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _bin(env_name, default):
    path = os.environ.get(env_name, str(ROOT / "build" / "release" / default))
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{default} binary not found at {path}: run `make` first")
    return path


def wait_until(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Poll predicate() until it returns a truthy value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class _LineReader:
    """Collects a process's stdout lines on a thread (parsed as JSON when possible)."""

    def __init__(self, stream):
        self.lines = []
        self.queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                item = json.loads(text)
            except ValueError:
                item = {"raw": text}
            self.lines.append(item)
            self.queue.put(item)

    def wait_for(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        for item in list(self.lines):
            if predicate(item):
                return item
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for a log line")
            try:
                item = self.queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if predicate(item):
                return item


class FakeNexon:
    def __init__(self, *args):
        self.proc = subprocess.Popen([_bin("FAKE_NEXON_BIN", "fake-nexon"), "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = _LineReader(self.proc.stdout)
        line = self.out.wait_for(lambda l: l.get("event") == "listening")
        self.port = line["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def calls(self):
        return requests.get(self.url + "/admin/calls", timeout=5).json()

    def path_calls(self, path):
        return self.calls()["paths"].get(path, 0)

    def reset(self):
        requests.post(self.url + "/admin/reset", timeout=5).raise_for_status()

    def fault(self, **spec):
        requests.post(self.url + "/admin/faults", json=spec, timeout=5).raise_for_status()

    def clear_faults(self):
        requests.delete(self.url + "/admin/faults", timeout=5).raise_for_status()

    def characters(self):
        return requests.get(self.url + "/admin/characters", timeout=5).json()["characters"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()


class Service:
    """One `maplexp serve` process (standalone mode) with its own SQLite file."""

    def __init__(self, fake, workdir=None, **env):
        self.dir = workdir or tempfile.mkdtemp(prefix="maplexp-test-")
        base = {
            "NEXON_API_BASE_URL": fake.url if fake else "http://127.0.0.1:9",
            "NEXON_API_KEY": "demo-nexon-key",
            "SQLITE_PATH": os.path.join(self.dir, "maplexp.db"),
            "HTTP_PORT": "0",
            "SHUTDOWN_LB_GRACE_S": "0",
            "ACCESS_LOG_SAMPLE": "1.0",
            "UPSTREAM_RETRY_WAIT_MS": "50",
            # One loopback client sends everything here: the per-IP limiter (SC-08) would turn load
            # tests into 429s. Tests of the limiter itself turn it on (M8).
            "RATE_LIMIT_ENABLED": "false",
        }
        base.update({k: str(v) for k, v in env.items()})
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MODE", "HTTP_", "SQLITE_"))}
        full_env.update(base)
        self.env = full_env
        self.proc = subprocess.Popen([_bin("MAPLEXP_BIN", "maplexp"), "serve"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=full_env, cwd=self.dir)
        self.out = _LineReader(self.proc.stdout)
        self.port = None
        try:
            ready = self.out.wait_for(lambda l: l.get("op") == "ready" or "raw" in l and "ASan" in l["raw"],
                                      timeout=30)
        except AssertionError:
            raise AssertionError(f"service did not become ready; exit={self.proc.poll()} "
                                 f"stderr={self.proc.stderr.read(2000) if self.proc.poll() is not None else ''}")
        self.port = ready["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path, **kw):
        kw.setdefault("timeout", 60)
        return requests.get(self.url + path, **kw)

    def post(self, path, **kw):
        kw.setdefault("timeout", 60)
        return requests.post(self.url + path, **kw)

    def metrics_text(self):
        r = self.get("/actuator/prometheus")
        assert r.status_code == 200, r.text
        return r.text

    def metric(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        found = False
        for line in self.metrics_text().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            metric_name, _, label_text = head.partition("{")
            if metric_name != name:
                continue
            have = dict(p.split("=", 1) for p in _split_labels(label_text.rstrip("}"))) if label_text else {}
            have = {k: v.strip('"') for k, v in have.items()}
            if all(have.get(k) == str(v) for k, v in labels.items()):
                total += float(value)
                found = True
        return total if found else 0.0

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self.out.thread.join(timeout=5)
        self.stderr = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code

    def logs(self, **match):
        return [l for l in self.out.lines if all(l.get(k) == v for k, v in match.items())]


def _split_labels(text):
    parts, cur, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts


# ---- appended for the accounts / likes / donations / admin tests --------------------------------------------
# (fingerprints and key ids as the service computes them, user keys on the fake, direct SQLite access, a
# webhook sink, and a checked stop)

import base64 as _base64
import hashlib as _hashlib
import hmac as _hmac
import sqlite3 as _sqlite3
from http.server import BaseHTTPRequestHandler as _BaseHandler
from http.server import ThreadingHTTPServer as _ThreadingHTTPServer


def fingerprint_of(secret, api_key):
    """Platform spec 0.2: Base64URL-no-padding(HMAC-SHA256(FINGERPRINT_SECRET, API key)), 43 characters."""
    mac = _hmac.new(secret.encode(), api_key.encode(), _hashlib.sha256).digest()
    return _base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def jwt_kid_of(secret):
    """The service's JWT key id: the first 8 hex digits of SHA-256(JWT_SECRET)."""
    return _hashlib.sha256(secret.encode()).hexdigest()[:8]


def mask_fp(fp):
    """1.3 masking: first 4 + **** + last 4."""
    return fp[:4] + "****" + fp[-4:]


def fake_add_user(fake, key, accounts):
    """Define a user key on the fake: accounts = [(account_id, [IGN, ...]), ...]."""
    body = {"key": key, "accounts": [{"account_id": a, "characters": list(c)} for a, c in accounts]}
    r = requests.post(fake.url + "/admin/users", json=body, timeout=10)
    assert r.status_code == 200 and r.json().get("ok") is True, r.text
    return r.json()


class Db:
    """A second connection to the service's SQLite file (WAL: readers and one writer coexist)."""

    def __init__(self, path, busy_ms=10000):
        self.path = path
        self.conn = _sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")

    def all(self, sql, *args):
        return self.conn.execute(sql, args).fetchall()

    def one(self, sql, *args):
        row = self.conn.execute(sql, args).fetchone()
        return row[0] if row is not None and len(row) == 1 else row

    def run(self, sql, *args):
        cur = self.conn.execute(sql, args)
        return cur.rowcount

    def close(self):
        self.conn.close()


class WebhookSink:
    """A loopback HTTP endpoint receiving the donation webhook. `policy(n, key, body)` gives the status of the
    n-th request (0-based) carrying Idempotency-Key `key` and body text `body`; every request is recorded as
    (idempotency_key, body_text, status, content_type)."""

    def __init__(self, policy=lambda n, key, body: 204):
        self.policy = policy
        self.requests = []
        self.lock = threading.Lock()
        sink = self

        class Handler(_BaseHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                key = self.headers.get("Idempotency-Key")
                with sink.lock:
                    status = sink.policy(len(sink.requests), key, body)
                    sink.requests.append((key, body, status, self.headers.get("Content-Type")))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = _ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_policy(self, policy):
        with self.lock:
            self.policy = policy

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def delivered(self):
        """Idempotency keys that got a 2xx answer."""
        return [k for k, _, s, _ in self.snapshot() if 200 <= s < 300]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:")


def stop_checked(svc, timeout=60):
    """SIGTERM: exit 0 and no sanitizer report on stderr."""
    code = svc.stop(timeout=timeout)
    assert code == 0, (code, svc.stderr[-3000:])
    for marker in SANITIZER_MARKERS:
        assert marker not in svc.stderr, svc.stderr[-5000:]
    return svc.stderr


# ---- appended for the service API / accounts / admin tests: raw HTTP, the 1.2 response shapes, logins -------
# (an exact view of each response: status, every header instance, the undecoded body)

import gzip as _gzip
import http.client as _http_client
import re as _re

JSON_UTF8 = "application/json; charset=utf-8"
ERROR_KEYS = {"status", "code", "message", "timestamp"}
RFC3339_MS_UTC = _re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID4 = _re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def ocid_of(ign):
    """The fake's ocid of a character name (tools/fake-nexon/README.md)."""
    return _hashlib.sha256(("ocid:" + ign).encode()).hexdigest()[:32]


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value) as received
        self.body = body

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name):
        """The single value of a header (None when absent); fails when it is repeated."""
        values = self.all(name)
        assert len(values) <= 1, f"header {name} repeated: {values}"
        return values[0] if values else None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def decoded(self):
        return _gzip.decompress(self.body) if self.header("Content-Encoding") == "gzip" else self.body

    def __repr__(self):
        return f"<Resp {self.status} {self.headers} {self.body[:400]!r}>"


def call(svc, method, path, headers=None, body=None, json_body=None, timeout=60):
    """One request on a fresh connection. json_body is sent as UTF-8 JSON (Content-Type application/json unless
    given); the identity encoding is asked for unless the caller names another."""
    headers = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body, ensure_ascii=False).encode()
        headers.setdefault("Content-Type", "application/json")
    headers.setdefault("Accept-Encoding", "identity")
    conn = _http_client.HTTPConnection("127.0.0.1", svc.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def bearer(token):
    """The Authorization header of an access token (none for a missing token)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def assert_error(r, status, code, message=None, contains=None, retry_after=None):
    """1.2 error shape: exactly status, code, message, timestamp (RFC 3339 UTC with milliseconds); never a raw %s.
    Retry-After is checked only when given."""
    assert r.status == status, r
    assert r.header("Content-Type") == JSON_UTF8, r
    body = r.json()
    assert set(body) == ERROR_KEYS, body
    assert body["status"] == status and body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"] and "%s" not in body["message"], body
    if message is not None:
        assert body["message"] == message, body
    if contains is not None:
        assert contains in body["message"], body
    assert RFC3339_MS_UTC.match(body["timestamp"]), body
    if retry_after is not None:
        assert r.header("Retry-After") == retry_after, r
    return body


def envelope(r, status=200):
    """The data of a success envelope {"success": true, "data": ...}."""
    assert r.status == status, r
    assert r.header("Content-Type") == JSON_UTF8, r
    body = r.json()
    assert body.get("success") is True and set(body) <= {"success", "data"}, body
    return body.get("data")


def login(svc, key, ign, headers=None):
    """POST /auth/login with a user key and one of its IGNs; the raw response."""
    return call(svc, "POST", "/auth/login", headers=headers, json_body={"apiKey": key, "userIgn": ign})


def start_fake(*args, users=()):
    """A fake upstream (command-line args) with extra user keys: users = [(key, [(account_id, [IGN, ...]), ...]), ...].
    The fake is stopped again when a key cannot be added."""
    fake = FakeNexon(*args)
    try:
        for key, accounts in users:
            fake_add_user(fake, key, accounts)
    except BaseException:
        fake.stop()
        raise
    return fake
