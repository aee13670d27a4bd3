"""Pull-through mirrors (docs/mirror.md): cairn.mirrors and Distribution's
proxy: in front of real upstreams on 127.0.0.1.

The upstreams: Debian's docker-registry (CNCF Distribution) with htpasswd
basic auth, whose access log counts the requests cairn makes, and a small
registry written here (FakeUpstream) for what Distribution cannot show: the
Bearer token flow and an upstream that lies about a blob's bytes.
"""

import http.client
import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

from cairn_server import (DOCKER_LIST, DOCKER_MANIFEST, HOST, OCI_INDEX, OCI_MANIFEST,
                          CairnServer, CairnTestCase, basic_auth, do_request, free_port,
                          helpers_for, htpasswd_text, make_oci_layout, password_of, sha256,
                          skopeo, yaml_doc)
from gc_tools import check_gc_document, deleted_digests, fsck_sound, gc_binary_or_skip, run_gc

DOCKER_REGISTRY = os.environ.get("DOCKER_REGISTRY", "/usr/bin/docker-registry")
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
USER = "mirror-bot"
FAST_TTL_PASSED = 2.5  # seconds: past the ttl of the `fast` mirror


class Distribution:
    """Debian's docker-registry on 127.0.0.1 with htpasswd auth and its
    access log on; `port`, `request()` (as USER), `count(pattern)`."""

    def __init__(self):
        if not os.access(DOCKER_REGISTRY, os.X_OK):
            raise unittest.SkipTest(f"{DOCKER_REGISTRY} is not installed")
        self.dir = Path(tempfile.mkdtemp(prefix="cairn-e2e-upstream-"))
        (self.dir / "htpasswd").write_text(htpasswd_text([USER]))
        self.port = None
        self.proc = None
        self.default_headers = {"Authorization": basic_auth(USER, password_of(USER))}
        self.ssl_context = None

    def start(self):
        self.port = free_port()
        config = self.dir / "config.yml"
        config.write_text(f"""version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {self.dir / 'root'}
http:
  addr: {HOST}:{self.port}
auth:
  htpasswd:
    realm: upstream
    path: {self.dir / 'htpasswd'}
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.log_path = self.dir / f"log.{self.port}"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([DOCKER_REGISTRY, "serve", str(config)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if do_request(self.port, "GET", "/v2/", timeout=2).status == 401:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"docker-registry did not start:\n{self.log_path.read_text()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, headers=None, timeout=60):
        hdrs = dict(self.default_headers)
        hdrs.update(headers or {})
        return do_request(self.port, method, path, body=body, headers=hdrs, timeout=timeout)

    def requests(self, method, path_re):
        """How many `method` requests for paths matching `path_re` the access
        log holds, but the 401s that ask for credentials (each client learns
        once that this upstream wants Basic auth)."""
        text = "".join(p.read_text(errors="replace") for p in self.dir.glob("log.*"))
        return len(re.findall(rf'"{method} {path_re} HTTP/1\.1" (?!401)\d{{3}}', text))


class FakeUpstream:
    """A registry of a few objects in memory, with the Docker token protocol
    (401 Bearer challenge, token service at /token, one token for everyone);
    `lie` makes it send other bytes for that blob digest. Blob GETs honour
    `Range: bytes=N-` (206 with Content-Range) but for digests in
    `ignore_range` (200, the whole blob); `blob_hooks[digest]`, when set, is
    called as hook(handler, data, range) first and answers instead when it
    returns True (`send_blob_head` and `cut` help). `blob_requests` logs every
    authorized blob request as (method, digest, Range header or None)."""

    TOKEN = "t0ken-for-cairn"

    def __init__(self):
        self.manifests = {}  # (name, reference) -> (media type, body)
        self.blobs = {}  # digest -> bytes
        self.lie = set()
        self.ignore_range = set()
        self.blob_hooks = {}
        self.blob_requests = []
        self.remaining = 100  # RateLimit-Remaining, one less per manifest GET (Docker Hub's)
        self.log = []  # (method, path, authorization)
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                with fake.lock:
                    fake.log.append((self.command, self.path, self.headers.get("Authorization")))
                if self.path.startswith("/token?"):
                    return self.answer(200, json.dumps({"token": fake.TOKEN,
                                                        "expires_in": 300}).encode(),
                                       [("Content-Type", "application/json")])
                if self.headers.get("Authorization") != f"Bearer {fake.TOKEN}":
                    challenge = (f'Bearer realm="http://{HOST}:{fake.port}/token",'
                                 f'service="fake"')
                    m = re.match(r"/v2/(.+)/(manifests|blobs)/", self.path)
                    if m:
                        challenge += f',scope="repository:{m.group(1)}:pull"'
                    return self.answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                                       [("WWW-Authenticate", challenge)])
                if self.path == "/v2/":
                    return self.answer(200, b"{}")
                m = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", self.path)
                if m and (m.group(1), m.group(2)) in fake.manifests:
                    media_type, body = fake.manifests[(m.group(1), m.group(2))]
                    with fake.lock:
                        if self.command == "GET":
                            fake.remaining -= 1
                        remaining = fake.remaining
                    return self.answer(200, body, [("Content-Type", media_type),
                                                   ("Docker-Content-Digest", sha256(body)),
                                                   ("RateLimit-Limit", "100;w=21600"),
                                                   ("RateLimit-Remaining", f"{remaining};w=21600")])
                m = re.fullmatch(r"/v2/(.+)/blobs/([^/]+)", self.path)
                if m and m.group(2) in fake.blobs:
                    digest = m.group(2)
                    data = fake.blobs[digest]
                    if digest in fake.lie:
                        data = data[::-1]
                    wanted = self.headers.get("Range")
                    with fake.lock:
                        fake.blob_requests.append((self.command, digest, wanted))
                    hook = fake.blob_hooks.get(digest)
                    if hook is not None and hook(self, data, wanted):
                        return None
                    first = re.fullmatch(r"bytes=(\d+)-", wanted or "")
                    if (first and self.command == "GET" and digest not in fake.ignore_range
                            and int(first.group(1)) < len(data)):
                        at = int(first.group(1))
                        return self.answer(206, data[at:], [
                            ("Content-Type", "application/octet-stream"),
                            ("Content-Range", f"bytes {at}-{len(data) - 1}/{len(data)}")])
                    return self.answer(200, data, [("Content-Type", "application/octet-stream")])
                return self.answer(404, b'{"errors":[{"code":"NOT_FOUND"}]}')

            do_HEAD = do_GET

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # cairn closing a connection it gave up on (a refused 206,
                # a client gone) is no error of the test's.
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.server = Server((HOST, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def send_blob_head(handler, status, length, headers=()):
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream")
        for k, v in headers:
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(length))
        handler.end_headers()

    @staticmethod
    def cut(handler):
        """Ends the connection in the middle of an answer."""
        handler.wfile.flush()
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def requests_for(self, digest):
        with self.lock:
            return [(method, wanted) for method, d, wanted in self.blob_requests if d == digest]

    def add_image(self, name, tag, seed):
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
        layer = f"fake layer {seed} ".encode() * 300
        self.blobs[sha256(config)] = config
        self.blobs[sha256(layer)] = layer
        body = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": sha256(layer), "size": len(layer)}]}).encode()
        self.manifests[(name, tag)] = (OCI_MANIFEST, body)
        self.manifests[(name, sha256(body))] = (OCI_MANIFEST, body)
        return body, config, layer

    def count(self, path_part):
        with self.lock:
            return sum(1 for _, path, _ in self.log if path_part in path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class _DistributionHelpers(type(helpers_for(None))):
    """CairnTestCase's helpers for Distribution, which has no monolithic
    POST ?digest=: a blob is a POST and a PUT."""

    def push_blob(self, name, data, alg="sha256"):
        location = self.start_upload(name)
        location = re.sub(r"^https?://[^/]+", "", location)
        digest = sha256(data)
        r = self.put_upload(location, digest, data)
        self.assertEqual(r.status, 201, f"push_blob: {r!r}")
        return digest


def upstream_helpers(upstream):
    return _DistributionHelpers(upstream)


def mirrors_config(entries, proxy=None):
    lines = ["version: 0.1"]
    if proxy is not None:
        lines += ["proxy:"] + [f"  {k}: {v}" for k, v in proxy.items()]
    if entries:
        lines += ["cairn:", "  mirrors:"]
        for entry in entries:
            first = True
            for k, v in entry.items():
                lines.append(f"    {'- ' if first else '  '}{k}: {v}")
                first = False
    return "\n".join(lines) + "\n"


class MirrorTestCase(CairnTestCase):
    """cairn with mirrors `up` (ttl 1h) and `fast` (ttl 2s: freshness counts
    whole seconds, so "checked just now" holds for at least 1 s) of one
    docker-registry, which holds it/app:v1 (pushed over HTTP) and it/sk:v1
    (pushed by skopeo)."""

    upstream = None

    @classmethod
    def setUpClass(cls):
        cls.upstream = Distribution().start()
        try:
            up = upstream_helpers(cls.upstream)
            cls.app = up.make_image("it/app", "v1", layers=2)
            cls.scratch = Path(tempfile.mkdtemp(prefix="cairn-e2e-mirror-"))
            cls.sk_digest = None
            if shutil.which("skopeo") is not None:
                cls.sk_digest = make_oci_layout(cls.scratch / "sk", "v1")
                skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds",
                       f"{USER}:{password_of(USER)}", f"oci:{cls.scratch / 'sk'}:v1",
                       f"docker://{HOST}:{cls.upstream.port}/it/sk:v1")
            super().setUpClass()
        except BaseException:
            cls.upstream.cleanup()
            raise

    @classmethod
    def make_server(cls):
        url = f"http://{HOST}:{cls.upstream.port}"
        credentials = Path(tempfile.mkdtemp(prefix="cairn-e2e-cred-")) / "upstream.credentials"
        credentials.write_text(f"{USER}:{password_of(USER)}\n")
        return CairnServer(config=mirrors_config([
            {"prefix": "up", "url": url, "username": USER, "password": password_of(USER),
             "ttl": "1h", "hosts": "[upstream.example, other.example]"},
            {"prefix": "fast", "url": url, "credentials_file": str(credentials), "ttl": "2s"},
        ]))

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.upstream.cleanup()
            shutil.rmtree(cls.scratch, ignore_errors=True)

    def manifest_requests(self, name, method):
        return self.upstream.requests(method, rf"/v2/{name}/manifests/[^ ]+")


class MirrorPullTest(MirrorTestCase):
    def test_manifest_and_blobs_byte_identical(self):
        r = self.get_manifest("up/it/app", "v1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.app.body)
        self.assertEqual(r.header("Docker-Content-Digest"), self.app.digest)
        self.assertEqual(r.header("Content-Type"), OCI_MANIFEST)
        for blob in [self.app.config] + self.app.layers:
            r = self.get_blob("up/it/app", sha256(blob))
            self.assertEqual((r.status, r.body), (200, blob), r)
        # Written into the tree as an ordinary repository.
        tree = self.server.tree
        self.assert_link(tree.tag_current_link("up/it/app", "v1"), self.app.digest)
        self.assert_link(tree.revision_link("up/it/app", self.app.digest), self.app.digest)
        for blob in [self.app.config] + self.app.layers:
            self.assert_blob_stored("up/it/app", sha256(blob), blob)
        # HEAD by tag and by digest, and a GET by digest, from the tree.
        before = self.manifest_requests("it/app", "(GET|HEAD)")
        for method, ref in (("HEAD", "v1"), ("GET", self.app.digest), ("HEAD", self.app.digest)):
            r = self.get_manifest("up/it/app", ref, method=method)
            self.assertEqual((r.status, r.header("Docker-Content-Digest")),
                             (200, self.app.digest), r)
        self.assertEqual(self.manifest_requests("it/app", "(GET|HEAD)"), before,
                         "a cached tag within its ttl, or a digest, went upstream")

    def test_by_digest_first(self):
        img = upstream_helpers(self.upstream).make_image("it/bydigest", None)
        r = self.get_manifest("up/it/bydigest", img.digest)
        self.assertEqual((r.status, r.body), (200, img.body), r)
        self.assert_link(self.server.tree.revision_link("up/it/bydigest", img.digest),
                         img.digest)
        # A digest once cached never goes upstream again, whatever the ttl.
        before = self.manifest_requests("it/bydigest", "(GET|HEAD)")
        time.sleep(FAST_TTL_PASSED)
        r = self.get_manifest("fast/it/bydigest", img.digest)
        self.assertEqual(r.status, 200, r)
        r = self.get_manifest("fast/it/bydigest", img.digest)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.manifest_requests("it/bydigest", "(GET|HEAD)"), before + 1)

    def test_ttl_expiry_one_head(self):
        img = upstream_helpers(self.upstream).make_image("it/ttl", "v1")
        r = self.get_manifest("fast/it/ttl", "v1")
        self.assertEqual((r.status, r.body), (200, img.body), r)
        gets, heads = (self.manifest_requests("it/ttl", "GET"),
                       self.manifest_requests("it/ttl", "HEAD"))
        self.assertEqual((gets, heads), (1, 0))
        time.sleep(FAST_TTL_PASSED)
        r = self.get_manifest("fast/it/ttl", "v1")
        self.assertEqual((r.status, r.body), (200, img.body), r)
        self.assertEqual((self.manifest_requests("it/ttl", "GET"),
                          self.manifest_requests("it/ttl", "HEAD")), (1, 1),
                         "after the ttl: exactly one HEAD, no GET for an unchanged tag")
        # Checked just now: within the ttl again, no request.
        r = self.get_manifest("fast/it/ttl", "v1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.manifest_requests("it/ttl", "HEAD"), 1)
        # The tag moves upstream: after the ttl, one HEAD and one GET.
        moved = upstream_helpers(self.upstream).make_image("it/ttl", "v1")
        time.sleep(FAST_TTL_PASSED)
        r = self.get_manifest("fast/it/ttl", "v1")
        self.assertEqual((r.status, r.body, r.header("Docker-Content-Digest")),
                         (200, moved.body, moved.digest), r)
        self.assertEqual((self.manifest_requests("it/ttl", "GET"),
                          self.manifest_requests("it/ttl", "HEAD")), (2, 2))
        self.assert_link(self.server.tree.tag_current_link("fast/it/ttl", "v1"), moved.digest)
        # The old revision stays, as after any push that moves a tag.
        self.assert_link(self.server.tree.revision_link("fast/it/ttl", img.digest), img.digest)

    def test_concurrent_cold_pulls_one_fetch(self):
        """8 clients at once for a missing manifest, then for a missing
        16 MiB layer: one upstream GET each, every client gets the bytes."""
        up = upstream_helpers(self.upstream)
        layer = os.urandom(16 << 20)
        layer_digest = up.push_blob("it/cold", layer)
        config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
        config_digest = up.push_blob("it/cold", config)
        body = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest, "size": len(layer)}]}).encode()
        up.push_manifest("it/cold", "v1", body, OCI_MANIFEST)

        def at_once(fetch):
            results = [None] * 8
            barrier = threading.Barrier(8)

            def run(i):
                barrier.wait()
                results[i] = fetch()

            threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            return results

        for r in at_once(lambda: self.get_manifest("up/it/cold", "v1")):
            self.assertEqual((r.status, r.body), (200, body), r)
        self.assertEqual(self.manifest_requests("it/cold", "GET"), 1)
        for r in at_once(lambda: self.get_blob("up/it/cold", layer_digest)):
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.body == layer, "a client got other bytes")
        self.assertEqual(self.upstream.requests("GET", f"/v2/it/cold/blobs/{layer_digest}"), 1,
                         "8 concurrent misses of one blob made more than one upstream fetch")

    def test_index_children_fetched_when_asked(self):
        """A multi-platform index through the mirror: the index by tag, then
        each child by digest as a client asks, then its blobs; Docker's
        manifest list likewise."""
        up = upstream_helpers(self.upstream)
        for media_type, child_type in ((OCI_INDEX, OCI_MANIFEST),
                                       (DOCKER_LIST, DOCKER_MANIFEST)):
            name = "it/multi-" + ("oci" if media_type == OCI_INDEX else "docker")
            children = [up.make_image(name, None, media_type=child_type) for _ in range(2)]
            index = up.make_index(name, children, "v1", media_type=media_type)
            r = self.get_manifest(f"up/{name}", "v1")
            self.assertEqual((r.status, r.body, r.header("Content-Type")),
                             (200, index.body, media_type), r)
            tree = self.server.tree
            for child in children:
                self.assertFalse(tree.revision_link(f"up/{name}", child.digest).exists(),
                                 "a child was fetched before anyone asked")
            for child in children:
                r = self.get_manifest(f"up/{name}", child.digest)
                self.assertEqual((r.status, r.body), (200, child.body), r)
                self.assert_link(tree.revision_link(f"up/{name}", child.digest), child.digest)
                for blob in [child.config] + child.layers:
                    r = self.get_blob(f"up/{name}", sha256(blob))
                    self.assertEqual((r.status, r.body), (200, blob), r)

    def test_containerd_namespace(self):
        """containerd's hosts.toml mirror: no prefix, ?ns=<upstream host>."""
        r = self.req("GET", "/v2/it/app/manifests/v1?ns=Upstream.Example",
                     headers={"Accept": ACCEPT})
        self.assertEqual((r.status, r.body, r.header("Docker-Content-Digest")),
                         (200, self.app.body, self.app.digest), r)
        self.assert_link(self.server.tree.tag_current_link("up/it/app", "v1"), self.app.digest)
        blob = self.app.layers[0]
        r = self.req("GET", f"/v2/it/app/blobs/{sha256(blob)}?ns=other.example")
        self.assertEqual((r.status, r.body), (200, blob), r)
        # The mirror's repository: pushes refused there too.
        r = self.req("POST", "/v2/it/app/blobs/uploads/?ns=upstream.example")
        self.assert_error(r, 405, "UNSUPPORTED")
        # An ns no mirror lists leaves the name local (and it/app is not).
        r = self.req("GET", "/v2/it/app/manifests/v1?ns=docker.io", headers={"Accept": ACCEPT})
        self.assert_error(r, 404, "NAME_UNKNOWN")
        self.assertFalse(self.server.tree.repo("it/app").exists())

    def mirror_metrics(self, mirror="fast"):
        r = self.req("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        text = r.body.decode()
        counts = {(k, o): int(v) for k, o, v in re.findall(
            rf'^cairn_mirror_requests_total\{{mirror="{mirror}",kind="(\w+)",outcome="(\w+)"\}} (\d+)$',
            text, re.M)}
        fetched = int(re.search(rf'^cairn_mirror_fetched_bytes_total\{{mirror="{mirror}"\}} (\d+)$',
                                text, re.M).group(1))
        answers = {result: int(v) for result, v in re.findall(
            rf'^cairn_mirror_upstream_responses_total\{{mirror="{mirror}",result="(\w+)"\}} (\d+)$',
            text, re.M)}
        return counts, fetched, answers

    def test_metrics(self):
        img = upstream_helpers(self.upstream).make_image("it/metrics", "v1")
        self.get_manifest("up/it/app", "v1")  # the other mirror's series exist too
        before, bytes_before, answers_before = self.mirror_metrics()
        up_before = self.mirror_metrics("up")
        mark = self.server.log_mark()
        self.assertEqual(self.get_manifest("fast/it/metrics", "v1").status, 200)
        self.assertEqual(self.get_manifest("fast/it/metrics", "v1").status, 200)
        layer = img.layers[0]
        self.assertEqual(self.get_blob("fast/it/metrics", sha256(layer)).status, 200)
        self.assertEqual(self.get_blob("fast/it/metrics", sha256(layer)).status, 200)
        time.sleep(FAST_TTL_PASSED)
        self.assertEqual(self.get_manifest("fast/it/metrics", "v1").status, 200)
        after, bytes_after, answers_after = self.mirror_metrics()
        delta = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
        self.assertEqual(delta, {("manifest", "fetched"): 1, ("manifest", "hit"): 1,
                                 ("manifest", "checked"): 1, ("blob", "fetched"): 1,
                                 ("blob", "hit"): 1})
        self.assertEqual(bytes_after - bytes_before, len(img.body) + len(layer))
        # Upstream answers: at least the manifest GET, the blob GET and the
        # HEAD after the ttl were 2xx (a 401 before each with Basic auth).
        self.assertGreaterEqual(answers_after.get("2xx", 0) - answers_before.get("2xx", 0), 3)
        self.assertEqual(answers_after.get("network", 0), answers_before.get("network", 0))
        # The other mirror counted nothing of these.
        self.assertEqual(self.mirror_metrics("up"), up_before)
        # The access log says what each request took.
        log = self.server.log_since(mark)
        # A line is written when its request ends, after its response went
        # out: order each kind's lines by timestamp (the request's start).
        lines = sorted(re.findall(
            r'^(\S+) .*"GET /v2/fast/it/metrics/(manifests|blobs)/\S+" 200 .* cache=(\w+)$',
            log, re.M), key=lambda line: line[0])
        for kind, expected in (("manifests", ["fetched", "hit", "checked"]),
                               ("blobs", ["fetched", "hit"])):
            self.assertEqual([cache for _, k, cache in lines if k == kind], expected, log)
        local = re.findall(r'"GET /metrics" 200 .*$', log, re.M)
        self.assertTrue(local and all("cache=" not in line for line in local), log)

    def test_blob_in_the_store_is_linked_after_a_head(self):
        img = upstream_helpers(self.upstream).make_image("it/shared", "v1")
        layer = img.layers[0]
        path = rf"/v2/it/shared/blobs/{sha256(layer)}"
        self.assertEqual(self.get_blob("up/it/shared", sha256(layer)).status, 200)
        self.assertEqual((self.upstream.requests("GET", path),
                          self.upstream.requests("HEAD", path)), (1, 0))
        # Another repository of the tree, the same blob: a HEAD, no transfer.
        r = self.get_blob("fast/it/shared", sha256(layer))
        self.assertEqual((r.status, r.body), (200, layer), r)
        self.assertEqual((self.upstream.requests("GET", path),
                          self.upstream.requests("HEAD", path)), (1, 1))
        self.assert_link(self.server.tree.layer_link("fast/it/shared", sha256(layer)),
                         sha256(layer))
        # A blob the upstream does not have for the repository is not linked
        # into it, though the store has it (pushed to a local repository).
        secret = self.make_image("local/secret", "v1")
        digest = sha256(secret.layers[0])
        r = self.get_blob("up/it/shared", digest)
        self.assert_error(r, 404, "BLOB_UNKNOWN")
        self.assertFalse(self.server.tree.layer_link("up/it/shared", digest).exists())
        # The upstream's 404 to the HEAD is the answer: no GET after it.
        secret_path = rf"/v2/it/shared/blobs/{digest}"
        self.assertEqual((self.upstream.requests("GET", secret_path),
                          self.upstream.requests("HEAD", secret_path)), (0, 1))

    def test_unknown_upstream_names(self):
        r = self.get_manifest("up/it/nothing", "v1")
        self.assert_error(r, 404, "MANIFEST_UNKNOWN")
        r = self.get_blob("up/it/app", "sha256:" + "0" * 64)
        self.assert_error(r, 404, "BLOB_UNKNOWN")
        r = self.get_manifest("up/it/app", "no_such_tag")
        self.assert_error(r, 404, "MANIFEST_UNKNOWN")

    def test_skopeo_pull(self):
        if self.sk_digest is None:
            self.skipTest("skopeo is not installed")
        out = self.scratch / "pulled"
        skopeo("copy", "-q", "--src-tls-verify=false",
               f"docker://{HOST}:{self.server.port}/up/it/sk:v1", f"oci:{out}:v1")
        index = json.loads((out / "index.json").read_text())
        self.assertEqual(index["manifests"][0]["digest"], self.sk_digest)
        src_blobs = sorted(p.name for p in (self.scratch / "sk" / "blobs" / "sha256").iterdir())
        got_blobs = sorted(p.name for p in (out / "blobs" / "sha256").iterdir())
        self.assertEqual(got_blobs, src_blobs)
        for name in src_blobs:
            self.assertEqual((out / "blobs" / "sha256" / name).read_bytes(),
                             (self.scratch / "sk" / "blobs" / "sha256" / name).read_bytes())
        p = skopeo("inspect", "--raw", "--tls-verify=false",
                   f"docker://{HOST}:{self.server.port}/up/it/sk:v1")
        self.assertEqual(sha256(p.stdout if isinstance(p.stdout, bytes) else p.stdout.encode()),
                         self.sk_digest)

    def test_pushes_refused_local_repositories_pushable(self):
        r = self.req("POST", "/v2/up/it/app/blobs/uploads/")
        self.assert_error(r, 405, "UNSUPPORTED")
        r = self.put_manifest("up/it/app", "v2", self.app.body, OCI_MANIFEST)
        self.assert_error(r, 405, "UNSUPPORTED")
        r = self.req("DELETE", f"/v2/up/it/app/manifests/{self.app.digest}")
        self.assert_error(r, 405, "UNSUPPORTED")
        img = self.make_image("local/app", "v1")
        r = self.get_manifest("local/app", "v1")
        self.assertEqual((r.status, r.body), (200, img.body), r)
        # "upstream" is not under the prefix "up".
        self.make_image("upstream/app", "v1")


class MirrorOfflineTest(MirrorTestCase):
    def test_upstream_down_serves_the_cache(self):
        r = self.get_manifest("fast/it/app", "v1")
        self.assertEqual(r.status, 200, r)
        for blob in [self.app.config] + self.app.layers:
            self.assertEqual(self.get_blob("fast/it/app", sha256(blob)).status, 200)
        self.upstream.stop()
        try:
            time.sleep(FAST_TTL_PASSED)  # past the ttl of `fast`
            mark = self.server.log_mark()
            r = self.get_manifest("fast/it/app", "v1")
            self.assertEqual((r.status, r.body), (200, self.app.body), r)
            self.server.wait_for_log(r"serving the cached fast/it/app:v1", mark)
            for blob in [self.app.config] + self.app.layers:
                r = self.get_blob("fast/it/app", sha256(blob))
                self.assertEqual((r.status, r.body), (200, blob), r)
            # Nothing cached: the upstream's failure, as 503.
            r = self.get_manifest("fast/it/other", "v1")
            self.assert_error(r, 503, "UNAVAILABLE")
        finally:
            self.upstream.start()


class MirrorEvictionTest(MirrorTestCase):
    """Eviction by cairn-gc (docs/mirror.md): `up` evicts what nobody pulled
    for 1h, `keep` (evict_after: 0) never; a local repository is never
    touched. "Not pulled for 2h" is made by setting the revision links'
    times back, as two hours of quiet would."""

    EVICT_AFTER = 3600

    @classmethod
    def make_server(cls):
        cls.mirrors = [
            {"prefix": "up", "url": f"http://{HOST}:{cls.upstream.port}", "username": USER,
             "password": password_of(USER), "ttl": "1h", "evict_after": "1h"},
            {"prefix": "keep", "url": f"http://{HOST}:{cls.upstream.port}", "username": USER,
             "password": password_of(USER), "evict_after": "0"},
        ]
        return CairnServer(config=mirrors_config(cls.mirrors))

    def gc_config(self):
        path = self.server.confdir / "gc.yml"
        path.write_text(mirrors_config(self.mirrors) +
                        f"storage:\n  filesystem:\n    rootdirectory: {self.server.root}\n")
        return path

    def age(self, *paths, seconds=2 * 3600):
        then = time.time() - seconds
        for path in paths:
            os.utime(path, (then, then))

    def pull(self, name, tag, image):
        r = self.get_manifest(name, tag)
        self.assertEqual((r.status, r.body), (200, image.body), r)
        for blob in [image.config] + image.layers:
            r = self.get_blob(name, sha256(blob))
            self.assertEqual((r.status, r.body), (200, blob), r)

    def test_unpulled_mirrored_manifests_evicted(self):
        gc = gc_binary_or_skip()
        up = upstream_helpers(self.upstream)
        tree = self.server.tree
        old = up.make_image("it/evict-old", "v1")
        new = up.make_image("it/evict-new", "v1")
        kept = up.make_image("it/evict-keep", "v1")
        children = [up.make_image("it/evict-multi", None) for _ in range(2)]
        index = up.make_index("it/evict-multi", children, "v1")
        self.pull("up/it/evict-old", "v1", old)
        self.pull("up/it/evict-new", "v1", new)
        self.pull("keep/it/evict-keep", "v1", kept)
        r = self.get_manifest("up/it/evict-multi", "v1")
        self.assertEqual((r.status, r.body), (200, index.body), r)
        for child in children:
            self.pull("up/it/evict-multi", child.digest, child)
        local = self.make_image("local/evict", "v1")

        # Two hours without a pull for all of it, blobs too (older than the grace).
        self.age(tree.revision_link("up/it/evict-old", old.digest),
                 tree.revision_link("up/it/evict-new", new.digest),
                 tree.revision_link("keep/it/evict-keep", kept.digest),
                 *(tree.revision_link("up/it/evict-multi", c.digest) for c in children),
                 tree.revision_link("local/evict", local.digest),
                 tree.tag_current_link("local/evict", "v1"))
        for image in (old, new, kept, local, *children):
            self.age(*(tree.blob_data(sha256(b)) for b in [image.body, image.config] + image.layers))
        # A pull served from the tree (the tag within its ttl) records itself
        # in the revision link's time: evict-new and the index are pulled now.
        before = self.manifest_requests("it/evict-new", "(GET|HEAD)")
        r = self.get_manifest("up/it/evict-new", "v1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.manifest_requests("it/evict-new", "(GET|HEAD)"), before)
        self.assertGreater(tree.revision_link("up/it/evict-new", new.digest).stat().st_mtime,
                           time.time() - 60, "a pull from the cache was not recorded")

        config = self.gc_config()
        dry = run_gc(gc, "--config", config, "--grace", "0s", "--dry-run", "--json")
        self.assertEqual(dry.rc, 0, dry.describe())
        self.assertEqual(dry.doc["evicted"], {"manifests": 1}, dry.doc)
        self.assertTrue(tree.revision_link("up/it/evict-old", old.digest).exists())

        res = run_gc(gc, "--config", config, "--grace", "0s", "--json")
        self.assertEqual(res.rc, 0, res.describe())
        check_gc_document(self, res.doc, dry_run=False, delete_untagged=False, grace_seconds=0)
        self.assertEqual(res.doc["evicted"], {"manifests": 1}, res.doc)
        self.assertEqual(res.doc["deleted"]["revisions"], [old.digest], res.doc)
        # The evicted image: its tag, revision and blobs are gone.
        self.assertFalse(tree.tag_dir("up/it/evict-old", "v1").exists())
        self.assertFalse(tree.revision_link("up/it/evict-old", old.digest).exists())
        deleted = deleted_digests(res.doc)
        for blob in [old.body, old.config] + old.layers:
            self.assertIn(sha256(blob), deleted)
            self.assertFalse(tree.blob_data(sha256(blob)).exists())
        # Pulled since, the children of a pulled index (not pulled themselves),
        # a mirror that does not evict, and a local repository: all kept.
        self.assert_link(tree.tag_current_link("up/it/evict-new", "v1"), new.digest)
        for child in children:
            self.assert_link(tree.revision_link("up/it/evict-multi", child.digest), child.digest)
        self.assert_link(tree.tag_current_link("keep/it/evict-keep", "v1"), kept.digest)
        self.assert_link(tree.tag_current_link("local/evict", "v1"), local.digest)
        for image in (new, kept, local, *children):
            for blob in [image.body, image.config] + image.layers:
                self.assertNotIn(sha256(blob), deleted)
                self.assertTrue(tree.blob_data(sha256(blob)).exists())
        fsck_sound(self, self.server.root)
        # It was a cache: the next pull fetches the image again.
        self.pull("up/it/evict-old", "v1", old)
        self.assert_link(tree.tag_current_link("up/it/evict-old", "v1"), old.digest)


class ProxyTest(CairnTestCase):
    """Distribution's proxy: the whole registry mirrors docker-registry."""

    @classmethod
    def setUpClass(cls):
        cls.upstream = Distribution().start()
        try:
            cls.app = upstream_helpers(cls.upstream).make_image("it/app", "v1")
            cls.solo = upstream_helpers(cls.upstream).make_image("solo", "v1")
            super().setUpClass()
        except BaseException:
            cls.upstream.cleanup()
            raise

    @classmethod
    def make_server(cls):
        return CairnServer(config=mirrors_config([], proxy={
            "remoteurl": f"http://{HOST}:{cls.upstream.port}", "username": USER,
            "password": password_of(USER)}))

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.upstream.cleanup()

    def test_pull_and_refuse_pushes(self):
        r = self.get_manifest("it/app", "v1")
        self.assertEqual((r.status, r.body), (200, self.app.body), r)
        r = self.get_blob("it/app", sha256(self.app.layers[0]))
        self.assertEqual((r.status, r.body), (200, self.app.layers[0]), r)
        # Not Docker Hub: a one-component name stays as it is.
        r = self.get_manifest("solo", "v1")
        self.assertEqual((r.status, r.body), (200, self.solo.body), r)
        r = self.req("POST", "/v2/anything/blobs/uploads/")
        self.assert_error(r, 405, "UNSUPPORTED")


class BearerUpstreamTest(CairnTestCase):
    """An upstream that asks for Bearer tokens, and one blob it lies about."""

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeUpstream()
        cls.body, cls.config, cls.layer = cls.fake.add_image("team/app", "v1", 1)
        cls.lying_body, _, cls.lying_layer = cls.fake.add_image("team/liar", "v1", 2)
        cls.fake.lie.add(sha256(cls.lying_layer))
        try:
            super().setUpClass()
        except BaseException:
            cls.fake.close()
            raise

    @classmethod
    def make_server(cls):
        return CairnServer(config=mirrors_config([
            {"prefix": "fk", "url": f"http://{HOST}:{cls.fake.port}", "ttl": "1h"}]))

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.fake.close()

    def test_token_flow_and_cache(self):
        r = self.get_manifest("fk/team/app", "v1")
        self.assertEqual((r.status, r.body), (200, self.body), r)
        for blob in (self.config, self.layer):
            r = self.get_blob("fk/team/app", sha256(blob))
            self.assertEqual((r.status, r.body), (200, blob), r)
        with self.fake.lock:
            log = list(self.fake.log)
        tokens = [path for _, path, _ in log
                  if path.startswith("/token?") and "team%2Fapp" in path]
        self.assertEqual(tokens, ["/token?service=fake&scope=repository%3Ateam%2Fapp%3Apull"],
                         "one token for the repository, cached")
        # Every request after the first carried the token.
        anonymous = [p for _, p, auth in log if auth is None and p.startswith("/v2/team/app/")]
        self.assertEqual(len(anonymous), 1, anonymous)
        # Its answers and its pull allowance, in the metrics.
        text = self.req("GET", "/metrics").body.decode()
        remaining = re.search(r'^cairn_mirror_ratelimit_remaining\{mirror="fk"\} (\d+)$', text, re.M)
        self.assertIsNotNone(remaining, text)
        self.assertEqual(int(remaining.group(1)), self.fake.remaining)
        answers = dict(re.findall(
            r'^cairn_mirror_upstream_responses_total\{mirror="fk",result="(\w+)"\} (\d+)$',
            text, re.M))
        self.assertGreaterEqual(int(answers["401"]), 1, answers)  # the first challenge
        self.assertGreaterEqual(int(answers["2xx"]), 4, answers)  # token, manifest, 2 blobs

    def test_lying_upstream_links_nothing(self):
        r = self.get_manifest("fk/team/liar", "v1")
        self.assertEqual(r.status, 200, r)
        digest = sha256(self.lying_layer)
        r = self.get_blob("fk/team/liar", digest)
        self.assert_error(r, 503, "UNAVAILABLE")
        self.assertFalse(self.server.tree.layer_link("fk/team/liar", digest).exists())
        self.assertFalse(self.server.tree.blob_data(digest).exists())
        scratch = self.server.root / ".cairn-tmp"
        self.assertEqual([p.name for p in scratch.glob("mirror-*")], [])


class FakeBlobCase(CairnTestCase):
    """cairn mirroring a FakeUpstream as `fk`, with helpers to serve its
    blobs in pieces (no tests of its own)."""

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeUpstream()
        try:
            super().setUpClass()
        except BaseException:
            cls.fake.close()
            raise

    @classmethod
    def make_server(cls):
        return CairnServer(config=mirrors_config([
            {"prefix": "fk", "url": f"http://{HOST}:{cls.fake.port}", "ttl": "1h"}]))

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.fake.close()

    def add_blob(self, size):
        data = os.urandom(size)
        self.fake.blobs[sha256(data)] = data
        return data, sha256(data)

    def cut_first_get(self, digest, at):
        """The first GET of `digest` without Range sends `at` bytes, then
        the connection ends."""
        done = []

        def hook(handler, data, wanted):
            if wanted is not None or done or handler.command != "GET":
                return False
            done.append(True)
            FakeUpstream.send_blob_head(handler, 200, len(data))
            handler.wfile.write(data[:at])
            FakeUpstream.cut(handler)
            return True

        self.fake.blob_hooks[digest] = hook

    def pause_after(self, digest, at):
        """Every GET of `digest` sends `at` bytes, then waits for the
        returned event before it sends the rest."""
        release = threading.Event()
        self.addCleanup(release.set)

        def hook(handler, data, wanted):
            FakeUpstream.send_blob_head(handler, 200, len(data))
            handler.wfile.write(data[:at])
            handler.wfile.flush()
            release.wait(60)
            handler.wfile.write(data[at:])
            return True

        self.fake.blob_hooks[digest] = hook
        return release

    def open_blob(self, name, digest):
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=60)
        self.addCleanup(conn.close)
        conn.request("GET", f"/v2/{name}/blobs/{digest}")
        return conn.getresponse()

    def assert_stored_soon(self, name, digest, data):
        """A streamed blob's response ends once its bytes verified; its sync
        and links follow within moments (docs/mirror.md)."""
        tree = self.server.tree
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (tree.layer_link(name, digest).exists()
                                                   and tree.blob_data(digest).exists()):
            time.sleep(0.02)
        self.assert_blob_stored(name, digest, data)

    def assert_nothing_kept(self, name, digest):
        self.assertFalse(self.server.tree.layer_link(name, digest).exists())
        self.assertFalse(self.server.tree.blob_data(digest).exists())
        scratch = self.server.root / ".cairn-tmp"
        self.assertEqual([p.name for p in scratch.glob("mirror-*")], [])



class StreamingHoldsNoWorkerTest(FakeBlobCase):
    """With two workers: one fill holds one for its transfer, and the
    responses following it hold none while they wait for the upstream's
    bytes, so a push still finds a worker."""

    @classmethod
    def make_server(cls):
        return CairnServer(config=mirrors_config([
            {"prefix": "fk", "url": f"http://{HOST}:{cls.fake.port}", "ttl": "1h"}]).replace(
                "cairn:\n", "cairn:\n  workers: 2\n", 1))

    def test_push_while_clients_wait_for_the_upstream(self):
        data, digest = self.add_blob(6 << 20)
        release = self.pause_after(digest, 3 << 20)
        started = time.monotonic()
        responses = []
        for _ in range(3):
            r = self.open_blob("fk/team/waiting", digest)
            self.assertEqual(r.status, 200)
            responses.append(r)
        for r in responses:
            self.assertEqual(r.read(3 << 20), data[:3 << 20])
        time.sleep(0.3)  # every response now waits for byte 3 MiB
        body = os.urandom(4096)
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=10)
        self.addCleanup(conn.close)
        conn.request("POST", f"/v2/local/pushed/blobs/uploads/?digest={sha256(body)}", body=body,
                     headers={"Content-Type": "application/octet-stream"})
        pushed = conn.getresponse()
        pushed.read()
        self.assertEqual(pushed.status, 201, pushed.reason)
        # The upstream still holds the rest back (it gives up after 60 s).
        self.assertLess(time.monotonic() - started, 20,
                        "the clients or the push waited for a worker behind the mirror")
        release.set()
        for r in responses:
            self.assertTrue(r.read() == data[3 << 20:], "a client got other bytes")
        self.assert_stored_soon("fk/team/waiting", digest, data)


class BlobTransferTest(FakeBlobCase):
    """How a missing blob comes from the upstream: a cut transfer resumed
    with Range, an upstream that ignores Range or answers another range."""

    def test_cut_transfer_resumes_with_range(self):
        data, digest = self.add_blob(3 << 20)
        half = len(data) // 2
        self.cut_first_get(digest, half)
        r = self.get_blob("fk/team/resumed", digest)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body == data, "the client got other bytes")
        self.assert_stored_soon("fk/team/resumed", digest, data)
        self.assertEqual(self.fake.requests_for(digest), [("GET", None), ("GET", f"bytes={half}-")])

    def test_range_ignored_starts_over(self):
        data, digest = self.add_blob(300 << 10)
        self.cut_first_get(digest, 100 << 10)
        self.fake.ignore_range.add(digest)
        r = self.get_blob("fk/team/restarted", digest)
        self.assertEqual((r.status, r.body == data), (200, True), r)
        self.assert_stored_soon("fk/team/restarted", digest, data)
        self.assertEqual(self.fake.requests_for(digest),
                         [("GET", None), ("GET", f"bytes={100 << 10}-")])

    def test_other_range_refused(self):
        """A 206 that does not start where the transfer was cut is refused:
        nothing linked, 503."""
        data, digest = self.add_blob(300 << 10)
        self.cut_first_get(digest, 100 << 10)
        first_hook = self.fake.blob_hooks[digest]

        def hook(handler, blob, wanted):
            if wanted is None:
                return first_hook(handler, blob, wanted)
            FakeUpstream.send_blob_head(handler, 206, len(blob),
                                        [("Content-Range", f"bytes 0-{len(blob) - 1}/{len(blob)}")])
            handler.wfile.write(blob)
            return True

        self.fake.blob_hooks[digest] = hook
        r = self.get_blob("fk/team/misranged", digest)
        self.assert_error(r, 503, "UNAVAILABLE")
        self.assert_nothing_kept("fk/team/misranged", digest)
        self.assertEqual(self.fake.requests_for(digest),
                         [("GET", None), ("GET", f"bytes={100 << 10}-")])

    def test_resumes_are_bounded(self):
        """An upstream that cuts every answer: a few resumed requests, then
        503 and nothing kept."""
        data, digest = self.add_blob(300 << 10)

        def hook(handler, blob, wanted):
            at = int(wanted[len("bytes="):-1]) if wanted else 0
            if wanted is None:
                FakeUpstream.send_blob_head(handler, 200, len(blob))
            else:
                FakeUpstream.send_blob_head(handler, 206, len(blob) - at, [
                    ("Content-Range", f"bytes {at}-{len(blob) - 1}/{len(blob)}")])
            handler.wfile.write(blob[at:at + 1000])
            FakeUpstream.cut(handler)
            return True

        self.fake.blob_hooks[digest] = hook
        r = self.get_blob("fk/team/flaky", digest)
        self.assert_error(r, 503, "UNAVAILABLE")
        self.assert_nothing_kept("fk/team/flaky", digest)
        self.assertEqual(self.fake.requests_for(digest),
                         [("GET", None)] + [("GET", f"bytes={1000 * i}-") for i in range(1, 5)])


