#!/usr/bin/env python3
"""Generate a registry tree in Distribution's filesystem layout, fast, for
benchmarking garbage collectors and fsck (python3 stdlib only).

    gen_tree.py ROOT [--repos 200] [--manifests 50] [--untagged 0.3]
                [--deleted 0.05] [--blob-bytes 300] [--big-mib 0]
                [--big-count 4] [--seed 1]

writes ROOT/docker/registry/v2 directly (no server involved):

  * --repos repositories bench/rNNN, each with --manifests image manifests
    (OCI, schemaVersion 2). Each manifest has a config and 4 layers: 2 of its
    own, 1 from a pool of 5 shared by the repository, 1 from a pool of 20
    shared by every repository. Blobs are about --blob-bytes bytes each.
  * a fraction --untagged of each repository's manifests is untagged: they were
    superseded by a later push to the same tag (the tag's index keeps them,
    as Distribution's and cairn's trees do).
  * on top, --deleted (a fraction of --manifests) manifests per repository were
    deleted by digest: their blobs and _layers links stay, their revision link
    does not. Both collectors delete those blobs with or without
    --delete-untagged.
  * --big-mib MiB spread over --big-count layers of one image tagged
    bench/big:big (for fsck throughput); 0 for none.

With the defaults: 200 x 50 = 10,000 manifests (7,000 tagged, 3,000 untagged),
about 41,000 referenced blobs, plus 2 deleted manifests per repository (their blobs are garbage): 42,620 blobs.
Prints a JSON summary on stdout.
"""
import argparse
import hashlib
import json
import os
import random
import sys
import time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class Tree:
    def __init__(self, root):
        self.t = os.path.join(root, "docker", "registry", "v2")
        self.blobs = 0
        self.bytes = 0
        self.links = 0
        self._dirs = set()

    def mkdir(self, d):
        if d not in self._dirs:
            os.makedirs(d, exist_ok=True)
            self._dirs.add(d)

    def put_blob(self, data):
        h = hashlib.sha256(data).hexdigest()
        d = os.path.join(self.t, "blobs", "sha256", h[:2], h)
        if d not in self._dirs:
            self.mkdir(d)
            with open(os.path.join(d, "data"), "wb") as f:
                f.write(data)
            self.blobs += 1
            self.bytes += len(data)
        return "sha256:" + h

    def put_big_blob(self, size, seed):
        """A blob of `size` bytes streamed to disk (never whole in memory)."""
        tmpdir = os.path.join(self.t, "blobs", "sha256")
        self.mkdir(tmpdir)
        tmp = os.path.join(tmpdir, f".gen-tree-{os.getpid()}-{seed}")
        rng = random.Random(seed)
        chunk = bytearray(rng.randbytes(1 << 20))
        h = hashlib.sha256()
        left = size
        n = 0
        with open(tmp, "wb") as f:
            while left > 0:
                chunk[0:8] = n.to_bytes(8, "little")   # every MiB differs
                piece = chunk if left >= len(chunk) else chunk[:left]
                h.update(piece)
                f.write(piece)
                left -= len(piece)
                n += 1
        hx = h.hexdigest()
        d = os.path.join(tmpdir, hx[:2], hx)
        self.mkdir(d)
        os.replace(tmp, os.path.join(d, "data"))
        self.blobs += 1
        self.bytes += size
        return "sha256:" + hx

    def link(self, path, digest):
        self.mkdir(os.path.dirname(path))
        with open(path, "w") as f:
            f.write(digest)
        self.links += 1

    def repo(self, name):
        return os.path.join(self.t, "repositories", *name.split("/"))

    def layer_link(self, repo, digest):
        self.link(os.path.join(self.repo(repo), "_layers", "sha256", digest[7:], "link"), digest)

    def revision_link(self, repo, digest):
        self.link(os.path.join(self.repo(repo), "_manifests", "revisions", "sha256",
                               digest[7:], "link"), digest)

    def tag_index(self, repo, tag, digest):
        self.link(os.path.join(self.repo(repo), "_manifests", "tags", tag, "index", "sha256",
                               digest[7:], "link"), digest)

    def tag_current(self, repo, tag, digest):
        self.link(os.path.join(self.repo(repo), "_manifests", "tags", tag, "current", "link"),
                  digest)


