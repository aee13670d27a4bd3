"""Registry events (docs/events.md): Distribution's notifications, sent by
cairn from its durable spool to a receiver written for the test
(event_receiver.py), and compared field by field with what Debian's
docker-registry sends for the same requests."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from cairn_server import (HOST, OCI_MANIFEST, CairnServer, CairnTestCase, do_request, free_port,
                          sha256)
from event_receiver import EventReceiver, hmac_sha256_hex

DOCKER_REGISTRY = os.environ.get("DOCKER_REGISTRY", "/usr/bin/docker-registry")
V2_TYPE = "application/vnd.docker.distribution.events.v2+json"
SECRET = "shared-s3cret"


def notifications_yaml(url, *, name="rec", extra="", include_references=True, secret=None):
    lines = ["notifications:",
             f"  events: {{includereferences: {'true' if include_references else 'false'}}}",
             "  endpoints:",
             f"    - name: {name}",
             f"      url: {url}",
             "      headers: {Authorization: [Bearer abc], X-Extra: [a, b]}",
             "      timeout: 1s",
             "      threshold: 2",
             "      backoff: 1s"]
    if secret is not None:
        lines.append(f"      secret: {secret}")
    return "\n".join(lines) + "\n" + extra


class Distribution:
    """Debian's docker-registry with deletes and a notifications endpoint."""

    def __init__(self, url):
        if not os.access(DOCKER_REGISTRY, os.X_OK):
            raise unittest.SkipTest(f"{DOCKER_REGISTRY} is not installed")
        self.dir = Path(tempfile.mkdtemp(prefix="cairn-e2e-events-dist-"))
        self.port = free_port()
        (self.dir / "config.yml").write_text(f"""version: 0.1
log: {{level: error, accesslog: {{disabled: true}}}}
storage:
  filesystem: {{rootdirectory: {self.dir / 'root'}}}
  delete: {{enabled: true}}
http: {{addr: {HOST}:{self.port}}}
""" + notifications_yaml(url, name="dist"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.proc = subprocess.Popen([DOCKER_REGISTRY, "serve", str(self.dir / "config.yml")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if do_request(self.port, "GET", "/v2/", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.close()
        raise AssertionError("docker-registry did not start")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def image():
    """An OCI image (config, one layer, manifest) of fresh random bytes."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "seed": os.urandom(8).hex()}).encode()
    layer = os.urandom(300)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256(layer), "size": len(layer)}]}).encode()
    return config, layer, manifest


def push_blob(port, name, data):
    """POST then PUT ?digest= (what both registries take)."""
    r = do_request(port, "POST", f"/v2/{name}/blobs/uploads/", body=b"",
                   headers={"User-Agent": "events-test/1"})
    assert r.status == 202, r
    location = re.sub(r"^https?://[^/]+", "", r.header("Location"))
    sep = "&" if "?" in location else "?"
    r = do_request(port, "PUT", f"{location}{sep}digest={sha256(data)}", body=data,
                   headers={"Content-Type": "application/octet-stream",
                            "User-Agent": "events-test/1"})
    assert r.status == 201, r


def normalized(event):
    """What must match between registries: ids, times and addresses apart."""
    e = json.loads(json.dumps(event))
    for key in ("id", "timestamp", "source"):
        e.pop(key, None)
    for key in ("id", "addr", "host"):
        e["request"].pop(key, None)
    if "url" in e["target"]:
        e["target"]["url"] = re.sub(r"^http://[^/]+", "http://HOST", e["target"]["url"])
    return e


class EventsTestCase(CairnTestCase):
    receiver = None

    @classmethod
    def setUpClass(cls):
        cls.receiver = EventReceiver()
        try:
            super().setUpClass()
        except BaseException:
            cls.receiver.close()
            raise

    @classmethod
    def make_server(cls):
        return CairnServer(config=notifications_yaml(cls.receiver.url, secret=SECRET))

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.receiver.close()

    def setUp(self):
        self.receiver.mode = "ok"
        self.receiver.clear()


class EventsTest(EventsTestCase):
    def sequence(self, port, name, other):
        """The requests compared with Distribution: each step and the number
        of events it fires there."""
        config, layer, manifest = image()
        digest = sha256(manifest)
        ua = {"User-Agent": "events-test/1"}
        steps = [
            ("push config", lambda: push_blob(port, name, config), 1),
            ("push layer", lambda: push_blob(port, name, layer), 1),
            ("push manifest by tag", lambda: do_request(
                port, "PUT", f"/v2/{name}/manifests/v1", body=manifest,
                headers={"Content-Type": OCI_MANIFEST, **ua}), 1),
            ("get by tag", lambda: do_request(port, "GET", f"/v2/{name}/manifests/v1",
                                              headers={"Accept": OCI_MANIFEST, **ua}), 1),
            ("head by digest", lambda: do_request(port, "HEAD", f"/v2/{name}/manifests/{digest}",
                                                  headers={"Accept": OCI_MANIFEST, **ua}), 1),
            ("get blob", lambda: do_request(port, "GET", f"/v2/{name}/blobs/{sha256(layer)}",
                                            headers=ua), 1),
            ("mount", lambda: do_request(
                port, "POST", f"/v2/{other}/blobs/uploads/?mount={sha256(layer)}&from={name}",
                body=b"", headers=ua), 1),
            ("delete manifest", lambda: do_request(port, "DELETE",
                                                   f"/v2/{name}/manifests/{digest}",
                                                   headers=ua), 2),
            ("delete blob", lambda: do_request(port, "DELETE",
                                               f"/v2/{other}/blobs/{sha256(layer)}",
                                               headers=ua), 1),
        ]
        return steps

    def run_sequence(self, port, name, other):
        got = []
        for what, call, count in self.sequence(port, name, other):
            before = len(self.receiver.events())
            call()
            events = self.receiver.wait_for(before + count, timeout=15)[before:]
            time.sleep(0.05)
            events = self.receiver.events()[before:]
            self.assertEqual(len(events), count, f"{what}: {events}")
            got.append((what, sorted((normalized(e) for e in events),
                                     key=lambda e: json.dumps(e, sort_keys=True))))
        return got

    def test_same_events_as_distribution(self):
        """Every step's events, field by field, as docker-registry 2.8.2
        sends them for the same requests (ids, times, addresses apart)."""
        dist = Distribution(self.receiver.url)
        try:
            theirs = self.run_sequence(dist.port, "cmp/app", "cmp/other")
        finally:
            dist.close()
        self.receiver.clear()
        ours = self.run_sequence(self.server.port, "cmp/app", "cmp/other")
        self.assertEqual([w for w, _ in ours], [w for w, _ in theirs])
        for (what, mine), (_, distribution) in zip(ours, theirs):
            # Digests differ (random images): compare shapes, then values
            # that do not depend on the bytes.
            self.assertEqual(
                [{k: sorted(v) if isinstance(v, dict) else v for k, v in e.items()}
                 for e in mine],
                [{k: sorted(v) if isinstance(v, dict) else v for k, v in e.items()}
                 for e in distribution], f"{what}: the fields differ")
            for m, d in zip(mine, distribution):
                self.assertEqual(m["action"], d["action"], what)
                self.assertEqual(m["request"], d["request"], what)
                self.assertEqual(m["actor"], d["actor"], what)
                for key in ("mediaType", "repository", "fromRepository", "tag"):
                    self.assertEqual(m["target"].get(key), d["target"].get(key), f"{what}: {key}")
                if "references" in d["target"]:
                    self.assertEqual([r["mediaType"] for r in m["target"]["references"]],
                                     [r["mediaType"] for r in d["target"]["references"]], what)

    def test_envelope_headers_and_signature(self):
        config, layer, manifest = image()
        push_blob(self.server.port, "env/app", config)
        push_blob(self.server.port, "env/app", layer)
        r = do_request(self.server.port, "PUT", "/v2/env/app/manifests/v1", body=manifest,
                       headers={"Content-Type": OCI_MANIFEST, "User-Agent": "events-test/1"})
        self.assertEqual(r.status, 201, r)
        events = self.receiver.wait_for(3, timeout=15)
        pushed = events[2]
        self.assertEqual(list(pushed), ["id", "timestamp", "action", "target", "request", "actor",
                                        "source"])
        self.assertRegex(pushed["id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-")
        self.assertRegex(pushed["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
        target = pushed["target"]
        self.assertEqual(target["digest"], sha256(manifest))
        self.assertEqual((target["size"], target["length"]), (len(manifest), len(manifest)))
        self.assertEqual(target["url"], f"http://{HOST}:{self.server.port}/v2/env/app/manifests/"
                                        f"{sha256(manifest)}")
        self.assertEqual(target["tag"], "v1")
        self.assertEqual([r["digest"] for r in target["references"]],
                         [sha256(config), sha256(layer)])
        self.assertEqual(pushed["request"]["method"], "PUT")
        self.assertEqual(pushed["request"]["useragent"], "events-test/1")
        self.assertEqual(pushed["actor"], {})
        self.assertRegex(pushed["source"]["addr"], rf":{self.server.port}$")
        for request in self.receiver.requests():
            self.assertEqual(request.path, "/events")
            self.assertEqual(request.headers["content-type"], V2_TYPE)
            self.assertEqual(request.headers["authorization"], "Bearer abc")
            self.assertEqual([v for n, v in request.header_list if n.lower() == "x-extra"],
                             ["a", "b"])
            self.assertEqual(len(request.json["events"]), 1)
            self.assertEqual(request.headers["cairn-signature"],
                             "sha256=" + hmac_sha256_hex(SECRET.encode(), request.body))

    def test_failed_deliveries_are_retried_in_order(self):
        self.receiver.mode = "fail"
        blobs = [os.urandom(64) for _ in range(3)]
        for data in blobs:
            push_blob(self.server.port, "retry/app", data)
        deadline = time.monotonic() + 10
        while len(self.receiver.requests()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(len(self.receiver.requests()), 3)
        metrics = do_request(self.server.port, "GET", "/metrics").body.decode()
        self.assertRegex(metrics, r'cairn_events_backlog\{endpoint="rec"\} [3-9]')
        # Every attempt so far was for the first event: order is kept.
        self.assertEqual({r.json["events"][0]["target"]["digest"] for r in
                          self.receiver.requests()}, {sha256(blobs[0])})
        self.receiver.mode = "ok"
        self.receiver.clear()
        events = self.receiver.wait_for(3, timeout=15)
        self.assertEqual([e["target"]["digest"] for e in events[:3]],
                         [sha256(d) for d in blobs])
        deadline = time.monotonic() + 5
        while True:
            metrics = do_request(self.server.port, "GET", "/metrics").body.decode()
            if 'cairn_events_backlog{endpoint="rec"} 0' in metrics or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertIn('cairn_events_backlog{endpoint="rec"} 0', metrics)
        self.assertRegex(metrics, r'cairn_events_failed_total\{endpoint="rec"\} [1-9]')
        self.assertRegex(metrics, r'cairn_events_delivered_total\{endpoint="rec"\} [1-9]')

    def test_hanging_endpoint_does_not_slow_pushes(self):
        self.receiver.mode = "hang"
        started = time.monotonic()
        blobs = [os.urandom(64) for _ in range(20)]
        for data in blobs:
            push_blob(self.server.port, "hang/app", data)
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 10, "pushes waited for the hanging endpoint")
        self.receiver.mode = "ok"
        self.receiver.release()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            digests = [e["target"]["digest"] for e in self.receiver.events()
                       if e["target"]["repository"] == "hang/app"]
            if all(sha256(d) in digests for d in blobs):
                break
            time.sleep(0.1)
        ordered = list(dict.fromkeys(digests))
        self.assertEqual(ordered, [sha256(d) for d in blobs])


class DurableSpoolTest(unittest.TestCase):
    """kill -9 while the receiver is down: every acknowledged push has its
    event delivered after a restart."""

    def test_kill_9_loses_no_acknowledged_event(self):
        receiver = EventReceiver(mode="fail")
        self.addCleanup(receiver.close)
        server = CairnServer(config=notifications_yaml(receiver.url))
        self.addCleanup(server.cleanup)
        server.start()
        self.addCleanup(server.stop)  # exit status 0: senders stop, no sanitizer report
        blobs = [os.urandom(128) for _ in range(25)]
        for data in blobs:
            push_blob(server.port, "durable/app", data)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        server.proc = None
        spool = server.root / "cairn-events" / "queue"
        self.assertTrue(any(spool.iterdir()), "no spool segment")
        receiver.mode = "ok"
        server.start()
        deadline = time.monotonic() + 30
        wanted = [sha256(d) for d in blobs]
        while time.monotonic() < deadline:
            got = [e["target"]["digest"] for e in receiver.events()]
            if all(w in got for w in wanted):
                break
            time.sleep(0.1)
        got = list(dict.fromkeys(e["target"]["digest"] for e in receiver.events()))
        self.assertEqual(got[:len(wanted)], wanted, "an acknowledged push lost its event")


class TwoEndpointsTest(unittest.TestCase):
    """Each endpoint at its own position: a failing one holds back only its
    own events, and gets every one of them once it answers."""

    def test_a_failing_endpoint_delays_only_itself(self):
        fast, slow = EventReceiver(), EventReceiver(mode="fail")
        self.addCleanup(fast.close)
        self.addCleanup(slow.close)
        config = notifications_yaml(fast.url, name="fast") + (
            f"    - name: slow\n      url: {slow.url}\n      threshold: 1\n"
            "      backoff: 200ms\n")
        server = CairnServer(config=config)
        self.addCleanup(server.cleanup)
        server.start()
        self.addCleanup(server.stop)
        blobs = [os.urandom(64) for _ in range(30)]
        for data in blobs:
            push_blob(server.port, "two/app", data)
        wanted = [sha256(d) for d in blobs]
        self.assertEqual([e["target"]["digest"] for e in fast.wait_for(30, timeout=15)], wanted)
        slow.mode = "ok"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = list(dict.fromkeys(e["target"]["digest"] for e in slow.events()))
            if len(got) >= 30:
                break
            time.sleep(0.1)
        self.assertEqual(got, wanted, "the failing endpoint lost or reordered events")


class FiltersTest(unittest.TestCase):
    """An endpoint's repository globs, ignored actions and ignored media
    types (both of Distribution's spellings)."""

    def test_filters(self):
        receiver = EventReceiver()
        self.addCleanup(receiver.close)
        config = (f"notifications:\n  endpoints:\n    - name: filtered\n"
                  f"      url: {receiver.url}\n"
                  "      repositories: ['keep/**']\n"
                  "      ignoredmediatypes: [application/octet-stream]\n"
                  "      ignore: {actions: [pull]}\n")
        server = CairnServer(config=config)
        self.addCleanup(server.cleanup)
        server.start()
        self.addCleanup(server.stop)
        digests = {}
        for name in ("keep/app", "drop/app"):
            config_blob, layer, manifest = image()
            push_blob(server.port, name, config_blob)
            push_blob(server.port, name, layer)
            r = do_request(server.port, "PUT", f"/v2/{name}/manifests/v1", body=manifest,
                           headers={"Content-Type": OCI_MANIFEST})
            self.assertEqual(r.status, 201, r)
            r = do_request(server.port, "GET", f"/v2/{name}/manifests/v1",
                           headers={"Accept": OCI_MANIFEST})
            self.assertEqual(r.status, 200, r)
            digests[name] = sha256(manifest)
        # A last event that passes every filter: once it is in, the rest was decided.
        r = do_request(server.port, "DELETE", f"/v2/keep/app/manifests/{digests['keep/app']}")
        self.assertEqual(r.status, 202, r)
        events = receiver.wait_for(3, timeout=15)
        time.sleep(0.3)
        events = receiver.events()
        self.assertEqual([(e["action"], e["target"]["repository"], e["target"].get("tag"))
                          for e in events],
                         [("push", "keep/app", "v1"), ("delete", "keep/app", None),
                          ("delete", "keep/app", "v1")])


class SpoolBoundTest(unittest.TestCase):
    """cairn.events.max_bytes: with the receiver down, a backlog past it
    loses its oldest events (logged, counted); the newest are delivered."""

    def test_backlog_past_max_bytes_is_dropped(self):
        receiver = EventReceiver(mode="fail")
        self.addCleanup(receiver.close)
        server = CairnServer(config=notifications_yaml(
            receiver.url, extra="cairn:\n  events:\n    max_bytes: 128KiB\n"))
        self.addCleanup(server.cleanup)
        server.start()
        self.addCleanup(server.stop)  # exit status 0: senders stop, no sanitizer report
        blobs = [os.urandom(32) for _ in range(400)]  # ~800 bytes of event each
        for data in blobs:
            push_blob(server.port, "bound/app", data)
        mark = 0
        line = server.wait_for_log(r"undelivered events dropped", mark, timeout=15)
        self.assertIsNotNone(line, server.log_tail())
        receiver.mode = "ok"
        last = sha256(blobs[-1])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if last in [e["target"]["digest"] for e in receiver.events()]:
                break
            time.sleep(0.1)
        delivered = list(dict.fromkeys(e["target"]["digest"] for e in receiver.events()))
        self.assertIn(last, delivered, "the newest event was not delivered")
        self.assertLess(len(delivered), len(blobs), "nothing was dropped")
        wanted = [sha256(d) for d in blobs]
        # What is left is the newest events, in order.
        self.assertEqual(delivered[-10:], wanted[-10:])
        metrics = do_request(server.port, "GET", "/metrics").body.decode()
        self.assertRegex(metrics, r'cairn_events_dropped_total\{endpoint="rec"\} [1-9]')
        # The spool keeps to its bound (segments of 64 KiB, one being written).
        spool = server.root / "cairn-events" / "queue"
        self.assertLess(sum(f.stat().st_size for f in spool.iterdir()), 256 * 1024)


class ReloadEndpointsTest(unittest.TestCase):
    """A reload adds and removes endpoints while the server runs."""

    def test_reload_adds_and_removes_an_endpoint(self):
        first, second = EventReceiver(), EventReceiver()
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        server = CairnServer(config=notifications_yaml(first.url, name="first"))
        self.addCleanup(server.cleanup)
        server.start()
        self.addCleanup(server.stop)  # exit status 0: senders stop, no sanitizer report
        one = os.urandom(16)
        push_blob(server.port, "reload/app", one)
        first.wait_for(1, timeout=10)
        mark = server.log_mark()
        server.write_config(notifications_yaml(second.url, name="second"))
        server.signal(signal.SIGHUP)
        self.assertIsNotNone(server.wait_for_log(r"reloaded", mark, timeout=10),
                             server.log_since(mark))
        two = os.urandom(16)
        push_blob(server.port, "reload/app", two)
        events = second.wait_for(1, timeout=10)
        self.assertEqual(events[0]["target"]["digest"], sha256(two))
        time.sleep(0.5)
        self.assertEqual([e["target"]["digest"] for e in first.events()], [sha256(one)],
                         "a removed endpoint still got events")


if __name__ == "__main__":
    unittest.main()
