"""Tags under kill -9: manifest PUTs by tag, re-tags, tag DELETEs and
manifest DELETEs race in several clients while cairn is killed with SIGKILL
at random moments (and restarted) several times.

After every kill the tree must hold no tag without its revision (cairn-fsck
finds no `tag_without_revision`: no tag directory without `current/link`, no
tag naming a manifest the repository does not hold), and after every restart
each tag that tags/list shows must answer GET 200. Other debris a kill may
leave (a temporary file, an upload directory, an empty blob directory) is
checked once, at the end: one cairn-gc run with no grace period must clean it
all, so that cairn-fsck then finds the whole tree sound.

Environment:
  CAIRN_TAG_CRASH_ROUNDS   how many kills (default 20, ~30 s)
  CAIRN_TAG_CRASH_SEED     random seed (default: time-based; printed)
"""

import os
import random
import signal
import sys
import threading
import time
import unittest

from cairn_server import (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, CairnServer, canonical_json,
                          do_request, sha256)
from gc_tools import fsck_binary, fsck_sound, gc_binary, run_fsck, run_gc

ROUNDS = int(os.environ.get("CAIRN_TAG_CRASH_ROUNDS", "20"))
SEED = int(os.environ.get("CAIRN_TAG_CRASH_SEED", str(int(time.time() * 1000) % 1000000)))
THREADS = 4
REPOS = ["crash/a", "crash/b"]
TAGS = [f"t{i}" for i in range(12)]   # few tags: first PUTs, re-tags and deletes collide
IMAGES = 6                            # few manifests: a DELETE by digest often hits a tag


def build_images():
    """(digest, body, {blob digest: bytes}) for a few small images."""
    layer = b"tag crash shared layer\n" * 40
    images = []
    for i in range(IMAGES):
        config = canonical_json({"architecture": "amd64", "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": []},
                                 "image": i})
        m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
             "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
             "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}]}
        body = canonical_json(m)
        images.append((sha256(body), body, {sha256(config): config, sha256(layer): layer}))
    return images


class Client(threading.Thread):
    def __init__(self, idx, port, stop, images, errors):
        super().__init__(name=f"client-{idx}", daemon=True)
        self.port = port
        self.stop = stop
        self.images = images
        self.errors = errors
        self.rng = random.Random(SEED * 100 + idx)
        self.ops = 0

    def run(self):
        while not self.stop.is_set():
            repo = self.rng.choice(REPOS)
            tag = self.rng.choice(TAGS)
            digest, body, _ = self.rng.choice(self.images)
            x = self.rng.random()
            try:
                if x < 0.55:
                    r = do_request(self.port, "PUT", f"/v2/{repo}/manifests/{tag}", body=body,
                                   headers={"Content-Type": OCI_MANIFEST}, timeout=10)
                    ok = (201,)
                elif x < 0.8:
                    r = do_request(self.port, "DELETE", f"/v2/{repo}/manifests/{tag}",
                                   timeout=10)
                    ok = (202, 404)
                else:
                    r = do_request(self.port, "DELETE", f"/v2/{repo}/manifests/{digest}",
                                   timeout=10)
                    ok = (202, 404)
            except OSError:
                return  # the server was killed
            except Exception:  # noqa: BLE001 - http.client's errors when killed
                return
            self.ops += 1
            if r.status not in ok and not self.stop.is_set():
                self.errors.append(f"{r!r}")


class TagCrashTest(unittest.TestCase):
    def setUp(self):
        self.server = CairnServer(threads=4)
        self.addCleanup(self.server.cleanup)
        self.images = build_images()

    def push_blobs(self):
        blobs = {}
        for _d, _b, bl in self.images:
            blobs.update(bl)
        for repo in REPOS:
            for d, data in blobs.items():
                r = self.server.request("POST", f"/v2/{repo}/blobs/uploads/?digest={d}",
                                        body=data,
                                        headers={"Content-Type": "application/octet-stream"})
                self.assertEqual(r.status, 201, r)

    def check_listed_tags(self, round_):
        for repo in REPOS:
            r = self.server.request("GET", f"/v2/{repo}/tags/list")
            if r.status == 404:
                continue
            self.assertEqual(r.status, 200, r)
            for tag in r.json().get("tags") or []:
                g = self.server.request("GET", f"/v2/{repo}/manifests/{tag}",
                                        headers={"Accept": OCI_MANIFEST})
                self.assertEqual(g.status, 200,
                                 f"round {round_}: {repo}:{tag} is listed but GET says {g!r}")

    def check_fsck(self, round_):
        binary = fsck_binary()
        if binary is None:
            print("note: CAIRN_FSCK_BINARY not set: fsck check skipped", file=sys.stderr)
            return
        res = run_fsck(binary, "--root", self.server.root, "--json")
        self.assertIsNotNone(res.doc, res.describe())
        bad = [p for p in res.doc.get("problems", []) if p.get("kind") == "tag_without_revision"]
        self.assertEqual(bad, [], f"round {round_} (seed {SEED}): {res.describe()}")

    def test_kill_during_tag_changes(self):
        print(f"tag crash seed {SEED}, {ROUNDS} rounds", file=sys.stderr)
        rng = random.Random(SEED)
        self.server.start()
        self.push_blobs()
        errors = []
        total = 0
        for round_ in range(ROUNDS):
            stop = threading.Event()
            clients = [Client(i + round_ * THREADS, self.server.port, stop, self.images, errors)
                       for i in range(THREADS)]
            for c in clients:
                c.start()
            time.sleep(0.6 + rng.random() * 1.6)
            self.server.proc.send_signal(signal.SIGKILL)
            self.server.proc.wait()
            stop.set()
            for c in clients:
                c.join(15)
            total += sum(c.ops for c in clients)
            self.server.proc = None
            self.check_fsck(round_)
            self.server.start()
            self.check_listed_tags(round_)
        self.assertEqual(errors, [], f"seed {SEED}")
        print(f"tag crash: {total} operations over {ROUNDS} kills", file=sys.stderr)
        self.server.stop()
        self.check_fsck(ROUNDS)
        self.check_one_gc_leaves_sound_tree()

    def check_one_gc_leaves_sound_tree(self):
        binary = gc_binary()
        if binary is None:
            print("note: CAIRN_GC_BINARY not set: gc check skipped", file=sys.stderr)
            return
        # The grace period is compared with whole-second times of the
        # debris: let the last of it be older than "0s" for sure.
        time.sleep(2.2)
        res = run_gc(binary, "--root", self.server.root, "--grace", "0s", "--json")
        self.assertEqual(res.rc, 0, res.describe())
        fsck_sound(self, self.server.root)


if __name__ == "__main__":
    unittest.main()