def filler(label, size):
    """Deterministic bytes of about `size` naming `label` (unique content)."""
    head = (label + "\n").encode()
    reps = max(1, (size - len(head)) // 16)
    return head + hashlib.sha256(head).hexdigest()[:16].encode() * reps


def desc(mt, digest, data):
    return {"mediaType": mt, "digest": digest, "size": len(data)}


def image(tree, repo, label, layers, blob_bytes):
    """Config + layers (list of (digest, bytes)) stored and linked; returns
    (manifest digest, manifest bytes)."""
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                      "config": {"Env": [filler(label, blob_bytes // 3).decode()[:blob_bytes]]},
                      "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    cd = tree.put_blob(cfg)
    tree.layer_link(repo, cd)
    for d, _b in layers:
        tree.layer_link(repo, d)
    m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": desc(OCI_CONFIG, cd, cfg),
                    "layers": [desc(OCI_LAYER, d, b) for d, b in layers]},
                   indent=3).encode()
    return tree.put_blob(m), m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root")
    ap.add_argument("--repos", type=int, default=200)
    ap.add_argument("--manifests", type=int, default=50)
    ap.add_argument("--untagged", type=float, default=0.3)
    ap.add_argument("--deleted", type=float, default=0.05)
    ap.add_argument("--blob-bytes", type=int, default=300)
    ap.add_argument("--big-mib", type=int, default=0)
    ap.add_argument("--big-count", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t0 = time.monotonic()
    tree = Tree(a.root)
    rng = random.Random(a.seed)
    bb = a.blob_bytes
    summary = {"repositories": 0, "manifests": 0, "tagged": 0, "untagged": 0,
               "deleted_manifests": 0, "tags": 0}
    global_pool = []
    for i in range(20):
        data = filler(f"global base layer {i} seed {a.seed}", bb)
        global_pool.append((tree.put_blob(data), data))

    n_untagged = round(a.manifests * a.untagged)
    n_tagged = a.manifests - n_untagged
    n_deleted = round(a.manifests * a.deleted)
    for r in range(a.repos):
        repo = f"bench/r{r:03d}"
        summary["repositories"] += 1
        pool = []
        for i in range(5):
            data = filler(f"{repo} base layer {i} seed {a.seed}", bb)
            pool.append((tree.put_blob(data), data))

        def new_image(label):
            own = []
            for k in range(2):
                data = filler(f"{repo} {label} layer {k} seed {a.seed}", bb)
                own.append((tree.put_blob(data), data))
            layers = [rng.choice(global_pool), rng.choice(pool)] + own
            return image(tree, repo, f"{repo} {label} seed {a.seed}", layers, bb)

        tags = [f"v{j}" for j in range(n_tagged)] if n_tagged else []
        # untagged ones first (older pushes to some tag), then the current ones
        for j in range(n_untagged):
            d, _m = new_image(f"old{j}")
            tree.revision_link(repo, d)
            if tags:
                tree.tag_index(repo, tags[j % len(tags)], d)
            summary["manifests"] += 1
            summary["untagged"] += 1
        for j, tag in enumerate(tags):
            d, _m = new_image(f"cur{j}")
            tree.revision_link(repo, d)
            tree.tag_index(repo, tag, d)
            tree.tag_current(repo, tag, d)
            summary["manifests"] += 1
            summary["tagged"] += 1
            summary["tags"] += 1
        for j in range(n_deleted):
            new_image(f"deleted{j}")       # blobs and layer links, no revision
            summary["deleted_manifests"] += 1

    if a.big_mib > 0 and a.big_count > 0:
        repo = "bench/big"
        per = a.big_mib * (1 << 20) // a.big_count
        layers = []
        for k in range(a.big_count):
            d = tree.put_big_blob(per, a.seed * 1000 + k)
            layers.append((d, b"x" * 0))
        # sizes in the manifest must be the real ones
        cfg = json.dumps({"architecture": "amd64", "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        cd = tree.put_blob(cfg)
        tree.layer_link(repo, cd)
        for d, _ in layers:
            tree.layer_link(repo, d)
        m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                        "config": desc(OCI_CONFIG, cd, cfg),
                        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": per}
                                   for d, _ in layers]}).encode()
        md = tree.put_blob(m)
        tree.revision_link(repo, md)
        tree.tag_index(repo, "big", md)
        tree.tag_current(repo, "big", md)
        summary["repositories"] += 1
        summary["manifests"] += 1
        summary["tagged"] += 1
        summary["tags"] += 1

    summary["blobs"] = tree.blobs
    summary["blob_bytes"] = tree.bytes
    summary["links"] = tree.links
    summary["seconds"] = round(time.monotonic() - t0, 2)
    json.dump(summary, sys.stdout)
    print()


if __name__ == "__main__":
    main()
