"""The online GC stress test: cairn-gc --grace 0s in a loop against the live
tree while several clients push, re-push and delete small images.

Every manifest that got a 201 by tag and was not deleted afterwards (by its
tag or by digest) must still GET 200 with the same digest at the end, and every
blob it references must GET byte-identical; then cairn-fsck must find the tree
sound.

Clients push the way real ones do: HEAD each blob first and skip the upload
when the repository already has it (the re-use path that races with the
sweep), sometimes a cross-repository mount instead, then PUT the manifest.
Every third GC run adds --delete-untagged, so only manifests pushed by tag (and
still tagged) must survive; everything here is pushed by tag.

Environment:
  CAIRN_GC_STRESS_SECONDS   how long the clients push (default 20)
  CAIRN_GC_STRESS_THREADS   how many clients (default 4)
  CAIRN_GC_STRESS_SEED      random seed (default: time-based; printed)
"""

import hashlib
import os
import random
import re
import sys
import threading
import time
import unittest

from cairn_server import (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, CairnServer, canonical_json,
                          do_request, sha256)
from gc_tools import deleted_digests, fsck_sound, gc_binary_or_skip, run_gc

SECONDS = float(os.environ.get("CAIRN_GC_STRESS_SECONDS", "20"))
THREADS = int(os.environ.get("CAIRN_GC_STRESS_THREADS", "4"))
SEED = int(os.environ.get("CAIRN_GC_STRESS_SEED", str(int(time.time() * 1000) % 1000000)))

REPOS = [f"stress/r{i}" for i in range(4)]
# Base layers every client draws from: shared between repositories and
# images. The first few are common (always referenced); the rest are rare, so
# that deleting the few images using one leaves it unreferenced, old enough
# for the sweep, and then the next push re-uses it (HEAD hit or mount):
# the race the collector must win.
BASES = [f"stress base layer {i}\n".encode() * (30 + 7 * i) for i in range(40)]
COMMON_BASES = 4
ACCEPT = OCI_MANIFEST


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}

    def add(self, key, n=1):
        with self.lock:
            self.c[key] = self.c.get(key, 0) + n


