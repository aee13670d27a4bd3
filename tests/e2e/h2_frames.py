"""A minimal cleartext HTTP/2 client built from raw frames, for tests and
benchmarks that must send what no well-behaved client library sends (a
stream opened and reset at once, thousands of times). Headers use HPACK's
static table and literals without indexing, so no dynamic table is kept."""

import socket
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
CANCEL, ENHANCE_YOUR_CALM = 0x8, 0xB


def frame(kind, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def literal(index, value):
    """Literal header field without indexing, name from the static table."""
    value = value.encode()
    assert index < 15 and len(value) < 127
    return bytes([index, len(value)]) + value


def get_headers(stream_id, path, authority="127.0.0.1"):
    """HEADERS (END_STREAM|END_HEADERS) for GET http://authority/path."""
    block = b"\x82\x86" + literal(4, path) + literal(1, authority)  # GET, http
    return frame(HEADERS, END_STREAM | END_HEADERS, stream_id, block)


def rst_stream(stream_id, code=CANCEL):
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def reset_pairs(first_stream_id, count, path="/v2/"):
    """count HEADERS+RST_STREAM pairs on odd stream ids from first_stream_id."""
    return b"".join(get_headers(s, path) + rst_stream(s)
                    for s in range(first_stream_id, first_stream_id + 2 * count, 2))


def connect(port, host="127.0.0.1", timeout=10, source=None):
    """An h2c connection (prior knowledge), from the address `source` if
    given (any 127.x.y.z works on loopback: a distinct client address)."""
    sock = socket.create_connection((host, port), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0) +
                 frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 30)))
    return sock


class FrameReader:
    """Reads frames from a socket; next() returns (type, flags, stream, payload)
    or None at the end of the connection (EOF or reset)."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _fill(self, size):
        while len(self.buffer) < size:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError, TimeoutError):
                chunk = b""
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def next(self):
        if not self._fill(9):
            return None
        length = struct.unpack(">I", b"\0" + self.buffer[:3])[0]
        if not self._fill(9 + length):
            return None
        kind, flags = self.buffer[3], self.buffer[4]
        stream_id = struct.unpack(">I", self.buffer[5:9])[0] & 0x7FFFFFFF
        payload = self.buffer[9:9 + length]
        self.buffer = self.buffer[9 + length:]
        return kind, flags, stream_id, payload
