"""cairn-fsck over trees the server wrote: sound after pushes; each planted
damage found with its kind (exit 1); --repair fixes it (then exit 0); the
restarted server still serves every undamaged image byte-identical.

The binary comes from CAIRN_FSCK_BINARY (ctest sets it); without it every
test is skipped.
"""

import json
import os
import subprocess
import threading
import unittest
from pathlib import Path

from cairn_server import (DOCKER_MANIFEST, OCI_EMPTY, OCI_MANIFEST, CairnServer, Tree,
                          helpers_for, sha256, split_digest)

FSCK_TIMEOUT = 120.0
KINDS = {"corrupt_blob", "missing_blob_data", "dangling_link", "invalid_link",
         "tag_without_revision", "manifest_invalid", "manifest_reference_missing",
         "temporary_file", "stale_upload"}


def fsck_binary_or_skip():
    binary = os.environ.get("CAIRN_FSCK_BINARY")
    if not binary or not Path(binary).is_file():
        raise unittest.SkipTest("CAIRN_FSCK_BINARY is not set or names no file")
    return binary


class Result:
    def __init__(self, cmd, proc):
        self.cmd = cmd
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode("utf-8", "replace")
        self.stderr = proc.stderr.decode("utf-8", "replace")
        self.doc = None
        if "--json" in cmd and self.stdout.strip():
            self.doc = json.loads(self.stdout)

    def kinds(self):
        return [p["kind"] for p in self.doc["problems"]]

    def __repr__(self):
        return (f"<{' '.join(self.cmd)} -> {self.rc}\nstdout: {self.stdout[-6000:]}\n"
                f"stderr: {self.stderr[-2000:]}>")


class FsckTestCase(unittest.TestCase):
    maxDiff = 6000

    def setUp(self):
        self.binary = fsck_binary_or_skip()
        self.server = CairnServer()
        self.server.start()
        self.h = helpers_for(self.server)
        self.tree = self.server.tree

    def tearDown(self):
        try:
            self.server.stop()
        finally:
            self.server.cleanup()

    def fsck(self, *args, root=None):
        cmd = [self.binary]
        if root is not False:
            cmd += ["--root", str(root or self.server.root)]
        cmd += [str(a) for a in args]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=FSCK_TIMEOUT)
        return Result(cmd, proc)

    def assert_sound(self, res):
        self.assertEqual(res.rc, 0, res)
        self.assertIs(res.doc["sound"], True, res)
        self.assertEqual(res.doc["problems"], [], res)

    def blob_files(self):
        return sorted(p for p in (self.tree.t / "blobs").rglob("data") if p.is_file())

    def pull_image(self, name, ref, img):
        """GET the manifest by `ref` and every blob it names: byte-identical."""
        r = self.h.get_manifest(name, ref)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, img.body)
        blobs = [img.config] + list(img.layers) if img.config is not None else []
        for data in blobs:
            g = self.h.get_blob(name, sha256(data))
            self.assertEqual(g.status, 200, g)
            self.assertEqual(g.body, data)


