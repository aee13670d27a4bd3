"""PUT / GET / HEAD / DELETE /v2/<name>/manifests/<reference>."""

import json
import os
import shutil
import threading
import time
import unittest

from cairn_server import (DOCKER_LIST, DOCKER_MANIFEST, EMPTY_JSON, EMPTY_JSON_DIGEST,
                          OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
                          CairnServer, CairnTestCase, canonical_json, media_type_of, sha256)

FOUR_MIB = 4 * 1024 * 1024


class ManifestPushTest(CairnTestCase):

    def assert_push_response(self, r, name, body):
        d = sha256(body)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Location"), f"/v2/{name}/manifests/{d}")
        self.assertEqual(r.header("Docker-Content-Digest"), d)

    def assert_stored(self, name, body, tag=None):
        d = sha256(body)
        self.assertEqual(self.tree.blob_data(d).read_bytes(), body)
        self.assert_link(self.tree.revision_link(name, d), d)
        if tag is not None:
            self.assert_link(self.tree.tag_current_link(name, tag), d)
            self.assert_link(self.tree.tag_index_link(name, tag, d), d)

    def assert_get(self, name, ref, body, media_type):
        d = sha256(body)
        r = self.get_manifest(name, ref)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, body)
        self.assertEqual(media_type_of(r.header("Content-Type")), media_type)
        self.assertEqual(r.header("Docker-Content-Digest"), d)
        self.assertEqual(r.header("Content-Length"), str(len(body)))
        self.assertIn(d, r.header("ETag") or "", r)

    def test_oci_image_manifest_by_tag(self):
        name = self.repo()
        img = self.make_image(name, "v1", layers=2)
        self.assert_push_response(img.response, name, img.body)
        self.assert_stored(name, img.body, tag="v1")
        self.assert_get(name, "v1", img.body, OCI_MANIFEST)
        self.assert_get(name, img.digest, img.body, OCI_MANIFEST)

    def test_oci_image_manifest_by_digest(self):
        name = self.repo()
        img = self.make_image(name)  # pushed by digest
        self.assert_push_response(img.response, name, img.body)
        self.assert_stored(name, img.body)
        tags = self.tree.repo(name) / "_manifests" / "tags"
        self.assertEqual(sorted(tags.iterdir()) if tags.exists() else [], [],
                         "push by digest must not create a tag")
        self.assert_get(name, img.digest, img.body, OCI_MANIFEST)

    def test_manifest_without_layers(self):
        name = self.repo()
        img = self.make_image(name, "nolayers", layers=0)
        self.assert_stored(name, img.body, tag="nolayers")

    def test_oci_index(self):
        name = self.repo()
        a, b = self.make_image(name), self.make_image(name)
        idx = self.make_index(name, [a, b], "multi")
        self.assert_push_response(idx.response, name, idx.body)
        self.assert_stored(name, idx.body, tag="multi")
        self.assert_get(name, "multi", idx.body, OCI_INDEX)

    def test_docker_schema2_manifest(self):
        name = self.repo()
        img = self.make_image(name, "docker", media_type=DOCKER_MANIFEST)
        self.assert_push_response(img.response, name, img.body)
        self.assert_stored(name, img.body, tag="docker")
        self.assert_get(name, "docker", img.body, DOCKER_MANIFEST)

    def test_docker_manifest_list(self):
        name = self.repo()
        a = self.make_image(name, media_type=DOCKER_MANIFEST)
        b = self.make_image(name, media_type=DOCKER_MANIFEST)
        lst = self.make_index(name, [a, b], "list", media_type=DOCKER_LIST)
        self.assert_push_response(lst.response, name, lst.body)
        self.assert_stored(name, lst.body, tag="list")
        self.assert_get(name, "list", lst.body, DOCKER_LIST)

    def test_artifact_manifest(self):
        name = self.repo()
        self.assertEqual(self.push_blob(name, EMPTY_JSON), EMPTY_JSON_DIGEST)
        payload = self.push_blob(name, b"an sbom, say")
        body = canonical_json({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom.v1",
            "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
            "layers": [{"mediaType": "application/vnd.example.sbom.v1+json",
                        "digest": payload, "size": len(b"an sbom, say")}],
        })
        r = self.push_manifest(name, "sbom", body, OCI_MANIFEST)
        self.assert_push_response(r, name, body)
        self.assert_stored(name, body, tag="sbom")
        self.assert_get(name, "sbom", body, OCI_MANIFEST)

    def test_exact_bytes_are_kept(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        # Same manifest, unusual formatting: must be stored and served verbatim.
        body = json.dumps(json.loads(img.body), indent=3).encode() + b"\n"
        r = self.push_manifest(name, "pretty", body, OCI_MANIFEST)
        self.assert_push_response(r, name, body)
        self.assert_get(name, "pretty", body, OCI_MANIFEST)
        self.assert_stored(name, body, tag="pretty")

    def test_head_manifest(self):
        name = self.repo()
        img = self.make_image(name, "head")
        for ref in ("head", img.digest):
            with self.subTest(ref=ref):
                r = self.get_manifest(name, ref, method="HEAD")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, b"")
                self.assertEqual(r.header("Content-Length"), str(img.size))
                self.assertEqual(r.header("Docker-Content-Digest"), img.digest)
                self.assertEqual(media_type_of(r.header("Content-Type")), OCI_MANIFEST)
                self.assertIn(img.digest, r.header("ETag") or "")

    def test_push_same_manifest_twice(self):
        name = self.repo()
        img = self.make_image(name, "twice")
        r = self.push_manifest(name, "twice", img.body, OCI_MANIFEST)
        self.assert_push_response(r, name, img.body)
        self.assert_stored(name, img.body, tag="twice")

    def test_one_manifest_many_tags(self):
        name = self.repo()
        img = self.make_image(name, "t1")
        for t in ("t2", "latest"):
            self.push_manifest(name, t, img.body, OCI_MANIFEST)
        for t in ("t1", "t2", "latest"):
            self.assert_link(self.tree.tag_current_link(name, t), img.digest)
            self.assert_get(name, t, img.body, OCI_MANIFEST)

    def test_nested_repository_name(self):
        name = "org/team/app"
        img = self.make_image(name, "1.0")
        self.assert_push_response(img.response, name, img.body)
        self.assert_stored(name, img.body, tag="1.0")
        self.assert_get(name, "1.0", img.body, OCI_MANIFEST)

    def test_tag_grammar_edges(self):
        name = self.repo()
        img = self.make_image(name)
        for tag in ("_underscore", "A.b-C_9", "x" * 128, "0"):
            with self.subTest(tag=tag):
                r = self.push_manifest(name, tag, img.body, OCI_MANIFEST)
                self.assert_push_response(r, name, img.body)
                self.assert_get(name, tag, img.body, OCI_MANIFEST)

    def test_retag_moves_current_and_keeps_index(self):
        name = self.repo()
        a = self.make_image(name, "moving")
        b = self.make_image(name, "moving")
        self.assert_link(self.tree.tag_current_link(name, "moving"), b.digest)
        self.assert_link(self.tree.tag_index_link(name, "moving", a.digest), a.digest)
        self.assert_link(self.tree.tag_index_link(name, "moving", b.digest), b.digest)
        self.assert_get(name, "moving", b.body, OCI_MANIFEST)
        self.assert_get(name, a.digest, a.body, OCI_MANIFEST)


