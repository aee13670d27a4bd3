"""Error shape, name validation, unknown routes and methods."""

import unittest

from cairn_server import CairnTestCase, sha256

DIGEST = sha256(b"whatever")


def name_endpoints(name):
    """(method, path) of every endpoint that takes a repository name."""
    return [
        ("GET", f"/v2/{name}/tags/list"),
        ("GET", f"/v2/{name}/manifests/latest"),
        ("HEAD", f"/v2/{name}/manifests/latest"),
        ("PUT", f"/v2/{name}/manifests/latest"),
        ("DELETE", f"/v2/{name}/manifests/{DIGEST}"),
        ("GET", f"/v2/{name}/blobs/{DIGEST}"),
        ("DELETE", f"/v2/{name}/blobs/{DIGEST}"),
        ("POST", f"/v2/{name}/blobs/uploads/"),
        ("GET", f"/v2/{name}/referrers/{DIGEST}"),
    ]


class NameValidationTest(CairnTestCase):

    BAD_NAMES = {
        "uppercase": "UPPER",
        "mixed case": "library/Ubuntu",
        "double dot": "a..b",
        "encoded dot-dot": "%2e%2e",
        "encoded dot-dot component": "a/%2e%2e/b",
        "leading separator": "-abc",
        "trailing separator": "abc-",
        "triple underscore": "a___b",
        "leading dot": ".abc",
        "too long": "a" * 256,
        "too long nested": "/".join(["b" * 50] * 6),  # 305 chars
    }

    def test_bad_names(self):
        for label, name in self.BAD_NAMES.items():
            for method, path in name_endpoints(name):
                with self.subTest(name=label, method=method, path=path[:80]):
                    r = self.req(method, path, body=b"{}" if method == "PUT" else None)
                    self.assert_error(r, 400, "NAME_INVALID")
        self.assert_tree_clean()

    def test_no_directory_created_for_bad_name(self):
        self.req("POST", "/v2/%2e%2e/blobs/uploads/")
        self.req("POST", "/v2/UPPER/blobs/uploads/")
        repos = self.tree.t / "repositories"
        names = sorted(p.name for p in repos.iterdir()) if repos.exists() else []
        for bad in ("%2e%2e", "..", "UPPER"):
            self.assertNotIn(bad, names)
        self.assertFalse((self.tree.t / "_uploads").exists())
        self.assertFalse((self.tree.root / "docker" / "registry" / "_uploads").exists())

    def test_good_names(self):
        good = ["a", "a0", "a.b", "a_b", "a__b", "a-b", "a--b", "a/b", "a/b/c/d/e",
                "0", "x" * 255, "/".join(["c" * 50] * 4 + ["d" * 51])]  # 255 chars
        for name in good:
            with self.subTest(name=name[:40], length=len(name)):
                self.assertLessEqual(len(name), 255)
                r = self.req("POST", f"/v2/{name}/blobs/uploads/")
                self.assertEqual(r.status, 202, r)


class ErrorShapeTest(CairnTestCase):

    def test_error_has_code_message_and_length(self):
        r = self.req("GET", f"/v2/{self.repo()}/blobs/{DIGEST}")
        err = self.assert_error(r, 404, "BLOB_UNKNOWN")
        self.assertTrue(err["message"], r)

    def test_unknown_paths(self):
        for path in ("/v3/", "/v2/foo/bar/baz", "/v2/foo/unknown-endpoint/x",
                     "/", "/v2/foo/blobs/", "/v2/foo/manifests/", "/v2/_catalog/x"):
            with self.subTest(path=path):
                r = self.req("GET", path)
                self.assert_error(r, 404)

    def test_unknown_method_on_known_route(self):
        name = self.repo()
        self.push_blob(name, b"repo exists")
        for method, path in (("POST", f"/v2/{name}/tags/list"),
                             ("PATCH", f"/v2/{name}/manifests/latest"),
                             ("POST", f"/v2/{name}/manifests/latest"),
                             ("PUT", f"/v2/{name}/blobs/{DIGEST}"),
                             ("DELETE", "/v2/_catalog"),
                             ("POST", "/v2/"),
                             ("PUT", f"/v2/{name}/referrers/{DIGEST}")):
            with self.subTest(method=method, path=path):
                r = self.req(method, path, body=b"" if method in ("POST", "PUT", "PATCH")
                             else None)
                self.assert_error(r, 405, "UNSUPPORTED")

    def test_head_error_has_no_body_but_status(self):
        r = self.req("HEAD", f"/v2/{self.repo()}/blobs/{DIGEST}")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.body, b"")

    def test_error_codes_seen_across_the_api(self):
        # One representative request per code in the contract.
        name = self.repo()
        self.make_image(name, "exists")
        cases = [
            ("BLOB_UNKNOWN", 404, "GET", f"/v2/{name}/blobs/{DIGEST}", None),
            ("BLOB_UPLOAD_UNKNOWN", 404, "GET",
             f"/v2/{name}/blobs/uploads/8a2c4e3d-0b1f-4c6a-9d2e-3f4a5b6c7d8e", None),
            ("DIGEST_INVALID", 400, "GET", f"/v2/{name}/blobs/sha256:zz", None),
            ("MANIFEST_INVALID", 400, "PUT", f"/v2/{name}/manifests/t", b"nope"),
            ("MANIFEST_UNKNOWN", 404, "GET", f"/v2/{name}/manifests/{DIGEST}", None),
            ("NAME_INVALID", 400, "GET", "/v2/BAD/tags/list", None),
            ("NAME_UNKNOWN", 404, "GET", "/v2/never-seen/tags/list", None),
            ("UNSUPPORTED", 405, "POST", f"/v2/{name}/tags/list", b""),
        ]
        for code, status, method, path, body in cases:
            with self.subTest(code=code):
                headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"} \
                    if method == "PUT" else None
                r = self.req(method, path, body=body, headers=headers)
                self.assert_error(r, status, code)


if __name__ == "__main__":
    unittest.main()