class Pusher(threading.Thread):
    def __init__(self, idx, port, deadline, stats, errors):
        super().__init__(name=f"pusher-{idx}", daemon=True)
        self.idx = idx
        self.port = port
        self.deadline = deadline
        self.stats = stats
        self.errors = errors
        self.rng = random.Random(SEED * 1000 + idx)
        self.n = 0
        # (repo, tag) -> (digest, body, {blob digest: bytes}); what must survive
        self.live = {}
        # digest -> (repo, body, blobs): every image this client built
        self.built = {}

    def req(self, method, path, body=None, headers=None):
        return do_request(self.port, method, path, body=body, headers=headers, timeout=60)

    def error(self, msg):
        with self.stats.lock:
            self.errors.append(f"{self.name}: {msg}")

    def ensure_blob(self, repo, data):
        d = sha256(data)
        r = self.req("HEAD", f"/v2/{repo}/blobs/{d}")
        if r.status == 200:
            self.stats.add("blob HEAD hits")
            return True
        if r.status != 404:
            self.error(f"HEAD {repo} {d}: {r!r}")
            return False
        if self.rng.random() < 0.3:
            src = self.rng.choice([x for x in REPOS if x != repo])
            r = self.req("POST", f"/v2/{repo}/blobs/uploads/?mount={d}&from={src}")
            if r.status == 201:
                self.stats.add("mounts")
                return True
            if r.status == 202:
                loc = r.header("Location")
                r = self.req("PUT", loc + ("&" if "?" in loc else "?") + f"digest={d}",
                             body=data, headers={"Content-Type": "application/octet-stream"})
                if r.status == 201:
                    self.stats.add("blob uploads")
                    return True
                self.error(f"PUT upload {repo} {d}: {r!r}")
                return False
            self.error(f"mount {repo} {d} from {src}: {r!r}")
            return False
        r = self.req("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", body=data,
                     headers={"Content-Type": "application/octet-stream"})
        if r.status != 201:
            self.error(f"monolithic upload {repo} {d}: {r!r}")
            return False
        self.stats.add("blob uploads")
        return True

    def build(self, repo):
        self.n += 1
        config = canonical_json({"architecture": "amd64", "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": []},
                                 "stress": f"{self.idx}-{self.n}-{SEED}"})
        layers = []
        if self.rng.random() < 0.5:
            layers.append(self.rng.choice(BASES[:COMMON_BASES]))
        for b in self.rng.sample(BASES[COMMON_BASES:], self.rng.randint(1, 2)):
            layers.append(b)
        if self.rng.random() < 0.5:
            layers.append(f"own layer {self.idx}-{self.n}-{SEED}\n".encode() * 10)
        m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
             "config": {"mediaType": OCI_CONFIG, "digest": sha256(config),
                        "size": len(config)},
             "layers": [{"mediaType": OCI_LAYER, "digest": sha256(b), "size": len(b)}
                        for b in layers]}
        body = canonical_json(m)
        blobs = {sha256(b): b for b in [config] + layers}
        self.built[sha256(body)] = (repo, body, blobs)
        return sha256(body), body, blobs

    def push(self, repo, tag, digest, body, blobs):
        self.stats.add("image pushes")
        for data in blobs.values():
            if not self.ensure_blob(repo, data):
                return
        if self.rng.random() < 0.2:
            time.sleep(self.rng.random() * 0.2)   # a client busy with other blobs
        r = self.req("PUT", f"/v2/{repo}/manifests/{tag}", body=body,
                     headers={"Content-Type": OCI_MANIFEST})
        if r.status == 201:
            self.stats.add("manifests acknowledged (201)")
            if r.header("Docker-Content-Digest") != digest:
                self.error(f"PUT {repo}:{tag}: digest {r.header('Docker-Content-Digest')}, "
                           f"want {digest}")
            self.live[(repo, tag)] = (digest, body, blobs)
        elif r.status in (400, 404) and (b"BLOB_UNKNOWN" in r.body):
            # A blob the HEAD saw went before the manifest was accepted: the
            # push fails, nothing was acknowledged, a client retries. Legal.
            self.stats.add("manifest PUTs refused (blob unknown)")
        else:
            self.error(f"PUT {repo}:{tag}: {r!r}")

    def delete_something(self):
        (repo, tag), (digest, _b, _bl) = self.rng.choice(sorted(self.live.items()))
        if self.rng.random() < 0.5:
            r = self.req("DELETE", f"/v2/{repo}/manifests/{tag}")
            if r.status != 202:
                self.error(f"DELETE {repo}:{tag}: {r!r}")
            self.live.pop((repo, tag), None)
            self.stats.add("tags deleted")
        else:
            # Digests are unique to this client (the config names it), so only
            # this client's tags can point at it: forget them all.
            r = self.req("DELETE", f"/v2/{repo}/manifests/{digest}")
            if r.status != 202:
                self.error(f"DELETE {repo}@{digest}: {r!r}")
            for k in [k for k, v in self.live.items() if k[0] == repo and v[0] == digest]:
                del self.live[k]
            self.stats.add("manifests deleted")

    def run(self):
        try:
            while time.monotonic() < self.deadline:
                self.stats.add("client operations")
                x = self.rng.random()
                tag = f"c{self.idx}-{self.n}-{self.rng.randrange(1 << 30):x}"
                if x < 0.25 and self.live:
                    self.delete_something()
                elif x < 0.5 and self.built:
                    # re-push an image built earlier (maybe deleted since, its
                    # blobs maybe swept), in the repository it was built for
                    digest = self.rng.choice(sorted(self.built))
                    repo, body, blobs = self.built[digest]
                    self.stats.add("re-pushes")
                    self.push(repo, tag, digest, body, blobs)
                else:
                    repo = self.rng.choice(REPOS)
                    digest, body, blobs = self.build(repo)
                    self.push(repo, tag, digest, body, blobs)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error(f"crashed: {e!r}")


class GcLoop(threading.Thread):
    def __init__(self, gc, location, stop, stats, errors):
        super().__init__(name="gc-loop", daemon=True)
        self.gc = gc
        self.location = list(location)  # ["--root", R] or ["--config", F]
        self.stop_event = stop
        self.stats = stats
        self.errors = errors

    def once(self, n):
        args = self.location + ["--grace", "0s", "--json"]
        if n % 3 == 2:
            args.append("--delete-untagged")
        res = run_gc(self.gc, *args, timeout=300)
        self.stats.add("gc runs")
        if "--delete-untagged" in args:
            self.stats.add("gc runs with --delete-untagged")
        if res.rc != 0 or res.doc is None:
            with self.stats.lock:
                self.errors.append(f"cairn-gc run {n}: {res.describe()}")
            return
        self.stats.add("blobs deleted by gc", len(deleted_digests(res.doc)))
        self.stats.add("revisions deleted by gc", len(res.doc["deleted"]["revisions"]))
        self.stats.add("blobs kept as freshened", res.doc["kept"]["freshened"])
        if res.doc["errors"]:
            with self.stats.lock:
                self.errors.append(f"cairn-gc run {n} reported errors: {res.doc['errors']}")

    def run(self):
        n = 0
        try:
            while not self.stop_event.is_set():
                self.once(n)
                n += 1
        except Exception as e:  # noqa: BLE001
            with self.stats.lock:
                self.errors.append(f"gc loop crashed: {e!r}")


