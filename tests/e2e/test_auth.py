"""Authentication with an htpasswd file (bcrypt, Basic), the access rules of
`cairn.access` (first match decides, default deny), anonymous pull, and
read-only mode."""

import base64
import shutil
import tempfile
import unittest
from pathlib import Path

from cairn_server import (CairnServer, CairnTestCase, answer_shape, basic_auth, helpers_for,
                          htpasswd_text, parse_challenge, password_of, sha256, yaml_doc)

REALM = "cairn-e2e"


def auth_config(htpasswd, cairn=None, **extra):
    cfg = {"version": "0.1", "auth": {"htpasswd": {"realm": REALM, "path": str(htpasswd)}}}
    if cairn is not None:
        cfg["cairn"] = cairn
    cfg.update(extra)
    return cfg


class AuthTestCase(CairnTestCase):
    """A server with an htpasswd file; `users` get password_of(user)."""

    users = ("alice", "bob")
    cairn = None  # the cairn: section

    @classmethod
    def setUpClass(cls):
        cls.authdir = Path(tempfile.mkdtemp(prefix="cairn-e2e-auth-"))
        cls.htpasswd = cls.authdir / "htpasswd"
        try:
            cls.htpasswd.write_text(htpasswd_text(cls.users))
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
    def make_server(cls):
        return CairnServer(config=yaml_doc(auth_config(cls.htpasswd, cls.cairn)))

    # -- clients
    def user(self, name):
        return self.server.as_user(name, password_of(name))

    def helpers(self, name):
        return helpers_for(self.user(name))

    def anonymous(self):
        return self.server

    # -- assertions
    def assert_challenge(self, resp):
        """401 UNAUTHORIZED with the Basic challenge."""
        self.assert_error(resp, 401, "UNAUTHORIZED")
        self.assert_basic_challenge(resp)

    def assert_basic_challenge(self, resp, realm=REALM):
        scheme, params = parse_challenge(resp.header("WWW-Authenticate"))
        self.assertEqual((scheme, params.get("realm")), ("Basic", realm), resp)

    def assert_denied(self, resp):
        self.assert_error(resp, 403, "DENIED")

    def upload(self, client, name):
        return client.request("POST", f"/v2/{name}/blobs/uploads/")


