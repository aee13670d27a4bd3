"""Crash debris (issue 11, item 7): what a killed server or a killed cairn-gc
leaves behind, and that one cairn-gc run cleans it and one cairn-fsck
--repair pass repairs it.

The trees are written on disk directly, as cairn lays them out (no server):

- KilledGcTest: a tree with many deletable blobs; cairn-gc --grace 0s is
  killed (SIGKILL) at random points of its run, several times, new
  deletable blobs planted before each; then one cairn-gc run must leave a
  tree cairn-fsck finds sound, with every tagged image intact.
- ServerDebrisTest: what kill -9 of the server leaves (temporaries in blob,
  link, tag and upload directories, a blob directory holding only a
  temporary, an empty blob directory), what a killed cairn-gc leaves (an
  empty blob directory with `_layers` links to it) and a hidden tag entry
  (an interrupted atomic tag change): one cairn-gc run leaves a sound tree;
  on a copy, one cairn-fsck --repair pass repairs every problem it reports.

- RunMarkerTest: with a real server: cairn-gc walks the tree for debris
  only when R/.cairn-run says a writer may have left some (its history
  unknown, a server killed with SIGKILL), not after clean exits; --full
  walks anyway; a stop is forgotten only by a walk that covered it.

Environment: CAIRN_GC_DEBRIS_ROUNDS (default 6), CAIRN_GC_DEBRIS_SEED.
"""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

from cairn_server import CairnServer
from gc_tools import fsck_binary, fsck_sound, gc_binary_or_skip, run_fsck, run_gc

ROUNDS = int(os.environ.get("CAIRN_GC_DEBRIS_ROUNDS", "6"))
SEED = int(os.environ.get("CAIRN_GC_DEBRIS_SEED", str(int(time.time() * 1000) % 1000000)))
OLD = time.time() - 2 * 24 * 3600
UPLOAD_ID = "00000000-0000-4000-8000-00000000000a"


