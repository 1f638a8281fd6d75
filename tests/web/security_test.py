#!/usr/bin/env python3
"""Attacks on s4f-web's sign-in and connections (issue 13, items 4, 5, 6, 9; issue 19), each run
against a real s4f-web on loopback and shown to fail:

  * 1,000 parallel wrong logins for one account from 200 source addresses (127.0.0.x: all of
    127/8 is loopback): at most login_account_max_failures of them reach a password check, the
    rest get 429, and the process's peak memory (VmHWM) stays bounded;
  * a success on one account does not clear the failures of its address;
  * one user logging in again and again cannot sign another user out, and a full session table
    refuses a login (503) rather than end somebody's session;
  * sessions survive a restart, and the sessions file holds no token;
  * 600 half-sent requests from one address leave /health and a login from another address
    answering, and late headers are cut off after header_timeout;
  * a Host header that is not an IP address, localhost or in server_names gets 421;
  * the first admin's password goes to a 0600 file, not to the log.

    security_test.py --binary build/web/s4f-web

Needs Elasticsearch at S4F_ES_URL only for s4f-web's start (no data is read)."""
import argparse
import http.client
import json
import os
import socket
import stat
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    else:
        print("ok:", what)


def hostport(web):
    h, p = web.url.split("//", 1)[1].split(":")
    return h, int(p)


def request(web, method, path, body=None, source="127.0.0.1", headers=None, cookie=None,
            timeout=60):
    """One request from a chosen loopback source address; (status, headers, body) or
    (None, None, error) when the connection failed."""
    host, port = hostport(web)
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    if cookie:
        h["Cookie"] = cookie
    conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    except (OSError, http.client.HTTPException) as e:
        return None, None, e
    finally:
        conn.close()


def login(web, user, password, source="127.0.0.1"):
    st, hd, body = request(web, "POST", "/api/login", {"username": user, "password": password},
                           source=source)
    cookie = None
    if st == 200:
        cookie = hd.get("Set-Cookie").split(";")[0]
        return st, cookie, json.loads(body)["csrf"]
    return st, None, None


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def sanitized(binary):
    with open(binary, "rb") as f:
        return b"AddressSanitizer" in f.read()


def add_user(web, admin_cookie, admin_csrf, name, role="user"):
    st, _, body = request(web, "POST", "/api/users",
                          {"name": name, "password": harness.PASSWORD, "role": role},
                          cookie=admin_cookie, headers={"X-CSRF-Token": admin_csrf})
    check(st in (200, 201), "admin creates user %s: %s %s" % (name, st, body[:100]))


