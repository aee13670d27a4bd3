"""HTTP/1 request framing: ambiguous framing (request smuggling) gets 400 and
the connection is closed; nothing sent after it runs as a request. Ordinary
chunked uploads and keep-alive pipelining keep working."""

import json
import socket
import time
import unittest

from cairn_server import HOST, CairnServer, CairnTestCase, sha256, yaml_doc

READ_TIMEOUT = 5.0


def smuggled_request(name):
    """A request that, if it ran, would create repository `name`."""
    return (f"POST /v2/{name}/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def framing_variants(name):
    """name -> raw bytes: an ambiguous request followed by a smuggled one."""
    s = smuggled_request(name)
    return {
        # The finding: framed by the first Content-Length.
        "two content-lengths": b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                               b"Content-Length: %d\r\n\r\nxyz" % (3 + len(s)) + s,
        "two equal content-lengths": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                     b"Content-Length: 3\r\n\r\nxyz" + s,
        "content-length list": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nxyz" + s,
        "content-length with sign": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nxyz" + s,
        "content-length and chunked": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (5 + len(s)) + s,
        "chunked and content-length": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                      b"Content-Length: %d\r\n\r\n0\r\n\r\n" % (5 + len(s)) + s,
        "content-length and Chunked": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                                      b"Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n" % (5 + len(s)) + s,
        "content-length and tab chunked": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                                          b"Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n" % (5 + len(s)) + s,
        "gzip, chunked": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                         b"0\r\n\r\n" + s,
        "two transfer-encodings": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + s,
        "chunked, chunked": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
                            b"0\r\n\r\n" + s,
        "chunked in HTTP/1.0": b"POST /v2/ HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + s,
        "folded header line": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n"
                              b"Content-Length: 3\r\n\r\nxyz" + s,
        "chunk size 0x3": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"0x3\r\nabc\r\n0\r\n\r\n" + s,
        "chunk size with junk": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                b"3 x\r\nabc\r\n0\r\n\r\n" + s,
        "chunk lines ending in bare LF": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                         b"3\nabc\n0\n\n" + s,
        "chunk size signed": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"-3\r\nabc\r\n0\r\n\r\n" + s,
    }


# Refused by the chunk decoder, inside the library: a plain-text 400 from h2o.
CHUNK_VARIANTS = {"chunk size 0x3", "chunk size with junk", "chunk lines ending in bare LF",
                  "chunk size signed"}


def exchange(port, data, timeout=READ_TIMEOUT):
    """Send `data` on a fresh connection; read until the server closes.
    Returns (bytes received, closed): closed is False when the server kept
    the connection open past `timeout`."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
        return received, False


def split_responses(data):
    """The responses in `data`: [(status line, headers dict, body)], framed
    by Content-Length."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError(f"truncated response: {data!r}")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        out.append((lines[0], headers, rest[:n]))
        data = rest[n:]
    return out


class FramingTest(CairnTestCase):

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc({"version": "0.1", "log": {"formatter": "text"}}))

    def assert_refused(self, variant, data, name):
        mark = self.server.log_mark()
        received, closed = exchange(self.server.port, data)
        responses = split_responses(received)
        self.assertEqual(len(responses), 1, f"{variant}: responses {responses!r}")
        status, headers, body = responses[0]
        self.assertTrue(status.startswith("HTTP/1.1 400 "), f"{variant}: {status} {body!r}")
        self.assertTrue(closed, f"{variant}: connection left open after {status}")
        if variant not in CHUNK_VARIANTS:
            # cairn answers these itself: an OCI error, in the access log.
            self.assertEqual(headers.get("connection"), "close", f"{variant}: {headers}")
            self.assertEqual(headers.get("content-type"), "application/json", variant)
            self.assertEqual(json.loads(body)["errors"][0]["code"], "UNSUPPORTED", variant)
            line = self.server.wait_for_log(r'"(GET|POST) /v2/" 400 ', mark=mark)
            self.assertIsNotNone(line, f"{variant}: no access log line for the 400:\n"
                                       f"{self.server.log_since(mark)}")
        time.sleep(0.2)
        log = self.server.log_since(mark)
        self.assertNotIn(name, log, f"{variant}: the smuggled request ran:\n{log}")
        self.assertFalse(self.tree.repo(name).exists(), f"{variant}: the smuggled request ran")

    def test_ambiguous_framing_is_refused_and_closes(self):
        for i, variant in enumerate(framing_variants("placeholder")):
            with self.subTest(variant=variant):
                name = f"smuggled-{i}"
                self.assert_refused(variant, framing_variants(name)[variant], name)

    def test_smuggled_request_in_a_later_read(self):
        # The smuggled bytes arrive after the refused request was answered.
        name = "smuggled-late"
        head = (b"POST /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        with socket.create_connection((HOST, self.server.port), timeout=READ_TIMEOUT) as s:
            s.sendall(head)
            time.sleep(0.3)
            try:
                s.sendall(smuggled_request(name))
            except (BrokenPipeError, ConnectionResetError):
                pass
            received = b""
            try:
                while chunk := s.recv(65536):
                    received += chunk
            except ConnectionResetError:
                pass
            except socket.timeout:
                self.fail(f"connection left open: {received!r}")
        responses = split_responses(received)
        self.assertEqual(len(responses), 1, responses)
        self.assertTrue(responses[0][0].startswith("HTTP/1.1 400 "), responses)
        time.sleep(0.2)
        self.assertFalse(self.tree.repo(name).exists(), "the smuggled request ran")

    def test_chunked_patch_upload_like_docker(self):
        name = self.repo()
        location = self.start_upload(name)
        chunks = [b"a" * 5000, b"b" * 70000, b"c" * 3]
        conn = self.server.connection()
        try:
            conn.request("PATCH", location, body=iter(chunks), encode_chunked=True,
                         headers={"Content-Type": "application/octet-stream",
                                  "Transfer-Encoding": "chunked"})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 202, r.headers)
            location = r.headers["Location"]
        finally:
            conn.close()
        data = b"".join(chunks)
        r = self.put_upload(location, sha256(data))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.get_blob(name, sha256(data)).body, data)

    def test_chunk_extensions_and_case_of_chunked(self):
        # RFC 9112: chunk extensions are allowed, transfer codings are
        # case-insensitive; both framings here are unambiguous.
        name = self.repo()
        location = self.start_upload(name)
        body = (b"3;name=value\r\nabc\r\n2 ; x\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n")
        data = (f"PATCH {location} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n"
                f"Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n").encode() + body
        received, closed = exchange(self.server.port, data)
        responses = split_responses(received)
        self.assertEqual(len(responses), 1, responses)
        status, headers, _ = responses[0]
        self.assertTrue(status.startswith("HTTP/1.1 202 "), responses)
        r = self.put_upload(headers["location"], sha256(b"abcde"))
        self.assertEqual(r.status, 201, r)

    def test_keep_alive_pipelining(self):
        name = self.repo()
        blob = b"pipelined blob"
        digest = sha256(blob)
        data = (b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"
                + f"POST /v2/{name}/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Length: {len(blob)}\r\n\r\n".encode() + blob
                + f"HEAD /v2/{name}/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                + b"POST /v2/x/blobs/uploads/?digest=" + digest.encode()
                + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n" % len(blob) + blob + b"\r\n0\r\n\r\n"
                + b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received, closed = exchange(self.server.port, data)
        self.assertTrue(closed)
        statuses = [r[0].split(" ")[1] for r in self._split_with_head(received)]
        self.assertEqual(statuses, ["200", "201", "200", "201", "200"], received[:2000])

    def _split_with_head(self, data):
        # The HEAD response carries Content-Length but no body.
        out = []
        while data:
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:])}
            n = 0 if len(out) == 2 else int(headers.get("content-length", "0"))
            out.append((lines[0], headers, rest[:n]))
            data = rest[n:]
        return out


if __name__ == "__main__":
    unittest.main()