class SoundTreeTest(FsckTestCase):

    def test_sound_after_pushes(self):
        h = self.h
        a = h.make_image("fsck/app", "v1", layers=3)
        h.make_image("fsck/app", "v2", layers=1, media_type=DOCKER_MANIFEST)
        children = [h.make_image("fsck/multi", None, layers=1) for _ in range(2)]
        h.make_index("fsck/multi", children, "latest")
        h.make_image("fsck/app", None, artifact_type="application/vnd.example.sbom",
                     config_media_type=OCI_EMPTY, layers=1, subject=a.descriptor())
        h.push_blob("fsck/app", b"pushed, never used by a manifest")
        self.server.stop()

        res = self.fsck("--json")
        self.assert_sound(res)
        self.assertEqual(res.doc["blobs"]["verified"], len(self.blob_files()))
        self.assertGreater(res.doc["blobs"]["bytes"], 0)
        self.assertIsInstance(res.doc["blobs"]["seconds"], (int, float))
        self.assertIsInstance(res.doc["blobs"]["bytes_per_second"], (int, float))
        self.assertGreaterEqual(res.doc["links"]["checked"], 20)
        self.assertEqual(res.doc["orphaned_blobs"], [])

        human = self.fsck("--jobs", "1")
        self.assertEqual(human.rc, 0, human)
        self.assertIn("the tree is sound", human.stdout)
        self.assertIn("problems: 0 found", human.stdout)
        self.assertEqual(human.stderr, "")  # no progress line: stderr is no terminal

        # --config FILE: the root from storage.filesystem.rootdirectory.
        config = self.server.logdir / "fsck.yml"
        config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n"
                          f"    rootdirectory: {self.server.root}\n")
        self.assert_sound(self.fsck("--config", config, "--json", root=False))
        self.server.start()

    def test_orphaned_blob_is_not_a_problem(self):
        name = "fsck/orphans"
        d = self.h.push_blob(name, b"soon orphaned")
        self.server.stop()
        alg, hx = split_digest(d)
        link = self.tree.layer_link(name, d)
        link.unlink()
        link.parent.rmdir()
        res = self.fsck("--json")
        self.assert_sound(res)
        self.assertEqual(res.doc["orphaned_blobs"], [d])
        self.server.start()

    def test_usage(self):
        self.server.stop()
        root = str(self.server.root)
        for args in ([], ["--root", root, "--config", "x.yml"], ["--root", root, "--jobs", "0"],
                     ["--root", root, "--jobs", "many"], ["--root", root, "--bogus"],
                     ["--root", root, "extra"], ["--root"],
                     ["--root", str(self.server.root / "nonexistent")],
                     ["--config", str(self.server.root / "missing.yml")]):
            with self.subTest(args=args):
                res = self.fsck(*args, root=False)
                self.assertEqual(res.rc, 2, res)
                self.assertIn("cairn-fsck", res.stderr)
        res = self.fsck("--help", root=False)
        self.assertEqual(res.rc, 0, res)
        self.assertIn("--repair", res.stdout)
        self.server.start()


