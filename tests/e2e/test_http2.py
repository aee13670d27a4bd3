"""The API over cleartext HTTP/2 (prior knowledge and Upgrade: h2c), driven
with curl: lowercase header names, HEAD without a body, errors and uploads."""

import hashlib
import json
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from cairn_server import CairnTestCase, sha256


@unittest.skipIf(shutil.which("curl") is None, "curl is not installed")
class Http2Test(CairnTestCase):

    def curl(self, *args, body=None, prior_knowledge=True):
        """Runs curl against the server; returns (http_version, status, headers, body)."""
        with tempfile.TemporaryDirectory() as scratch:
            head = Path(scratch) / "head"
            out = Path(scratch) / "out"
            cmd = ["curl", "-s", "-D", str(head), "-o", str(out), "--max-time", "30",
                   "--http2-prior-knowledge" if prior_knowledge else "--http2"]
            if body is not None:
                data = Path(scratch) / "body"
                data.write_bytes(body)
                cmd += ["--data-binary", f"@{data}"]
            cmd += list(args)
            subprocess.run(cmd, check=True)
            text = head.read_bytes().decode()  # read_text() would turn \r\n into \n
            blocks = [b for b in text.split("\r\n\r\n") if b.strip()]
            last = blocks[-1].split("\r\n")
            version, status = last[0].split(" ")[0], int(last[0].split(" ")[1])
            headers = {}
            for line in last[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip()] = value.strip()
            return version, status, headers, out.read_bytes()

    def url(self, path):
        return f"http://127.0.0.1:{self.server.port}{path}"

    def test_base_over_prior_knowledge(self):
        version, status, headers, body = self.curl(self.url("/v2/"))
        self.assertEqual((version, status), ("HTTP/2", 200))
        self.assertEqual(headers.get("docker-distribution-api-version"), "registry/2.0")
        self.assertEqual(json.loads(body), {})

    def test_upgrade_from_http1(self):
        version, status, _, _ = self.curl(self.url("/v2/"), prior_knowledge=False)
        self.assertEqual((version, status), ("HTTP/2", 200))

    def test_blob_push_head_get_range(self):
        data = b"over http/2 " * 1000
        d = sha256(data)
        name = self.repo()
        version, status, headers, _ = self.curl(
            "-X", "POST", "-H", "Content-Type: application/octet-stream",
            self.url(f"/v2/{name}/blobs/uploads/?digest={d}"), body=data)
        self.assertEqual((version, status), ("HTTP/2", 201))
        self.assertEqual(headers.get("docker-content-digest"), d)
        _, status, headers, body = self.curl("-I", self.url(f"/v2/{name}/blobs/{d}"))
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-length"), str(len(data)))
        self.assertNotIn(b"over http/2", body)  # with -I curl stores only the headers
        _, status, _, body = self.curl(self.url(f"/v2/{name}/blobs/{d}"))
        self.assertEqual((status, hashlib.sha256(body).hexdigest()), (200, d.split(":")[1]))
        _, status, headers, body = self.curl("-H", "Range: bytes=2-5",
                                             self.url(f"/v2/{name}/blobs/{d}"))
        self.assertEqual((status, body), (206, data[2:6]))
        self.assertEqual(headers.get("content-range"), f"bytes 2-5/{len(data)}")

    def test_error_body_and_length(self):
        _, status, headers, body = self.curl(self.url(f"/v2/{self.repo()}/blobs/sha256:" + "0" * 64))
        self.assertEqual(status, 404)
        self.assertEqual(headers.get("content-length"), str(len(body)))
        self.assertEqual(json.loads(body)["errors"][0]["code"], "BLOB_UNKNOWN")

    def test_chunked_upload_session(self):
        name = self.repo()
        _, status, headers, _ = self.curl("-X", "POST", self.url(f"/v2/{name}/blobs/uploads/"))
        self.assertEqual(status, 202)
        location = headers["location"]
        _, status, headers, _ = self.curl("-X", "PATCH", "-H", "Content-Range: 0-4",
                                          self.url(location), body=b"hello")
        self.assertEqual((status, headers.get("range")), (202, "0-4"))
        d = sha256(b"hello world")
        _, status, headers, _ = self.curl("-X", "PUT", self.url(f"{location}?digest={d}"),
                                          body=b" world")
        self.assertEqual((status, headers.get("docker-content-digest")), (201, d))
        self.assertEqual(self.tree.blob_data(d).read_bytes(), b"hello world")


if __name__ == "__main__":
    unittest.main()
