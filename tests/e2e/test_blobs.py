"""GET / HEAD / DELETE /v2/<name>/blobs/<digest>, ranges, conditional GET."""

import unittest

from cairn_server import CairnTestCase, media_type_of, raw_exchange, sha256, sha512

DATA = bytes(range(256)) * 4  # 1024 bytes


class BlobGetTest(CairnTestCase):

    def assert_blob_headers(self, r, digest, size):
        self.assertEqual(r.header("Content-Length"), str(size), r)
        self.assertEqual(r.header("Docker-Content-Digest"), digest, r)
        self.assertEqual(r.header("ETag"), f'"{digest}"', r)
        self.assertEqual(media_type_of(r.header("Content-Type")), "application/octet-stream", r)
        self.assertEqual(r.header("Accept-Ranges"), "bytes", r)

    def test_get_blob(self):
        name = self.repo()
        d = self.push_blob(name, DATA)
        r = self.get_blob(name, d)
        self.assertEqual(r.status, 200, r)
        self.assert_blob_headers(r, d, len(DATA))
        self.assertEqual(r.body, DATA)

    def test_head_blob(self):
        name = self.repo()
        d = self.push_blob(name, DATA)
        r = self.req("HEAD", f"/v2/{name}/blobs/{d}")
        self.assertEqual(r.status, 200, r)
        self.assert_blob_headers(r, d, len(DATA))

    def test_head_blob_sends_no_body(self):
        name = self.repo()
        d = self.push_blob(name, DATA)
        head, body = raw_exchange(
            self.server.port,
            f"HEAD /v2/{name}/blobs/{d} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Connection: close\r\n\r\n".encode())
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertIn("content-length: 1024", head.lower())
        self.assertEqual(body, b"")

    def test_get_sha512_blob(self):
        name = self.repo()
        d = self.push_blob(name, DATA, alg="sha512")
        self.assertEqual(d, sha512(DATA))
        r = self.get_blob(name, d)
        self.assertEqual(r.status, 200, r)
        self.assert_blob_headers(r, d, len(DATA))
        self.assertEqual(r.body, DATA)

    def test_get_empty_blob(self):
        name = self.repo()
        d = self.push_blob(name, b"")
        r = self.get_blob(name, d)
        self.assertEqual(r.status, 200, r)
        self.assert_blob_headers(r, d, 0)
        self.assertEqual(r.body, b"")

    def test_unknown_blob(self):
        name = self.repo()
        self.push_blob(name, b"something else")
        r = self.get_blob(name, sha256(b"never pushed"))
        self.assert_error(r, 404, "BLOB_UNKNOWN")

    def test_unknown_blob_in_unknown_repo(self):
        r = self.get_blob(self.repo("nope"), sha256(b"never pushed"))
        self.assert_error(r, 404, "BLOB_UNKNOWN")

    def test_head_unknown_blob(self):
        r = self.req("HEAD", f"/v2/{self.repo()}/blobs/{sha256(b'never pushed')}")
        self.assertEqual(r.status, 404, r)

    def test_blob_linked_only_in_other_repo_is_unknown(self):
        data = b"only in repo a"
        d = self.push_blob(self.repo("a"), data)
        self.push_blob(self.repo("b"), b"something in b")
        r = self.get_blob(self.repo("b"), d)
        self.assert_error(r, 404, "BLOB_UNKNOWN")
        r = self.req("HEAD", f"/v2/{self.repo('b')}/blobs/{d}")
        self.assertEqual(r.status, 404, r)

    def test_invalid_digests(self):
        name = self.repo()
        self.push_blob(name, DATA)
        for bad in ("sha256:xyz",
                    "sha256:" + "a" * 63,
                    "sha256:" + "a" * 65,
                    "sha256:" + "A" * 64,
                    "sha256:" + "g" * 64,
                    "sha256",
                    "sha256:",
                    "sha512:" + "a" * 64,
                    "nocolon" + "a" * 64):
            with self.subTest(digest=bad):
                r = self.get_blob(name, bad)
                self.assert_error(r, 400, "DIGEST_INVALID")


