"""A notifications endpoint for the e2e tests: an HTTP server that records
every POST it gets (registry event envelopes) and answers as it is told.

Python 3.11 standard library only.

    rec = EventReceiver()           # listens on 127.0.0.1, a free port
    rec.url                         # "http://127.0.0.1:<port>/events"
    ... point the registry's notification endpoint at rec.url, push ...
    events = rec.wait_for(2, timeout=10)   # >= 2 events, or AssertionError
    events[0]["action"], events[0]["target"]["digest"]
    rec.requests()                  # [Request(path, headers, body, json, time,
                                    #          header_list, method)]
    rec.requests()[0].headers["authorization"]    # header names lower-case
    rec.clear()                     # forget what was received
    rec.close()                     # stop the server (also: with EventReceiver() as rec:)

How it answers, set at any time:

    rec.mode = "ok"        # 200 (default)
    rec.mode = "fail"      # 500
    rec.mode = "hang"      # read the request, then wait until rec.release()
                           # (or 60 s), then 200; release() also lets later
                           # requests through until mode is set again
    rec.mode = "redirect"  # 302 with Location: rec.url (itself)

Every POST is recorded whatever the mode, before it is answered (other
methods are recorded too, with their method, and answered 405); events()
flattens the "events" arrays of all envelopes in arrival order (a failed or
retried delivery appears again each time it is received).  A body that is
not JSON is recorded with json None and adds no events.

hmac_sha256_hex(secret, body) gives the lower-case hex HMAC-SHA256 of body,
to check a signature header.
"""

import hashlib
import hmac
import http.server
import json
import threading
import time
from typing import NamedTuple

HANG_LIMIT = 60.0


def hmac_sha256_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


class Request(NamedTuple):
    path: str
    headers: dict       # lower-case names; repeated headers joined by ", "
    body: bytes
    json: object        # parsed body, or None
    time: float         # time.monotonic() when the body had been read
    header_list: list   # [(name, value), ...] as sent, in order
    method: str         # "POST", or what a client sent after a redirect


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "event-receiver"

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        rec = self.server.receiver
        body = self._read_body()
        if body is None:            # the client went away mid-body
            self.close_connection = True
            return
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = headers[name] + ", " + value if name in headers else value
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        rec._record(Request(self.path, headers, body, parsed, time.monotonic(),
                            list(self.headers.items()), self.command))
        if self.command != "POST":
            self._answer(405)
            return

        mode = rec.mode
        if mode == "hang":
            rec._released.wait(HANG_LIMIT)
        if mode == "fail":
            self._answer(500)
        elif mode == "redirect":
            self._answer(302, [("Location", rec.url)])
        else:
            self._answer(200)

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline()
                if not line:
                    return None
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():    # trailers
                        pass
                    return b"".join(parts)
                part = self.rfile.read(size)
                if len(part) < size:
                    return None
                parts.append(part)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        return body if len(body) == length else None

    def _answer(self, status, extra=()):
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # Other methods are recorded too (a client following a 302 turns the
    # POST into a GET) and answered 405.
    do_GET = do_PUT = do_DELETE = do_HEAD = do_POST


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass    # client went away (reset, broken pipe, timeout): stay quiet


class EventReceiver:
    def __init__(self, mode="ok"):
        self._lock = threading.Condition()
        self._requests = []
        self._released = threading.Event()
        self._mode = None
        self.mode = mode
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()

    @property
    def mode(self):
        return self._mode

    @mode.setter
    def mode(self, value):
        if value not in ("ok", "fail", "hang", "redirect"):
            raise ValueError(f"unknown mode {value!r}")
        if value == "hang":
            self._released.clear()
        self._mode = value

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/events"

    def release(self):
        """Let hanging requests (and later ones) answer 200."""
        self._released.set()

    def _record(self, request):
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()

    def requests(self):
        with self._lock:
            return list(self._requests)

    def events(self):
        with self._lock:
            return self._events()

    def _events(self):
        out = []
        for r in self._requests:
            if (r.method == "POST" and isinstance(r.json, dict)
                    and isinstance(r.json.get("events"), list)):
                out.extend(r.json["events"])
        return out

    def wait_for(self, count, timeout=10.0):
        """Wait until at least count events have arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._events()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self._events())} events after {timeout} s, "
                        f"wanted {count}: {self._events()!r}")
                self._lock.wait(left)
            return self._events()

    def clear(self):
        with self._lock:
            self._requests.clear()

    def close(self):
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