class TagChangedBehindTheServerTest(CairnTestCase):
    """cairn keeps what it read of a tag's link while one stat() shows the
    link unchanged (src/registry/link_cache.h). A tag moved or removed by
    another process on the same tree (another server, a restore) must be
    seen by the very next GET, on every thread."""

    GETS = 8  # on fresh connections: both of the server's threads answer

    def write_link_behind(self, path, digest):
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(".behind")
        staged.write_text(digest)
        os.replace(staged, path)

    def assert_gets(self, name, ref, body):
        for _ in range(self.GETS):
            r = self.get_manifest(name, ref)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, body)

    def test_tag_moved_and_removed_behind_the_server(self):
        name = self.repo()
        a = self.make_image(name, "moving")
        b = self.make_image(name)  # a revision, no tag
        # Links changed in the last 2 s are not kept; let this one be kept.
        time.sleep(2.2)
        self.assert_gets(name, "moving", a.body)

        self.write_link_behind(self.tree.tag_index_link(name, "moving", b.digest), b.digest)
        self.write_link_behind(self.tree.tag_current_link(name, "moving"), b.digest)
        self.assert_gets(name, "moving", b.body)

        time.sleep(2.2)
        self.assert_gets(name, "moving", b.body)
        self.write_link_behind(self.tree.tag_current_link(name, "moving"), a.digest)
        self.assert_gets(name, "moving", a.body)

        time.sleep(2.2)
        self.assert_gets(name, "moving", a.body)
        shutil.rmtree(self.tree.tag_current_link(name, "moving").parent.parent)
        for _ in range(self.GETS):
            self.assert_error(self.get_manifest(name, "moving"), 404, "MANIFEST_UNKNOWN")

    def test_manifest_deleted_by_another_server(self):
        # A kept tag is answered without looking at its revision again: a
        # DELETE of the revision, by any server, removes the tag first.
        name = self.repo()
        a = self.make_image(name, "gone")
        time.sleep(2.2)
        self.assert_gets(name, "gone", a.body)
        other = CairnServer(root=self.server.root)
        other.start()
        try:
            r = other.request("DELETE", f"/v2/{name}/manifests/{a.digest}")
            self.assertEqual(r.status, 202, r)
        finally:
            other.stop()
            other.cleanup()
        for _ in range(self.GETS):
            self.assert_error(self.get_manifest(name, "gone"), 404, "MANIFEST_UNKNOWN")
            self.assert_error(self.get_manifest(name, a.digest), 404, "MANIFEST_UNKNOWN")

    def test_revision_removed_before_its_tag(self):
        # Distribution's DELETE removes the revision link first and the tags
        # after: a tag naming a missing revision is 404 within a second
        # (LINK_CACHE_TRUST_MILLISECONDS), on every thread.
        name = self.repo()
        a = self.make_image(name, "left")
        time.sleep(2.2)
        self.assert_gets(name, "left", a.body)
        shutil.rmtree(self.tree.revision_link(name, a.digest).parent)
        self.assert_error(self.get_manifest(name, a.digest), 404, "MANIFEST_UNKNOWN")
        time.sleep(1.1)
        for _ in range(self.GETS):
            self.assert_error(self.get_manifest(name, "left"), 404, "MANIFEST_UNKNOWN")


