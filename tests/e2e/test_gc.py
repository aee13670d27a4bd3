"""cairn-gc end to end: push a known set of images through the server, delete
some tags and manifests, run the collector, and check exactly which blobs went
and that everything still reachable pulls byte-identical.

The binary comes from CAIRN_GC_BINARY (skipped without it); cairn-fsck from
CAIRN_FSCK_BINARY (its checks are skipped without it).

The scenario (Scenario below), in repository gc/app unless said otherwise:

  img0  tagged v1, then v1 moved to img1          -> untagged revision
  img1  tagged v1 (base1, base2, own layer)
  img2  tagged v2 (base1, own layer)
  img3  tagged old, tag deleted                   -> untagged revision
  img4  tagged gone, deleted by digest            -> unreferenced
  img5  pushed by digest                          -> untagged revision
  sig1  artifact, subject img1, by digest         -> referrer of a tagged image
  sig3  artifact, subject sig1, by digest         -> referrer of a referrer
  sig2  artifact, subject img4, by digest         -> referrer of a deleted image
  ch1, ch2 by digest; idx tagged multi over them  -> children of a tagged index
  ch3 by digest; inner index by digest over ch3; outer tagged nested over inner
  orphan blob, no manifest                        -> unreferenced
  gc/other: img6 tagged latest (base1, base2, own layer)
  gc/doomed: img7 (tags a, b), img8 (tag c), both deleted by digest
  gc/doomed-shared: img9 (base2, own layer), deleted by digest

Without --delete-untagged the collector deletes img4, img7, img8, img9 (manifest,
config, own layers) and the orphan; with it also img0, img3, img5 and sig2
(sig2's subject is gone), never the children of kept indexes nor sig1/sig3.
"""

import os
import shutil
import tempfile
import time
import unittest
from pathlib import Path

from cairn_server import (EMPTY_JSON, OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
                          CairnServer, Tree, canonical_json, helpers_for, sha256, unique_int,
                          yaml_doc)
from gc_tools import (check_gc_document, deleted_digests, fsck_sound, gc_binary_or_skip,
                      run_gc)

SIG = "application/vnd.example.signature.v1"
SBOM = "application/vnd.example.sbom.v1"

BASE1 = b"cairn gc e2e shared base layer one\n" * 64
BASE2 = b"cairn gc e2e shared base layer two\n" * 96

APP = "gc/app"
OTHER = "gc/other"
DOOMED = "gc/doomed"
DOOMED_SHARED = "gc/doomed-shared"


class Img:
    """A manifest pushed by the scenario: its bytes and the blobs it names."""

    def __init__(self, label, repo, body, media_type, blobs=None, children=()):
        self.label = label
        self.repo = repo
        self.body = body
        self.media_type = media_type
        self.digest = sha256(body)
        self.blobs = dict(blobs or {})      # config and layers: digest -> bytes
        self.children = list(children)      # Imgs (for an index)

    def descriptor(self, **extra):
        d = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.body)}
        d.update(extra)
        return d

    def own_digests(self):
        """The manifest blob, its config and layers (not the children)."""
        return {self.digest} | set(self.blobs)

    def __repr__(self):
        return f"<{self.label} {self.repo}@{self.digest[:19]}>"


