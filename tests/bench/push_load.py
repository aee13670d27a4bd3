#!/usr/bin/env python3
"""Small-image push load, as a client pushes (not a test; tests/bench/bench.sh
runs it against both servers, docs/benchmarks.md reads the numbers).

Each of WORKERS processes pushes images for SECONDS over its own keep-alive
connection, one after the other. One image is what docker or skopeo send for
a fresh single-layer image: for the layer and then the config, a HEAD of the
blob (404), POST /v2/<repo>/blobs/uploads/ and a monolithic PUT
<location>?digest=…; then PUT /v2/<repo>/manifests/<tag> of an OCI image
manifest. Every layer is fresh random bytes (LAYER_BYTES) and every tag new,
so nothing is deduplicated. A push counts once its manifest PUT answered 201;
any other answer stops the run with an error.

    push_load.py BASE_URL WORKERS SECONDS [LAYER_BYTES]
    -> prints "pushes_per_second p50_ms p99_ms pushes"
"""
import hashlib
import http.client
import json
import multiprocessing
import os
import sys
import time
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class PushError(Exception):
    pass


def request(connection, method, path, body=None, headers=None):
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    return response.status, response.getheader("Location"), data


def push_blob(connection, repository, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _, _ = request(connection, "HEAD", f"/v2/{repository}/blobs/{digest}")
    if status == 200:
        return digest
    status, location, body = request(connection, "POST", f"/v2/{repository}/blobs/uploads/",
                                     headers={"Content-Length": "0"})
    if status != 202 or not location:
        raise PushError(f"POST upload: {status} {body[:200]!r}")
    parsed = urllib.parse.urlsplit(location)
    separator = "&" if parsed.query else "?"
    target = parsed.path + ("?" + parsed.query if parsed.query else "")
    status, _, body = request(connection, "PUT", f"{target}{separator}digest={digest}", data,
                              {"Content-Type": "application/octet-stream"})
    if status != 201:
        raise PushError(f"PUT blob: {status} {body[:200]!r}")
    return digest


def push_image(connection, repository, tag, layer_bytes):
    layer = os.urandom(layer_bytes)
    layer_digest = push_blob(connection, repository, layer)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
    config_digest = push_blob(connection, repository, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": len(layer)}]}).encode()
    status, _, body = request(connection, "PUT", f"/v2/{repository}/manifests/{tag}", manifest,
                              {"Content-Type": OCI_MANIFEST})
    if status != 201:
        raise PushError(f"PUT manifest: {status} {body[:200]!r}")


def worker(arguments):
    host, port, number, seconds, layer_bytes, start_at = arguments
    connection = http.client.HTTPConnection(host, port, timeout=60)
    latencies = []
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = start_at + seconds
    count = 0
    try:
        while time.time() < deadline:
            began = time.perf_counter()
            # new in every run too: the run's start time is in the tag
            push_image(connection, f"bench/push{number}", f"t{int(start_at * 1000)}-{count}",
                       layer_bytes)
            latencies.append(time.perf_counter() - began)
            count += 1
    except (PushError, OSError, http.client.HTTPException) as error:
        return None, f"worker {number}: {error}"
    return latencies, None


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    base = urllib.parse.urlsplit(sys.argv[1])
    workers, seconds = int(sys.argv[2]), float(sys.argv[3])
    layer_bytes = int(sys.argv[4]) if len(sys.argv) > 4 else 4096
    start_at = time.time() + 0.5
    jobs = [(base.hostname, base.port, n, seconds, layer_bytes, start_at) for n in range(workers)]
    with multiprocessing.Pool(workers) as pool:
        results = pool.map(worker, jobs)
    latencies = []
    for result, error in results:
        if error:
            print(error, file=sys.stderr)
            return 1
        latencies.extend(result)
    latencies.sort()
    if not latencies:
        print("no push completed", file=sys.stderr)
        return 1

    def quantile(q):
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    print(f"{len(latencies) / seconds:.1f} {quantile(0.5):.2f} {quantile(0.99):.2f} {len(latencies)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