def run_gc_stress(tc, server, location, seconds=None):
    """Pushes for `seconds` (default SECONDS) from THREADS clients to the running
    `server` while cairn-gc --grace 0s loops on `location` (its --root or
    --config arguments); then every acknowledged tagged image must pull
    byte-identical and cairn-fsck must find the tree sound. Shared with the
    S3 variant (test_s3.py)."""
    seconds = SECONDS if seconds is None else seconds
    gc = gc_binary_or_skip()
    stats, errors = Stats(), []
    print(f"\ngc stress: {THREADS} clients for {seconds:g} s, seed {SEED}", file=sys.stderr)

    deadline = time.monotonic() + seconds
    pushers = [Pusher(i, server.port, deadline, stats, errors) for i in range(THREADS)]
    stop = threading.Event()
    loop = GcLoop(gc, location, stop, stats, errors)
    loop.start()
    for p in pushers:
        p.start()
    for p in pushers:
        p.join(seconds + 240)
        tc.assertFalse(p.is_alive(), f"{p.name} did not finish")
    stop.set()
    loop.join(300)
    tc.assertFalse(loop.is_alive(), "the gc loop did not finish")
    # once more, quiet, with --delete-untagged: tagged images survive it
    loop.once(2)

    if server.proc.poll() is not None:
        tc.fail(f"cairn exited with {server.proc.returncode} during the run "
                  f"(seed {SEED}); first errors:\n" + "\n".join(errors[:5])
                  + "\n" + server.log_tail())

    survivors = {}
    for p in pushers:
        survivors.update(p.live)
    failures = []
    blobs_checked = set()
    for (repo, tag), (digest, body, blobs) in sorted(survivors.items()):
        r = do_request(server.port, "GET", f"/v2/{repo}/manifests/{tag}",
                       headers={"Accept": ACCEPT})
        if r.status != 200 or r.header("Docker-Content-Digest") != digest \
                or sha256(r.body) != digest:
            failures.append(f"{repo}:{tag} ({digest}): {r!r}")
            continue
        for d in blobs:
            b = do_request(server.port, "GET", f"/v2/{repo}/blobs/{d}")
            if b.status != 200 or "sha256:" + hashlib.sha256(b.body).hexdigest() != d:
                failures.append(f"{repo}:{tag} ({digest}) blob {d}: {b!r}")
            blobs_checked.add((repo, d))

    with stats.lock:
        counts = dict(stats.c)
    counts["tagged manifests that must survive"] = len(survivors)
    counts["(repo, blob) pairs checked"] = len(blobs_checked)
    width = max(len(k) for k in counts)
    print("gc stress counts:", file=sys.stderr)
    for k in sorted(counts):
        print(f"  {k:<{width}}  {counts[k]}", file=sys.stderr)

    if errors or failures:
        rx = re.compile(r'level=(error|warn)|" 5\d\d ', re.IGNORECASE)
        lines = [ln for ln in server.log_since(0).splitlines() if rx.search(ln)]
        print(f"server log, errors and 5xx ({len(lines)} lines, first 30):\n  "
              + "\n  ".join(lines[:30]), file=sys.stderr)
    tc.assertEqual(errors, [], f"{len(errors)} errors during the run "
                                 f"(seed {SEED}):\n" + "\n".join(errors[:20]))
    tc.assertEqual(failures, [], f"{len(failures)} acknowledged images broken "
                                   f"(seed {SEED}):\n" + "\n".join(failures[:20]))
    tc.assertGreater(counts.get("gc runs", 0), 1, "the collector hardly ran")
    tc.assertGreater(len(survivors), 0, "nothing was pushed")
    server.stop()
    fsck_sound(tc, location)


class GcStressTest(unittest.TestCase):

    def test_gc_beside_pushes(self):
        server = CairnServer(threads=2)
        self.addCleanup(server.cleanup)
        server.start()
        run_gc_stress(self, server, ["--root", str(server.root)])


if __name__ == "__main__":
    unittest.main()
