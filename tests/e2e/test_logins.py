"""Login floods (issue 11, item 2): password checks run on their own small
pool with a bounded queue, so pushes never wait behind bcrypt; failed logins
are limited per client address and per user name (429 TOOMANYREQUESTS with
Retry-After, without a password check); the real user, from an address that
has not failed, still gets in at once.

Clients bind their sockets to 127.0.0.x source addresses (all of 127/8 is
loopback on Linux) to look like different hosts."""

import base64
import http.client
import os
import re
import shutil
import signal
import statistics
import tempfile
import threading
import time
import unittest
import warnings
from pathlib import Path

from cairn_server import (HOST, OCI_MANIFEST, CairnServer, CairnTestCase, Response, basic_auth,
                          canonical_json, password_of, sha256, unique_int, yaml_doc)

REALM = "cairn-e2e"
GUESSERS = 32


def bcrypt_cost10(password):
    """A cost-10 bcrypt hash (~50 ms a check, as in the issue's measurement)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # noqa: PLC0415 (deprecated in 3.11, removed in 3.13)
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024))
        if h and h.startswith("$2"):
            return h
    except (ImportError, OSError, ValueError):
        pass
    raise unittest.SkipTest("no bcrypt (crypt module) for cost-10 hashes")


def request_from(source, port, method, path, body=None, headers=None, timeout=30.0):
    """One request on a fresh connection whose socket is bound to `source`."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        r = conn.getresponse()
        return Response(method, path, r.status, r.reason, r.headers, r.read())
    finally:
        conn.close()


def metric_value(text, name, labels=""):
    """The sample of `name` with exactly `labels` ('{a="b"}' or '')."""
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}{re.escape(labels)}\s+(\S+)$", line)
        if m:
            return float(m.group(1))
    return None


class Flood:
    """GUESSERS threads sending wrong passwords (for `known` and for unknown
    users) from `sources` until stop(); every answer's status is kept."""

    def __init__(self, port, sources, known="alice", threads=GUESSERS, pause=0.0):
        self.port, self.sources, self.known, self.pause = port, sources, known, pause
        self.stopping = threading.Event()
        self.statuses = []
        self.answers = []  # (source, Response) of the first 429s and 503s
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]

    def run(self, index):
        source = self.sources[index % len(self.sources)]
        n = 0
        while not self.stopping.is_set():
            n += 1
            user = self.known if n % 2 else f"nobody{index}x{n}"
            try:
                r = request_from(source, self.port, "GET", "/v2/",
                                 headers={"Authorization": basic_auth(user, f"guess{index}x{n}")})
            except OSError:
                continue
            with self.lock:
                self.statuses.append(r.status)
                if r.status in (429, 503) and len(self.answers) < 50:
                    self.answers.append((source, r))
            if self.pause:
                time.sleep(self.pause)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60)