class Scenario:
    """Builds the images of the module docstring through a running server."""

    def __init__(self, tc, server):
        self.tc = tc
        self.h = helpers_for(server)
        self.imgs = {}
        self.tags = []          # (repo, tag, Img) still tagged at the end

    def unique_layer(self, label):
        return f"gc e2e layer {label} {unique_int()}\n".encode() * 20

    def image(self, label, repo, tag, layers, *, subject=None, artifact_type=None,
              arch="amd64"):
        h = self.h
        if artifact_type is not None:
            config, cmt = EMPTY_JSON, OCI_EMPTY
        else:
            config = canonical_json({"architecture": arch, "os": "linux",
                                     "rootfs": {"type": "layers", "diff_ids": []},
                                     "gc-e2e": f"{label}-{unique_int()}"})
            cmt = OCI_CONFIG
        blobs = {}
        for b in [config] + list(layers):
            blobs[h.push_blob(repo, b)] = b
        m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
        if artifact_type is not None:
            m["artifactType"] = artifact_type
        m["config"] = {"mediaType": cmt, "digest": sha256(config), "size": len(config)}
        m["layers"] = [{"mediaType": OCI_LAYER, "digest": sha256(b), "size": len(b)}
                       for b in layers]
        if subject is not None:
            m["subject"] = subject.descriptor()
        img = Img(label, repo, canonical_json(m), OCI_MANIFEST, blobs)
        h.push_manifest(repo, tag or img.digest, img.body, OCI_MANIFEST)
        self.imgs[label] = img
        return img

    def index(self, label, repo, tag, children):
        m = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [c.descriptor(platform={"architecture": f"arch{i}", "os": "linux"})
                           for i, c in enumerate(children)]}
        img = Img(label, repo, canonical_json(m), OCI_INDEX, children=children)
        self.h.push_manifest(repo, tag or img.digest, img.body, OCI_INDEX)
        self.imgs[label] = img
        return img

    def delete(self, repo, ref):
        r = self.h.req("DELETE", f"/v2/{repo}/manifests/{ref}")
        self.tc.assertEqual(r.status, 202, f"DELETE {repo} {ref}: {r!r}")

    def build(self):
        u = self.unique_layer
        self.image("img0", APP, "v1", [BASE1, u("img0")])
        img1 = self.image("img1", APP, "v1", [BASE1, BASE2, u("img1")])
        img2 = self.image("img2", APP, "v2", [BASE1, u("img2")])
        self.image("img3", APP, "old", [BASE2, u("img3")])
        self.delete(APP, "old")
        img4 = self.image("img4", APP, "gone", [BASE1, u("img4")])
        self.image("sig2", APP, None, [u("sig2")], subject=img4, artifact_type=SIG)
        self.delete(APP, img4.digest)
        self.image("img5", APP, None, [u("img5")])
        sig1 = self.image("sig1", APP, None, [u("sig1")], subject=img1, artifact_type=SIG)
        self.image("sig3", APP, None, [u("sig3")], subject=sig1, artifact_type=SBOM)
        ch1 = self.image("ch1", APP, None, [BASE1, u("ch1")], arch="amd64")
        ch2 = self.image("ch2", APP, None, [u("ch2")], arch="arm64")
        idx = self.index("idx", APP, "multi", [ch1, ch2])
        ch3 = self.image("ch3", APP, None, [u("ch3")], arch="riscv64")
        inner = self.index("inner", APP, None, [ch3])
        outer = self.index("outer", APP, "nested", [inner])
        img6 = self.image("img6", OTHER, "latest", [BASE1, BASE2, u("img6")])
        img7 = self.image("img7", DOOMED, "a", [u("img7")])
        self.h.push_manifest(DOOMED, "b", img7.body, OCI_MANIFEST)
        img8 = self.image("img8", DOOMED, "c", [u("img8")])
        self.delete(DOOMED, img7.digest)
        self.delete(DOOMED, img8.digest)
        img9 = self.image("img9", DOOMED_SHARED, "x", [BASE2, u("img9")])
        self.delete(DOOMED_SHARED, "x")
        self.delete(DOOMED_SHARED, img9.digest)
        orphan = u("orphan")
        self.orphan = self.h.push_blob(APP, orphan)
        self.tags = [(APP, "v1", img1), (APP, "v2", img2), (APP, "multi", idx),
                     (APP, "nested", outer), (OTHER, "latest", img6)]
        return self

    # what must live
    def live_images(self, delete_untagged):
        i = self.imgs
        live = {"img1", "img2", "sig1", "sig3", "ch1", "ch2", "idx", "ch3", "inner", "outer",
                "img6"}
        if not delete_untagged:
            live |= {"img0", "img3", "img5", "sig2"}
        return [i[n] for n in sorted(live)]

    def dead_images(self, delete_untagged):
        i = self.imgs
        dead = {"img4", "img7", "img8", "img9"}
        if delete_untagged:
            dead |= {"img0", "img3", "img5", "sig2"}
        return [i[n] for n in sorted(dead)]

    def live_digests(self, delete_untagged):
        out = set()
        for img in self.live_images(delete_untagged):
            out |= img.own_digests()
        return out

    def expected_deleted(self, delete_untagged, on_disk):
        """Blobs the collector must delete: everything on disk that no live
        image names. Cross-checked against the images the scenario killed."""
        live = self.live_digests(delete_untagged)
        expected = set(on_disk) - live
        dead = {self.orphan}
        for img in self.dead_images(delete_untagged):
            dead |= img.own_digests()
        dead -= live
        self.tc.assertEqual(expected, dead,
                            "test bug or stray blobs: the blobs on disk outside the live set "
                            "are not exactly those of the deleted images")
        return expected