class BlobRangeTest(CairnTestCase):

    def setUp(self):
        self.name = "ranges"
        self.digest = self.push_blob(self.name, DATA)

    def get_range(self, spec):
        return self.get_blob(self.name, self.digest, headers={"Range": spec})

    def assert_partial(self, r, start, end):
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), f"bytes {start}-{end}/{len(DATA)}", r)
        self.assertEqual(r.body, DATA[start:end + 1])
        self.assertEqual(r.header("Content-Length"), str(end - start + 1), r)

    def test_closed_range(self):
        self.assert_partial(self.get_range("bytes=10-19"), 10, 19)

    def test_single_byte_range(self):
        self.assert_partial(self.get_range("bytes=0-0"), 0, 0)

    def test_last_byte_range(self):
        self.assert_partial(self.get_range("bytes=1023-1023"), 1023, 1023)

    def test_open_range(self):
        self.assert_partial(self.get_range("bytes=1000-"), 1000, 1023)

    def test_open_range_from_zero(self):
        self.assert_partial(self.get_range("bytes=0-"), 0, 1023)

    def test_suffix_range(self):
        self.assert_partial(self.get_range("bytes=-24"), 1000, 1023)

    def test_range_end_past_size_is_clamped(self):
        # RFC 7233 section 2.1: a last-byte-pos past the end means "to the end".
        self.assert_partial(self.get_range("bytes=1000-5000"), 1000, 1023)

    def test_unsatisfiable_range_at_size(self):
        r = self.get_range("bytes=1024-")
        self.assertEqual(r.status, 416, r)
        self.assertEqual(r.header("Content-Range"), f"bytes */{len(DATA)}", r)

    def test_unsatisfiable_range_past_size(self):
        r = self.get_range("bytes=5000-6000")
        self.assertEqual(r.status, 416, r)
        self.assertEqual(r.header("Content-Range"), f"bytes */{len(DATA)}", r)

    def test_large_blob_range(self):
        data = bytes((i * 7) % 251 for i in range(3 * 1024 * 1024))
        d = self.push_blob(self.name, data)
        start, end = 2 * 1024 * 1024 - 5, 2 * 1024 * 1024 + 99
        r = self.get_blob(self.name, d, headers={"Range": f"bytes={start}-{end}"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), f"bytes {start}-{end}/{len(data)}")
        self.assertEqual(r.body, data[start:end + 1])


class BlobConditionalTest(CairnTestCase):

    def test_if_none_match_same_digest(self):
        name = self.repo()
        d = self.push_blob(name, DATA)
        r = self.get_blob(name, d, headers={"If-None-Match": f'"{d}"'})
        self.assertEqual(r.status, 304, r)
        self.assertEqual(r.body, b"")

    def test_if_none_match_other_etag(self):
        name = self.repo()
        d = self.push_blob(name, DATA)
        r = self.get_blob(name, d, headers={"If-None-Match": f'"{sha256(b"other")}"'})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, DATA)


class BlobDeleteTest(CairnTestCase):

    def test_delete_blob_removes_only_the_link(self):
        name = self.repo()
        data = b"delete me"
        d = self.push_blob(name, data)
        r = self.req("DELETE", f"/v2/{name}/blobs/{d}")
        self.assertEqual(r.status, 202, r)
        self.assert_no_path(self.tree.layer_link(name, d))
        self.assertEqual(self.tree.blob_data(d).read_bytes(), data, "blob data must stay")
        self.assert_error(self.get_blob(name, d), 404, "BLOB_UNKNOWN")
        r = self.req("HEAD", f"/v2/{name}/blobs/{d}")
        self.assertEqual(r.status, 404, r)

    def test_delete_blob_leaves_other_repos_alone(self):
        data = b"shared between two repos"
        d = self.push_blob(self.repo("a"), data)
        self.push_blob(self.repo("b"), data)
        r = self.req("DELETE", f"/v2/{self.repo('a')}/blobs/{d}")
        self.assertEqual(r.status, 202, r)
        r = self.get_blob(self.repo("b"), d)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, data)
        self.assert_link(self.tree.layer_link(self.repo("b"), d), d)

    def test_delete_unknown_blob(self):
        name = self.repo()
        self.push_blob(name, b"x")
        r = self.req("DELETE", f"/v2/{name}/blobs/{sha256(b'never pushed')}")
        self.assert_error(r, 404, "BLOB_UNKNOWN")

    def test_delete_invalid_digest(self):
        name = self.repo()
        self.push_blob(name, b"x")
        r = self.req("DELETE", f"/v2/{name}/blobs/sha256:nothex")
        self.assert_error(r, 400, "DIGEST_INVALID")

    def test_blob_can_be_pushed_again_after_delete(self):
        name = self.repo()
        data = b"push, delete, push"
        d = self.push_blob(name, data)
        self.assertEqual(self.req("DELETE", f"/v2/{name}/blobs/{d}").status, 202)
        self.push_blob(name, data)
        r = self.get_blob(name, d)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, data)


if __name__ == "__main__":
    unittest.main()
