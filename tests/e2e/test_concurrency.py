"""Concurrent pushes to one repository."""

import threading
import unittest

from cairn_server import OCI_MANIFEST, CairnTestCase, sha256

THREADS = 8


class ConcurrentPushTest(CairnTestCase):

    def run_threads(self, fn):
        errors, threads = [], []

        def wrap(i):
            try:
                fn(i)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(f"thread {i}: {e!r}")

        for i in range(THREADS):
            t = threading.Thread(target=wrap, args=(i,))
            threads.append(t)
            t.start()
        for t in threads:
            t.join(timeout=90)
            self.assertFalse(t.is_alive(), "a pushing thread hung")
        self.assertEqual(errors, [])

    def test_distinct_images_to_one_repo(self):
        name = "concurrent/app"
        images = {}

        def push(i):
            # Half the layers go monolithic, half chunked.
            layer_a = f"thread {i} layer a ".encode() * 5000
            layer_b = f"thread {i} layer b ".encode() * 7000
            cfg = f'{{"thread":{i}}}'.encode()
            self.push_blob(name, cfg)
            self.push_blob(name, layer_a)
            self.push_blob_chunked(name, [layer_b[:40000], layer_b[40000:]])
            img = self.make_image(name, f"t{i}", layers=2)
            images[f"t{i}"] = img
            body = img.body
            self.push_manifest(name, f"extra{i}", body, OCI_MANIFEST)

        self.run_threads(push)
        r = self.req("GET", f"/v2/{name}/tags/list")
        self.assertEqual(r.status, 200, r)
        want = sorted([f"t{i}" for i in range(THREADS)] + [f"extra{i}" for i in range(THREADS)])
        self.assertEqual(r.json()["tags"], want)
        for tag, img in images.items():
            r = self.get_manifest(name, tag)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, img.body)
        self.assert_tree_clean()

    def test_same_blob_pushed_concurrently(self):
        name = "concurrent/sameblob"
        data = b"everyone pushes me " * 100000

        def push(i):
            if i % 2:
                self.push_blob(name, data)
            else:
                self.push_blob_chunked(name, [data[:500000], data[500000:]])

        self.run_threads(push)
        self.assert_blob_stored(name, sha256(data), data)
        r = self.get_blob(name, sha256(data))
        self.assertEqual(r.body, data)
        self.assert_tree_clean()

    def test_same_tag_pushed_concurrently(self):
        name = "concurrent/sametag"
        images = [self.make_image(name, push=False) for _ in range(THREADS)]

        def push(i):
            self.push_manifest(name, "race", images[i].body, OCI_MANIFEST)

        self.run_threads(push)
        current = self.tree.read_link(self.tree.tag_current_link(name, "race"))
        self.assertIn(current, {img.digest for img in images})
        for img in images:
            self.assert_link(self.tree.tag_index_link(name, "race", img.digest), img.digest)
        r = self.get_manifest(name, "race")
        self.assertEqual(r.header("Docker-Content-Digest"), current)
        self.assert_tree_clean()

    def test_reads_during_pushes(self):
        name = "concurrent/readers"
        img = self.make_image(name, "stable", layers=1)
        stop = threading.Event()
        read_errors = []

        def reader():
            while not stop.is_set():
                r = self.get_manifest(name, "stable")
                if r.status != 200 or r.body != img.body:
                    read_errors.append(r)
                    return

        readers = [threading.Thread(target=reader) for _ in range(2)]
        for t in readers:
            t.start()
        try:
            self.run_threads(lambda i: self.make_image(name, f"w{i}", layers=2))
        finally:
            stop.set()
            for t in readers:
                t.join(timeout=30)
        self.assertEqual(read_errors, [])

    def test_same_manifest_deleted_concurrently(self):
        """Several DELETEs of one manifest at once: one 202, the others 404
        MANIFEST_UNKNOWN (never a 500 from the one that lost the race)."""
        name = "concurrent/deletes"
        for round_ in range(12):
            img = self.make_image(name, f"r{round_}", layers=1)
            barrier = threading.Barrier(THREADS)
            statuses = [None] * THREADS

            def delete(i):
                barrier.wait(timeout=30)
                r = self.req("DELETE", f"/v2/{name}/manifests/{img.digest}")
                statuses[i] = (r.status, r.body)

            self.run_threads(delete)
            codes = sorted(s for s, _ in statuses)
            self.assertEqual(codes.count(202), 1, f"round {round_}: {statuses}")
            self.assertEqual(codes.count(404), THREADS - 1, f"round {round_}: {statuses}")
            for status, body in statuses:
                if status == 404:
                    self.assertIn(b"MANIFEST_UNKNOWN", body, statuses)
            self.assertEqual(self.get_manifest(name, img.digest).status, 404)
        self.assert_tree_clean()


if __name__ == "__main__":
    unittest.main()