class ManifestReadOffTheLoopTest(CairnTestCase):
    """The bytes of a manifest not in the cache are read on a worker, never
    on the event loop: a slow store (a cold disk, a bucket) must not stall
    the loop's other clients. The manifest's blob is made a FIFO, whose open
    blocks until a writer comes: with one loop thread, /v2/ must still
    answer while that GET waits."""

    @classmethod
    def make_server(cls):
        return CairnServer(threads=1)

    def test_slow_manifest_read_does_not_stall_the_loop(self):
        name = self.repo()
        img = self.make_image(name, "v1")
        data = self.tree.blob_data(img.digest)
        data.unlink()
        os.mkfifo(data)
        self.addCleanup(lambda: data.unlink() if data.is_fifo() else None)
        answers = []
        waiting = threading.Thread(
            target=lambda: answers.append(self.get_manifest(name, "v1")), daemon=True)
        waiting.start()
        time.sleep(0.3)  # the GET is in: its read waits on the FIFO
        for _ in range(3):
            started = time.monotonic()
            r = self.req("GET", "/v2/", timeout=5)
            self.assertEqual(r.status, 200, r)
            self.assertLess(time.monotonic() - started, 2.0, "the loop waited for the read")
        self.assertEqual(answers, [], "the GET did not wait for its bytes")
        # A writer lets the open return; the read then finds a FIFO, not a
        # blob (an error answer, at once or after our bytes): either way the
        # waiting GET gets its answer.
        writer = os.open(data, os.O_WRONLY)
        try:
            os.write(writer, img.body)
        except BrokenPipeError:
            pass  # the reader was done already
        os.close(writer)
        waiting.join(10)
        self.assertEqual(len(answers), 1, "the waiting GET got no answer")