class BlobStreamingTest(FakeBlobCase):
    """A missing blob larger than 1 MiB is streamed to its clients while it
    is fetched, verified and stored; the last byte goes out only after the
    digest verified, and a fill that fails cuts the responses."""

    def test_first_bytes_before_the_upstream_finished(self):
        data, digest = self.add_blob(8 << 20)
        release = self.pause_after(digest, 4 << 20)
        r = self.open_blob("fk/team/streamed", digest)
        self.assertEqual((r.status, r.getheader("Content-Length"),
                          r.getheader("Docker-Content-Digest")),
                         (200, str(len(data)), digest))
        first = r.read(64 << 10)
        self.assertEqual(first, data[:64 << 10])
        self.assertFalse(release.is_set())
        # Nothing linked while the blob is not verified.
        self.assertFalse(self.server.tree.layer_link("fk/team/streamed", digest).exists())
        release.set()
        rest = r.read()
        self.assertTrue(first + rest == data, "the client got other bytes")
        self.assert_stored_soon("fk/team/streamed", digest, data)
        self.assertEqual(self.fake.requests_for(digest), [("GET", None)])

    def test_clients_joining_follow_the_fill(self):
        """Three clients of one cold blob: each has its first bytes before
        the upstream sent the rest, and the upstream answered one GET."""
        data, digest = self.add_blob(6 << 20)
        release = self.pause_after(digest, 3 << 20)
        responses = []
        for _ in range(3):
            r = self.open_blob("fk/team/joined", digest)
            self.assertEqual((r.status, r.getheader("Content-Length")), (200, str(len(data))))
            self.assertEqual(r.read(64 << 10), data[:64 << 10])
            responses.append(r)
        self.assertFalse(release.is_set())
        release.set()
        for r in responses:
            self.assertTrue(data[:64 << 10] + r.read() == data, "a client got other bytes")
        self.assert_stored_soon("fk/team/joined", digest, data)
        self.assertEqual(self.fake.requests_for(digest), [("GET", None)])

    def assert_cut(self, r, length):
        """The response ends before its Content-Length: an incomplete read or
        a reset, never a complete body."""
        got = b""
        try:
            while True:
                piece = r.read1(1 << 20) if hasattr(r, "read1") else r.read(1 << 20)
                if not piece:
                    break
                got += piece
        except (http.client.IncompleteRead, ConnectionError):
            return
        self.assertLess(len(got), length, "a cut fill completed its response")

    def test_lying_upstream_cuts_the_stream(self):
        data, digest = self.add_blob(4 << 20)
        self.fake.lie.add(digest)
        r = self.open_blob("fk/team/streamliar", digest)
        self.assertEqual((r.status, r.getheader("Content-Length")), (200, str(len(data))))
        self.assert_cut(r, len(data))
        self.assert_nothing_kept("fk/team/streamliar", digest)
        # The next client is not served the bad bytes either.
        r = self.open_blob("fk/team/streamliar", digest)
        self.assertEqual(r.status, 200)
        self.assert_cut(r, len(data))
        self.assert_nothing_kept("fk/team/streamliar", digest)

    def test_short_upstream_cuts_the_stream(self):
        """Cut after 1.5 MiB of 2 MiB, and the Range request refused: the
        response that streamed the first bytes is cut, nothing kept."""
        data, digest = self.add_blob(2 << 20)
        self.cut_first_get(digest, 3 << 19)
        first_hook = self.fake.blob_hooks[digest]

        def hook(handler, blob, wanted):
            if wanted is None:
                return first_hook(handler, blob, wanted)
            handler.answer(500, b"{}")
            return True

        self.fake.blob_hooks[digest] = hook
        r = self.open_blob("fk/team/short", digest)
        self.assertEqual((r.status, r.getheader("Content-Length")), (200, str(len(data))))
        self.assert_cut(r, len(data))
        self.assert_nothing_kept("fk/team/short", digest)
        self.assertEqual(self.fake.requests_for(digest),
                         [("GET", None), ("GET", f"bytes={3 << 19}-")])


