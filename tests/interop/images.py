#!/usr/bin/env python3
"""Offline test images for cairn's interop tests (python3 stdlib only).

  images.py build OUT
      OUT/oci    OCI image layout (oci-layout, index.json, blobs/sha256/...):
                   tag "multi"  OCI image manifest, linux/amd64, 3 gzip layers
                                of a few hundred KiB of random data each
                   tag "index"  OCI image index with 2 platform manifests
                                (linux/amd64, linux/arm64), 1 layer each
      OUT/v2s2   skopeo "dir:" layout (version, manifest.json, <hex> blobs)
                   holding a Docker schema2 image with 3 gzip layers
      OUT/digests.env   shell assignments: MULTI_DIGEST, INDEX_DIGEST,
                   INDEX_CHILD_AMD64, INDEX_CHILD_ARM64, V2S2_DIGEST,
                   MULTI_CONFIG, V2S2_CONFIG

  images.py reachable LAYOUT_OR_DIR DIGEST
      print every blob digest reachable from manifest DIGEST (itself, config,
      layers, child manifests), one per line.  LAYOUT_OR_DIR is an OCI layout
      (blobs/sha256/<hex>), a skopeo dir: (<hex>, manifest.json) or a
      registry tree (<root>/docker/registry/v2, docs/layout.md).

  images.py check-diffids LAYOUT_OR_DIR DIGEST
      for an image manifest: gunzip every layer and check its sha256 against
      the config's rootfs.diff_ids.  Exit 1 on mismatch.

  images.py docker-archive LAYOUT DIGEST OUT.tar NAME:TAG
      write the image manifest DIGEST of an OCI layout as a `docker save`
      archive (manifest.json, config, uncompressed layer tars) that `docker
      load` takes as NAME:TAG: what skopeo's docker-archive: would make.

  images.py oci-archive LAYOUT DIGEST OUT.tar NAME
      write manifest or index DIGEST and every blob it reaches as an OCI
      image layout in a tar (skopeo's oci-archive:FILE:NAME), its index.json
      naming it NAME (org.opencontainers.image.ref.name, as skopeo does, and
      io.containerd.image.name, for `ctr images import`).

  images.py archive-file ARCHIVE PATH
      print the content of file PATH (e.g. etc/greeting) in the image of a
      `docker save` archive, as its last layer holding PATH has it.  Exit 1
      when no layer has it.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
D2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
D2_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
D2_CONFIG = "application/vnd.docker.container.image.v1+json"
D2_LAYER_GZ = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, D2_MANIFEST)
INDEX_TYPES = (OCI_INDEX, D2_LIST)


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def canon(obj):
    # Stable, compact-ish JSON; the bytes are what gets digested.
    return json.dumps(obj, indent=2, sort_keys=False).encode() + b"\n"


def make_layer(name, kib):
    """Return (gzip bytes, diff_id) of a tar holding name/random.bin."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        d = tarfile.TarInfo(name)
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        d.mtime = 1700000000
        tf.addfile(d)
        data = os.urandom(kib * 1024)
        f = tarfile.TarInfo(name + "/random.bin")
        f.size = len(data)
        f.mode = 0o644
        f.mtime = 1700000000
        tf.addfile(f, io.BytesIO(data))
    tar = raw.getvalue()
    gz = gzip.compress(tar, compresslevel=6, mtime=0)
    return gz, sha256(tar)


class Store:
    def __init__(self, put):
        self.put = put  # put(bytes) -> digest

    def desc(self, media_type, data, **extra):
        dg = self.put(data)
        d = {"mediaType": media_type, "digest": dg, "size": len(data)}
        d.update(extra)
        return d


