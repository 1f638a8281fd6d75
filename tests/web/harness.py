"""Shared helpers of the s4f-web tests and benchmark: a private index prefix filled by seed.py,
an s4f-web process on ephemeral ports with its own users file, and a small HTTP client.

Everything a test creates (indices, template, temporary directory, the process) is removed in
stop(), which tests call from finally/atexit. Standard library only."""
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ES = os.environ.get("S4F_ES_URL", "http://127.0.0.1:9200").rstrip("/")
PASSWORD = "s3cret-test-password"


def wait_for(cond, timeout, what):
    """Polls cond() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:  # the condition decides what is transient
            last = e
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def seed(prefix, hours=24, es=ES):
    subprocess.run([sys.executable, os.path.join(HERE, "seed.py"), "--es", es, "--prefix", prefix,
                    "--hours", str(hours)], check=True)


def unseed(prefix, es=ES):
    subprocess.run([sys.executable, os.path.join(HERE, "seed.py"), "--es", es, "--prefix", prefix,
                    "--delete"], check=False)


class Web:
    """One s4f-web process."""

    def __init__(self, binary, prefix, extra_yaml="", user="alice", role="admin",
                 components="dead=http://127.0.0.1:9"):
        self.tmp = tempfile.mkdtemp(prefix="s4f-web-test-")
        self.users = os.path.join(self.tmp, "users.json")
        self.conf = os.path.join(self.tmp, "web.yml")
        with open(self.conf, "w") as f:
            f.write("elasticsearch:\n  urls: [%s]\n  index_prefix: %s\n  timeout: 10s\n"
                    "web:\n  listen: 127.0.0.1:0\n  metrics_listen: 127.0.0.1:0\n"
                    "  users_file: %s\n  components: [%s]\n%s"
                    % (ES, prefix, self.users, components, extra_yaml))
        self.binary = binary
        self.user = user
        if user:
            p = subprocess.run([binary, "-c", self.conf, "--add-user", user, "--role", role],
                               input=PASSWORD + "\n", text=True, capture_output=True)
            if p.returncode != 0:
                raise RuntimeError("--add-user failed: " + p.stderr)
        self.log = open(os.path.join(self.tmp, "web.log"), "w+")
        self.start()

    def start(self):
        """Starts the process (again, after stop(): same configuration and users file)."""
        if self.log.closed:
            self.log = open(self.log.name, "a+")
        self.log_offset = self.log.tell()
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT, text=True)
        self.url = wait_for(self._find_url, 30, "the dashboard URL in the log")

    def _find_url(self):
        if self.proc.poll() is not None:
            raise RuntimeError("s4f-web exited: " + self.logtext())
        m = re.search(r"dashboard at (http\S+/)", self.logtext()[self.log_offset:])
        return m.group(1).rstrip("/") if m else None

    def logtext(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        rc = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                rc = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        else:
            rc = self.proc.returncode
        self.log.close()
        return rc


class Client:
    """A browser-like client: cookies, CSRF header on writes, JSON bodies."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = None

    def call(self, method, path, body=None, headers=None, raw=None, csrf=True):
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h.setdefault("X-CSRF-Token", self.csrf)
        r = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with self.opener.open(r, timeout=30) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method, path, body=None, **kw):
        st, hd, data = self.call(method, path, body, **kw)
        try:
            j = json.loads(data) if data else None
        except ValueError:
            j = None
        return st, hd, j

    def login(self, user, password=PASSWORD):
        st, hd, j = self.json("POST", "/api/login", {"username": user, "password": password})
        if st == 200:
            self.csrf = j["csrf"]
        return st, hd, j