def test_burst(web, binary):
    """Item 4: parallel, mixed-address guessing of one account; memory stays flat."""
    base = vm_hwm_kb(web.proc.pid)
    n = 1000
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        src = "127.0.%d.%d" % (1 + i // 250, 2 + i % 200)
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass
        results[i] = request(web, "POST", "/api/login",
                             {"username": "alice", "password": "wrong-%d" % i}, source=src)[0]

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    counts = {}
    for st in results:
        counts[st] = counts.get(st, 0) + 1
    print("burst of %d wrong logins: %s" % (n, counts))
    check(counts.get(200, 0) == 0, "no wrong password signs in")
    check(counts.get(401, 0) <= 10,
          "at most login_account_max_failures (10) wrong logins reach a password check (%d did)"
          % counts.get(401, 0))
    check(counts.get(429, 0) >= n - 10 - counts.get(None, 0) and counts.get(429, 0) > 0,
          "the rest answer 429")
    check(not any(s is not None and s >= 500 for s in counts), "no 5xx under the burst")
    hwm = vm_hwm_kb(web.proc.pid)
    bound = (600 if sanitized(binary) else 200) * 1024
    print("VmHWM before %d kB, after the burst %d kB (bound %d kB)" % (base, hwm, bound))
    check(hwm < bound, "peak memory %d kB under %d kB after 1,000 parallel logins" % (hwm, bound))
    # The account lock holds for every address, even with the right password.
    st, _, _ = login(web, "alice", harness.PASSWORD, source="127.0.9.9")
    check(st == 429, "alice locked from a fresh address too (answers %s)" % st)
    # /health stays answerable meanwhile.
    st, _, _ = request(web, "GET", "/health", source="127.0.9.10")
    check(st == 200, "/health after the burst: %s" % st)


def test_success_does_not_reset(web):
    """Item 4: a success on account B does not clear an address's failures for others."""
    src = "127.0.10.1"
    statuses = [login(web, "nobody%d" % i, "wrong-password", source=src)[0] for i in range(4)]
    check(statuses == [401] * 4, "4 wrong logins: %s" % statuses)
    st, _, _ = login(web, "bob", harness.PASSWORD, source=src)
    check(st == 200, "bob signs in from the same address: %s" % st)
    st, _, _ = login(web, "nobody9", "wrong-password", source=src)
    check(st == 401, "5th wrong login: %s" % st)
    st, _, _ = login(web, "nobody10", "wrong-password", source=src)
    check(st == 429, "6th wrong login after a success in between answers %s, not 429" % st)


def test_sessions(web, admin):
    """Item 5: mallory cannot sign bob out by logging in again and again."""
    _, bob, _ = login(web, "bob", harness.PASSWORD, source="127.0.11.1")
    cookies = []
    for i in range(30):
        st, c, _ = login(web, "mallory", harness.PASSWORD, source="127.0.12.%d" % (i + 1))
        cookies.append(c)
        if st != 200:
            check(False, "mallory login %d: %s" % (i, st))
            break
    st, _, _ = request(web, "GET", "/api/session", cookie=bob)
    check(st == 200, "bob's session survives 30 logins of mallory (max_sessions 8): %s" % st)
    st, _, _ = request(web, "GET", "/api/session", cookie=cookies[0])
    check(st == 401, "mallory's oldest session ended at max_sessions_per_user: %s" % st)
    st, _, _ = request(web, "GET", "/api/session", cookie=cookies[-1])
    check(st == 200, "mallory's newest session lives: %s" % st)
    # 6 live sessions so far (alice 1, bob 2, mallory 3); fill the table to max_sessions (8).
    extra = [login(web, "carol", harness.PASSWORD, source="127.0.13.1"),
             login(web, "alice", harness.PASSWORD, source="127.0.13.2")]
    check(all(x[0] == 200 for x in extra), "carol and alice sign in up to max_sessions")
    st, hd, _ = request(web, "POST", "/api/login",
                        {"username": "alice", "password": harness.PASSWORD}, source="127.0.13.3")
    check(st == 503 and hd.get("Retry-After"), "a full table refuses a login with 503: %s" % st)
    st, _, _ = request(web, "GET", "/api/session", cookie=bob)
    check(st == 200, "bob's session survives the full table: %s" % st)
    for _, cookie, csrf in extra:  # make room again for the tests that follow
        request(web, "POST", "/api/logout", {}, cookie=cookie, headers={"X-CSRF-Token": csrf})
    return bob


def test_restart(web, bob):
    """Issue 19: sessions survive a restart; only hashes are on disk."""
    check(web.stop() == 0, "s4f-web stops cleanly")
    path = os.path.join(web.tmp, "users.sessions.json")
    check(os.path.exists(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o600,
          "sessions file beside the users file with mode 0600")
    with open(path) as f:
        text = f.read()
    check(bob.split("=", 1)[1] not in text, "the sessions file holds no token")
    web.start()
    st, _, body = request(web, "GET", "/api/session", cookie=bob)
    check(st == 200 and json.loads(body)["user"] == "bob",
          "bob's session after a restart: %s" % st)


def test_slowloris(web):
    """Item 6: half-sent requests from one address lock nobody else out."""
    host, port = hostport(web)
    socks = []
    for i in range(600):
        s = socket.socket()
        s.settimeout(10)
        try:
            s.bind(("127.0.20.1", 0))
            s.connect((host, port))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        except OSError:
            pass
        socks.append(s)
    try:
        t0 = time.monotonic()
        st, _, _ = request(web, "GET", "/health", source="127.0.20.2", timeout=10)
        check(st == 200, "/health from another address with 600 half-sent requests open: %s" % st)
        st, _, _ = login(web, "bob", harness.PASSWORD, source="127.0.20.3")
        check(st == 200, "a login from another address meanwhile: %s" % st)
        # header_timeout (2 s here) ends every half-sent request.
        def all_closed():
            for s in socks:
                try:
                    s.settimeout(0.05)
                    if s.recv(1) != b"":
                        return False
                except socket.timeout:
                    return False
                except OSError:
                    pass
            return True
        harness.wait_for(all_closed, 30, "half-sent requests closed by header_timeout")
        print("half-sent requests all closed within %.1f s" % (time.monotonic() - t0))
        check(True, "half-sent requests closed after header_timeout")
    finally:
        for s in socks:
            s.close()


def test_full_server(web):
    """Item 6: at max_connections, a half-sent request makes room for a complete one."""
    host, port = hostport(web)
    socks = []
    for a in range(20):  # 20 addresses x 8 = 160 half-sent requests, max_connections is 64
        for _ in range(8):
            s = socket.socket()
            try:
                s.bind(("127.0.30.%d" % (a + 1), 0))
                s.connect((host, port))
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            except OSError:
                pass
            socks.append(s)
    try:
        st, _, _ = request(web, "GET", "/health", source="127.0.30.200", timeout=10)
        check(st == 200, "/health at max_connections full of half-sent requests: %s" % st)
    finally:
        for s in socks:
            s.close()


def test_host(web):
    """Item 9: DNS rebinding."""
    for host, want in (("evil.example", 421), ("evil.example:8080", 421), ("localhost", 200),
                       ("localhost:1234", 200), ("127.0.0.1", 200), ("[::1]:80", 200),
                       ("dash.example.org", 200), ("DASH.example.org.", 200)):
        st, _, _ = request(web, "GET", "/", headers={"Host": host})
        check(st == want, "GET / with Host %s answers %s (want %s)" % (host, st, want))
    st, _, _ = request(web, "GET", "/api/session", headers={"Host": "evil.example"})
    check(st == 421, "API with a foreign Host answers %s" % st)
    st, _, _ = request(web, "GET", "/health", headers={"Host": "evil.example"})
    check(st == 200, "/health answers any Host: %s" % st)


def test_first_admin(binary, prefix):
    """Item 9: the first admin's password is in a 0600 file, not in the log."""
    web = harness.Web(binary, prefix, user=None)
    try:
        path = os.path.join(web.tmp, "users.admin-password")
        check(os.path.exists(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o600,
              "first admin password file with mode 0600")
        with open(path) as f:
            pw = f.read().strip()
        check(len(pw) >= 20 and pw not in web.logtext(), "the password is not in the log")
        check(path in web.logtext(), "the log names the password file")
        st, _, _ = login(web, "admin", pw)
        check(st == 200, "admin signs in with the file's password: %s" % st)
    finally:
        check(web.stop() == 0, "first-admin instance exits cleanly")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    a = ap.parse_args()
    prefix = "s4ftest-websec-%d-%d" % (os.getpid(), int(time.time()))
    web = None
    try:
        web = harness.Web(a.binary, prefix, extra_yaml=(
            "  login_max_failures: 5\n  login_account_max_failures: 10\n"
            "  login_concurrency: 2\n  max_connections: 1100\n  max_connections_per_ip: 32\n"
            "  max_sessions: 8\n  max_sessions_per_user: 3\n  header_timeout: 2s\n"
            "  server_names: [dash.example.org]\n"))
        _, admin, csrf = login(web, "alice", harness.PASSWORD)
        check(admin is not None, "alice signs in")
        add_user(web, admin, csrf, "bob")
        add_user(web, admin, csrf, "mallory")
        add_user(web, admin, csrf, "carol")
        test_host(web)
        test_success_does_not_reset(web)
        bob = test_sessions(web, admin)
        test_restart(web, bob)
        test_slowloris(web)
        test_burst(web, a.binary)
        rc = web.stop()
        check(rc == 0, "s4f-web exit code %s after SIGTERM" % rc)
        small = harness.Web(a.binary, prefix, extra_yaml=(
            "  max_connections: 64\n  max_connections_per_ip: 16\n  header_timeout: 60s\n"))
        try:
            test_full_server(small)
        finally:
            check(small.stop() == 0, "small instance exits cleanly")
        test_first_admin(a.binary, prefix)
    finally:
        if web:
            if web.proc.poll() is None:
                web.stop()
            log = web.logtext()
            for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
                check(bad not in log, "no sanitizer report in the log: " + bad)
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("all security checks passed")


if __name__ == "__main__":
    main()