class ManifestGetErrorsTest(CairnTestCase):

    def test_unknown_tag(self):
        name = self.repo()
        self.make_image(name, "exists")
        self.assert_error(self.get_manifest(name, "missing"), 404, "MANIFEST_UNKNOWN")
        r = self.get_manifest(name, "missing", method="HEAD")
        self.assertEqual(r.status, 404, r)

    def test_unknown_digest(self):
        name = self.repo()
        self.make_image(name, "exists")
        d = sha256(b"no such manifest")
        self.assert_error(self.get_manifest(name, d), 404, "MANIFEST_UNKNOWN")
        r = self.get_manifest(name, d, method="HEAD")
        self.assertEqual(r.status, 404, r)

    def test_unknown_repository(self):
        self.assert_error(self.get_manifest(self.repo(), "latest"), 404, "NAME_UNKNOWN")

    def test_repository_with_blobs_but_no_manifests(self):
        name = self.repo()
        self.push_blob(name, b"a blob, no manifest")
        self.assert_error(self.get_manifest(name, "latest"), 404, "NAME_UNKNOWN")

    def test_manifest_of_other_repository_is_unknown(self):
        img = self.make_image(self.repo("a"), "v1")
        self.make_image(self.repo("b"), "v1")
        self.assert_error(self.get_manifest(self.repo("b"), img.digest), 404,
                          "MANIFEST_UNKNOWN")

    # References no grammar accepts: the conformance suite's own, tags of each
    # invalid length (the router keeps at most 255 bytes of one), a lone ':'.
    INVALID_REFERENCES = ("-leading-dash", ".leading-dot", ".INVALID_MANIFEST_NAME",
                          "x" * 129, "x" * 255, "x" * 256, "x" * 300, "x" * 5000, "x" * 10000)

    def test_invalid_reference_in_url_on_get(self):
        """A reference that is neither a tag nor a digest names no manifest:
        404 MANIFEST_UNKNOWN, as the OCI conformance suite expects."""
        name = self.repo()
        self.make_image(name, "exists")
        for ref in self.INVALID_REFERENCES:
            with self.subTest(ref=ref[:40], length=len(ref)):
                self.assert_error(self.get_manifest(name, ref), 404, "MANIFEST_UNKNOWN")
                r = self.get_manifest(name, ref, method="HEAD")
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.body, b"")

    def test_invalid_digest_reference_on_get(self):
        name = self.repo()
        self.make_image(name, "exists")
        for ref in ("sha256:nothex", "sha256:" + "a" * 63, "md5:" + "0" * 32,
                    "sha256:" + "a" * 300):
            with self.subTest(ref=ref[:40], length=len(ref)):
                self.assert_error(self.get_manifest(name, ref), 404, "MANIFEST_UNKNOWN")
                r = self.get_manifest(name, ref, method="HEAD")
                self.assertEqual(r.status, 404, r)

    def test_invalid_reference_in_unknown_repository(self):
        """As for a valid reference there: the repository is what is unknown."""
        for ref in (".INVALID_MANIFEST_NAME", "x" * 300):
            with self.subTest(length=len(ref)):
                self.assert_error(self.get_manifest(self.repo(), ref), 404, "NAME_UNKNOWN")