def image(store, arch, layer_specs, docker=False):
    layers, diff_ids = [], []
    for name, kib in layer_specs:
        gz, diff_id = make_layer(name, kib)
        layers.append(store.desc(D2_LAYER_GZ if docker else OCI_LAYER_GZ, gz))
        diff_ids.append(diff_id)
    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z",
                     "created_by": "cairn interop layer %d" % i}
                    for i in range(len(diff_ids))],
    }
    cfg = canon(config)
    manifest = {"schemaVersion": 2,
                "mediaType": D2_MANIFEST if docker else OCI_MANIFEST,
                "config": store.desc(D2_CONFIG if docker else OCI_CONFIG, cfg),
                "layers": layers}
    mb = canon(manifest)
    return mb, manifest["config"]["digest"]


def build(out):
    oci = os.path.join(out, "oci")
    blobdir = os.path.join(oci, "blobs", "sha256")
    os.makedirs(blobdir)

    def put_oci(data):
        dg = sha256(data)
        with open(os.path.join(blobdir, dg[7:]), "wb") as f:
            f.write(data)
        return dg

    st = Store(put_oci)
    refs = []
    digests = {}

    # 1. multi-layer image: 3 layers, a few hundred KiB each
    mb, cfg = image(st, "amd64", [("l1", 300), ("l2", 400), ("l3", 200)])
    d = st.desc(OCI_MANIFEST, mb,
                annotations={"org.opencontainers.image.ref.name": "multi"})
    refs.append(d)
    digests["MULTI_DIGEST"] = d["digest"]
    digests["MULTI_CONFIG"] = cfg

    # 2. multi-arch index with 2 platform manifests
    children = []
    for arch, key in (("amd64", "INDEX_CHILD_AMD64"), ("arm64", "INDEX_CHILD_ARM64")):
        cb, _ = image(st, arch, [("p-" + arch, 150)])
        cd = st.desc(OCI_MANIFEST, cb, platform={"architecture": arch, "os": "linux"})
        children.append(cd)
        digests[key] = cd["digest"]
    ib = canon({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    d = st.desc(OCI_INDEX, ib,
                annotations={"org.opencontainers.image.ref.name": "index"})
    refs.append(d)
    digests["INDEX_DIGEST"] = d["digest"]

    with open(os.path.join(oci, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(oci, "index.json"), "wb") as f:
        f.write(canon({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": refs}))

    # 3. Docker schema2 image in skopeo's dir: transport
    v2 = os.path.join(out, "v2s2")
    os.makedirs(v2)

    def put_dir(data):
        dg = sha256(data)
        with open(os.path.join(v2, dg[7:]), "wb") as f:
            f.write(data)
        return dg

    mb, cfg = image(Store(put_dir), "amd64",
                    [("d1", 250), ("d2", 350), ("d3", 300)], docker=True)
    with open(os.path.join(v2, "manifest.json"), "wb") as f:
        f.write(mb)
    with open(os.path.join(v2, "version"), "w") as f:
        f.write("Directory Transport Version: 1.1\n")
    digests["V2S2_DIGEST"] = sha256(mb)
    digests["V2S2_CONFIG"] = cfg

    with open(os.path.join(out, "digests.env"), "w") as f:
        for k, v in digests.items():
            f.write("%s=%s\n" % (k, v))


def blob_path(where, dg):
    hexd = dg.split(":", 1)[1]
    p = os.path.join(where, "blobs", "sha256", hexd)
    if os.path.exists(p):
        return p
    p = os.path.join(where, hexd)
    if os.path.exists(p):
        return p
    # a registry tree (docker/registry/v2: blobs/sha256/<hex[0:2]>/<hex>/data)
    p = os.path.join(where, "blobs", "sha256", hexd[:2], hexd, "data")
    if os.path.exists(p):
        return p
    # dir: transport keeps the top-level manifest only as manifest.json
    p = os.path.join(where, "manifest.json")
    if os.path.exists(p):
        with open(p, "rb") as f:
            if sha256(f.read()) == dg:
                return p
    raise SystemExit("blob %s not found under %s" % (dg, where))


def read_blob(where, dg):
    with open(blob_path(where, dg), "rb") as f:
        data = f.read()
    if sha256(data) != dg:
        raise SystemExit("blob %s under %s has wrong content" % (dg, where))
    return data


def reachable(where, dg, out):
    out.append(dg)
    m = json.loads(read_blob(where, dg))
    mt = m.get("mediaType")
    if mt in INDEX_TYPES or (mt is None and "manifests" in m):
        for c in m["manifests"]:
            reachable(where, c["digest"], out)
    else:
        out.append(m["config"]["digest"])
        for l in m.get("layers", []):
            out.append(l["digest"])
    return out


def check_diffids(where, dg):
    m = json.loads(read_blob(where, dg))
    cfg = json.loads(read_blob(where, m["config"]["digest"]))
    want = cfg["rootfs"]["diff_ids"]
    got = []
    for l in m["layers"]:
        data = read_blob(where, l["digest"])
        if "gzip" in l["mediaType"]:
            data = gzip.decompress(data)
        got.append(sha256(data))
    if got != want:
        print("diff_ids mismatch:\n got  %s\n want %s" % (got, want), file=sys.stderr)
        sys.exit(1)


def member_path(name):
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def archive_file(archive, path):
    want = member_path(path)
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        found = None
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                for m in inner.getmembers():
                    if member_path(m.name) == want and m.isfile():
                        found = inner.extractfile(m).read()
    if found is None:
        print("%s: no layer holds %s" % (archive, path), file=sys.stderr)
        sys.exit(1)
    sys.stdout.buffer.write(found)


def _add_bytes(tf, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 1700000000
    tf.addfile(info, io.BytesIO(data))


def _add_dir(tf, name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = 1700000000
    tf.addfile(info)


def docker_archive(layout, dg, out, name):
    m = json.loads(read_blob(layout, dg))
    config = read_blob(layout, m["config"]["digest"])
    layers = []
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        _add_bytes(tf, m["config"]["digest"][7:] + ".json", config)
        for l in m["layers"]:
            data = read_blob(layout, l["digest"])
            if "gzip" in l["mediaType"]:
                data = gzip.decompress(data)
            hexd = sha256(data)[7:]
            _add_dir(tf, hexd)
            _add_bytes(tf, hexd + "/layer.tar", data)
            layers.append(hexd + "/layer.tar")
        _add_bytes(tf, "manifest.json", json.dumps(
            [{"Config": m["config"]["digest"][7:] + ".json", "RepoTags": [name],
              "Layers": layers}]).encode())


def oci_archive(layout, dg, out, name):
    top = None
    with open(os.path.join(layout, "index.json"), "rb") as f:
        for d in json.load(f)["manifests"]:
            if d["digest"] == dg:
                top = dict(d)
    if top is None:
        raise SystemExit("%s is not in %s/index.json" % (dg, layout))
    top["annotations"] = {"io.containerd.image.name": name,
                          "org.opencontainers.image.ref.name": name}
    seen = []
    for d in reachable(layout, dg, []):
        if d not in seen:
            seen.append(d)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        _add_bytes(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add_bytes(tf, "index.json", canon(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [top]}))
        _add_dir(tf, "blobs")
        _add_dir(tf, "blobs/sha256")
        for d in seen:
            _add_bytes(tf, "blobs/sha256/" + d[7:], read_blob(layout, d))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "build":
        build(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "reachable":
        seen = []
        for d in reachable(sys.argv[2], sys.argv[3], []):
            if d not in seen:
                seen.append(d)
        print("\n".join(seen))
    elif len(sys.argv) == 4 and sys.argv[1] == "check-diffids":
        check_diffids(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 6 and sys.argv[1] == "docker-archive":
        docker_archive(*sys.argv[2:6])
    elif len(sys.argv) == 6 and sys.argv[1] == "oci-archive":
        oci_archive(*sys.argv[2:6])
    elif len(sys.argv) == 4 and sys.argv[1] == "archive-file":
        archive_file(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
