"""A full disk: a request body h2o cannot spool (bodies past 16 MiB go to a
file under R/.cairn-tmp, see src/http/body_spool.h) gets 503 UNAVAILABLE
before the body is read, leaks no descriptor and no disk space; small pushes
that fail on a full disk leave no upload directories; once space is freed,
pushes work again. Needs root (it mounts a tmpfs as the registry root)."""

import email.parser
import os
import re
import select
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from cairn_server import HOST, CairnServer, CairnTestCase, Response, digest_of

MIB = 1024 * 1024
BIG = 40 * MIB


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class FullDiskTest(CairnTestCase):
    mount = None

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root to mount a small tmpfs as the registry root")
        cls.mount = tempfile.mkdtemp(prefix="cairn-e2e-full-")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", cls.mount],
                              capture_output=True, text=True)
        if done.returncode != 0:
            os.rmdir(cls.mount)
            raise unittest.SkipTest(f"cannot mount a tmpfs: {done.stderr.strip()}")
        try:
            super().setUpClass()
        except BaseException:
            cls.unmount()
            raise

    @classmethod
    def make_server(cls):
        return CairnServer(root=cls.mount)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.unmount()

    @classmethod
    def unmount(cls):
        subprocess.run(["umount", cls.mount], check=False)
        os.rmdir(cls.mount)

    def setUp(self):
        self.filler = Path(self.mount) / "filler"
        self.addCleanup(lambda: self.filler.unlink(missing_ok=True))

    def fill(self, leave):
        """Leaves about `leave` bytes free on the mount."""
        self.filler.unlink(missing_ok=True)
        with open(self.filler, "wb") as f:
            f.truncate(0)
            os.posix_fallocate(f.fileno(), 0, max(free_bytes(self.mount) - leave, 4096))

    def spool_fds(self):
        fds = Path(f"/proc/{self.server.proc.pid}/fd")
        out = []
        for fd in fds.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if "h2o.body" in target:
                out.append(target)
        return out

    def upload_dirs(self):
        return sorted(str(p) for p in Path(self.mount).glob("**/_uploads/*"))

    def send_big_put(self, location, size):
        """PUT `size` bytes the way curl does (reading while sending); the
        response, or None when the connection was dropped without one."""
        path = f"{location}?digest=sha256:{'0' * 64}"
        head = (f"PUT {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {size}\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        chunk = b"x" * MIB
        data = b""
        with socket.create_connection((HOST, self.server.port), timeout=15) as s:
            s.sendall(head)
            sent = 0
            try:
                while sent < size:
                    readable, _, _ = select.select([s], [], [], 0)
                    if readable:
                        break
                    s.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            try:
                while True:
                    c = s.recv(65536)
                    if not c:
                        break
                    data += c
            except OSError:
                pass
        if not data:
            return None
        headpart, _, body = data.partition(b"\r\n\r\n")
        lines = headpart.decode("latin-1").split("\r\n")
        _, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = email.parser.Parser(_class=__import__("http.client").client.HTTPMessage)\
            .parsestr("\r\n".join(lines[1:]) + "\r\n\r\n")
        return Response("PUT", path, int(status), reason, headers, body)

    def test_big_body_on_full_disk_gets_503_and_leaks_nothing(self):
        name = self.repo()
        self.fill(8 * MIB)
        before = free_bytes(self.mount)
        for attempt in range(5):
            location = self.start_upload(name)
            r = self.send_big_put(location, BIG)
            self.assertIsNotNone(r, f"attempt {attempt}: connection dropped without an answer")
            self.assert_error(r, 503, "UNAVAILABLE")
            self.assertEqual(r.header("Connection", "").lower(), "close", r)
        deadline = time.monotonic() + 3
        while self.spool_fds() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.spool_fds(), [], "spool files still open")
        # Five started uploads take a few KiB; a leaked spool file 32 MiB.
        self.assertGreater(free_bytes(self.mount), before - MIB, "disk space not returned")

    def test_chunked_body_on_full_disk_leaks_nothing(self):
        # No length up front: the library gives no chance to answer, and the
        # connection is dropped; the spool file must not stay open.
        name = self.repo()
        self.fill(8 * MIB)
        before = free_bytes(self.mount)
        for attempt in range(5):
            location = self.start_upload(name)
            head = (f"PUT {location}?digest=sha256:{'0' * 64} HTTP/1.1\r\nHost: {HOST}\r\n"
                    f"Transfer-Encoding: chunked\r\n\r\n").encode()
            chunk = b"%x\r\n" % MIB + b"x" * MIB + b"\r\n"
            with socket.create_connection((HOST, self.server.port), timeout=15) as s:
                try:
                    s.sendall(head)
                    for _ in range(BIG // MIB):
                        s.sendall(chunk)
                    s.sendall(b"0\r\n\r\n")
                    s.recv(65536)
                except OSError:
                    pass
        deadline = time.monotonic() + 3
        while self.spool_fds() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.spool_fds(), [], "spool files still open")
        self.assertGreater(free_bytes(self.mount), before - MIB, "disk space not returned")
        # Each dropped connection is counted and logged (there is no
        # access-log line for it: no request was made of it).
        metrics = self.req("GET", "/metrics").body.decode()
        failures = re.search(r"^cairn_request_body_spool_failures_total (\d+)$", metrics, re.M)
        self.assertIsNotNone(failures, metrics[-2000:])
        self.assertGreaterEqual(int(failures.group(1)), 1, "spool failures not counted")
        self.assertIn("request body spool file of", self.server.log_tail(1 << 20))

    def test_failed_small_pushes_leave_no_upload_directories(self):
        name = self.repo()
        self.assertEqual(self.req("GET", "/v2/").status, 200)
        self.fill(0)
        before = self.upload_dirs()
        statuses = []
        for i in range(5):
            data = os.urandom(256 * 1024) + bytes([i])
            r = self.req("POST", f"/v2/{name}/blobs/uploads/?digest={digest_of(data)}",
                         body=data, headers={"Content-Type": "application/octet-stream"})
            statuses.append(r.status)
            self.assertGreaterEqual(r.status, 500, r)
            self.assert_error(r, (500, 503, 507))
        self.assertEqual(self.upload_dirs(), before, f"after {statuses}")

    def test_push_works_after_space_is_freed(self):
        name = self.repo()
        self.fill(4 * MIB)
        location = self.start_upload(name)
        r = self.send_big_put(location, BIG)
        self.assertIsNotNone(r, "connection dropped without an answer")
        self.filler.unlink()
        data = os.urandom(BIG)
        d = self.push_blob(name, data)
        self.assertEqual(self.req("HEAD", f"/v2/{name}/blobs/{d}").status, 200)
        # h2o closes a request's spool file when it frees the request, which
        # may come a moment after the answer on a loaded machine: no leak
        # means none is left soon after.
        deadline = time.monotonic() + 5
        while self.spool_fds() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.spool_fds(), [])


if __name__ == "__main__":
    unittest.main()