def blobs_on_disk(tree):
    """{digest: size} of every blobs/sha256/xx/<hex>/data."""
    out = {}
    base = tree.t / "blobs" / "sha256"
    if not base.is_dir():
        return out
    for fan in base.iterdir():
        for d in fan.iterdir():
            data = d / "data"
            if data.is_file():
                out["sha256:" + d.name] = data.stat().st_size
    return out


def layer_links(tree):
    """[(repo path, digest)] of every _layers link."""
    out = []
    repos = tree.t / "repositories"
    for dp, _dirs, files in os.walk(repos):
        if "link" in files and f"{os.sep}_layers{os.sep}" in dp + os.sep:
            out.append((dp, Tree.read_link(Path(dp) / "link")))
    return out


def tree_snapshot(root):
    """Every path under root with (kind, size, mtime_ns): detects any change."""
    out = {}
    for dp, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(dp) / n
            st = p.lstat()
            out[str(p.relative_to(root))] = (p.is_dir(), st.st_size if p.is_file() else 0,
                                             st.st_mtime_ns if p.is_file() else 0)
    return out


class GcTestBase(unittest.TestCase):
    maxDiff = 8000

    def setUp(self):
        self.gc = gc_binary_or_skip()
        self.server = CairnServer()
        self.addCleanup(self.server.cleanup)
        self.server.start()
        self.root = str(self.server.root)
        self.tree = self.server.tree

    def settle(self):
        """cairn-gc counts in whole seconds and keeps a safety second: with
        --grace 0s a blob goes once its mtime is at least 2 s (in whole
        seconds) before the mark started (tools/gc_sweep.h). Let that pass."""
        time.sleep(2.1)

    def gc_json(self, *args, expect_rc=0):
        res = run_gc(self.gc, "--root", self.root, "--json", *args)
        self.assertIsNotNone(res.doc, f"no JSON on stdout ({res.json_error}):\n{res.describe()}")
        self.assertEqual(res.rc, expect_rc, res.describe())
        if expect_rc == 0:
            self.assertEqual(res.doc["errors"], [], res.describe())
        return res

    def restart(self):
        if self.server.proc is None:
            self.server.start()

    # -- checks through the server
    def assert_pulls(self, img, repo=None, tag=None):
        """img (by tag or digest) and everything below it GET byte-identical."""
        h = helpers_for(self.server)
        repo = repo or img.repo
        r = h.get_manifest(repo, tag or img.digest)
        self.assertEqual(r.status, 200, f"GET {repo}:{tag or img.digest} ({img}): {r!r}")
        self.assertEqual(r.body, img.body, f"{img}: manifest bytes differ")
        self.assertEqual(r.header("Docker-Content-Digest"), img.digest, r)
        for d, data in img.blobs.items():
            b = h.get_blob(repo, d)
            self.assertEqual(b.status, 200, f"{img}: blob {d}: {b!r}")
            self.assertEqual(sha256(b.body), d, f"{img}: blob {d} has other bytes")
            self.assertEqual(b.body, data)
        for c in img.children:
            self.assert_pulls(c, repo)

    def assert_gone_from_server(self, img):
        h = helpers_for(self.server)
        r = h.get_manifest(img.repo, img.digest)
        self.assertEqual(r.status, 404, f"{img} should be gone: {r!r}")

    def referrers(self, repo, digest):
        r = self.server.request("GET", f"/v2/{repo}/referrers/{digest}")
        self.assertEqual(r.status, 200, r)
        return {m["digest"] for m in r.json().get("manifests", [])}

    def catalog(self):
        r = self.server.request("GET", "/v2/_catalog?n=1000")
        self.assertEqual(r.status, 200, r)
        return set(r.json().get("repositories") or [])

    def assert_everything_live_pulls(self, sc, delete_untagged):
        for repo, tag, img in sc.tags:
            self.assert_pulls(img, repo, tag)
        for img in sc.live_images(delete_untagged):
            self.assert_pulls(img)
        i = sc.imgs
        self.assertIn(i["sig1"].digest, self.referrers(APP, i["img1"].digest),
                      "the signature of a kept image left the referrers list")
        self.assertIn(i["sig3"].digest, self.referrers(APP, i["sig1"].digest),
                      "the referrer of a kept referrer left the referrers list")
        self.assertEqual(self.catalog(), {APP, OTHER},
                         "repositories whose manifests were all deleted must leave the catalog")

    # -- checks on the tree
    def assert_sweep(self, sc, res, before, links_before, delete_untagged):
        doc = res.doc
        expected = sc.expected_deleted(delete_untagged, before)
        got = deleted_digests(doc)
        self.assertEqual(set(got), expected,
                         f"deleted.blobs: extra {sorted(set(got) - expected)}, "
                         f"missing {sorted(expected - set(got))}")
        for d, size in got.items():
            self.assertEqual(size, before[d], f"deleted.blobs size of {d}")
        after = blobs_on_disk(self.tree)
        self.assertEqual(set(after), set(before) - expected, "blobs left on disk")
        self.assertEqual(doc["deleted"]["bytes"], sum(before[d] for d in expected))
        want_links = sum(1 for _p, d in links_before if d in expected)
        self.assertEqual(doc["deleted"]["layer_links"], want_links, "deleted.layer_links")
        self.assertEqual([(p, d) for p, d in layer_links(self.tree) if d in expected], [],
                         "_layers links to swept blobs remain")
        want_revs = set()
        if delete_untagged:
            want_revs = {sc.imgs[n].digest for n in ("img0", "img3", "img5", "sig2")}
        self.assertEqual(set(doc["deleted"]["revisions"]), want_revs, "deleted.revisions")
        self.assertEqual(self.tree.problems(), [], "tree invariants after GC")
        self.assertFalse(self.tree.repo(DOOMED).exists(),
                         f"{self.tree.repo(DOOMED)}: an emptied repository must be removed")
        self.assertFalse((self.tree.repo(DOOMED_SHARED) / "_manifests").exists(),
                         "an emptied repository's _manifests must be removed")
        self.assertGreater(doc["deleted"]["directories"], 0, doc["deleted"])
        self.assertGreater(doc["marked"]["manifests"], 0, doc["marked"])
        self.assertGreater(doc["marked"]["blobs"], 0, doc["marked"])