class Tree:
    """A registry tree under `root` (R), written file by file."""

    def __init__(self, root):
        self.root = Path(root)
        self.v2 = self.root / "docker" / "registry" / "v2"

    def blob_dir(self, digest):
        hex_ = digest.split(":", 1)[1]
        return self.v2 / "blobs" / "sha256" / hex_[:2] / hex_

    def repo(self, name):
        return self.v2 / "repositories" / name

    def put(self, content):
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        d = self.blob_dir(digest)
        d.mkdir(parents=True, exist_ok=True)
        (d / "data").write_bytes(content)
        return digest

    @staticmethod
    def write_link(path, digest):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(digest)

    def layer_link(self, name, digest):
        return self.repo(name) / "_layers" / "sha256" / digest.split(":", 1)[1] / "link"

    def revision_link(self, name, digest):
        return (self.repo(name) / "_manifests" / "revisions" / "sha256" /
                digest.split(":", 1)[1] / "link")

    def tag_dir(self, name, tag):
        return self.repo(name) / "_manifests" / "tags" / tag

    def layer(self, name, content):
        digest = self.put(content)
        self.write_link(self.layer_link(name, digest), digest)
        return digest

    def image(self, name, tag, seed):
        """A tagged OCI image: config and one layer. Its blob digests."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
        layer = f"layer of {seed}\n".encode() * 20
        config_digest = self.layer(name, config)
        layer_digest = self.layer(name, layer)
        body = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest, "size": len(layer)}],
        }, separators=(",", ":")).encode()
        manifest = self.put(body)
        self.write_link(self.revision_link(name, manifest), manifest)
        tag_dir = self.tag_dir(name, tag)
        self.write_link(tag_dir / "index" / "sha256" / manifest.split(":", 1)[1] / "link",
                        manifest)
        self.write_link(tag_dir / "current" / "link", manifest)
        return [manifest, config_digest, layer_digest]

    def blobs_on_disk(self):
        out = set()
        base = self.v2 / "blobs"
        for data in base.glob("*/*/*/data"):
            out.add(data.parent.parent.parent.name + ":" + data.parent.name)
        return out

    def age_everything(self, seconds=OLD):
        for dirpath, _dirs, files in os.walk(self.root):
            for f in files:
                os.utime(os.path.join(dirpath, f), (seconds, seconds), follow_symlinks=False)


def temporary(directory, suffix, content=b"half a write"):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (".cairn-tmp-" + suffix)
    path.write_bytes(content)
    return path


class DebrisTestBase(unittest.TestCase):
    def setUp(self):
        self.gc = gc_binary_or_skip()
        if fsck_binary() is None:
            raise unittest.SkipTest("CAIRN_FSCK_BINARY is not set or names no file")
        self.tmp = tempfile.mkdtemp(prefix="cairn-gc-debris-")
        if not os.environ.get("CAIRN_E2E_KEEP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.tree = Tree(Path(self.tmp) / "root")

    def gc_run(self, root=None):
        res = run_gc(self.gc, "--root", root or self.tree.root, "--grace", "0s", "--json")
        self.assertEqual(res.rc, 0, res.describe())
        return res

    def fsck_json(self, root, *extra):
        res = run_fsck(fsck_binary(), "--root", root, "--json", *extra)
        self.assertIsNotNone(res.doc, res.describe())
        return res


class KilledGcTest(DebrisTestBase):
    def test_gc_killed_at_random_points(self):
        rng = random.Random(SEED)
        print(f"seed {SEED}", file=sys.stderr)
        t = self.tree
        kept = {}
        for i in range(3):
            kept[f"debris/r{i}"] = t.image(f"debris/r{i}", "v1", f"image {i}")
        strays = 0

        def plant(round_):
            nonlocal strays
            for j in range(300):
                name = f"debris/r{j % 3}"
                digest = t.layer(name, f"stray {round_} {j}\n".encode() * 3)
                if j % 5 == 0:  # linked from a second repository too
                    t.write_link(t.layer_link(f"debris/r{(j + 1) % 3}", digest), digest)
                strays += 1
            t.age_everything()

        # A first run, to completion, gives the time a run takes.
        plant(0)
        started = time.monotonic()
        res = self.gc_run()
        duration = time.monotonic() - started
        self.assertEqual(len(res.doc["deleted"]["blobs"]), 300, res.describe())
        killed = 0
        for round_ in range(1, ROUNDS + 1):
            plant(round_)
            p = subprocess.Popen([self.gc, "--root", str(t.root), "--grace", "0s", "--quiet"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.0, duration))
            p.kill()
            rc = p.wait()
            killed += rc == -9
        print(f"{killed} of {ROUNDS} runs killed before they ended (a run: {duration:.2f} s)",
              file=sys.stderr)

        self.gc_run()
        fsck_sound(self, t.root)
        on_disk = t.blobs_on_disk()
        for name, digests in kept.items():
            for digest in digests:
                self.assertIn(digest, on_disk, f"{name}: {digest} lost")
        self.assertEqual(on_disk, set(d for ds in kept.values() for d in ds),
                         "strays left behind")


class ServerDebrisTest(DebrisTestBase):
    def plant(self):
        t = self.tree
        self.image = t.image("debris/app", "v1", "app")
        manifest = self.image[0]
        # kill -9 of the server: a manifest put after its temporary was
        # written (a blob directory holding only it), an upload commit after
        # it made the blob's directory, temporaries in link, tag and upload
        # directories.
        half = "sha256:" + "ab" * 32
        temporary(t.blob_dir(half), "Ab12Cd")
        t.blob_dir("sha256:" + "cd" * 32).mkdir(parents=True)
        temporary(t.layer_link("debris/app", self.image[2]).parent, "aaaaaa")
        temporary(t.revision_link("debris/app", manifest).parent, "bbbbbb")
        temporary(t.tag_dir("debris/app", "v1") / "current", "cccccc")
        temporary(t.repo("debris/app") / "_layers", "dddddd")
        upload = t.repo("debris/app") / "_uploads" / UPLOAD_ID
        upload.mkdir(parents=True)
        (upload / "data").write_bytes(b"partial")
        (upload / "startedat").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        temporary(upload, "eeeeee")
        # A killed cairn-gc: data removed, its directory and links left.
        gone = t.layer("debris/app", b"swept, but not all the way")
        t.write_link(t.layer_link("debris/other", gone), gone)
        (t.blob_dir(gone) / "data").unlink()
        # An interrupted atomic tag change.
        hidden = t.tag_dir("debris/app", ".v2.removing")
        t.write_link(hidden / "current" / "link", manifest)
        t.age_everything()
        # The hidden entry's ctime cannot be set back: the cutoff (the mark's
        # start in whole seconds - 1 s, with --grace 0s) passes it within 2 s.
        time.sleep(2.2)

    def test_one_gc_run_cleans_it(self):
        self.plant()
        copy = Path(self.tmp) / "copy"
        shutil.copytree(self.tree.root, copy, symlinks=True)
        before = self.fsck_json(self.tree.root)
        self.assertIs(before.doc["sound"], False, before.describe())
        kinds = {p["kind"] for p in before.doc["problems"]}
        self.assertEqual(kinds, {"temporary_file", "missing_blob_data", "dangling_link"},
                         before.describe())

        res = self.gc_run()
        self.assertEqual(res.doc["deleted"]["layer_links"], 2, res.describe())
        self.assertEqual(res.doc["deleted"]["temporary_files"], 7, res.describe())
        fsck_sound(self, self.tree.root)
        on_disk = self.tree.blobs_on_disk()
        for digest in self.image:
            self.assertIn(digest, on_disk)
        self.assertTrue((self.tree.repo("debris/app") / "_uploads" / UPLOAD_ID / "data").exists(),
                        "an upload in progress was removed")

        # On the copy, one cairn-fsck --repair pass repairs all it reports.
        repaired = self.fsck_json(copy, "--repair")
        self.assertEqual(repaired.rc, 1, repaired.describe())
        self.assertEqual(len(repaired.doc["problems"]), len(before.doc["problems"]),
                         repaired.describe())
        for problem in repaired.doc["problems"]:
            self.assertIs(problem["repaired"], True, repaired.describe())
        fsck_sound(self, copy)


if __name__ == "__main__":
    unittest.main()


class RunMarkerTest(DebrisTestBase):
    """R/.cairn-run decides whether cairn-gc looks for crash debris."""

    def plant(self):
        suffix = "".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
        path = temporary(self.tree.v2 / "blobs", suffix)
        os.utime(path, (OLD, OLD))
        return path

    def walk(self, *extra):
        res = run_gc(self.gc, "--root", self.tree.root, "--grace", "0s", "--json", *extra)
        self.assertEqual(res.rc, 0, res.describe())
        return res.doc["debris"]["walk"], res.doc["debris"]["unclean_stops"], res.doc

    def markers(self):
        return sorted(p.name for p in (self.tree.root / ".cairn-run").iterdir())

    def test_walks_only_after_an_unclean_stop(self):
        server = CairnServer(root=self.tree.root)
        self.addCleanup(server.cleanup)
        server.start()
        # The server created R/.cairn-run: what came before is unknown.
        names = self.markers()
        self.assertEqual(len([n for n in names if n.startswith("stopped.")]), 1, names)
        self.assertEqual(len([n for n in names if n.startswith("cairn.")]), 1, names)
        time.sleep(2.1)  # the history stop must be older than the cutoff (now - 1 s)
        planted = self.plant()
        self.assertEqual(self.walk()[0], "unknown history")
        self.assertFalse(planted.exists())
        # That walk covered the history: the running server's file is left.
        self.assertEqual([n for n in self.markers() if not n.startswith("cairn.")], [])

        # A running server and clean runs: nothing is walked for.
        planted = self.plant()
        walk, stops, doc = self.walk()
        self.assertEqual((walk, stops), ("skipped", 0))
        self.assertEqual(doc["deleted"]["temporary_files"], 0)
        self.assertTrue(planted.exists())
        self.assertEqual(self.walk("--dry-run")[0], "skipped")
        self.assertEqual(self.walk("--full")[0], "asked")
        self.assertFalse(planted.exists())

        # A clean stop removes the server's file.
        server.stop()
        self.assertEqual(self.markers(), [])
        planted = self.plant()
        self.assertEqual(self.walk()[0], "skipped")
        self.assertTrue(planted.exists())
        planted.unlink()

        # kill -9: its file stays, unlocked.
        server.start()
        server.signal(signal.SIGKILL)
        server.wait()
        [left] = self.markers()
        self.assertTrue(left.startswith("cairn."), left)
        planted = self.plant()
        before = self.markers()
        self.assertEqual(self.walk("--dry-run")[:2], ("unclean stop", 1))
        self.assertTrue(planted.exists())
        self.assertEqual(self.markers(), before)  # a dry run changes nothing

        walk, stops, doc = self.walk()
        self.assertEqual((walk, stops), ("unclean stop", 1))
        self.assertEqual(doc["deleted"]["temporary_files"], 1)
        self.assertFalse(planted.exists())
        # Seen stopped just now: the walk's cutoff was not past it, so it is
        # kept (renamed with that time) for the next run.
        [stopped] = self.markers()
        self.assertTrue(stopped.startswith("stopped.") and stopped.endswith(left), stopped)
        time.sleep(2.1)
        self.assertEqual(self.walk()[:2], ("unclean stop", 1))
        self.assertEqual(self.markers(), [])
        self.assertEqual(self.walk()[:2], ("skipped", 0))