class DamageRepairTest(FsckTestCase):

    def test_damages_found_repaired_and_images_still_served(self):
        h, t = self.h, self.tree
        images = {
            "a": h.make_image("fsck/a", "v1", layers=2),
            "b": h.make_image("fsck/b", "v1", layers=1, media_type=DOCKER_MANIFEST),
        }
        c = h.make_image("fsck/c", "v1", layers=1)
        flipped_data = os.urandom(256 * 1024)
        truncated_data = os.urandom(100 * 1024)
        flipped = h.push_blob("fsck/damaged", flipped_data)
        truncated = h.push_blob("fsck/damaged", truncated_data)
        upload = h.start_upload("fsck/damaged")
        upload_id = upload.rstrip("/").split("/")[-1].split("?")[0]
        self.server.stop()

        # 1. a flipped byte, 2. a truncated blob (neither used by a manifest)
        p = t.blob_data(flipped)
        damaged = bytearray(flipped_data)
        damaged[12345] ^= 0x40
        p.write_bytes(bytes(damaged))
        t.blob_data(truncated).write_bytes(truncated_data[:5000])
        # 3. a link to a missing blob
        missing = sha256(b"never pushed")
        t.layer_link("fsck/a", missing).parent.mkdir(parents=True)
        t.layer_link("fsck/a", missing).write_text(missing)
        # 4. garbage in a link (Distribution's torn write: half a digest)
        t.tag_current_link("fsck/c", "v1").write_text(c.digest[:30])
        # 5. a tag to a missing revision
        ghost = t.tag_current_link("fsck/a", "ghost")
        ghost.parent.mkdir(parents=True)
        ghost.write_text(sha256(b"no such manifest"))
        # 6. a temporary file left by a crash
        temporary = t.repo("fsck/b") / "_layers" / ".cairn-tmp-Xy12ab"
        temporary.write_bytes(b"sha256:12")
        # 7. a stale upload
        (t.upload_dir("fsck/damaged", upload_id) / "startedat").write_text("2020-01-02T03:04:05Z")

        res = self.fsck("--json")
        self.assertEqual(res.rc, 1, res)
        self.assertIs(res.doc["sound"], False)
        kinds = res.kinds()
        self.assertTrue(set(kinds) <= KINDS, res)
        self.assertEqual(sorted(kinds), sorted([
            "corrupt_blob", "corrupt_blob", "dangling_link", "invalid_link",
            "tag_without_revision", "temporary_file", "stale_upload"]), res)
        by_kind = {}
        for problem in res.doc["problems"]:
            self.assertIs(problem["repaired"], False)
            by_kind.setdefault(problem["kind"], []).append(problem["path"])
        self.assertEqual(sorted(by_kind["corrupt_blob"]),
                         sorted([str(t.blob_data(flipped)), str(t.blob_data(truncated))]))
        self.assertEqual(by_kind["dangling_link"], [str(t.layer_link("fsck/a", missing))])
        self.assertEqual(by_kind["temporary_file"], [str(temporary)])
        self.assertEqual(by_kind["stale_upload"], [str(t.upload_dir("fsck/damaged", upload_id))])
        # read-only without --repair
        self.assertTrue(temporary.exists())
        self.assertFalse((self.server.root / ".cairn-quarantine").exists())

        human = self.fsck()
        self.assertEqual(human.rc, 1, human)
        self.assertIn("corrupt_blob", human.stdout)
        self.assertIn("problems: 7 found, 0 repaired", human.stdout)

        repaired = self.fsck("--repair", "--json")
        self.assertEqual(repaired.rc, 1, repaired)
        for problem in repaired.doc["problems"]:
            self.assertIs(problem["repaired"], True, repaired)
        # the corrupt blobs' layer links dangled once they were quarantined
        self.assertEqual(repaired.kinds().count("dangling_link"), 3, repaired)
        self.assert_sound(self.fsck("--json"))

        # The quarantine holds the corrupt bytes, intact, with a reason.
        quarantine = self.server.root / ".cairn-quarantine" / "sha256"
        kept = {q.name.split(".")[0]: q for q in quarantine.iterdir()
                if not q.name.endswith(".reason")}
        self.assertEqual(kept[split_digest(flipped)[1]].read_bytes(), bytes(damaged))
        self.assertEqual(kept[split_digest(truncated)[1]].read_bytes(), truncated_data[:5000])
        self.assertEqual(len(list(quarantine.glob("*.reason"))), 2)
        self.assertFalse(t.blob_data(flipped).exists())

        self.assertFalse(temporary.exists())
        self.assertFalse(t.upload_dir("fsck/damaged", upload_id).exists())
        self.assertFalse(t.tag_dir("fsck/a", "ghost").exists())
        self.assertFalse(t.tag_dir("fsck/c", "v1").exists())
        self.assertEqual(self.tree.problems(), [])

        # The server serves every undamaged image, byte-identical.
        self.server.start()
        for name, img in images.items():
            self.pull_image(f"fsck/{name}", "v1", img)
        self.pull_image("fsck/c", c.digest, c)  # only its tag was damaged
        self.assertEqual(h.get_manifest("fsck/c", "v1").status, 404)
        self.assertEqual(h.get_blob("fsck/damaged", flipped).status, 404)

    def test_manifest_reference_missing_is_never_repaired(self):
        img = self.h.make_image("fsck/broken", "v1", layers=2)
        self.server.stop()
        layer = sha256(img.layers[1])
        link = self.tree.layer_link("fsck/broken", layer)
        link.unlink()
        link.parent.rmdir()
        for args in (["--json"], ["--repair", "--json"], ["--json"]):
            res = self.fsck(*args)
            self.assertEqual(res.rc, 1, res)
            self.assertEqual(res.kinds(), ["manifest_reference_missing"], res)
            self.assertIs(res.doc["problems"][0]["repaired"], False)
            self.assertIn(layer, res.doc["problems"][0]["detail"])
        self.assertTrue(self.tree.revision_link("fsck/broken", img.digest).exists())
        self.server.start()

    def test_repair_beside_a_running_server(self):
        """--repair takes the GC lock around each repair: pushes going on at
        the same time are neither broken nor reported."""
        h, t = self.h, self.tree
        base = h.make_image("fsck/live", "base", layers=1)
        missing = sha256(b"dangling while the server runs")
        t.layer_link("fsck/live", missing).parent.mkdir(parents=True)
        t.layer_link("fsck/live", missing).write_text(missing)
        pushed, errors, stop = [], [], threading.Event()

        def pusher():
            try:
                n = 0
                while not stop.is_set() and n < 200:
                    pushed.append((f"t{n}", h.make_image("fsck/live", f"t{n}", layers=2)))
                    n += 1
            except Exception as e:  # reported below
                errors.append(e)

        thread = threading.Thread(target=pusher)
        thread.start()
        try:
            repaired = self.fsck("--repair", "--json", "--jobs", "2")
        finally:
            stop.set()
            thread.join()
        self.assertEqual(errors, [])
        self.assertEqual(repaired.rc, 1, repaired)
        self.assertEqual(repaired.kinds(), ["dangling_link"], repaired)
        self.assertIs(repaired.doc["problems"][0]["repaired"], True)
        self.assert_sound(self.fsck("--json"))
        self.pull_image("fsck/live", "base", base)
        for tag, img in pushed:
            self.pull_image("fsck/live", tag, img)


if __name__ == "__main__":
    unittest.main()
