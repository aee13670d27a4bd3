"""Blobs in S3 (docs/s3.md): cairn with storage.s3 against a real
S3-compatible server that verifies SigV4 (tests/s3, @20minutes/s3rver), with
boto3 as the independent client that checks what landed in the bucket.

Run: CAIRN_BINARY=... CAIRN_GC_BINARY=... CAIRN_FSCK_BINARY=... python3 -m unittest test_s3
"""

import fcntl
import gzip
import http.client
import io
import json
import os
import subprocess
import tarfile
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from cairn_server import (OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, CairnServer,
                          CairnTestCase, canonical_json, require_tools, sha256, skopeo,
                          unique_int)
from s3_server import S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, S3Server

PREFIX = "registry"
BLOBS = PREFIX + "/docker/registry/v2/blobs/"
MEBIBYTE = 1024 * 1024


def blob_key(digest):
    algorithm, hex_ = digest.split(":")
    return f"{BLOBS}{algorithm}/{hex_[:2]}/{hex_}/data"


def s3_config(s3, root, extra_s3="", redirect_disable=False, secret=S3_SECRET_KEY, attempts=2):
    return f"""version: 0.1
log:
  level: debug
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  redirect:
    disable: {"true" if redirect_disable else "false"}
  s3:
    accesskey: {S3_ACCESS_KEY}
    secretkey: {secret}
    region: us-east-1
    regionendpoint: {s3.endpoint}
    bucket: {S3_BUCKET}
    rootdirectory: /{PREFIX}/
    forcepathstyle: true
    chunksize: {5 * MEBIBYTE}
    uploadconcurrency: 3
    attempts: {attempts}
    connecttimeout: 2s
    requesttimeout: 10s
{extra_s3}"""


