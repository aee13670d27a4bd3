"""The files cairn leaves in the tree: exact layout, no temp files after
failures, no dangling links, survives a restart, serves a hand-made tree."""

import json
import os
import random
import re
import unittest
from pathlib import Path

from cairn_server import (OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, CairnServer,
                          CairnTestCase, Tree, canonical_json, helpers_for,
                          sha256)

MiB = 1024 * 1024


class TreeLayoutTest(CairnTestCase):

    def test_link_files_are_exact(self):
        name = self.repo()
        img = self.make_image(name, "v1", layers=2)
        links = [self.tree.layer_link(name, sha256(img.config)),
                 *(self.tree.layer_link(name, sha256(b)) for b in img.layers),
                 self.tree.revision_link(name, img.digest),
                 self.tree.tag_current_link(name, "v1"),
                 self.tree.tag_index_link(name, "v1", img.digest)]
        for p in links:
            with self.subTest(link=str(p)):
                raw = p.read_bytes()
                self.assertRegex(raw.decode(), r"^sha256:[0-9a-f]{64}$")
                self.assertFalse(raw.endswith(b"\n"))
        self.assertEqual(self.tree.tag_current_link(name, "v1").read_bytes(),
                         img.digest.encode())

    def test_blob_path(self):
        name = self.repo()
        data = b"where does it go"
        d = self.push_blob(name, data)
        hx = d.split(":")[1]
        p = self.tree.t / "blobs" / "sha256" / hx[:2] / hx / "data"
        self.assertEqual(p.read_bytes(), data)

    def test_manifest_is_a_blob(self):
        name = self.repo()
        img = self.make_image(name, "m")
        self.assertEqual(self.tree.blob_data(img.digest).read_bytes(), img.body)

    def test_no_upload_left_after_pushes(self):
        name = self.repo()
        self.push_blob(name, b"mono")
        self.push_blob_chunked(name, [b"a", b"b"], final=b"c")
        uploads = self.tree.repo(name) / "_uploads"
        left = sorted(os.listdir(uploads)) if uploads.exists() else []
        self.assertEqual(left, [])

    def test_tree_clean_after_successful_pushes(self):
        name = self.repo()
        a = self.make_image(name, "a", layers=3)
        b = self.make_image(name, "b")
        self.make_index(name, [a, b], "idx")
        self.assert_tree_clean()


class FailedRequestsLeaveNoTraceTest(CairnTestCase):
    """Each failure, then the tree invariants: no .cairn-tmp-*, no link to a
    missing blob, links well-formed."""

    def tearDown(self):
        self.assert_tree_clean()

    def test_monolithic_wrong_digest(self):
        name = self.repo()
        claimed = sha256(b"claimed")
        r = self.req("POST", f"/v2/{name}/blobs/uploads/?digest={claimed}", body=b"actual",
                     headers={"Content-Type": "application/octet-stream"})
        self.assert_error(r, 400, "DIGEST_INVALID")
        self.assert_no_path(self.tree.blob_data(claimed))
        self.assert_no_path(self.tree.blob_data(sha256(b"actual")))

    def test_large_monolithic_wrong_digest(self):
        name = self.repo()
        data = random.Random(7).randbytes(20 * MiB)
        claimed = sha256(b"claimed")
        r = self.req("POST", f"/v2/{name}/blobs/uploads/?digest={claimed}", body=data,
                     headers={"Content-Type": "application/octet-stream"})
        self.assert_error(r, 400, "DIGEST_INVALID")
        self.assert_no_path(self.tree.blob_data(sha256(data)))

    def test_chunked_wrong_digest(self):
        name = self.repo()
        loc = self.start_upload(name)
        r = self.patch(loc, b"x" * 1000)
        self.assertEqual(r.status, 202, r)
        wrong = sha256(b"y" * 1000)
        r = self.put_upload(r.header("Location"), wrong, b"tail")
        self.assert_error(r, 400, "DIGEST_INVALID")
        self.assert_no_path(self.tree.blob_data(wrong))
        self.assert_no_path(self.tree.layer_link(name, wrong))

    def test_out_of_order_chunk(self):
        name = self.repo()
        loc = self.start_upload(name)
        r = self.patch(loc, b"abc", content_range="5-7")
        self.assertEqual(r.status, 416, r)

    def test_invalid_manifests(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        bodies = [b"{", img.body + b"garbage", b'{"schemaVersion":1}',
                  b'{"schemaVersion":2,' + img.body[1:]]
        for body in bodies:
            r = self.put_manifest(name, "t", body, OCI_MANIFEST)
            self.assert_error(r, 400, "MANIFEST_INVALID")
            self.assert_no_path(self.tree.revision_link(name, sha256(body)))
        self.assert_no_path(self.tree.tag_dir(name, "t"))

    def test_manifest_with_missing_blobs(self):
        name = self.repo()
        self.push_blob(name, b"exists")
        img = self.make_image(name, push=False, push_blobs=False)
        r = self.put_manifest(name, "t", img.body, OCI_MANIFEST)
        self.assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
        self.assert_no_path(self.tree.blob_data(img.digest))
        self.assert_no_path(self.tree.revision_link(name, img.digest))
        self.assert_no_path(self.tree.tag_dir(name, "t"))

    def test_manifest_digest_mismatch(self):
        name = self.repo()
        img = self.make_image(name, push=False)
        r = self.put_manifest(name, sha256(b"other"), img.body, OCI_MANIFEST)
        self.assert_error(r, 400, "DIGEST_INVALID")
        self.assert_no_path(self.tree.revision_link(name, img.digest))

    def test_cancelled_upload(self):
        name = self.repo()
        loc = self.start_upload(name)
        self.patch(loc, b"z" * 5000)
        self.assertEqual(self.req("DELETE", loc).status, 204)

    def test_deletes(self):
        name = self.repo()
        a = self.make_image(name, "a")
        b = self.make_image(name, "b")
        self.assertEqual(self.req("DELETE", f"/v2/{name}/manifests/{a.digest}").status, 202)
        self.assertEqual(self.req("DELETE", f"/v2/{name}/manifests/b").status, 202)
        self.assertEqual(self.req("DELETE", f"/v2/{name}/blobs/{sha256(b.config)}").status,
                         202)


class RestartTest(unittest.TestCase):
    """State lives in the tree only: a new server on the same root serves it."""

    def test_restart_serves_same_data(self):
        first = CairnServer()
        root = first.root
        try:
            first.start()
            helper = helpers_for(first)
            img = helper.make_image("persist/me", "v1", layers=2)
            loc = helper.start_upload("persist/me")
            r = helper.patch(loc, b"half")
            self.assertEqual(r.status, 202, r)
            loc = r.header("Location")
            first.stop()
            self.assertEqual(first.tree.problems(), [])

            second = CairnServer(root=root)
            try:
                second.start()
                helper = helpers_for(second)
                r = helper.get_manifest("persist/me", "v1")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, img.body)
                for b in img.layers:
                    r = helper.get_blob("persist/me", sha256(b))
                    self.assertEqual(r.body, b)
                r = second.request("GET", "/v2/persist/me/tags/list")
                self.assertEqual(r.json(), {"name": "persist/me", "tags": ["v1"]})
                # The unfinished upload resumes where it stopped.
                r = second.request("GET", loc)
                self.assertEqual(r.status, 204, r)
                self.assertEqual(r.header("Range"), "0-3")
                r = helper.patch(loc, b"-and-half")
                self.assertEqual(r.status, 202, r)
                r = helper.put_upload(r.header("Location"), sha256(b"half-and-half"))
                self.assertEqual(r.status, 201, r)
                second.stop()
            finally:
                second.cleanup()
        finally:
            first.cleanup()