class GcTest(GcTestBase):

    def run_scenario(self, delete_untagged, server_running):
        sc = Scenario(self, self.server).build()
        self.assertIn(APP, self.catalog())
        flags = ["--grace", "0s"] + (["--delete-untagged"] if delete_untagged else [])
        if not server_running:
            self.server.stop()
        self.settle()
        before = blobs_on_disk(self.tree)
        links_before = layer_links(self.tree)
        self.assertEqual(set(before) & sc.live_digests(False) & sc.live_digests(True),
                         sc.live_digests(True), "test bug: a live blob was never stored")

        # --dry-run: lists the same set, changes nothing
        snap = tree_snapshot(self.root)
        dry = self.gc_json("--dry-run", *flags)
        check_gc_document(self, dry.doc, dry_run=True, delete_untagged=delete_untagged,
                          grace_seconds=0)
        expected = sc.expected_deleted(delete_untagged, before)
        self.assertEqual(set(deleted_digests(dry.doc)), expected,
                         f"--dry-run deleted.blobs: extra "
                         f"{sorted(set(deleted_digests(dry.doc)) - expected)}, missing "
                         f"{sorted(expected - set(deleted_digests(dry.doc)))}")
        after_dry = tree_snapshot(self.root)
        changed = {k for k in set(snap) | set(after_dry)
                   if snap.get(k) != after_dry.get(k)
                   and not k.startswith(".cairn-tmp") and k != ".cairn-gc.lock"}
        self.assertEqual(changed, set(), "--dry-run changed the tree")

        res = self.gc_json(*flags)
        check_gc_document(self, res.doc, dry_run=False, delete_untagged=delete_untagged,
                          grace_seconds=0)
        self.assertEqual(deleted_digests(res.doc), deleted_digests(dry.doc),
                         "the real run deleted another set than --dry-run listed")
        self.assertEqual(sorted(res.doc["deleted"]["revisions"]),
                         sorted(dry.doc["deleted"]["revisions"]))
        self.assert_sweep(sc, res, before, links_before, delete_untagged)

        # a second run finds nothing more
        again = self.gc_json(*flags)
        self.assertEqual(again.doc["deleted"]["blobs"], [], again.describe())
        self.assertEqual(again.doc["deleted"]["revisions"], [], again.describe())

        self.restart()
        self.assert_everything_live_pulls(sc, delete_untagged)
        for img in sc.dead_images(delete_untagged):
            self.assert_gone_from_server(img)
        if delete_untagged:
            i = sc.imgs
            self.assertFalse(self.tree.tag_index_link(APP, "v1", i["img0"].digest).exists(),
                             "tag index entry of a deleted untagged revision remains")
            self.assertFalse(self.tree.referrer_link(APP, i["img4"].digest,
                                                     i["sig2"].digest).exists(),
                             "referrer entry of a deleted revision remains")
        # the registry still takes pushes of what was swept
        h = helpers_for(self.server)
        img4 = sc.imgs["img4"]
        for d, data in img4.blobs.items():
            h.push_blob(APP, data)
        h.push_manifest(APP, "gone-again", img4.body, OCI_MANIFEST)
        self.assert_pulls(img4, APP, "gone-again")
        self.server.stop()
        fsck_sound(self, self.root)

    def test_offline(self):
        self.run_scenario(delete_untagged=False, server_running=False)

    def test_online(self):
        self.run_scenario(delete_untagged=False, server_running=True)

    def test_delete_untagged_offline(self):
        self.run_scenario(delete_untagged=True, server_running=False)

    def test_delete_untagged_online(self):
        self.run_scenario(delete_untagged=True, server_running=True)