class MirrorAccessRulesTest(CairnTestCase):
    """cairn.access applies to a mirrored prefix like to any repository
    (pull rights decide who may fill and read it), and a push there is
    refused with UNSUPPORTED even for a caller allowed to push."""

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeUpstream()
        cls.body, cls.config, cls.layer = cls.fake.add_image("team/app", "v1", 3)
        cls.authdir = Path(tempfile.mkdtemp(prefix="cairn-e2e-mirror-acl-"))
        (cls.authdir / "htpasswd").write_text(htpasswd_text(["reader", "builder", "root"]))
        try:
            super().setUpClass()
        except BaseException:
            cls.fake.close()
            shutil.rmtree(cls.authdir, ignore_errors=True)
            raise

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc({
            "version": "0.1",
            "auth": {"htpasswd": {"realm": "cairn", "path": str(cls.authdir / "htpasswd")}},
            "cairn": {
                "mirrors": [{"prefix": "fk", "url": f"http://{HOST}:{cls.fake.port}",
                             "ttl": "1h"}],
                "access": [
                    {"subjects": "root", "repositories": "**", "actions": "*"},
                    {"subjects": "reader", "repositories": "fk/**", "actions": "pull"},
                    {"subjects": "builder", "repositories": "local/**",
                     "actions": ["pull", "push"]},
                ],
            },
        }))

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.fake.close()
            shutil.rmtree(cls.authdir, ignore_errors=True)

    def as_user(self, name):
        return self.server.as_user(name, password_of(name))

    def manifest(self, client, name, ref):
        return client.request("GET", f"/v2/{name}/manifests/{ref}", headers={"Accept": ACCEPT})

    def test_pull_rights_decide_push_refused(self):
        fills = self.fake.count("/manifests/")
        # Without the right, nothing is asked of the upstream.
        self.assert_error(self.manifest(self.server, "fk/team/app", "v1"), 401, "UNAUTHORIZED")
        self.assert_error(self.manifest(self.as_user("builder"), "fk/team/app", "v1"),
                          403, "DENIED")
        self.assertEqual(self.fake.count("/manifests/"), fills)
        # With pull on fk/**: filled and served.
        reader = self.as_user("reader")
        r = self.manifest(reader, "fk/team/app", "v1")
        self.assertEqual((r.status, r.body), (200, self.body), r)
        r = reader.request("GET", f"/v2/fk/team/app/blobs/{sha256(self.layer)}")
        self.assertEqual((r.status, r.body), (200, self.layer), r)
        # Cached now, still refused to the others.
        self.assert_error(self.manifest(self.as_user("builder"), "fk/team/app", "v1"),
                          403, "DENIED")
        self.assert_error(self.server.request("GET", f"/v2/fk/team/app/blobs/{sha256(self.layer)}"),
                          401, "UNAUTHORIZED")
        # Pushes: the reader lacks the right (403); root has it, but the
        # prefix is a mirror (405 UNSUPPORTED); local repositories take them.
        self.assert_error(reader.request("POST", "/v2/fk/team/app/blobs/uploads/"), 403, "DENIED")
        root = self.as_user("root")
        self.assert_error(root.request("POST", "/v2/fk/team/app/blobs/uploads/"),
                          405, "UNSUPPORTED")
        self.assert_error(root.request("PUT", "/v2/fk/team/app/manifests/v2", body=self.body,
                                       headers={"Content-Type": OCI_MANIFEST}),
                          405, "UNSUPPORTED")
        r = self.as_user("builder").request("POST", "/v2/local/app/blobs/uploads/")
        self.assertEqual(r.status, 202, r)


if __name__ == "__main__":
    unittest.main()
