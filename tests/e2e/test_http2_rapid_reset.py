"""HTTP/2 rapid reset (CVE-2023-44487): a connection that opens and resets
streams far faster than any real client gets GOAWAY ENHANCE_YOUR_CALM and is
closed; a browser-sized burst of resets is not punished; other clients keep
being served. Driven with hand-built h2c frames (h2_frames.py)."""

import json
import struct
import threading
import unittest
import urllib.request

import h2_frames as h2
from cairn_server import CairnTestCase


class RapidResetTest(CairnTestCase):

    def base_ok(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.server.port}/v2/", timeout=10) as r:
            return r.status == 200 and json.loads(r.read()) == {}

    def test_flood_of_resets_gets_goaway_and_close(self):
        sock = h2.connect(self.server.port)
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
        goaway = None
        while True:
            f = reader.next()
            if f is None:
                break
            if f[0] == h2.GOAWAY:
                goaway = f
                stop.set()
        stop.set()
        sender.join()
        sock.close()
        self.assertIsNotNone(goaway, "no GOAWAY before the connection ended")
        code = struct.unpack(">I", goaway[3][4:8])[0]
        self.assertEqual(code, h2.ENHANCE_YOUR_CALM)
        self.assertTrue(self.base_ok())  # others are still served
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{self.server.port}/metrics", timeout=10).read().decode()
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


if __name__ == "__main__":
    unittest.main()