class GraceTest(GcTestBase):

    def test_grace_keeps_recent_blobs(self):
        sc = Scenario(self, self.server).build()
        self.server.stop()
        self.settle()
        before = blobs_on_disk(self.tree)
        expected = sc.expected_deleted(False, before)
        self.assertTrue(expected)

        res = self.gc_json()       # default grace: 1h
        check_gc_document(self, res.doc, dry_run=False, delete_untagged=False,
                          grace_seconds=3600)
        self.assertEqual(res.doc["deleted"]["blobs"], [],
                         "the default grace (1h) must keep blobs unreferenced just now")
        res = self.gc_json("--grace", "1h")
        self.assertEqual(res.doc["grace_seconds"], 3600)
        self.assertEqual(res.doc["deleted"]["blobs"], [], "--grace 1h deleted fresh blobs")
        self.assertEqual(set(blobs_on_disk(self.tree)), set(before))

        # two of the unreferenced blobs are made two hours old: only they go
        img4 = sc.imgs["img4"]
        own = [d for d in img4.blobs if d not in sc.live_digests(False)]
        old = {own[0], sc.orphan}
        t = time.time() - 7200
        for d in old:
            os.utime(self.tree.blob_data(d), (t, t))
        # and a live blob two hours old stays (it is referenced)
        os.utime(self.tree.blob_data(sha256(BASE1)), (t, t))
        res = self.gc_json("--grace", "1h")
        self.assertEqual(set(deleted_digests(res.doc)), old)
        self.assertEqual(set(blobs_on_disk(self.tree)), set(before) - old)
        res = self.gc_json("--grace", "90s", "--dry-run")
        self.assertEqual(res.doc["grace_seconds"], 90)
        self.assertEqual(res.doc["deleted"]["blobs"], [])
        res = self.gc_json("--grace", "168h", "--dry-run")
        self.assertEqual(res.doc["grace_seconds"], 168 * 3600)
        res = self.gc_json("--grace", "0s")
        self.assertEqual(set(deleted_digests(res.doc)), expected - old)
        self.restart()
        for repo, tag, img in sc.tags:
            self.assert_pulls(img, repo, tag)