class LoginTestCase(CairnTestCase):
    users = ("alice", "bob")
    cairn = None

    @classmethod
    def setUpClass(cls):
        cls.authdir = Path(tempfile.mkdtemp(prefix="cairn-e2e-logins-"))
        cls.htpasswd = cls.authdir / "htpasswd"
        try:
            cls.htpasswd.write_text(
                "".join(f"{u}:{bcrypt_cost10(password_of(u))}\n" for u in cls.users))
            super().setUpClass()
        except BaseException:
            shutil.rmtree(cls.authdir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.authdir, ignore_errors=True)

    @classmethod
    def config_text(cls, cairn=None):
        cfg = {"version": "0.1",
               "auth": {"htpasswd": {"realm": REALM, "path": str(cls.htpasswd)}}}
        cairn = cls.cairn if cairn is None else cairn
        if cairn is not None:
            cfg["cairn"] = cairn
        return yaml_doc(cfg)

    @classmethod
    def make_server(cls):
        return CairnServer(config=cls.config_text())

    def bob(self, method, path, body=None, headers=None, source="127.0.0.5"):
        h = {"Authorization": basic_auth("bob", password_of("bob"))}
        h.update(headers or {})
        return request_from(source, self.server.port, method, path, body=body, headers=h)

    def timed_pushes(self, name, rounds):
        """`rounds` of POST + PATCH + PUT (blob) + manifest PUT as bob; the
        latencies of the PATCHes and of the manifest PUTs."""
        latencies = []
        for _ in range(rounds):
            n = unique_int()
            data = f"layer {n} ".encode() * 100
            r = self.bob("POST", f"/v2/{name}/blobs/uploads/")
            self.assertEqual(r.status, 202, r)
            location = r.header("Location")
            started = time.monotonic()
            r = self.bob("PATCH", location, body=data,
                         headers={"Content-Type": "application/octet-stream"})
            latencies.append(time.monotonic() - started)
            self.assertEqual(r.status, 202, r)
            location = r.header("Location") or location
            sep = "&" if "?" in location else "?"
            r = self.bob("PUT", f"{location}{sep}digest={sha256(data)}",
                         headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(r.status, 201, r)
            config = canonical_json({"cairn-test": n})
            r = self.bob("POST", f"/v2/{name}/blobs/uploads/?digest={sha256(config)}",
                         body=config)
            self.assertEqual(r.status, 201, r)
            manifest = canonical_json({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": sha256(config), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": sha256(data), "size": len(data)}]})
            started = time.monotonic()
            r = self.bob("PUT", f"/v2/{name}/manifests/t{n}", body=manifest,
                         headers={"Content-Type": OCI_MANIFEST})
            latencies.append(time.monotonic() - started)
            self.assertEqual(r.status, 201, r)
        return latencies

    def warm_up_bob(self):
        # The login cache is per event loop: a few connections reach both.
        for _ in range(8):
            self.assertEqual(self.bob("GET", "/v2/").status, 200)

    def assert_pushes_not_slowed(self, name):
        self.warm_up_bob()
        baseline = statistics.median(self.timed_pushes(name, 10))
        flood = self.flood = Flood(self.server.port, self.attacker_sources).start()
        try:
            time.sleep(1.0)
            loaded = self.timed_pushes(name, 10)
        finally:
            flood.stop()
        median = statistics.median(loaded)
        # Generous: a push may share the CPU with bcrypt, never wait behind it.
        limit = max(5 * baseline, baseline + 0.1)
        self.assertLess(median, limit,
                        f"pushes under a login flood: median {median * 1000:.0f} ms, "
                        f"unloaded {baseline * 1000:.0f} ms; loaded {sorted(loaded)}")
        return flood

    def metrics(self):
        r = self.server.request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        return r.body.decode()


class LoginPoolTest(LoginTestCase):
    """No rate limit: the flood runs bcrypt nonstop, on the login pool only."""

    cairn = {"login_limits": {"enabled": False}}
    attacker_sources = ("127.0.0.1", "127.0.0.3", "127.0.0.4")

    def test_pushes_do_not_wait_behind_password_checks(self):
        flood = self.assert_pushes_not_slowed(self.repo())
        self.assertNotIn(429, flood.statuses)
        self.assertIn(401, flood.statuses)
        for _source, r in flood.answers:  # a full queue answers at once
            self.assert_error(r, 503, "UNAVAILABLE")
            self.assertGreaterEqual(int(r.header("Retry-After")), 1, r)


class LoginQueueTest(LoginTestCase):
    """One login thread, a queue of one: the rest get 503 at once."""

    cairn = {"login_workers": 1, "login_queue": 1, "login_limits": {"enabled": False}}

    def test_full_queue_answers_at_once(self):
        results = []
        lock = threading.Lock()

        def guess(i):
            started = time.monotonic()
            r = request_from("127.0.0.7", self.server.port, "GET", "/v2/",
                             headers={"Authorization": basic_auth("alice", f"guess{i}")})
            with lock:
                results.append((r, time.monotonic() - started))

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        refused = [(r, t) for r, t in results if r.status == 503]
        self.assertTrue(refused, [r for r, _ in results])
        for r, _elapsed in refused:
            self.assert_error(r, 503, "UNAVAILABLE")
            self.assertGreaterEqual(int(r.header("Retry-After")), 1, r)
        self.assertEqual({r.status for r, _ in results} - {401, 503}, set(), results)
        self.assertGreater(metric_value(self.metrics(), "cairn_login_queue_full_total"), 0)