class ManifestRejectTest(CairnTestCase):

    def assert_rejected(self, r, name, body, status, *codes, tag=None):
        self.assert_error(r, status, *codes)
        self.assert_no_path(self.tree.revision_link(name, sha256(body)))
        if tag is not None:
            self.assert_no_path(self.tree.tag_dir(name, tag))
        self.assert_tree_clean()

    def test_missing_config_blob(self):
        name = self.repo()
        self.push_blob(name, b"repo exists")
        img = self.make_image(name, push=False, push_blobs=False, layers=0)
        r = self.put_manifest(name, "t", img.body, OCI_MANIFEST)
        self.assert_rejected(r, name, img.body, 400, "MANIFEST_BLOB_UNKNOWN", tag="t")

    def test_missing_layer_blob(self):
        name = self.repo()
        img = self.make_image(name, push=False, push_blobs=False, layers=1)
        self.push_blob(name, img.config)  # config present, layer missing
        r = self.put_manifest(name, "t", img.body, OCI_MANIFEST)
        self.assert_rejected(r, name, img.body, 400, "MANIFEST_BLOB_UNKNOWN", tag="t")

    def test_blobs_only_in_other_repository(self):
        img = self.make_image(self.repo("a"), push=False, layers=1)  # blobs pushed to a
        name = self.repo("b")
        self.push_blob(name, b"b exists")
        r = self.put_manifest(name, "t", img.body, OCI_MANIFEST)
        self.assert_rejected(r, name, img.body, 400, "MANIFEST_BLOB_UNKNOWN", tag="t")

    def test_docker_manifest_missing_layer(self):
        name = self.repo()
        img = self.make_image(name, push=False, push_blobs=False, media_type=DOCKER_MANIFEST)
        self.push_blob(name, img.config)
        r = self.put_manifest(name, "t", img.body, DOCKER_MANIFEST)
        self.assert_rejected(r, name, img.body, 400, "MANIFEST_BLOB_UNKNOWN", tag="t")

    def test_index_with_unknown_child(self):
        name = self.repo()
        a = self.make_image(name)
        b = self.make_image(name, push=False)  # blobs pushed, manifest not
        idx = self.make_index(name, [a, b], push=False)
        r = self.put_manifest(name, "t", idx.body, OCI_INDEX)
        self.assert_rejected(r, name, idx.body, 400, "MANIFEST_BLOB_UNKNOWN", tag="t")

    def test_index_with_child_only_in_other_repository(self):
        other = self.make_image(self.repo("a"))
        name = self.repo("b")
        mine = self.make_image(name)
        idx = self.make_index(name, [mine, other], push=False)
        r = self.put_manifest(name, "t", idx.body, OCI_INDEX)
        self.assert_rejected(r, name, idx.body, 400, "MANIFEST_BLOB_UNKNOWN", tag="t")

    def test_manifest_list_with_unknown_child(self):
        name = self.repo()
        a = self.make_image(name, media_type=DOCKER_MANIFEST, push=False)
        lst = self.make_index(name, [a], media_type=DOCKER_LIST, push=False)
        r = self.put_manifest(name, "t", lst.body, DOCKER_LIST)
        self.assert_rejected(r, name, lst.body, 400, "MANIFEST_BLOB_UNKNOWN", tag="t")

    def test_invalid_json(self):
        name = self.repo()
        self.push_blob(name, b"repo exists")
        for body in (b"", b"not json", b"{", b"[]", b'"string"', b"\xff\xfe{}",
                     b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'",'):
            with self.subTest(body=body):
                r = self.put_manifest(name, "t", body, OCI_MANIFEST)
                self.assert_rejected(r, name, body, 400, "MANIFEST_INVALID", tag="t")

    def test_duplicate_keys(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        body = b'{"schemaVersion":2,' + img.body[1:]  # schemaVersion appears twice
        self.assertEqual(body.count(b'"schemaVersion"'), 2)
        r = self.put_manifest(name, "t", body, OCI_MANIFEST)
        self.assert_rejected(r, name, body, 400, "MANIFEST_INVALID", tag="t")

    def test_nested_duplicate_keys(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        m = json.loads(img.body)
        cfg = canonical_json(m["config"])
        dup_cfg = cfg[:-1] + b',"size":' + str(m["config"]["size"]).encode() + b"}"
        body = img.body.replace(cfg, dup_cfg)
        self.assertNotEqual(body, img.body)
        r = self.put_manifest(name, "t", body, OCI_MANIFEST)
        self.assert_rejected(r, name, body, 400, "MANIFEST_INVALID", tag="t")

    def test_trailing_garbage(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        for tail in (b"x", b"{}", b"\n}"):
            body = img.body + tail
            with self.subTest(tail=tail):
                r = self.put_manifest(name, "t", body, OCI_MANIFEST)
                self.assert_rejected(r, name, body, 400, "MANIFEST_INVALID", tag="t")

    def test_schema_version_not_2(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        for v in (1, 3, "2", None):
            m = json.loads(img.body)
            if v is None:
                del m["schemaVersion"]
            else:
                m["schemaVersion"] = v
            body = canonical_json(m)
            with self.subTest(schemaVersion=v):
                r = self.put_manifest(name, "t", body, OCI_MANIFEST)
                self.assert_rejected(r, name, body, 400, "MANIFEST_INVALID", tag="t")

    def test_media_type_differs_from_content_type(self):
        name = self.repo()
        img = self.make_image(name, push=False)  # body says OCI manifest
        for ct in (DOCKER_MANIFEST, OCI_INDEX):
            with self.subTest(content_type=ct):
                r = self.put_manifest(name, "t", img.body, ct)
                self.assert_rejected(r, name, img.body, 400, "MANIFEST_INVALID", tag="t")

    def test_media_type_absent_and_content_type_not_the_inferred_one(self):
        # A fuzzer's find (issue 11): a body without mediaType is served with
        # the type inferred from it (an index when it has "manifests", else an
        # OCI image), so a PUT whose Content-Type says otherwise (a Docker
        # manifest or list, an OCI index without "manifests") would be served
        # as a type it was not pushed as. It is refused, as Distribution
        # refuses Docker manifests without their mediaType.
        name = self.repo()
        img = self.make_image(name, push=False, media_type=DOCKER_MANIFEST)
        m = json.loads(img.body)
        del m["mediaType"]
        body = canonical_json(m)
        for ct in (DOCKER_MANIFEST, OCI_INDEX):
            with self.subTest(content_type=ct):
                r = self.put_manifest(name, "t", body, ct)
                self.assert_rejected(r, name, body, 400, "MANIFEST_INVALID", tag="t")

    def test_media_type_absent_and_content_type_the_inferred_one(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        m = json.loads(img.body)
        del m["mediaType"]
        body = canonical_json(m)
        r = self.put_manifest(name, "t", body, OCI_MANIFEST)
        self.assertEqual(r.status, 201, r)
        r = self.req("GET", f"/v2/{name}/manifests/t")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, body)
        self.assertEqual(r.header("Content-Type"), OCI_MANIFEST)

    def test_put_by_digest_that_does_not_match(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        wrong = sha256(b"not this manifest")
        r = self.put_manifest(name, wrong, img.body, OCI_MANIFEST)
        self.assert_rejected(r, name, img.body, 400, "DIGEST_INVALID")
        self.assert_no_path(self.tree.revision_link(name, wrong))
        self.assert_no_path(self.tree.blob_data(wrong))

    def test_manifest_too_large(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        m = json.loads(img.body)
        m["annotations"] = {"padding": "p" * FOUR_MIB}
        body = canonical_json(m)
        self.assertGreater(len(body), FOUR_MIB)
        r = self.put_manifest(name, "t", body, OCI_MANIFEST)
        self.assert_rejected(r, name, body, (400, 413), "MANIFEST_INVALID", "SIZE_INVALID",
                             tag="t")

    def test_invalid_reference_in_url_on_put(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        for ref in ("-leading-dash", ".leading-dot", ".INVALID_MANIFEST_NAME", "x" * 129,
                    "x" * 255, "x" * 256, "x" * 300, "x" * 5000, "x" * 10000):
            with self.subTest(ref=ref[:40], length=len(ref)):
                r = self.put_manifest(name, ref, img.body, OCI_MANIFEST)
                self.assert_error(r, 400, "TAG_INVALID")
                self.assert_no_path(self.tree.revision_link(name, img.digest))

    def test_invalid_digest_reference_on_put(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        for ref in ("sha256:nothex", "sha256:" + "a" * 300):
            with self.subTest(length=len(ref)):
                r = self.put_manifest(name, ref, img.body, OCI_MANIFEST)
                self.assert_error(r, 400, "DIGEST_INVALID")
                self.assert_no_path(self.tree.revision_link(name, img.digest))

    def test_config_descriptor_with_invalid_digest(self):
        name = self.repo()
        self.push_blob(name, b"repo exists")
        body = canonical_json({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": "sha256:nothex", "size": 2},
            "layers": []})
        r = self.put_manifest(name, "t", body, OCI_MANIFEST)
        self.assert_rejected(r, name, body, 400, "MANIFEST_INVALID", "DIGEST_INVALID",
                             "MANIFEST_BLOB_UNKNOWN", tag="t")

    def test_layer_size_mismatch_does_not_break_anything(self):
        # A descriptor whose size disagrees with the blob: Distribution rejects
        # it; accept any 400 with a manifest-related code, or acceptance.
        name = self.repo()
        data = b"sized blob"
        d = self.push_blob(name, data)
        cfg = self.push_blob(name, b"{}")
        body = canonical_json({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_EMPTY, "digest": cfg, "size": 2},
            "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": len(data) + 1}]})
        r = self.put_manifest(name, "t", body, OCI_MANIFEST)
        if r.status == 201:
            self.assert_tree_clean()
        else:
            self.assert_rejected(r, name, body, 400, "MANIFEST_INVALID", "SIZE_INVALID",
                                 "MANIFEST_BLOB_UNKNOWN", tag="t")


class ManifestDeleteTest(CairnTestCase):

    def test_delete_by_digest_removes_revision_and_tags(self):
        name = self.repo()
        img = self.make_image(name, "a")
        self.push_manifest(name, "b", img.body, OCI_MANIFEST)
        other = self.make_image(name, "c")
        r = self.req("DELETE", f"/v2/{name}/manifests/{img.digest}")
        self.assertEqual(r.status, 202, r)
        self.assert_no_path(self.tree.revision_link(name, img.digest))
        self.assert_no_path(self.tree.tag_dir(name, "a"))
        self.assert_no_path(self.tree.tag_dir(name, "b"))
        self.assert_error(self.get_manifest(name, img.digest), 404, "MANIFEST_UNKNOWN")
        self.assert_error(self.get_manifest(name, "a"), 404, "MANIFEST_UNKNOWN")
        self.assert_error(self.get_manifest(name, "b"), 404, "MANIFEST_UNKNOWN")
        # The other tag is untouched.
        self.assert_link(self.tree.tag_current_link(name, "c"), other.digest)
        r = self.get_manifest(name, "c")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, other.body)
        tags = self.req("GET", f"/v2/{name}/tags/list").json()["tags"]
        self.assertEqual(tags, ["c"])

    def test_delete_by_digest_leaves_tag_that_moved_on(self):
        name = self.repo()
        a = self.make_image(name, "moving")
        b = self.make_image(name, "moving")
        r = self.req("DELETE", f"/v2/{name}/manifests/{a.digest}")
        self.assertEqual(r.status, 202, r)
        self.assert_link(self.tree.tag_current_link(name, "moving"), b.digest)
        self.assertEqual(self.get_manifest(name, "moving").body, b.body)

    def test_delete_by_tag(self):
        name = self.repo()
        img = self.make_image(name, "gone")
        self.push_manifest(name, "stays", img.body, OCI_MANIFEST)
        r = self.req("DELETE", f"/v2/{name}/manifests/gone")
        self.assertEqual(r.status, 202, r)
        self.assert_no_path(self.tree.tag_dir(name, "gone"))
        self.assert_error(self.get_manifest(name, "gone"), 404, "MANIFEST_UNKNOWN")
        self.assert_link(self.tree.revision_link(name, img.digest), img.digest)
        r = self.get_manifest(name, img.digest)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, img.body)
        self.assertEqual(self.get_manifest(name, "stays").status, 200)

    def test_delete_unknown_digest(self):
        name = self.repo()
        self.make_image(name, "x")
        r = self.req("DELETE", f"/v2/{name}/manifests/{sha256(b'nothing')}")
        self.assert_error(r, 404, "MANIFEST_UNKNOWN")

    def test_delete_unknown_tag(self):
        name = self.repo()
        self.make_image(name, "x")
        r = self.req("DELETE", f"/v2/{name}/manifests/nosuchtag")
        self.assert_error(r, 404, "MANIFEST_UNKNOWN")

    def test_delete_invalid_reference(self):
        """Nothing can be named by it: 404 as for GET, and nothing is removed."""
        name = self.repo()
        img = self.make_image(name, "x")
        for ref in (".INVALID_MANIFEST_NAME", "x" * 129, "x" * 300, "sha256:nothex",
                    "sha256:" + "a" * 300):
            with self.subTest(ref=ref[:40], length=len(ref)):
                r = self.req("DELETE", f"/v2/{name}/manifests/{ref}")
                self.assert_error(r, 404, "MANIFEST_UNKNOWN")
        self.assert_link(self.tree.tag_current_link(name, "x"), img.digest)
        self.assert_link(self.tree.revision_link(name, img.digest), img.digest)

    def test_delete_twice(self):
        name = self.repo()
        img = self.make_image(name, "x")
        self.assertEqual(self.req("DELETE", f"/v2/{name}/manifests/{img.digest}").status, 202)
        r = self.req("DELETE", f"/v2/{name}/manifests/{img.digest}")
        self.assert_error(r, 404, "MANIFEST_UNKNOWN")

    def test_push_again_after_delete(self):
        name = self.repo()
        img = self.make_image(name, "again")
        self.assertEqual(self.req("DELETE", f"/v2/{name}/manifests/{img.digest}").status, 202)
        r = self.push_manifest(name, "again", img.body, OCI_MANIFEST)
        self.assertEqual(r.header("Docker-Content-Digest"), img.digest)
        self.assertEqual(self.get_manifest(name, "again").body, img.body)

    def test_blob_delete_does_not_touch_manifest(self):
        name = self.repo()
        img = self.make_image(name, "keep")
        r = self.req("DELETE", f"/v2/{name}/blobs/{sha256(img.layers[0])}")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(self.get_manifest(name, "keep").body, img.body)



class ManifestDeleteDisabledTest(CairnTestCase):
    """storage.delete.enabled: false refuses every DELETE first, invalid
    references too (405 UNSUPPORTED, as the spec allows for disabled deletes)."""

    @classmethod
    def make_server(cls):
        return CairnServer(config="storage:\n  delete:\n    enabled: false\n")

    def test_delete_refused_whatever_the_reference(self):
        name = self.repo()
        img = self.make_image(name, "x")
        for ref in ("x", img.digest, ".INVALID_MANIFEST_NAME", "x" * 300):
            with self.subTest(length=len(ref)):
                r = self.req("DELETE", f"/v2/{name}/manifests/{ref}")
                self.assert_error(r, 405, "UNSUPPORTED")
        self.assert_link(self.tree.tag_current_link(name, "x"), img.digest)


if __name__ == "__main__":
    unittest.main()