class UploadsTest(GcTestBase):

    def test_stale_uploads_and_temp_files(self):
        h = helpers_for(self.server)
        name = "gc/uploads"
        h.push_blob(name, b"something so that the repository has a layer")
        stale = h.start_upload(name)
        r = h.patch(stale, b"stale bytes " * 10)
        self.assertEqual(r.status, 202, r)
        recent = h.start_upload(name)
        part1 = b"recent upload, first part " * 10
        r = h.patch(recent, part1)
        self.assertEqual(r.status, 202, r)
        recent = r.header("Location") or recent
        self.server.stop()
        stale_id = stale.rstrip("/").split("/")[-1].split("?")[0]
        recent_id = recent.rstrip("/").split("/")[-1].split("?")[0]
        sdir = self.tree.upload_dir(name, stale_id)
        rdir = self.tree.upload_dir(name, recent_id)
        self.assertTrue(sdir.is_dir(), sdir)
        self.assertTrue(rdir.is_dir(), rdir)
        (sdir / "startedat").write_bytes(b"2020-01-01T00:00:00Z")
        half_hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1800))
        (rdir / "startedat").write_bytes(half_hour_ago.encode())
        # a temp file an interrupted write left behind, long ago
        tmp = self.tree.repo(name) / "_layers" / ".cairn-tmp-Ab3dE9"
        tmp.write_bytes(b"sha256:")
        old = time.mktime((2020, 1, 1, 0, 0, 0, 0, 1, -1))
        os.utime(tmp, (old, old))

        res = self.gc_json("--dry-run", "--grace", "0s", "--uploads-older-than", "1h")
        self.assertEqual(res.doc["deleted"]["uploads"], 1, res.describe())
        self.assertTrue(sdir.is_dir(), "--dry-run removed an upload")
        self.assertTrue(tmp.exists(), "--dry-run removed a temp file")

        res = self.gc_json("--grace", "0s", "--uploads-older-than", "1h")
        check_gc_document(self, res.doc, dry_run=False, delete_untagged=False, grace_seconds=0)
        self.assertEqual(res.doc["deleted"]["uploads"], 1, res.describe())
        self.assertFalse(sdir.exists(), "the upload started in 2020 is still there")
        self.assertTrue((rdir / "data").is_file(), "the upload started 30 minutes ago went")
        self.assertEqual((rdir / "data").read_bytes(), part1)
        self.assertEqual(res.doc["deleted"]["temporary_files"], 1, res.describe())
        self.assertFalse(tmp.exists(), "the 2020 temp file is still there")

        self.restart()
        h = helpers_for(self.server)
        r = self.server.request("GET", stale)
        self.assertEqual(r.status, 404, f"the purged upload still answers: {r!r}")
        final = b"and the last part"
        r = h.put_upload(recent, sha256(part1 + final), final)
        self.assertEqual(r.status, 201, f"the kept upload cannot be finished: {r!r}")
        self.server.stop()
        fsck_sound(self, self.root)


class CommandLineTest(unittest.TestCase):

    def setUp(self):
        self.gc = gc_binary_or_skip()
        self.root = tempfile.mkdtemp(prefix="cairn-e2e-gc-cli-")
        self.addCleanup(shutil.rmtree, self.root, True)

    def test_usage_errors(self):
        cases = [
            (),
            ("--bogus", "--root", self.root),
            ("--root", self.root, "--grace", "banana"),
            ("--root", self.root, "--grace", "-1h"),
            ("--root", self.root, "--uploads-older-than", "soon"),
            ("--root", self.root, "--config", os.path.join(self.root, "c.yml")),
            ("--root", self.root, "stray"),
            ("--root",),
        ]
        for args in cases:
            with self.subTest(args=args):
                res = run_gc(self.gc, *args)
                self.assertEqual(res.rc, 2, res.describe())
                self.assertTrue(res.stderr.strip(), f"no message on stderr: {res.describe()}")

    def test_config_file_and_empty_tree(self):
        (Path(self.root) / "docker" / "registry" / "v2").mkdir(parents=True)
        conf = Path(self.root) / "config.yml"
        conf.write_text(yaml_doc({"version": 0.1,
                                  "storage": {"filesystem": {"rootdirectory": self.root}}}))
        res = run_gc(self.gc, "--config", conf, "--json", "--dry-run")
        self.assertEqual(res.rc, 0, res.describe())
        self.assertIsNotNone(res.doc, res.describe())
        check_gc_document(self, res.doc, dry_run=True, delete_untagged=False,
                          grace_seconds=3600)
        self.assertEqual(res.doc["deleted"]["blobs"], [])
        res = run_gc(self.gc, "--root", self.root, "--quiet")
        self.assertEqual(res.rc, 0, res.describe())
        self.assertEqual(res.stdout.strip(), "", "--quiet printed something")


if __name__ == "__main__":
    unittest.main()