class LoginLimitTest(LoginTestCase):
    """Limits on: 5 failures an address, 4 a name, in a minute."""

    cairn = {"login_limits": {"address_failures": 5, "user_failures": 4, "window": "60s"}}
    users = ("alice", "bob", "carol")
    attacker_sources = ("127.0.0.1", "127.0.0.3", "127.0.0.4")

    def assert_throttled(self, r, window=60):
        self.assert_error(r, 429, "TOOMANYREQUESTS")
        retry = r.header("Retry-After")
        self.assertIsNotNone(retry, r)
        self.assertTrue(1 <= int(retry) <= window, r)

    def test_flood_is_limited_and_the_real_user_gets_in(self):
        mark = self.server.log_mark()
        flood = self.assert_pushes_not_slowed(self.repo())
        # After the limit: 429 without a password check, as OCI error JSON.
        self.assertIn(429, flood.statuses)
        for _source, r in flood.answers:
            if r.status == 429:
                self.assert_throttled(r)
        # 3 addresses x 5 failures at most were checked, however many threads.
        self.assertLessEqual(flood.statuses.count(401), 3 * 5, flood.statuses.count(401))
        # Each attacker address, once more: refused without a check.
        for source in self.attacker_sources:
            self.assert_throttled(request_from(
                source, self.server.port, "GET", "/v2/",
                headers={"Authorization": basic_auth("alice", "again")}))
        # alice is under attack (4+ failures): an address that failed is
        # refused for her even below its own limit...
        r = request_from("127.0.0.8", self.server.port, "GET", "/v2/",
                         headers={"Authorization": basic_auth("alice", "wrong")})
        self.assertEqual(r.status, 401, r)
        self.assert_throttled(request_from(
            "127.0.0.8", self.server.port, "GET", "/v2/",
            headers={"Authorization": basic_auth("alice", "wrong-again")}))
        # ...while the real alice, from an address that never failed, gets in
        # at once, during the attack: within 100 ms, or (on a machine where
        # one cost-10 bcrypt alone takes longer) twice an unloaded login.
        started = time.monotonic()
        r = request_from("127.0.0.10", self.server.port, "GET", "/v2/",
                         headers={"Authorization": basic_auth("carol", password_of("carol"))})
        unloaded = time.monotonic() - started
        self.assertEqual(r.status, 200, r)
        # (The guessers pause a little: on this machine they share its CPU,
        # which attackers elsewhere would not.)
        flood = Flood(self.server.port, self.attacker_sources, threads=8, pause=0.01).start()
        try:
            time.sleep(0.3)
            started = time.monotonic()
            r = request_from("127.0.0.2", self.server.port, "GET", "/v2/",
                             headers={"Authorization": basic_auth("alice",
                                                                  password_of("alice"))})
            elapsed = time.monotonic() - started
        finally:
            flood.stop()
        self.assertEqual(r.status, 200, r)
        # A sanitizer build's timing jitters: tests/run multiplies the bound.
        slack = float(os.environ.get("CAIRN_E2E_TIMING_SLACK", "1"))
        self.assertLess(elapsed, max(0.1, 2 * unloaded) * slack,
                        f"the real user waited {elapsed * 1000:.0f} ms "
                        f"(an unloaded login: {unloaded * 1000:.0f} ms, slack {slack})")
        text = self.metrics()
        self.assertGreater(metric_value(text, "cairn_login_throttled_total", '{limit="address"}'), 0)
        self.assertGreater(metric_value(text, "cairn_login_throttled_total", '{limit="user"}'), 0)
        self.assertGreater(
            metric_value(text, "cairn_http_requests_total",
                         '{route="base",method="GET",status="429"}'), 0)
        # One log line per burst and key, not one per refused attempt.
        log = self.server.log_since(mark)
        lines = [line for line in log.splitlines() if "127.0.0.1" in line and "throttl" in line]
        self.assertEqual(len(lines), 1, log[-3000:])
        lines = [line for line in log.splitlines() if "alice" in line and "throttl" in line]
        self.assertEqual(len(lines), 1, log[-3000:])

    def test_reload_turns_the_limit_off(self):
        source = "127.0.0.9"
        for i in range(5):
            r = request_from(source, self.server.port, "GET", "/v2/",
                             headers={"Authorization": basic_auth(f"x{i}", "wrong")})
            self.assertEqual(r.status, 401, r)
        self.assert_throttled(request_from(source, self.server.port, "GET", "/v2/",
                                           headers={"Authorization": basic_auth("x", "y")}))
        mark = self.server.log_mark()
        try:
            self.server.write_config(self.config_text({"login_limits": {"enabled": False}}),
                                     how="rename")
            self.server.signal(signal.SIGHUP)
            self.assertIsNotNone(self.server.wait_for_log(r"reloaded", mark), self.server.log_tail())
            r = request_from(source, self.server.port, "GET", "/v2/",
                             headers={"Authorization": basic_auth("x", "y")})
            self.assertEqual(r.status, 401, r)
        finally:
            mark = self.server.log_mark()
            self.server.write_config(self.config_text(), how="rename")
            self.server.signal(signal.SIGHUP)
            self.server.wait_for_log(r"reloaded", mark)


if __name__ == "__main__":
    unittest.main()
