"""GET /v2/<name>/tags/list and GET /v2/_catalog, with pagination."""

import unittest

from cairn_server import OCI_MANIFEST, CairnServer, CairnTestCase, parse_link_next

TAGS = ["v2", "v10", "latest", "1.0", "A", "_z", "b-x", "b.x", "b_x", "Z9"]


class TagsListTest(CairnTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # One image, tagged many times, in "tagged" and a nested repo.
        cls.name = "tagged"
        cls.nested = "a/b/c"
        helper = cls("test_all_tags")
        try:
            for name in (cls.name, cls.nested):
                img = helper.make_image(name, TAGS[0])
                for t in TAGS[1:]:
                    helper.push_manifest(name, t, img.body, OCI_MANIFEST)
        except BaseException:
            cls.tearDownClass()
            raise

    def tags(self, name, query=""):
        r = self.req("GET", f"/v2/{name}/tags/list{query}")
        self.assertEqual(r.status, 200, r)
        self.assert_json_content_type(r)
        doc = r.json()
        self.assertEqual(doc.get("name"), name, r)
        self.assertIsInstance(doc.get("tags"), list, r)
        return doc["tags"], r.header("Link")

    def test_all_tags(self):
        tags, link = self.tags(self.name)
        self.assertEqual(tags, sorted(TAGS))  # Python str order == strcmp for ASCII
        self.assertIsNone(link)

    def test_nested_name(self):
        tags, _ = self.tags(self.nested)
        self.assertEqual(tags, sorted(TAGS))

    def test_first_page(self):
        tags, link = self.tags(self.name, "?n=2")
        want = sorted(TAGS)[:2]
        self.assertEqual(tags, want)
        self.assertEqual(link, f'</v2/{self.name}/tags/list?n=2&last={want[-1]}>; rel="next"')

    def paginate(self, name, n):
        pages = []
        url = f"/v2/{name}/tags/list?n={n}"
        for _ in range(100):
            r = self.req("GET", url)
            self.assertEqual(r.status, 200, r)
            pages.append(r.json()["tags"])
            link = r.header("Link")
            if link is None:
                return pages
            url = parse_link_next(link)
            self.assertIsNotNone(url, f"unparsable Link {link!r}")
            self.assertTrue(url.startswith(f"/v2/{name}/tags/list?"), link)
        self.fail("pagination does not end")

    def test_follow_links_to_the_end(self):
        for n in (1, 2, 3, 4, len(TAGS) - 1):
            with self.subTest(n=n):
                pages = self.paginate(self.name, n)
                self.assertEqual([t for p in pages for t in p], sorted(TAGS))
                self.assertTrue(all(len(p) <= n for p in pages), pages)
                self.assertTrue(all(pages), f"empty page in {pages}")

    def test_follow_links_nested_name(self):
        pages = self.paginate(self.nested, 3)
        self.assertEqual([t for p in pages for t in p], sorted(TAGS))

    def test_n_equal_to_count_has_no_link(self):
        tags, link = self.tags(self.name, f"?n={len(TAGS)}")
        self.assertEqual(tags, sorted(TAGS))
        self.assertIsNone(link)

    def test_n_larger_than_count(self):
        tags, link = self.tags(self.name, "?n=1000")
        self.assertEqual(tags, sorted(TAGS))
        self.assertIsNone(link)

    def test_n_zero(self):
        tags, _ = self.tags(self.name, "?n=0")
        self.assertEqual(tags, [])

    def test_last_without_n(self):
        s = sorted(TAGS)
        tags, _ = self.tags(self.name, f"?last={s[3]}")
        self.assertEqual(tags, s[4:])

    def test_last_between_tags(self):
        s = sorted(TAGS)
        tags, _ = self.tags(self.name, "?n=100&last=b-y")  # not itself a tag
        self.assertEqual(tags, [t for t in s if t > "b-y"])

    def test_last_after_everything(self):
        tags, link = self.tags(self.name, "?last=zzz")
        self.assertEqual(tags, [])
        self.assertIsNone(link)

    def test_malformed_percent_escapes(self):
        # Issue 11: a spoilt n= or last= is the pagination's 400, not a
        # parameter silently dropped.
        for key in ("n", "last"):
            for bad in ("%zz", "%", "%0", "%00", "a%0", "%g1"):
                with self.subTest(key=key, value=bad):
                    r = self.req("GET", f"/v2/{self.name}/tags/list?{key}={bad}")
                    self.assert_error(r, 400, "PAGINATION_NUMBER_INVALID")
                    r = self.req("GET", f"/v2/_catalog?{key}={bad}")
                    self.assert_error(r, 400, "PAGINATION_NUMBER_INVALID")

    def test_unknown_repository(self):
        r = self.req("GET", "/v2/no-such-repo/tags/list")
        self.assert_error(r, 404, "NAME_UNKNOWN")

    def test_deleted_tag_disappears(self):
        name = self.repo()
        img = self.make_image(name, "keep")
        self.push_manifest(name, "drop", img.body, OCI_MANIFEST)
        self.assertEqual(self.tags(name)[0], ["drop", "keep"])
        self.assertEqual(self.req("DELETE", f"/v2/{name}/manifests/drop").status, 202)
        self.assertEqual(self.tags(name)[0], ["keep"])

    def test_retag_lists_tag_once(self):
        name = self.repo()
        self.make_image(name, "same")
        self.make_image(name, "same")
        self.assertEqual(self.tags(name)[0], ["same"])


class CatalogTest(CairnTestCase):
    """A server of its own, so the catalog holds exactly these repositories."""

    # "beta-x" sorts before "beta/one" by strcmp ("-" < "/"), though a
    # directory walk would list it after "beta/two".
    REPOS = ["alpha", "beta/one", "beta/two", "gamma/x/y", "delta", "beta", "beta-x"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        helper = cls("test_catalog")
        try:
            for name in cls.REPOS:
                helper.make_image(name, "latest")
        except BaseException:
            cls.tearDownClass()
            raise

    def catalog(self, query=""):
        r = self.req("GET", f"/v2/_catalog{query}")
        self.assertEqual(r.status, 200, r)
        self.assert_json_content_type(r)
        doc = r.json()
        self.assertIsInstance(doc.get("repositories"), list, r)
        return doc["repositories"], r.header("Link")

    def test_catalog(self):
        repos, link = self.catalog()
        self.assertEqual(repos, sorted(self.REPOS))
        self.assertIsNone(link)

    def test_first_page(self):
        repos, link = self.catalog("?n=2")
        want = sorted(self.REPOS)[:2]
        self.assertEqual(repos, want)
        self.assertEqual(link, f'</v2/_catalog?n=2&last={want[-1]}>; rel="next"')

    def test_follow_links_to_the_end(self):
        for n in (1, 2, 4, 5):
            with self.subTest(n=n):
                got, url = [], "/v2/_catalog?n=%d" % n
                for _ in range(100):
                    r = self.req("GET", url)
                    self.assertEqual(r.status, 200, r)
                    page = r.json()["repositories"]
                    self.assertLessEqual(len(page), n)
                    got += page
                    link = r.header("Link")
                    if link is None:
                        break
                    url = parse_link_next(link)
                    self.assertIsNotNone(url, f"unparsable Link {link!r}")
                    self.assertTrue(url.startswith("/v2/_catalog?"), link)
                else:
                    self.fail("pagination does not end")
                self.assertEqual(got, sorted(self.REPOS))

    def test_last_is_nested_name(self):
        repos, _ = self.catalog("?n=2&last=beta/one")
        self.assertEqual(repos, ["beta/two", "delta"])

    def test_n_zero(self):
        repos, _ = self.catalog("?n=0")
        self.assertEqual(repos, [])


class EmptyCatalogTest(unittest.TestCase):

    def test_empty_registry(self):
        server = CairnServer()
        try:
            server.start()
            r = server.request("GET", "/v2/_catalog")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"repositories": []})
        finally:
            try:
                server.stop()
            finally:
                server.cleanup()


if __name__ == "__main__":
    unittest.main()
