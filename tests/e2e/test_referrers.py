"""subject / OCI-Subject and GET /v2/<name>/referrers/<digest>."""

import unittest

from cairn_server import (EMPTY_JSON, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, CairnTestCase,
                          media_type_of, sha256)

SBOM = "application/vnd.example.sbom.v1"
SIG = "application/vnd.example.signature.v1"
CFG_TYPE = "application/vnd.example.config.v1+json"


class ReferrersTest(CairnTestCase):

    def subject_of(self, name):
        img = self.make_image(name, "subject")
        return img, img.descriptor()

    def artifact(self, name, subject, artifact_type=SBOM, annotations=None):
        """An OCI artifact: empty config, artifactType set."""
        self.push_blob(name, EMPTY_JSON)
        return self.make_image(name, None, layers=1, artifact_type=artifact_type,
                               config_media_type=OCI_EMPTY, subject=subject,
                               annotations=annotations)

    def referrers(self, name, digest, query=""):
        r = self.req("GET", f"/v2/{name}/referrers/{digest}{query}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(media_type_of(r.header("Content-Type")), OCI_INDEX, r)
        doc = r.json()
        self.assertEqual(doc.get("schemaVersion"), 2, r)
        self.assertEqual(doc.get("mediaType"), OCI_INDEX, r)
        self.assertIsInstance(doc.get("manifests"), list, r)
        return doc["manifests"], r

    def by_digest(self, manifests):
        out = {}
        for m in manifests:
            self.assertNotIn(m["digest"], out, f"duplicate entry {m}")
            out[m["digest"]] = m
        return out

    def test_put_with_subject_sets_oci_subject_and_link(self):
        name = self.repo()
        subj, desc = self.subject_of(name)
        art = self.artifact(name, desc)
        self.assertEqual(art.response.header("OCI-Subject"), subj.digest, art.response)
        self.assert_link(self.tree.referrer_link(name, subj.digest, art.digest), art.digest)

    def test_put_by_tag_with_subject(self):
        name = self.repo()
        subj, desc = self.subject_of(name)
        self.push_blob(name, EMPTY_JSON)
        art = self.make_image(name, "sig", artifact_type=SIG, config_media_type=OCI_EMPTY,
                              subject=desc)
        self.assertEqual(art.response.header("OCI-Subject"), subj.digest)
        self.assert_link(self.tree.referrer_link(name, subj.digest, art.digest), art.digest)

    def test_put_without_subject_has_no_oci_subject(self):
        name = self.repo()
        img = self.make_image(name, "plain")
        self.assertIsNone(img.response.header("OCI-Subject"))

    def test_list_referrers(self):
        name = self.repo()
        subj, desc = self.subject_of(name)
        a = self.artifact(name, desc, SBOM, annotations={"org.example.kind": "sbom"})
        # No artifactType: the config media type stands in for it.
        b = self.make_image(name, None, config_media_type=CFG_TYPE, subject=desc)
        # An index can be a referrer too.
        child = self.make_image(name)
        c = self.make_index(name, [child], artifact_type=SIG, subject=desc,
                            annotations={"org.example.signed-by": "me"})
        manifests, _ = self.referrers(name, subj.digest)
        got = self.by_digest(manifests)
        self.assertEqual(set(got), {a.digest, b.digest, c.digest})
        want = {
            a.digest: (OCI_MANIFEST, a.size, SBOM, {"org.example.kind": "sbom"}),
            b.digest: (OCI_MANIFEST, b.size, CFG_TYPE, None),
            c.digest: (OCI_INDEX, c.size, SIG, {"org.example.signed-by": "me"}),
        }
        for d, (mt, size, at, ann) in want.items():
            with self.subTest(referrer=d):
                e = got[d]
                self.assertEqual(e.get("mediaType"), mt, e)
                self.assertEqual(e.get("size"), size, e)
                self.assertEqual(e.get("artifactType"), at, e)
                if ann is not None:
                    self.assertEqual(e.get("annotations"), ann, e)
                else:
                    self.assertFalse(e.get("annotations"), e)

    def test_no_referrers(self):
        name = self.repo()
        subj, _ = self.subject_of(name)
        manifests, _ = self.referrers(name, subj.digest)
        self.assertEqual(manifests, [])

    def test_no_referrers_for_unknown_digest(self):
        name = self.repo()
        self.subject_of(name)
        manifests, _ = self.referrers(name, sha256(b"nothing here"))
        self.assertEqual(manifests, [])

    def test_subject_need_not_exist(self):
        name = self.repo()
        ghost = {"mediaType": OCI_MANIFEST, "digest": sha256(b"ghost subject"), "size": 13}
        art = self.artifact(name, ghost)
        self.assertEqual(art.response.status, 201)
        self.assertEqual(art.response.header("OCI-Subject"), ghost["digest"])
        manifests, _ = self.referrers(name, ghost["digest"])
        self.assertEqual([m["digest"] for m in manifests], [art.digest])

    def test_filter_by_artifact_type(self):
        name = self.repo()
        subj, desc = self.subject_of(name)
        sbom = self.artifact(name, desc, SBOM)
        self.artifact(name, desc, SIG)
        manifests, r = self.referrers(name, subj.digest, f"?artifactType={SBOM}")
        self.assertEqual([m["digest"] for m in manifests], [sbom.digest])
        self.assertEqual(r.header("OCI-Filters-Applied"), "artifactType")

    def test_filter_matching_nothing(self):
        name = self.repo()
        subj, desc = self.subject_of(name)
        self.artifact(name, desc, SBOM)
        manifests, r = self.referrers(name, subj.digest,
                                      "?artifactType=application/vnd.example.none")
        self.assertEqual(manifests, [])
        self.assertEqual(r.header("OCI-Filters-Applied"), "artifactType")

    def test_filter_with_malformed_percent_escape(self):
        # Issue 11: a spoilt artifactType= is still a filter (one that no
        # artifact type matches), never dropped to list everything.
        name = self.repo()
        subj, desc = self.subject_of(name)
        self.artifact(name, desc, SBOM)
        for bad in ("%zz", "%", "application/spdx%2", "%00", "x" * 300):
            with self.subTest(value=bad):
                manifests, r = self.referrers(name, subj.digest, f"?artifactType={bad}")
                self.assertEqual(manifests, [])
                self.assertEqual(r.header("OCI-Filters-Applied"), "artifactType")

    def test_no_filter_header_without_filter(self):
        name = self.repo()
        subj, desc = self.subject_of(name)
        self.artifact(name, desc, SBOM)
        _, r = self.referrers(name, subj.digest)
        self.assertIsNone(r.header("OCI-Filters-Applied"))

    def test_invalid_digest(self):
        name = self.repo()
        self.subject_of(name)
        for bad in ("sha256:nothex", "latest", "sha256:" + "a" * 63):
            with self.subTest(digest=bad):
                r = self.req("GET", f"/v2/{name}/referrers/{bad}")
                self.assert_error(r, 400, "DIGEST_INVALID")

    def test_deleted_referrer_disappears(self):
        name = self.repo()
        subj, desc = self.subject_of(name)
        keep = self.artifact(name, desc, SBOM)
        drop = self.artifact(name, desc, SIG)
        self.assertEqual(len(self.referrers(name, subj.digest)[0]), 2)
        r = self.req("DELETE", f"/v2/{name}/manifests/{drop.digest}")
        self.assertEqual(r.status, 202, r)
        manifests, _ = self.referrers(name, subj.digest)
        self.assertEqual([m["digest"] for m in manifests], [keep.digest])
        self.assert_tree_clean()

    def test_referrers_are_per_repository(self):
        a, b = self.repo("a"), self.repo("b")
        subj, desc = self.subject_of(a)
        self.artifact(a, desc, SBOM)
        self.subject_of(b)
        manifests, _ = self.referrers(b, subj.digest)
        self.assertEqual(manifests, [])

    def test_referrer_pushed_twice_is_listed_once(self):
        name = self.repo()
        subj, desc = self.subject_of(name)
        art = self.artifact(name, desc, SBOM)
        self.push_manifest(name, "again", art.body, OCI_MANIFEST)
        manifests, _ = self.referrers(name, subj.digest)
        self.assertEqual([m["digest"] for m in manifests], [art.digest])


if __name__ == "__main__":
    unittest.main()