class HtpasswdTest(AuthTestCase):
    """No cairn.access rules: any authenticated user may do everything,
    anonymous nothing."""

    def test_base_without_credentials(self):
        self.assert_challenge(self.req("GET", "/v2/"))

    def test_head_base_without_credentials(self):
        r = self.req("HEAD", "/v2/")
        self.assertEqual(r.status, 401, r)
        self.assert_basic_challenge(r)

    def test_base_with_credentials(self):
        r = self.user("alice").request("GET", "/v2/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {})

    def test_wrong_password(self):
        r = self.req("GET", "/v2/", headers={"Authorization": basic_auth("alice", "bob-secret")})
        self.assert_challenge(r)

    def test_unknown_user(self):
        r = self.req("GET", "/v2/",
                     headers={"Authorization": basic_auth("mallory", "mallory-secret")})
        self.assert_challenge(r)

    def test_empty_password(self):
        self.assert_challenge(self.req("GET", "/v2/",
                                       headers={"Authorization": basic_auth("alice", "")}))

    def test_password_prefix_is_not_enough(self):
        pw = password_of("alice")
        for wrong in (pw[:-1], pw + "x", pw.upper()):
            r = self.req("GET", "/v2/", headers={"Authorization": basic_auth("alice", wrong)})
            self.assert_challenge(r)

    def test_malformed_authorization(self):
        for value in ("Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode(),
                      "Bearer abc.def.ghi", "Basic", "Digest username=alice"):
            r = self.req("GET", "/v2/", headers={"Authorization": value})
            self.assertEqual(r.status, 401, f"{value!r}: {r!r}")

    def test_anonymous_push_refused(self):
        name = self.repo()
        self.assert_challenge(self.upload(self.anonymous(), name))
        d = sha256(b"anonymous")
        r = self.req("POST", f"/v2/{name}/blobs/uploads/?digest={d}", body=b"anonymous",
                     headers={"Content-Type": "application/octet-stream"})
        self.assert_challenge(r)
        self.assertFalse(self.tree.blob_data(d).exists())
        r = self.req("PUT", f"/v2/{name}/manifests/v1", body=b"{}",
                     headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        self.assert_challenge(r)

    def test_anonymous_pull_refused(self):
        name = self.repo()
        img = self.helpers("alice").make_image(name, "v1")
        self.assert_challenge(self.req("GET", f"/v2/{name}/manifests/v1"))
        self.assert_challenge(self.req("GET", f"/v2/{name}/blobs/{sha256(img.config)}"))
        self.assert_challenge(self.req("GET", f"/v2/{name}/tags/list"))
        self.assert_challenge(self.req("GET", "/v2/_catalog"))
        self.assert_challenge(self.req("GET", f"/v2/{name}/referrers/{img.digest}"))
        self.assert_challenge(self.req("DELETE", f"/v2/{name}/manifests/{img.digest}"))
        r = self.req("HEAD", f"/v2/{name}/manifests/v1")
        self.assertEqual(r.status, 401)

    def test_any_user_may_do_everything(self):
        name = self.repo()
        for user in ("alice", "bob"):
            h = self.helpers(user)
            img = h.make_image(f"{name}/{user}", "v1")
            r = h.get_manifest(f"{name}/{user}", "v1")
            self.assertEqual(r.status, 200, r)
            r = self.user(user).request("GET", "/v2/_catalog")
            self.assertEqual(r.status, 200, r)
            self.assertIn(f"{name}/{user}", r.json()["repositories"])
            r = self.user(user).request("DELETE", f"/v2/{name}/{user}/manifests/{img.digest}")
            self.assertEqual(r.status, 202, r)
        # bob reads what alice pushed
        img = self.helpers("alice").make_image(name, "shared")
        r = self.helpers("bob").get_manifest(name, "shared")
        self.assertEqual((r.status, sha256(r.body)), (200, img.digest))

    def test_credentials_on_every_request_of_an_upload(self):
        name = self.repo()
        alice = self.user("alice")
        loc = helpers_for(alice).start_upload(name)
        # the upload URL does not carry the identity: without credentials, 401
        self.assert_challenge(self.req("PATCH", loc, body=b"x",
                                       headers={"Content-Type": "application/octet-stream"}))
        self.assert_challenge(self.req("GET", loc))
        r = alice.request("GET", loc)
        self.assertEqual(r.status, 204, r)

    def test_healthz_without_credentials(self):
        self.assertEqual(self.req("GET", "/healthz").status, 200)


RULES = {
    "groups": {"admins": ["carol"], "readers": ["erin", "frank"]},
    "access": [
        {"subjects": ["group:admins"], "repositories": ["**"],
         "actions": ["pull", "push", "delete", "catalog"]},
        {"subjects": ["alice"], "repositories": ["team-a/*"], "actions": ["pull", "push"]},
        # shadowed by the rule above: first match decides
        {"subjects": ["alice"], "repositories": ["team-a/*"], "actions": ["delete"]},
        {"subjects": ["bob"], "repositories": ["team-b/**"],
         "actions": ["pull", "push", "delete"]},
        {"subjects": ["group:readers"], "repositories": ["team-a/**"],
         "actions": ["pull", "catalog"]},
        {"subjects": ["*"], "repositories": ["public/*"], "actions": ["pull"]},
        {"subjects": ["anonymous"], "repositories": ["open/*"], "actions": ["pull"]},
    ],
}


class AccessRulesTest(AuthTestCase):
    """carol (admins) everything; alice team-a/* pull+push; bob team-b/**;
    erin and frank (readers) pull+catalog team-a/**; any user pulls
    public/*; anonymous pulls open/*; dave has no rule of his own."""

    users = ("alice", "bob", "carol", "dave", "erin", "frank")
    cairn = RULES

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # content pushed by the admin
        carol = helpers_for(cls.server.as_user("carol", password_of("carol")))
        cls.images = {}
        for name in ("team-a/app", "team-a/deep/nested", "team-b/app", "team-b/deep/nested",
                     "public/base", "open/tool", "private/x"):
            cls.images[name] = carol.make_image(name, "v1")
        cls.blob_in_team_b = carol.push_blob("team-b/app", b"a blob only in team-b")

    def pull_status(self, client, name):
        return client.request("GET", f"/v2/{name}/manifests/v1", headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json"}).status

    def test_admin_group_may_do_everything(self):
        carol = self.user("carol")
        for name in self.images:
            self.assertEqual(self.pull_status(carol, name), 200, name)
        self.assertEqual(self.upload(carol, "anything/at/all").status, 202)
        r = carol.request("GET", "/v2/_catalog?n=1000")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(set(self.images) <= set(r.json()["repositories"]), r)
        img = helpers_for(carol).make_image("private/deletable", "v1")
        r = carol.request("DELETE", f"/v2/private/deletable/manifests/{img.digest}")
        self.assertEqual(r.status, 202, r)

    def test_user_limited_to_team_a_cannot_pull_team_b(self):
        alice = self.user("alice")
        self.assertEqual(self.pull_status(alice, "team-a/app"), 200)
        self.assert_denied(alice.request("GET", "/v2/team-b/app/manifests/v1"))
        r = alice.request("HEAD", "/v2/team-b/app/manifests/v1")
        self.assertEqual(r.status, 403, r)
        img = self.images["team-b/app"]
        self.assert_denied(alice.request("GET", f"/v2/team-b/app/blobs/{sha256(img.config)}"))
        self.assert_denied(alice.request("GET", "/v2/team-b/app/tags/list"))
        self.assert_denied(alice.request("GET", f"/v2/team-b/app/referrers/{img.digest}"))
        self.assert_denied(self.upload(alice, "team-b/app"))

    def test_single_star_is_one_component(self):
        alice = self.user("alice")
        self.assert_denied(alice.request("GET", "/v2/team-a/deep/nested/manifests/v1"))
        self.assert_denied(self.upload(alice, "team-a/deep/nested"))
        self.assert_denied(self.upload(alice, "team-a"))
        self.assert_denied(self.upload(alice, "team-ab/x"))

    def test_double_star_crosses_components(self):
        bob = self.user("bob")
        self.assertEqual(self.pull_status(bob, "team-b/deep/nested"), 200)
        img = helpers_for(bob).make_image("team-b/x/y/z", "v1")
        r = bob.request("DELETE", f"/v2/team-b/x/y/z/manifests/{img.digest}")
        self.assertEqual(r.status, 202, r)
        self.assert_denied(self.upload(bob, "team-bb/x"))

    def test_push_allowed_where_the_rule_says(self):
        alice = helpers_for(self.user("alice"))
        img = alice.make_image("team-a/pushed", "v1")
        r = alice.get_manifest("team-a/pushed", "v1")
        self.assertEqual((r.status, sha256(r.body)), (200, img.digest))

    def test_first_matching_rule_decides(self):
        """alice's delete rule for team-a/* comes after her pull/push rule
        for the same repositories, so it never applies."""
        alice = self.user("alice")
        img = helpers_for(alice).make_image("team-a/first-match", "v1")
        self.assert_denied(alice.request("DELETE", f"/v2/team-a/first-match/manifests/{img.digest}"))
        self.assert_denied(alice.request(
            "DELETE", f"/v2/team-a/first-match/blobs/{sha256(img.config)}"))

    def test_delete_needs_delete(self):
        # erin may pull team-a but not delete there
        img = self.images["team-a/app"]
        self.assert_denied(self.user("erin").request(
            "DELETE", f"/v2/team-a/app/manifests/{img.digest}"))

    def test_pull_only_group_cannot_push(self):
        erin = self.user("erin")
        self.assertEqual(self.pull_status(erin, "team-a/app"), 200)
        self.assertEqual(self.pull_status(erin, "team-a/deep/nested"), 200)
        self.assert_denied(self.upload(erin, "team-a/app"))
        self.assert_denied(erin.request(
            "PUT", "/v2/team-a/app/manifests/v2", body=self.images["team-a/app"].body,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}))

    def test_star_subject_is_any_authenticated_user(self):
        dave = self.user("dave")
        self.assertEqual(self.pull_status(dave, "public/base"), 200)
        self.assert_denied(self.upload(dave, "public/base"))
        self.assert_challenge(self.anonymous().request("GET", "/v2/public/base/manifests/v1"))

    def test_no_matching_rule_denies(self):
        dave = self.user("dave")
        self.assertEqual(dave.request("GET", "/v2/").status, 200)
        for name in ("team-a/app", "team-b/app", "private/x", "open/tool"):
            self.assert_denied(dave.request("GET", f"/v2/{name}/manifests/v1"))
        self.assert_denied(self.upload(dave, "dave/own"))

    def test_anonymous_subject(self):
        anon = self.anonymous()
        self.assertEqual(self.pull_status(anon, "open/tool"), 200)
        img = self.images["open/tool"]
        r = anon.request("GET", f"/v2/open/tool/blobs/{sha256(img.config)}")
        self.assertEqual((r.status, r.body), (200, img.config))
        self.assertEqual(anon.request("GET", "/v2/open/tool/tags/list").status, 200)
        self.assert_challenge(self.upload(anon, "open/tool"))
        self.assert_challenge(anon.request("GET", "/v2/team-a/app/manifests/v1"))
        # "anonymous" does not match a logged-in user
        self.assert_denied(self.user("dave").request("GET", "/v2/open/tool/manifests/v1"))

    def test_catalog_needs_catalog(self):
        self.assert_denied(self.user("alice").request("GET", "/v2/_catalog"))
        self.assert_denied(self.user("dave").request("GET", "/v2/_catalog"))
        self.assert_challenge(self.anonymous().request("GET", "/v2/_catalog"))

    def test_catalog_filtered_to_pullable(self):
        r = self.user("erin").request("GET", "/v2/_catalog?n=1000")
        self.assertEqual(r.status, 200, r)
        repos = r.json()["repositories"]
        # erin pulls team-a/** (her rule) and public/* (the "*" rule)
        self.assertIn("team-a/app", repos)
        self.assertIn("team-a/deep/nested", repos)
        self.assertIn("public/base", repos)
        for hidden in ("team-b/app", "team-b/deep/nested", "private/x", "open/tool"):
            self.assertNotIn(hidden, repos)
        self.assertTrue(all(x.startswith(("team-a/", "public/")) for x in repos), repos)

    def test_catalog_pagination_over_filtered_list(self):
        frank = self.user("frank")
        seen, url = [], "/v2/_catalog?n=1"
        for _ in range(100):
            r = frank.request("GET", url)
            self.assertEqual(r.status, 200, r)
            seen += r.json()["repositories"]
            link = r.header("Link")
            if not link:
                break
            url = link.split(">")[0].lstrip("<")
        self.assertIn("team-a/app", seen)
        self.assertIn("public/base", seen)
        self.assertTrue(all(x.startswith(("team-a/", "public/")) for x in seen), seen)
        self.assertEqual(len(seen), len(set(seen)))

    def test_upload_status_is_push(self):
        alice = self.user("alice")
        loc = helpers_for(alice).start_upload("team-a/app")
        self.assertEqual(alice.request("GET", loc).status, 204)
        self.assert_denied(self.user("erin").request("GET", loc))  # erin may only pull
        self.assert_denied(self.user("bob").request("GET", loc))
        self.assert_denied(self.user("bob").request(
            "PATCH", loc, body=b"x", headers={"Content-Type": "application/octet-stream"}))
        self.assert_denied(self.user("bob").request("DELETE", loc))

    def test_mount_from_unreadable_repository_is_a_plain_upload(self):
        alice = self.user("alice")
        d = self.blob_in_team_b
        r = alice.request("POST", f"/v2/team-a/app/blobs/uploads/?mount={d}&from=team-b/app")
        self.assertEqual(r.status, 202, r)
        self.assertIsNotNone(r.header("Location"))
        self.assertFalse(self.tree.layer_link("team-a/app", d).exists(),
                         "the blob was mounted from a repository alice may not pull")
        self.assertEqual(alice.request("HEAD", f"/v2/team-a/app/blobs/{d}").status, 404)

    def test_mount_from_readable_repository(self):
        alice = self.user("alice")
        d = helpers_for(alice).push_blob("team-a/mount-src", b"alice may mount this")
        r = alice.request("POST", f"/v2/team-a/mount-dst/blobs/uploads/?mount={d}&from=team-a/mount-src")
        self.assertEqual(r.status, 201, r)

    def test_mount_into_unwritable_repository_denied(self):
        r = self.user("alice").request(
            "POST", f"/v2/team-b/app/blobs/uploads/?mount={self.blob_in_team_b}&from=team-b/app")
        self.assert_denied(r)

    def test_wrong_password_with_rules(self):
        r = self.req("GET", "/v2/team-a/app/manifests/v1",
                     headers={"Authorization": basic_auth("alice", "nope")})
        self.assert_challenge(r)


class AutomaticMountAccessTest(AuthTestCase):
    """A mount without `from` looks only where the caller may pull: a blob
    held only in a repository it may not read is answered exactly as one that
    exists nowhere."""

    users = ("alice", "carol", "dave")
    cairn = {"access": [
        {"subjects": ["carol"], "repositories": ["**"], "actions": ["*"]},
        {"subjects": ["alice"], "repositories": ["repo-a/**"], "actions": ["pull", "push"]},
        {"subjects": ["dave"], "repositories": ["repo-a/**"], "actions": ["push"]},
    ]}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        carol = helpers_for(cls.server.as_user("carol", password_of("carol")))
        cls.hidden = carol.push_blob("repo-b/holder", b"only in repo-b, which alice may not read")
        cls.readable = carol.push_blob("repo-a/src", b"in repo-a, which alice may read")

    def mount(self, user, name, d):
        return self.user(user).request("POST", f"/v2/{name}/blobs/uploads/?mount={d}")

    def test_blob_in_an_unreadable_repository_is_not_revealed(self):
        for user in ("alice", "dave"):
            with self.subTest(user=user):
                dst = f"repo-a/{self.repo(user)}"
                nowhere = self.mount(user, dst, sha256(f"exists nowhere {user}".encode()))
                hidden = self.mount(user, dst, self.hidden)
                self.assertEqual(hidden.status, 202, hidden)
                self.assertEqual(answer_shape(hidden, dst), answer_shape(nowhere, dst))
                self.assertNotEqual(hidden.header("Location"), nowhere.header("Location"))
                self.assertFalse(self.tree.layer_link(dst, self.hidden).exists(),
                                 f"{user} mounted a blob of a repository it may not pull")
        self.assertEqual(self.user("alice").request(
            "HEAD", f"/v2/repo-a/{self.repo('alice')}/blobs/{self.hidden}").status, 404)

    def test_blob_in_a_readable_repository_is_mounted(self):
        dst = f"repo-a/{self.repo()}"
        r = self.mount("alice", dst, self.readable)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Location"), f"/v2/{dst}/blobs/{self.readable}")
        self.assertEqual(r.header("Docker-Content-Digest"), self.readable)
        self.assert_link(self.tree.layer_link(dst, self.readable), self.readable)

    def test_push_only_caller_finds_nothing(self):
        """dave may push to repo-a but pull nothing: not even repo-a/src is
        looked into."""
        dst = f"repo-a/{self.repo()}"
        r = self.mount("dave", dst, self.readable)
        self.assertEqual(r.status, 202, r)
        self.assertFalse(self.tree.layer_link(dst, self.readable).exists())

    def test_admin_finds_it_anywhere(self):
        dst = f"elsewhere/{self.repo()}"
        r = self.mount("carol", dst, self.hidden)
        self.assertEqual(r.status, 201, r)
        self.assert_link(self.tree.layer_link(dst, self.hidden), self.hidden)

    def test_mount_into_unwritable_repository_denied(self):
        self.assert_denied(self.mount("alice", "repo-b/holder", self.readable))


class AnonymousPullTest(AuthTestCase):
    """cairn.anonymous_pull: anonymous may pull everything, nothing else."""

    users = ("alice",)
    cairn = {"anonymous_pull": True}

    def test_anonymous_reads(self):
        name = self.repo()
        alice = self.helpers("alice")
        img = alice.make_image(name, "v1")
        ref = alice.make_image(name, None, artifact_type="application/vnd.example",
                               subject=img.descriptor())
        anon = self.anonymous()
        r = anon.request("GET", f"/v2/{name}/manifests/v1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        self.assertEqual((r.status, sha256(r.body)), (200, img.digest))
        self.assertEqual(anon.request("HEAD", f"/v2/{name}/manifests/{img.digest}").status, 200)
        r = anon.request("GET", f"/v2/{name}/blobs/{sha256(img.layers[0])}")
        self.assertEqual((r.status, r.body), (200, img.layers[0]))
        self.assertEqual(anon.request("HEAD", f"/v2/{name}/blobs/{sha256(img.config)}").status,
                         200)
        r = anon.request("GET", f"/v2/{name}/tags/list")
        self.assertEqual((r.status, r.json().get("tags")), (200, ["v1"]))
        r = anon.request("GET", f"/v2/{name}/referrers/{img.digest}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([m["digest"] for m in r.json()["manifests"]], [ref.digest])

    def test_anonymous_writes_refused(self):
        name = self.repo()
        img = self.helpers("alice").make_image(name, "v1")
        anon = self.anonymous()
        self.assert_challenge(self.upload(anon, name))
        self.assert_challenge(anon.request(
            "PUT", f"/v2/{name}/manifests/v2", body=img.body,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}))
        self.assert_challenge(anon.request("DELETE", f"/v2/{name}/manifests/{img.digest}"))
        self.assert_challenge(anon.request("DELETE", f"/v2/{name}/blobs/{sha256(img.config)}"))

    def test_anonymous_catalog_refused(self):
        self.assert_challenge(self.anonymous().request("GET", "/v2/_catalog"))

    def test_authenticated_user_unchanged(self):
        r = self.user("alice").request("GET", "/v2/_catalog")
        self.assertEqual(r.status, 200, r)

    def test_bad_credentials_are_not_downgraded_to_anonymous(self):
        r = self.req("GET", "/v2/", headers={"Authorization": basic_auth("alice", "wrong")})
        self.assert_challenge(r)


class ReadOnlyTest(CairnTestCase):
    """storage.maintenance.readonly.enabled: writes 405 UNSUPPORTED, reads work."""

    @classmethod
    def setUpClass(cls):
        # fill a root with a normal server first
        cls.root = Path(tempfile.mkdtemp(prefix="cairn-e2e-ro-"))
        try:
            writer = CairnServer(root=cls.root)
            writer.start()
            try:
                h = helpers_for(writer)
                cls.img = h.make_image("ro/app", "v1")
                cls.upload_location = h.start_upload("ro/app")
            finally:
                writer.stop()
                writer.cleanup()
            super().setUpClass()
        except BaseException:
            shutil.rmtree(cls.root, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def make_server(cls):
        return CairnServer(root=cls.root, config=yaml_doc({
            "version": "0.1", "storage": {"maintenance": {"readonly": {"enabled": True}}}}))

    def assert_read_only(self, resp):
        err = self.assert_error(resp, 405, "UNSUPPORTED")
        self.assertRegex(err["message"].lower(), r"read.?only", resp)

    def test_reads_work(self):
        r = self.get_manifest("ro/app", "v1")
        self.assertEqual((r.status, sha256(r.body)), (200, self.img.digest))
        self.assertEqual(self.req("HEAD", f"/v2/ro/app/blobs/{sha256(self.img.config)}").status,
                         200)
        self.assertEqual(self.req("GET", "/v2/ro/app/tags/list").status, 200)
        self.assertEqual(self.req("GET", "/v2/_catalog").status, 200)
        self.assertEqual(self.req("GET", f"/v2/ro/app/referrers/{self.img.digest}").status, 200)
        self.assertEqual(self.req("GET", "/v2/").status, 200)

    def test_every_write_is_405(self):
        d = sha256(b"nope")
        cases = [
            ("POST", "/v2/ro/app/blobs/uploads/", b""),
            ("POST", f"/v2/ro/app/blobs/uploads/?digest={d}", b"nope"),
            ("POST", f"/v2/ro/new/blobs/uploads/?mount={sha256(self.img.config)}&from=ro/app",
             b""),
            ("PATCH", self.upload_location, b"data"),
            ("PUT", f"{self.upload_location}&digest={d}" if "?" in self.upload_location
             else f"{self.upload_location}?digest={d}", b"nope"),
            ("DELETE", self.upload_location, b""),
            ("PUT", "/v2/ro/app/manifests/v2", self.img.body),
            ("DELETE", f"/v2/ro/app/manifests/{self.img.digest}", b""),
            ("DELETE", "/v2/ro/app/manifests/v1", b""),
            ("DELETE", f"/v2/ro/app/blobs/{sha256(self.img.config)}", b""),
            # even where the resource does not exist
            ("PATCH", "/v2/ro/app/blobs/uploads/00000000-0000-4000-8000-000000000000", b"x"),
            ("DELETE", "/v2/ro/missing/manifests/sha256:" + "0" * 64, b""),
        ]
        for method, path, body in cases:
            headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"
                       if "/manifests/" in path else "application/octet-stream"}
            with self.subTest(method=method, path=path):
                self.assert_read_only(self.req(method, path, body=body, headers=headers))
        # nothing changed on disk
        self.assertFalse(self.tree.blob_data(d).exists())
        self.assertTrue(self.tree.revision_link("ro/app", self.img.digest).is_file())
        self.assertTrue(self.tree.tag_current_link("ro/app", "v1").is_file())


class ReadOnlyWithAuthTest(AuthTestCase):
    users = ("alice",)

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc(auth_config(
            cls.htpasswd, storage={"maintenance": {"readonly": {"enabled": True}}})))

    def test_authenticated_write_is_405(self):
        err = self.assert_error(self.upload(self.user("alice"), "ro/x"), 405, "UNSUPPORTED")
        self.assertRegex(err["message"].lower(), r"read.?only")

    def test_authenticated_read(self):
        r = self.user("alice").request("GET", "/v2/ro/x/tags/list")
        self.assertEqual(r.status, 404, r)


if __name__ == "__main__":
    unittest.main()