class ForeignTreeTest(unittest.TestCase):
    """A tree written the way registry:2 writes it is served as is."""

    def write(self, path, data):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def test_serves_hand_made_tree(self):
        server = CairnServer()
        t = server.tree
        name = "library/handmade"
        config = canonical_json({"architecture": "amd64", "os": "linux"})
        layer = b"hand made layer" * 100
        manifest = canonical_json({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}]})
        md = sha256(manifest)
        for data in (config, layer, manifest):
            self.write(t.blob_data(sha256(data)), data)
        for data in (config, layer):
            self.write(t.layer_link(name, sha256(data)), sha256(data).encode())
        self.write(t.revision_link(name, md), md.encode())
        self.write(t.tag_current_link(name, "latest"), md.encode())
        self.write(t.tag_index_link(name, "latest", md), md.encode())
        try:
            server.start()
            r = server.request("GET", f"/v2/{name}/manifests/latest",
                               headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, manifest)
            self.assertEqual(r.header("Docker-Content-Digest"), md)
            r = server.request("GET", f"/v2/{name}/blobs/{sha256(layer)}")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, layer)
            r = server.request("GET", f"/v2/{name}/tags/list")
            self.assertEqual(json.loads(r.body), {"name": name, "tags": ["latest"]})
            r = server.request("GET", "/v2/_catalog")
            self.assertEqual(json.loads(r.body), {"repositories": [name]})
            server.stop()
        finally:
            server.cleanup()


class TempFileNameTest(unittest.TestCase):

    def test_tmp_prefix_is_detected(self):
        # Self-test of the invariant checker used above.
        import tempfile
        root = Path(tempfile.mkdtemp(prefix="cairn-e2e-selftest-"))
        try:
            tree = Tree(root)
            (tree.t / "blobs").mkdir(parents=True)
            (tree.t / "blobs" / ".cairn-tmp-123").write_bytes(b"x")
            link = tree.layer_link("r", sha256(b"missing"))
            link.parent.mkdir(parents=True)
            link.write_bytes(sha256(b"missing").encode() + b"\n")
            problems = tree.problems()
            self.assertEqual(len(problems), 2, problems)
            self.assertTrue(any(".cairn-tmp-" in p for p in problems))
            self.assertTrue(any(re.search("malformed link", p) for p in problems))
        finally:
            import shutil
            shutil.rmtree(root)


if __name__ == "__main__":
    unittest.main()
