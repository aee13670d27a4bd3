"""HTTP/2 rapid reset (CVE-2023-44487): a connection that opens and resets
streams far faster than any real client gets GOAWAY ENHANCE_YOUR_CALM and is
closed; a browser-sized burst of resets is not punished; other clients keep
being served. Driven with hand-built h2c frames (h2_frames.py)."""

import json
import struct
import threading
import time
import unittest
import urllib.request

import h2_frames as h2
from cairn_server import CairnServer, CairnTestCase, yaml_doc


def flood_until_goaway(port, source=None):
    """Sends HEADERS+RST_STREAM pairs on a new connection until the server
    ends it; returns the GOAWAY frame (or None), and whether any frame came."""
    sock = h2.connect(port, source=source)
    reader = h2.FrameReader(sock)
    stop = threading.Event()

    def attack():  # 5000 pairs in batches, as fast as the socket takes them
        stream_id = 1
        try:
            for _ in range(50):
                if stop.is_set():
                    return
                sock.sendall(h2.reset_pairs(stream_id, 100))
                stream_id += 200
        except OSError:
            pass  # the server closed the connection

    sender = threading.Thread(target=attack)
    sender.start()
    goaway, frames = None, 0
    while True:
        f = reader.next()
        if f is None:
            break
        frames += 1
        if f[0] == h2.GOAWAY:
            goaway = f
            stop.set()
    stop.set()
    sender.join()
    sock.close()
    return goaway, frames


def answers_v2(port, source):
    """Whether an h2c connection from `source` gets :status 200 for /v2/;
    False when the server closes it without a frame."""
    try:
        sock = h2.connect(port, source=source)
        sock.sendall(h2.get_headers(1, "/v2/"))
    except OSError:
        return False
    reader = h2.FrameReader(sock)
    try:
        while True:
            f = reader.next()
            if f is None:
                return False
            if f[0] == h2.HEADERS and f[2] == 1:
                return f[3][:1] == b"\x88"  # HPACK static index 8: :status 200
    finally:
        sock.close()


def metrics_of(port):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()


class RapidResetTest(CairnTestCase):

    def base_ok(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.server.port}/v2/", timeout=10) as r:
            return r.status == 200 and json.loads(r.read()) == {}

    def test_flood_of_resets_gets_goaway_and_close(self):
        goaway, _ = flood_until_goaway(self.server.port)
        self.assertIsNotNone(goaway, "no GOAWAY before the connection ended")
        code = struct.unpack(">I", goaway[3][4:8])[0]
        self.assertEqual(code, h2.ENHANCE_YOUR_CALM)
        self.assertTrue(self.base_ok())  # others are still served
        metrics = metrics_of(self.server.port)
        self.assertIn("cairn_http2_rapid_reset_closed_total ", metrics)
        self.assertNotIn("cairn_http2_rapid_reset_closed_total 0\n", metrics)

    def test_browser_sized_burst_is_not_punished(self):
        sock = h2.connect(self.server.port)
        reader = h2.FrameReader(sock)
        # 60 streams opened and cancelled at once, then a request that must
        # be answered on the same connection.
        sock.sendall(h2.reset_pairs(1, 60) + h2.get_headers(121, "/v2/"))
        status = None
        while status is None:
            f = reader.next()
            self.assertIsNotNone(f, "the connection ended")
            self.assertNotEqual(f[0], h2.GOAWAY, f"GOAWAY {f[3][4:8].hex()}")
            if f[0] == h2.HEADERS and f[2] == 121:
                status = f[3][:1]
        self.assertEqual(status, b"\x88")  # HPACK static index 8: :status 200
        sock.close()


class ReconnectingAttackerTest(CairnTestCase):
    """An address whose connections are closed for rapid resets 3 times in a
    minute is refused new connections for http.http2_reset_block (2 s here);
    other addresses are served meanwhile. The attacker is 127.0.0.2."""

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc({
            "version": "0.1", "http": {"http2_reset_block": "2s"}}))

    def test_reconnecting_attacker_is_refused_for_a_while(self):
        port, attacker = self.server.port, "127.0.0.2"
        self.assertTrue(answers_v2(port, attacker))
        for _ in range(3):
            goaway, _ = flood_until_goaway(port, attacker)
            self.assertIsNotNone(goaway, "no GOAWAY before the connection ended")
        blocked_at = time.monotonic()
        # A fourth connection from the same address: closed at once, no frame.
        goaway, frames = flood_until_goaway(port, attacker)
        self.assertEqual((goaway, frames), (None, 0))
        self.assertFalse(answers_v2(port, attacker))
        # Everyone else is served meanwhile.
        self.assertTrue(answers_v2(port, "127.0.0.1"))
        self.assertTrue(self.base_ok())
        metrics = metrics_of(port)
        self.assertIn('cairn_http_connections_closed_total{reason="blocked"} ', metrics)
        self.assertNotIn('cairn_http_connections_closed_total{reason="blocked"} 0\n', metrics)
        log = self.server.stderr_path.read_text()
        self.assertIn("HTTP/2 client 127.0.0.2 reset more than 200 streams", log)
        self.assertIn("refused for http.http2_reset_block", log)
        self.assertEqual(log.count("refused for http.http2_reset_block"), 1)
        # After the block the address is served again.
        time.sleep(max(0.0, blocked_at + 2.5 - time.monotonic()))
        self.assertTrue(answers_v2(port, attacker))

    def base_ok(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.server.port}/v2/", timeout=10) as r:
            return r.status == 200


class BlockOffTest(CairnTestCase):
    """http.http2_reset_block: 0 turns the block off: connections are still
    closed one by one, but the address is never refused."""

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc({
            "version": "0.1", "http": {"http2_reset_block": "0"}}))

    def test_reconnecting_attacker_is_not_blocked(self):
        port, attacker = self.server.port, "127.0.0.3"
        for _ in range(4):
            goaway, _ = flood_until_goaway(port, attacker)
            self.assertIsNotNone(goaway)
        self.assertTrue(answers_v2(port, attacker))
        self.assertIn('cairn_http_connections_closed_total{reason="blocked"} 0\n',
                      metrics_of(port))


if __name__ == "__main__":
    unittest.main()
