"""Command line and process lifecycle: --help, --version, bad flags, SIGTERM."""

import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from cairn_server import HOST, CairnServer, find_binary, free_port, helpers_for, sha256

MiB = 1024 * 1024


def binary_or_skip():
    b = find_binary()
    if b is None:
        raise unittest.SkipTest("CAIRN_BINARY is not set")
    return b


class CommandLineTest(unittest.TestCase):
    """Every run passes a temporary --root and a free --listen port, so that a
    binary that wrongly starts serving cannot touch ./data or port 5000."""

    def setUp(self):
        self.binary = binary_or_skip()
        self.root = tempfile.mkdtemp(prefix="cairn-e2e-cli-")
        self.addCleanup(shutil.rmtree, self.root, True)

    def run_cairn(self, *args, safe=True):
        base = ["--root", self.root, "--listen", f"{HOST}:{free_port()}"] if safe else []
        cmd = [self.binary] + base + list(args)
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=10)
        except subprocess.TimeoutExpired:
            self.fail(f"{cmd} did not exit within 10 s")
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def test_help(self):
        rc, out, err = self.run_cairn("--help")
        self.assertEqual(rc, 0, err)
        for word in ("--root", "--listen", "--threads", "--config", "./data", "127.0.0.1:5000"):
            self.assertIn(word, out, f"--help output lacks {word!r}:\n{out}")

    def test_help_alone(self):
        rc, out, err = self.run_cairn("--help", safe=False)
        self.assertEqual(rc, 0, err)
        self.assertIn("--root", out)

    def test_version(self):
        rc, out, err = self.run_cairn("--version", safe=False)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^cairn \d+\.\d+\.\d+\S*\s*$")

    def test_bad_flags(self):
        cases = [
            ("--bogus",),
            ("-Z",),
            ("--threads", "abc"),
            ("--threads", "-1"),
            ("--listen", "127.0.0.1:99999"),
            ("--config", os.path.join(self.root, "no-such-config.yml")),
            ("stray-positional-argument",),
            ("--threads",),  # missing value
            ("--root",),     # missing value (placed last on purpose)
        ]
        for args in cases:
            with self.subTest(args=args):
                rc, out, err = self.run_cairn(*args)
                self.assertNotEqual(rc, 0, f"{args} exited 0\nstdout: {out}\nstderr: {err}")
                self.assertTrue(err.strip(), f"{args}: no message on stderr")
        self.assertFalse(os.path.exists(os.path.join(os.getcwd(), "data", "docker")))


class SignalTest(unittest.TestCase):

    def setUp(self):
        binary_or_skip()
        self.server = CairnServer()
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def test_sigterm_idle_exits_zero_quickly(self):
        t0 = time.monotonic()
        self.server.stop(timeout=5)
        self.assertLess(time.monotonic() - t0, 5)

    def test_sigterm_with_idle_keepalive_connection(self):
        s = socket.create_connection((HOST, self.server.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got or not got.endswith(b"{}"):
            c = s.recv(4096)
            if not c:
                break
            got += c
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)
        # The connection stays open and idle; shutdown must not wait for it.
        self.server.stop(timeout=5)

    def test_sigterm_during_upload_finishes_it(self):
        data = random.Random(3).randbytes(8 * MiB)
        d = sha256(data)
        name = "inflight/upload"
        s = socket.create_connection((HOST, self.server.port), timeout=30)
        self.addCleanup(s.close)
        head = (f"POST /v2/{name}/blobs/uploads/?digest={d} HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
        s.sendall(head + data[:MiB])
        time.sleep(0.3)
        self.server.signal(signal.SIGTERM)
        time.sleep(0.3)
        self.assertIsNone(self.server.proc.poll(), "cairn exited with a request in flight")
        s.sendall(data[MiB:])
        resp = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            resp += c
        self.assertTrue(resp.startswith(b"HTTP/1.1 201"), resp[:500])
        self.assertIn(f"docker-content-digest: {d}".encode(), resp.lower())
        self.server.stop(timeout=10)
        self.assertEqual(self.server.tree.blob_data(d).read_bytes(), data)
        self.assertEqual(self.server.tree.problems(), [])

    def test_sigterm_during_download_finishes_it(self):
        h = helpers_for(self.server)
        data = random.Random(4).randbytes(32 * MiB)
        d = h.push_blob("inflight/download", data)
        s = socket.create_connection((HOST, self.server.port), timeout=30)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(f"GET /v2/inflight/download/blobs/{d} HTTP/1.1\r\n"
                  f"Host: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        got = b""
        while b"\r\n\r\n" not in got:
            c = s.recv(65536)
            self.assertTrue(c, "connection closed before headers")
            got += c
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.server.signal(signal.SIGTERM)
        time.sleep(0.3)
        self.assertIsNone(self.server.proc.poll(), "cairn exited with a response in flight")
        hasher = hashlib.sha256(body)
        n = len(body)
        while True:
            c = s.recv(1 << 20)
            if not c:
                break
            hasher.update(c)
            n += len(c)
        self.assertEqual(n, len(data), "download cut short by shutdown")
        self.assertEqual("sha256:" + hasher.hexdigest(), d)
        self.server.stop(timeout=10)

    def test_no_new_connections_after_exit(self):
        port = self.server.port
        self.server.stop(timeout=5)
        with self.assertRaises(OSError):
            socket.create_connection((HOST, port), timeout=2).close()


if __name__ == "__main__":
    unittest.main()