def fetch(url, headers=None, method="GET"):
    """(status, headers, body) of a plain GET without redirects or auth."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = parts.path + ("?" + parts.query if parts.query else "")
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def tampered(url):
    """The URL with the last hex digit of its signature changed."""
    head, signature = url.rsplit("X-Amz-Signature=", 1)
    last = "0" if signature[-1] != "0" else "1"
    return head + "X-Amz-Signature=" + signature[:-1] + last


class S3Case(CairnTestCase):
    """One S3 server and one cairn (redirects on) per class."""

    redirect_disable = False
    extra_s3 = ""
    attempts = 2  # few: the tests that stop the S3 server fail fast

    @classmethod
    def setUpClass(cls):
        cls.s3 = S3Server()
        try:
            cls.s3.start()
        except BaseException:
            cls.s3.cleanup()
            raise
        super().setUpClass()

    @classmethod
    def make_server(cls):
        root = Path(tempfile.mkdtemp(prefix="cairn-e2e-s3-"))
        cls.root_directory = root
        return CairnServer(root=root, config=lambda server: s3_config(
            cls.s3, root, cls.extra_s3, cls.redirect_disable, attempts=cls.attempts))

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.s3.cleanup()

    def gc(self, *arguments):
        return subprocess.run([os.environ["CAIRN_GC_BINARY"], "--config",
                               str(self.server.config_path), *arguments],
                              capture_output=True, text=True, timeout=120)

    def fsck(self, *arguments):
        return subprocess.run([os.environ["CAIRN_FSCK_BINARY"], "--config",
                               str(self.server.config_path), *arguments],
                              capture_output=True, text=True, timeout=120)


class RedirectedBlobs(S3Case):

    def test_push_lands_in_bucket_where_docs_say(self):
        name = self.repo()
        layer = os.urandom(300 * 1024)
        digest = self.push_blob(name, layer)
        # The independent client sees the object under the documented key.
        self.assertIn((blob_key(digest), len(layer)), self.s3.list_keys(BLOBS))
        self.assertEqual(self.s3.get_object(blob_key(digest)), layer)
        # Not on local disk; the link is.
        self.assertFalse(self.tree.blob_data(digest).exists())
        self.assert_link(self.tree.layer_link(name, digest), digest)

    def test_manifests_stay_on_local_disk(self):
        name = self.repo()
        image = self.make_image(name, "v1")
        self.assertTrue(self.tree.blob_data(image.digest).exists())
        self.assertIsNone(self.s3.head(blob_key(image.digest)))
        response = self.get_manifest(name, "v1")
        self.assert_status(response, 200)
        self.assertEqual(response.body, image.body)

    def test_get_redirects_to_presigned_url(self):
        name = self.repo()
        layer = os.urandom(64 * 1024)
        digest = self.push_blob(name, layer)
        response = self.req("GET", f"/v2/{name}/blobs/{digest}")
        self.assert_status(response, 307)
        location = response.header("Location")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        for field in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                      "X-Amz-SignedHeaders", "X-Amz-Signature"):
            self.assertIn(field, query, location)
        self.assertEqual(query["X-Amz-Expires"], ["1200"])
        self.assertTrue(query["X-Amz-Credential"][0].startswith(S3_ACCESS_KEY + "/"))
        self.assertNotIn(S3_SECRET_KEY, location)
        self.assertTrue(urllib.parse.urlsplit(location).path.endswith(
            "/" + S3_BUCKET + "/" + blob_key(digest)), location)
        # The URL works without any credentials, and only as signed.
        status, _, body = fetch(location)
        self.assertEqual((status, body), (200, layer))
        status, _, body = fetch(location, {"Range": "bytes=10-19"})
        self.assertEqual((status, body), (206, layer[10:20]))
        status, _, _ = fetch(tampered(location))
        self.assertEqual(status, 403)

    def test_head_answers_itself(self):
        name = self.repo()
        layer = os.urandom(10000)
        digest = self.push_blob(name, layer)
        response = self.req("HEAD", f"/v2/{name}/blobs/{digest}")
        self.assert_status(response, 200)
        self.assertEqual(response.header("Content-Length"), str(len(layer)))
        self.assertEqual(response.header("Docker-Content-Digest"), digest)
        self.assertIsNone(response.header("Location"))

    def test_unknown_blob_is_404(self):
        name = self.repo()
        self.make_image(name, "v1")
        missing = sha256(b"never pushed %d" % unique_int())
        response = self.req("GET", f"/v2/{name}/blobs/{missing}")
        self.assert_error(response, 404, "BLOB_UNKNOWN")

    def test_large_blob_goes_multipart(self):
        name = self.repo()
        layer = os.urandom(12 * MEBIBYTE + 12345)
        digest = self.push_blob(name, layer)
        head = self.s3.head(blob_key(digest))
        self.assertEqual(head["size"], len(layer))
        self.assertEqual(self.s3.get_object(blob_key(digest)), layer)

    def test_existing_blob_is_not_sent_again(self):
        layer = os.urandom(200 * 1024)
        first = self.push_blob(self.repo("a"), layer)
        before = self.s3.head(blob_key(first))
        time.sleep(1.2)
        second = self.push_blob(self.repo("b"), layer)
        self.assertEqual(first, second)
        after = self.s3.head(blob_key(first))
        # No cairn-gc run: nothing to protect it from, so not even copied.
        self.assertEqual(after, before)

    def test_reuse_while_gc_runs_freshens(self):
        layer = os.urandom(100 * 1024)
        first = self.push_blob(self.repo("a"), layer)
        before = self.s3.head(blob_key(first))
        time.sleep(1.2)
        # Announce a cairn-gc run that started now (layout/gc_lock.h): held
        # locked, mark start inside. The blob is older than mark start + 60 s.
        run = self.root_directory / ".cairn-gc-run"
        with open(run, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(f"{int(time.time())}\n")
            handle.flush()
            second = self.push_blob(self.repo("b"), layer)
            fcntl.flock(handle, fcntl.LOCK_UN)
        run.unlink()
        self.assertEqual(first, second)
        after = self.s3.head(blob_key(first))
        self.assertGreater(after["last_modified"], before["last_modified"])
        self.assertEqual(after["etag"], before["etag"])

    def test_cross_repository_mount(self):
        layer = os.urandom(50000)
        source = self.repo("from")
        digest = self.push_blob(source, layer)
        target = self.repo("to")
        response = self.req("POST", f"/v2/{target}/blobs/uploads/?mount={digest}&from={source}")
        self.assert_status(response, 201)
        self.assert_link(self.tree.layer_link(target, digest), digest)

    def test_automatic_mount_without_from(self):
        """The same mount code as with `from`, the blob found by its link;
        a link whose object is gone from the bucket mounts nothing."""
        layer = os.urandom(40000)
        source = self.repo("from")
        digest = self.push_blob(source, layer)
        target = self.repo("to")
        response = self.req("POST", f"/v2/{target}/blobs/uploads/?mount={digest}")
        self.assert_status(response, 201)
        self.assertEqual(response.header("Location"), f"/v2/{target}/blobs/{digest}")
        self.assertEqual(response.header("Docker-Content-Digest"), digest)
        self.assert_link(self.tree.layer_link(target, digest), digest)
        self.assertEqual(self.req("HEAD", f"/v2/{target}/blobs/{digest}").status, 200)

        self.s3.delete_object(blob_key(digest))
        other = self.repo("other")
        response = self.req("POST", f"/v2/{other}/blobs/uploads/?mount={digest}")
        self.assert_status(response, 202)
        self.assertTrue(response.header("Location").startswith(f"/v2/{other}/blobs/uploads/"))
        self.assertFalse(self.tree.layer_link(other, digest).exists())


class PresignExpiry(S3Case):
    # 5 s: X-Amz-Date is whole seconds, so a URL is good for 4 to 5 s, room
    # enough for the first fetch on a loaded machine.
    extra_s3 = "    presignexpiry: 5s\n"

    def test_url_refused_after_expiry(self):
        name = self.repo()
        layer = os.urandom(1000)
        digest = self.push_blob(name, layer)
        response = self.req("GET", f"/v2/{name}/blobs/{digest}")
        self.assert_status(response, 307)
        location = response.header("Location")
        self.assertIn("X-Amz-Expires=5&", location)
        status, _, body = fetch(location)
        self.assertEqual((status, body), (200, layer))
        time.sleep(6.5)
        status, _, _ = fetch(location)
        self.assertEqual(status, 403)


class StreamedBlobs(S3Case):
    redirect_disable = True

    def test_bytes_served_by_cairn(self):
        name = self.repo()
        layer = os.urandom(9 * MEBIBYTE + 4321)  # three 4 MiB pieces
        digest = self.push_blob(name, layer)
        response = self.req("GET", f"/v2/{name}/blobs/{digest}")
        self.assert_status(response, 200)
        self.assertIsNone(response.header("Location"))
        self.assertEqual(response.header("Docker-Content-Digest"), digest)
        self.assertEqual(response.body, layer)

    def test_range_passed_through(self):
        name = self.repo()
        layer = os.urandom(5 * MEBIBYTE)
        digest = self.push_blob(name, layer)
        first, last = 4 * MEBIBYTE - 10, 4 * MEBIBYTE + 99
        response = self.req("GET", f"/v2/{name}/blobs/{digest}",
                            headers={"Range": f"bytes={first}-{last}"})
        self.assert_status(response, 206)
        self.assertEqual(response.body, layer[first:last + 1])
        self.assertEqual(response.header("Content-Range"),
                         f"bytes {first}-{last}/{len(layer)}")
        response = self.req("GET", f"/v2/{name}/blobs/{digest}",
                            headers={"Range": f"bytes={len(layer)}-"})
        self.assert_status(response, 416)

    def test_client_leaving_mid_stream_keeps_server_healthy(self):
        name = self.repo()
        layer = os.urandom(12 * MEBIBYTE)
        digest = self.push_blob(name, layer)
        for _ in range(3):
            connection = self.server.connection()
            connection.request("GET", f"/v2/{name}/blobs/{digest}")
            response = connection.getresponse()
            response.read(1000)
            connection.close()
        response = self.req("GET", f"/v2/{name}/blobs/{digest}")
        self.assertEqual(response.body, layer)


class Outage(S3Case):

    def test_push_while_s3_is_down_fails_cleanly(self):
        name = self.repo()
        self.make_image(name, "before")
        layer = os.urandom(100000)
        digest = sha256(layer)
        self.s3.stop()
        try:
            started = time.monotonic()
            response = self.req("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", layer,
                                headers={"Content-Type": "application/octet-stream"})
            self.assert_error(response, 503, "UNAVAILABLE")
            self.assertLess(time.monotonic() - started, 15)
            self.assertFalse(self.tree.layer_link(name, digest).exists())
            # What is on local disk is still served.
            self.assert_status(self.get_manifest(name, "before"), 200)
            # A GET of a layer needs S3: a clear 503 too.
            layers = self.s3_layers_of(name)
            if layers:
                response = self.req("GET", f"/v2/{name}/blobs/{layers[0]}")
                self.assert_error(response, 503, "UNAVAILABLE")
        finally:
            self.s3.start()
        self.assertEqual(self.push_blob(name, layer), digest)
        self.assertEqual(self.s3.get_object(blob_key(digest)), layer)

    def test_s3_stopping_mid_upload_then_retrying_the_put(self):
        name = self.repo()
        layer = os.urandom(3 * MEBIBYTE)
        digest = sha256(layer)
        location = self.start_upload(name)
        response = self.patch(location, layer)
        self.assert_status(response, 202)
        location = response.header("Location")
        self.s3.stop()
        try:
            response = self.put_upload(location, digest)
            self.assert_error(response, 503, "UNAVAILABLE")
            self.assertFalse(self.tree.layer_link(name, digest).exists())
        finally:
            self.s3.start()
        # The verified upload is still there: the same PUT now succeeds.
        response = self.put_upload(location, digest)
        self.assert_status(response, 201)
        self.assert_link(self.tree.layer_link(name, digest), digest)
        self.assertEqual(self.s3.get_object(blob_key(digest)), layer)

    def s3_layers_of(self, name):
        layers = self.tree.repo(name) / "_layers" / "sha256"
        return [f"sha256:{p.name}" for p in sorted(layers.iterdir())] if layers.exists() else []

    def test_starting_while_s3_is_down(self):
        root = Path(tempfile.mkdtemp(prefix="cairn-e2e-s3-down-"))
        server = CairnServer(root=root, config=s3_config(self.s3, root))
        self.s3.stop()
        try:
            server.start()
            self.assertIn("does not answer as it should", server.log_tail(100000))
            self.assert_status(server.request("GET", "/v2/"), 200)
        finally:
            self.s3.start()
            server.stop()
            server.cleanup()

    def test_wrong_secret_is_a_clear_error(self):
        root = Path(tempfile.mkdtemp(prefix="cairn-e2e-s3-wrong-"))
        server = CairnServer(root=root, config=s3_config(self.s3, root, secret="not-the-secret"))
        server.start()
        try:
            name = self.repo()
            layer = os.urandom(1000)
            response = server.request("POST", f"/v2/{name}/blobs/uploads/?digest={sha256(layer)}",
                                      layer)
            self.assert_error(response, 503, "UNAVAILABLE")
            self.assertNotIn("not-the-secret", server.log_tail(100000))
        finally:
            server.stop()
            server.cleanup()


class Reload(S3Case):

    def reload_with(self, text):
        mark = self.server.log_mark()
        self.server.write_config(text, how="rename")
        return self.server.wait_for_log(r"reloaded \(", mark, timeout=10)

    def test_credentials_and_redirect_change_live(self):
        name = self.repo()
        root = self.root_directory
        line = self.reload_with(s3_config(self.s3, root, secret="rotated-away"))
        self.assertIn("storage.s3 credentials", line)
        self.assertNotIn("rotated-away", self.server.log_tail(100000))
        layer = os.urandom(2000)
        response = self.req("POST", f"/v2/{name}/blobs/uploads/?digest={sha256(layer)}", layer)
        self.assert_error(response, 503, "UNAVAILABLE")
        line = self.reload_with(s3_config(self.s3, root, redirect_disable=True))
        self.assertIn("storage.redirect.disable", line)
        digest = self.push_blob(name, layer)
        response = self.req("GET", f"/v2/{name}/blobs/{digest}")
        self.assertEqual((response.status, response.body), (200, layer))
        # Where the bucket is needs a restart: kept, and said so.
        moved = s3_config(self.s3, root).replace(f"bucket: {S3_BUCKET}", "bucket: elsewhere")
        line = self.reload_with(moved)
        self.assertIn("needs restart, kept", line)
        response = self.req("GET", f"/v2/{name}/blobs/{digest}")
        self.assert_status(response, 307)


class CollectAndCheck(S3Case):

    def test_gc_sweeps_the_bucket_and_fsck_checks_it(self):
        kept, dropped = self.repo("kept"), self.repo("dropped")
        image = self.make_image(kept, "v1", layers=2)
        doomed = self.make_image(dropped, "v1", layers=2)
        kept_layers = [l["digest"] for l in json.loads(image.body)["layers"]]
        doomed_layers = [l["digest"] for l in json.loads(doomed.body)["layers"]]
        self.assert_status(self.req("DELETE", f"/v2/{dropped}/manifests/{doomed.digest}"), 202)
        time.sleep(3)  # past the 1 s slack of --grace 0s and the clock probe's rounding

        dry = self.gc("--grace", "0s", "--dry-run", "--json")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        listed = {blob["digest"] for blob in json.loads(dry.stdout)["deleted"]["blobs"]}
        self.assertTrue(set(doomed_layers) <= listed, dry.stdout)
        self.assertFalse(set(kept_layers) & listed)
        for digest in doomed_layers:
            self.assertIsNotNone(self.s3.head(blob_key(digest)))

        real = self.gc("--grace", "0s")
        self.assertEqual(real.returncode, 0, real.stdout + real.stderr)
        keys = {key for key, _ in self.s3.list_keys(BLOBS)}
        for digest in doomed_layers:
            self.assertNotIn(blob_key(digest), keys)
        for digest in kept_layers:
            self.assertIn(blob_key(digest), keys)
        # The scratch object of the clock probe is gone too.
        self.assertEqual([k for k, _ in self.s3.list_keys(PREFIX + "/docker/registry/v2/.cairn")],
                         [])
        response = self.get_manifest(kept, "v1")
        self.assert_status(response, 200)

        check = self.fsck()
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

        # Damage behind cairn's back: fsck sees it.
        victim = kept_layers[0]
        original = self.s3.get_object(blob_key(victim))
        self.s3.put_object(blob_key(victim), b"not the layer")
        check = self.fsck()
        self.assertEqual(check.returncode, 1, check.stdout + check.stderr)
        self.assertIn(victim, check.stdout + check.stderr)
        self.s3.put_object(blob_key(victim), original[:-1] + bytes([original[-1] ^ 1]))
        shallow = self.fsck()
        deep = self.fsck("--deep")
        self.assertEqual(shallow.returncode, 0, shallow.stdout + shallow.stderr)
        self.assertEqual(deep.returncode, 1, deep.stdout + deep.stderr)
        self.assertIn(victim, deep.stdout + deep.stderr)
        self.s3.delete_object(blob_key(victim))
        check = self.fsck()
        self.assertEqual(check.returncode, 1)
        self.assertIn(victim, check.stdout + check.stderr)
        self.s3.put_object(blob_key(victim), original)
        self.assertEqual(self.fsck("--deep").returncode, 0)


class OnlineGcStress(S3Case):
    """test_gc_stress's pushes beside a cairn-gc --grace 0s loop, on the
    bucket (blob bytes checked through cairn: redirects off)."""
    redirect_disable = True
    # The test's s3rver answers a listing that races its own deletions with
    # 500 InternalError now and then; a real S3 asks for a retry the same
    # way, and the default (S3_DEFAULT_ATTEMPTS, 4) is what operators run.
    attempts = 4

    def test_gc_beside_pushes_on_s3(self):
        from test_gc_stress import run_gc_stress
        seconds = float(os.environ.get("CAIRN_GC_STRESS_SECONDS", "12"))
        run_gc_stress(self, self.server, ["--config", str(self.server.config_path)], seconds)


def make_multi_arch_layout(directory, tag):
    """An OCI layout with an index of two images (amd64, arm64), each with a
    config and a gzip layer; the arm64 layer is 7 MiB (multipart in S3).
    Returns {digest: bytes} of every blob."""
    d = Path(directory)
    (d / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    blobs = {}

    def put(data):
        digest = sha256(data)
        (d / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
        blobs[digest] = data
        return digest

    manifests = []
    for architecture, size in (("amd64", 4096), ("arm64", 7 * MEBIBYTE)):
        raw = io.BytesIO()
        content = os.urandom(size)
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
            info = tarfile.TarInfo(f"{architecture}.bin")
            info.size = len(content)
            info.mtime = 1700000000
            archive.addfile(info, io.BytesIO(content))
        tar = raw.getvalue()
        layer = gzip.compress(tar, mtime=0, compresslevel=1)
        config = canonical_json({"architecture": architecture, "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
                                 "config": {}})
        manifest = canonical_json({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": put(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": put(layer), "size": len(layer)}]})
        manifests.append({"mediaType": OCI_MANIFEST, "digest": put(manifest),
                          "size": len(manifest),
                          "platform": {"architecture": architecture, "os": "linux"}})
    index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
    index_digest = put(index)
    (d / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (d / "index.json").write_bytes(canonical_json({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return blobs


class Skopeo(S3Case):

    def test_multi_arch_push_and_pull_byte_identical(self):
        require_tools("skopeo")
        work = Path(tempfile.mkdtemp(prefix="cairn-e2e-s3-skopeo-"))
        blobs = make_multi_arch_layout(work / "source", "v1")
        name = self.repo("multi")
        reference = f"docker://127.0.0.1:{self.server.port}/{name}:v1"
        skopeo("copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
               f"oci:{work / 'source'}:v1", reference)
        skopeo("copy", "--all", "--preserve-digests", "--src-tls-verify=false", reference,
               f"oci:{work / 'pulled'}:v1")
        for digest, data in blobs.items():
            pulled = work / "pulled" / "blobs" / "sha256" / digest.split(":")[1]
            self.assertEqual(pulled.read_bytes(), data, digest)
        in_bucket = {key for key, _ in self.s3.list_keys(BLOBS)}
        layers_and_configs = [d for d, data in blobs.items()
                              if not data.startswith(b'{"mediaType"')
                              and not data.startswith(b'{"manifests"')
                              and b'"schemaVersion"' not in data]
        for digest in layers_and_configs:
            self.assertIn(blob_key(digest), in_bucket)


if __name__ == "__main__":
    unittest.main()
