"""End-to-end test harness for cairn: start the built server, talk HTTP to it,
and look at the tree it writes.

Python 3.11 standard library only.  The binary comes from the environment
variable CAIRN_BINARY (ctest sets it); without it every test is skipped.

    server = CairnServer()          # fresh temporary root, free port on 127.0.0.1
    server.start()                  # waits until GET /v2/ answers (10 s)
    resp = server.request("GET", "/v2/")
    server.stop()                   # SIGTERM, wait, assert exit status 0

CairnTestCase runs one server per TestCase class and carries the helpers the
test files share (push_blob, push_manifest, make_image, assert_error, ...).
"""

import base64
import gzip
import hashlib
import http.client
import io
import itertools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import unittest
import warnings
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 60.0

# Media types.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
LINK_RE = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
TMP_PREFIX = ".cairn-tmp-"


# --------------------------------------------------------------------------
# digests and small utilities


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def digest_of(data: bytes, alg: str = "sha256") -> str:
    return sha512(data) if alg == "sha512" else sha256(data)


def split_digest(digest: str):
    alg, _, hexpart = digest.partition(":")
    return alg, hexpart


def canonical_json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def media_type_of(content_type):
    """'application/json; charset=utf-8' -> 'application/json'."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def answer_shape(resp, upload_name=None):
    """A response with what differs between two equal answers taken out: the
    status, every header (name lowercased, value) but Date, and the body; with
    `upload_name`, the Location of a new upload of that repository and its
    Docker-Upload-UUID become placeholders once checked to be one. Two
    answers that must not be told apart have the same shape."""
    headers = []
    upload_id = None
    for name, value in resp.headers.items():
        name = name.lower()
        if name == "date":
            continue
        if upload_name is not None and name == "location":
            prefix = f"/v2/{upload_name}/blobs/uploads/"
            if value.startswith(prefix) and UUID4_RE.match(value[len(prefix):]):
                upload_id, value = value[len(prefix):], prefix + "<id>"
        headers.append((name, value))
    if upload_id is not None:
        headers = [(n, "<id>" if n == "docker-upload-uuid" and v == upload_id else v)
                   for n, v in headers]
    return resp.status, sorted(headers), resp.body


def parse_link_next(link_header):
    """'</v2/x/tags/list?n=2&last=b>; rel="next"' -> '/v2/x/tags/list?n=2&last=b'."""
    m = re.fullmatch(r'\s*<([^>]*)>\s*;\s*rel="?next"?\s*', link_header or "")
    return m.group(1) if m else None


def with_query(url: str, query: str) -> str:
    """Append a query string to a Location that may already carry one."""
    return url + ("&" if "?" in url else "?") + query


def find_binary():
    env = os.environ.get("CAIRN_BINARY")
    if env:
        return env
    return None


# --------------------------------------------------------------------------
# HTTP


class Response:
    """A fully read HTTP response."""

    def __init__(self, method, path, status, reason, headers, body):
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage: case-insensitive
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def header_all(self, name):
        return self.headers.get_all(name) or []

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        body = self.body[:300]
        return (f"<{self.method} {self.path} -> {self.status} {self.reason} "
                f"headers={dict(self.headers.items())} body={body!r}>")


def make_connection(port, timeout=REQUEST_TIMEOUT, ssl_context=None):
    """An HTTP/1.1 connection to 127.0.0.1:port, over TLS with `ssl_context`."""
    if ssl_context is not None:
        return http.client.HTTPSConnection(HOST, port, timeout=timeout, context=ssl_context)
    return http.client.HTTPConnection(HOST, port, timeout=timeout)


def do_request(port, method, path, body=None, headers=None, timeout=REQUEST_TIMEOUT,
               ssl_context=None):
    conn = make_connection(port, timeout=timeout, ssl_context=ssl_context)
    try:
        hdrs = dict(headers or {})
        try:
            conn.request(method, path, body=body, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (e.g. 413) and close before reading the
            # whole body; the response is still there to read.
            pass
        r = conn.getresponse()
        data = r.read()
        return Response(method, path, r.status, r.reason, r.headers, data)
    finally:
        conn.close()


def raw_exchange(port, request_bytes, timeout=30.0):
    """Send raw bytes, read until the server closes. Returns (head, body)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(request_bytes)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


# --------------------------------------------------------------------------
# the tree


class Tree:
    """Paths in <root>/docker/registry/v2, as DESIGN.md lays them out."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.t = self.root / "docker" / "registry" / "v2"

    def blob_data(self, digest):
        alg, hx = split_digest(digest)
        return self.t / "blobs" / alg / hx[:2] / hx / "data"

    def repo(self, name):
        return self.t / "repositories" / name

    def layer_link(self, name, digest):
        alg, hx = split_digest(digest)
        return self.repo(name) / "_layers" / alg / hx / "link"

    def revision_link(self, name, digest):
        alg, hx = split_digest(digest)
        return self.repo(name) / "_manifests" / "revisions" / alg / hx / "link"

    def tag_dir(self, name, tag):
        return self.repo(name) / "_manifests" / "tags" / tag

    def tag_current_link(self, name, tag):
        return self.tag_dir(name, tag) / "current" / "link"

    def tag_index_link(self, name, tag, digest):
        alg, hx = split_digest(digest)
        return self.tag_dir(name, tag) / "index" / alg / hx / "link"

    def referrer_link(self, name, subject, referrer):
        salg, shx = split_digest(subject)
        ralg, rhx = split_digest(referrer)
        return (self.repo(name) / "_manifests" / "referrers" / salg / shx / ralg / rhx / "link")

    def upload_dir(self, name, upload_id):
        return self.repo(name) / "_uploads" / upload_id

    @staticmethod
    def read_link(path):
        """Content of a link file (must be exactly 'alg:hex', no newline)."""
        data = Path(path).read_bytes()
        text = data.decode("ascii")
        if not LINK_RE.match(text) or text != text.strip():
            raise AssertionError(f"malformed link file {path}: {data!r}")
        return text

    def all_files(self):
        if not self.t.exists():
            return []
        return [Path(dp) / f for dp, _, fs in os.walk(self.t) for f in fs]

    def temp_files(self):
        out = []
        if not self.root.exists():
            return out
        for dp, ds, fs in os.walk(self.root):
            for n in ds + fs:
                if n.startswith(TMP_PREFIX):
                    out.append(Path(dp) / n)
        return out

    def problems(self):
        """Every violation of the tree invariants, as human-readable strings.

        - no '.cairn-tmp-*' file or directory anywhere under the root;
        - every link file is exactly 'alg:hex' with no newline;
        - every link points at blob data that exists;
        - a link under '<alg>/<hex>/link' (layers, revisions, tag index,
          referrers) names that very digest.
        """
        out = [f"temp file left: {p}" for p in self.temp_files()]
        for p in self.all_files():
            if p.name != "link":
                continue
            try:
                d = self.read_link(p)
            except (AssertionError, UnicodeDecodeError) as e:
                out.append(str(e))
                continue
            if not self.blob_data(d).is_file():
                out.append(f"link to missing blob: {p} -> {d}")
            parts = p.parts
            if parts[-2] != "current":
                alg, hx = parts[-3], parts[-2]
                if f"{alg}:{hx}" != d:
                    out.append(f"link content does not match its path: {p} -> {d}")
        return out


# --------------------------------------------------------------------------
# the server process


class CairnServer:
    """One cairn process.

    config: None (no --config), the YAML text of the config file, or a
        callable(server) -> text, called at each start() once the port is
        chosen (so a file that carries http.addr can use server.port and
        server.root). The text is written to `config_path` (by default
        config.yml in a temporary directory, server.confdir). With
        config=None and an existing config_path, that file is passed as is.
    use_flags: pass --root/--listen/--threads (they override the file). With
        use_flags=False only --config is passed: the file must carry
        storage.filesystem.rootdirectory and http.addr (use server.root and
        server.port from a callable config).
    ssl_context: talk HTTPS to the server (readiness check included).
    default_headers: sent with every request() (e.g. Authorization).
    """

    def __init__(self, root=None, threads=2, extra_args=(), config=None, config_path=None,
                 use_flags=True, ssl_context=None, default_headers=None):
        binary = find_binary()
        if binary is None:
            raise unittest.SkipTest("CAIRN_BINARY is not set")
        if not os.access(binary, os.X_OK):
            raise AssertionError(f"CAIRN_BINARY={binary} is not an executable file")
        self.binary = binary
        self.owns_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="cairn-e2e-"))
        self.threads = threads
        self.extra_args = list(extra_args)
        self.tree = Tree(self.root)
        self.proc = None
        self.port = None
        self.logdir = Path(tempfile.mkdtemp(prefix="cairn-e2e-log-"))
        self._log_n = 0
        self.config = config
        self.confdir = None
        if config_path is None and config is not None:
            self.confdir = Path(tempfile.mkdtemp(prefix="cairn-e2e-conf-"))
            config_path = self.confdir / "config.yml"
        self.config_path = Path(config_path) if config_path is not None else None
        self.use_flags = use_flags
        self.ssl_context = ssl_context
        self.default_headers = dict(default_headers or {})

    # -- process
    def command(self):
        cmd = [self.binary]
        if self.use_flags:
            cmd += ["--root", str(self.root), "--listen", f"{HOST}:{self.port}",
                    "--threads", str(self.threads)]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        return cmd + self.extra_args

    def write_config(self, text=None, how="inplace"):
        """Write the config file: text (default: self.config rendered),
        how = "inplace" (truncate and write) or "rename" (temp file + rename)."""
        if text is None:
            text = self.config(self) if callable(self.config) else self.config
        if how == "rename":
            write_atomic(self.config_path, text)
        else:
            write_in_place(self.config_path, text)

    def start(self, ready_timeout=START_TIMEOUT):
        last_error = None
        for _attempt in range(3):  # retry only if the chosen port got taken meanwhile
            self.port = free_port()
            if self.config is not None:
                self.write_config()
            self._log_n += 1
            self.stdout_path = self.logdir / f"stdout.{self._log_n}"
            self.stderr_path = self.logdir / f"stderr.{self._log_n}"
            with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + ready_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    # 401: a server with authentication configured is up too.
                    r = do_request(self.port, "GET", "/v2/", timeout=2,
                                   ssl_context=self.ssl_context)
                    if r.status in (200, 401):
                        return self
                except (OSError, ssl.SSLError, http.client.HTTPException):
                    pass
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"cairn did not answer GET /v2/ within {ready_timeout}s\n{self.log_tail()}")
            last_error = f"cairn exited with {self.proc.returncode} at start\n{self.log_tail()}"
            if "in use" not in self.log_tail().lower():
                break
        raise AssertionError(last_error)

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Wait for exit; kill and fail if it takes longer than timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"cairn did not exit within {timeout}s after SIGTERM\n{self.log_tail()}")

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, assert exit status 0."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        proc, self.proc = self.proc, None
        if rc != 0:
            raise AssertionError(f"cairn exited with status {rc} (want 0)\n{self.log_tail()}")
        return proc

    def cleanup(self):
        """Remove the temporary directories (kept if CAIRN_E2E_KEEP is set)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if os.environ.get("CAIRN_E2E_KEEP"):
            return
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)
        if self.confdir is not None:
            shutil.rmtree(self.confdir, ignore_errors=True)
        shutil.rmtree(self.logdir, ignore_errors=True)

    def log_tail(self, n=4000):
        out = []
        for label, attr in (("stdout", "stdout_path"), ("stderr", "stderr_path")):
            p = getattr(self, attr, None)
            if p and Path(p).exists():
                out.append(f"--- cairn {label} (tail) ---\n"
                           + Path(p).read_bytes()[-n:].decode("utf-8", "replace"))
        return "\n".join(out)

    # -- logs
    def stderr_bytes(self):
        p = getattr(self, "stderr_path", None)
        return Path(p).read_bytes() if p and Path(p).exists() else b""

    def log_mark(self):
        """Position in stderr; pass it to wait_for_log() to look only after it."""
        return len(self.stderr_bytes())

    def log_since(self, mark=0):
        return self.stderr_bytes()[mark:].decode("utf-8", "replace")

    def wait_for_log(self, pattern, mark=0, timeout=3.0):
        """Wait until a stderr line after `mark` matches the regex `pattern`
        (case-insensitive); returns the line, or None after `timeout`."""
        rx = re.compile(pattern, re.IGNORECASE)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_since(mark).splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    # -- HTTP
    def request(self, method, path, body=None, headers=None, timeout=REQUEST_TIMEOUT):
        hdrs = dict(self.default_headers)
        hdrs.update(headers or {})
        return do_request(self.port, method, path, body=body, headers=hdrs, timeout=timeout,
                          ssl_context=self.ssl_context)

    def connection(self, timeout=REQUEST_TIMEOUT):
        return make_connection(self.port, timeout=timeout, ssl_context=self.ssl_context)

    def url(self, path=""):
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{HOST}:{self.port}{path}"

    def view(self, headers=None, ssl_context=None):
        """The same server seen by another client (other credentials, other
        TLS context); has request(), tree, port, url(), connection()."""
        return ServerView(self, headers, ssl_context)

    def as_user(self, user, password):
        return self.view({"Authorization": basic_auth(user, password)})


class ServerView:
    """A running CairnServer with other default headers and/or TLS context.
    helpers_for(view) gives push_blob, make_image... as that client."""

    def __init__(self, server, headers=None, ssl_context=None):
        self._server = server
        self.default_headers = dict(headers or {})
        self.ssl_context = ssl_context if ssl_context is not None else server.ssl_context

    def __getattr__(self, name):
        return getattr(self._server, name)

    def request(self, method, path, body=None, headers=None, timeout=REQUEST_TIMEOUT):
        hdrs = dict(self.default_headers)
        hdrs.update(headers or {})
        return do_request(self._server.port, method, path, body=body, headers=hdrs,
                          timeout=timeout, ssl_context=self.ssl_context)

    def connection(self, timeout=REQUEST_TIMEOUT):
        return make_connection(self._server.port, timeout=timeout, ssl_context=self.ssl_context)


def parse_challenge(value):
    """'Basic realm="r",charset="UTF-8"' -> ('Basic', {'realm': 'r', 'charset': 'UTF-8'})."""
    scheme, _, rest = (value or "").strip().partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', rest))


def basic_auth(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --------------------------------------------------------------------------
# files that the server watches


def write_atomic(path, data):
    """Like an editor: write a temporary file beside `path`, rename it over."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{unique_int()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_in_place(path, data):
    """Truncate `path` and write the new content into the same inode."""
    if isinstance(data, str):
        data = data.encode()
    with open(path, "r+b" if Path(path).exists() else "wb") as f:
        f.seek(0)
        f.write(data)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


def poll_until(fn, timeout=3.0, interval=0.05):
    """Call fn() until it returns something true or `timeout` passes; returns
    the last value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def to_yaml(obj, indent=0):
    """A small block-style YAML emitter for config files: dicts, lists,
    strings (double-quoted), booleans, integers, None."""
    pad = "  " * indent

    def scalar(v):
        if v is True:
            return "true"
        if v is False:
            return "false"
        if v is None:
            return "null"
        if isinstance(v, (int, float)):
            return str(v)
        return json.dumps(str(v))

    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 1))
            elif isinstance(v, list) and v and any(isinstance(x, (dict, list)) for x in v):
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 1))
            elif isinstance(v, list):
                lines.append(f"{pad}{k}: [" + ", ".join(scalar(x) for x in v) + "]")
            elif isinstance(v, dict):
                lines.append(f"{pad}{k}: {{}}")
            else:
                lines.append(f"{pad}{k}: {scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict):
                sub = to_yaml(item, indent + 1).split("\n")
                first = sub[0].lstrip()
                lines.append(f"{pad}- {first}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {scalar(item)}")
    else:
        lines.append(pad + scalar(obj))
    return "\n".join(line for line in lines if line != "")


def yaml_doc(obj):
    return to_yaml(obj) + "\n"


def merge(base, extra):
    """Deep-merge dict `extra` into a copy of `base`."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


# --------------------------------------------------------------------------
# external tools: openssl, curl, skopeo


def require_tools(*names):
    """Skip (unittest.SkipTest) when one of the programs is not installed."""
    for n in names:
        if shutil.which(n) is None:
            raise unittest.SkipTest(f"{n} is not installed")


def run_tool(cmd, input=None, timeout=60, check=True, cwd=None):
    """Runs a command; returns CompletedProcess (bytes). Fails the test with
    its output when check and the exit status is not 0."""
    try:
        p = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, cwd=cwd,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{cmd} did not finish within {timeout}s") from e
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited with {p.returncode}\n"
                             f"stdout: {p.stdout[-3000:]!r}\nstderr: {p.stderr[-3000:]!r}")
    return p


def openssl(*args, input=None, timeout=60):
    return run_tool(["openssl"] + [str(a) for a in args], input=input, timeout=timeout).stdout


class Pki:
    """Certificates made with the openssl CLI in a directory.

        pki = Pki(dir)
        ca = pki.ca("test-ca")                       # Cert(cert, key)
        srv = pki.issue(ca, "server", cn="127.0.0.1", ips=["127.0.0.1"], serial=1001)
        cli = pki.issue(ca, "alice", cn="alice", client=True)
    """

    class Cert:
        def __init__(self, cert, key, serial=None, cn=None):
            self.cert = Path(cert)
            self.key = Path(key)
            self.serial = serial
            self.cn = cn

        def der(self):
            return ssl.PEM_cert_to_DER_cert(self.cert.read_text())

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _newkey(self, ec):
        return (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] if ec
                else ["-newkey", "rsa:2048"])

    def ca(self, name, cn=None, ec=False):
        cert, key = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        openssl("req", "-x509", *self._newkey(ec), "-nodes", "-keyout", key, "-out", cert,
                "-days", "2", "-subj", f"/CN={cn or name}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
        return Pki.Cert(cert, key, cn=cn or name)

    def issue(self, ca, name, cn, ips=(), dns=(), client=False, serial=None, ec=False,
              codesign=False):
        serial = serial if serial is not None else 1000 + unique_int()
        cert, key = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        csr, ext = self.dir / f"{name}.csr", self.dir / f"{name}.ext"
        openssl("req", "-new", *self._newkey(ec), "-nodes", "-keyout", key, "-out", csr,
                "-subj", f"/CN={cn}")
        lines = ["basicConstraints=critical,CA:FALSE"]
        san = [f"IP:{i}" for i in ips] + [f"DNS:{d}" for d in dns]
        if san:
            lines.append("subjectAltName=" + ",".join(san))
        if codesign:
            lines.append("keyUsage=critical,digitalSignature")
        elif client:
            lines.append("keyUsage=critical,digitalSignature,keyEncipherment")
            lines.append("extendedKeyUsage=clientAuth")
        else:
            lines.append("keyUsage=critical,digitalSignature,keyEncipherment")
            lines.append("extendedKeyUsage=serverAuth")
        ext.write_text("\n".join(lines) + "\n")
        openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key,
                "-set_serial", str(serial), "-days", "2", "-out", cert, "-extfile", ext)
        csr.unlink()
        ext.unlink()
        return Pki.Cert(cert, key, serial=serial, cn=cn)

    def server(self, ca, name="server", serial=None, ec=False):
        return self.issue(ca, name, cn="127.0.0.1", ips=["127.0.0.1"], dns=["localhost"],
                          serial=serial, ec=ec)


def client_context(cafile=None, cert=None, alpn=None, minimum=None, maximum=None):
    """An ssl.SSLContext trusting `cafile`, optionally presenting a client
    certificate (a Pki.Cert), with ALPN protocols and version bounds."""
    ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


# --------------------------------------------------------------------------
# htpasswd (bcrypt)

# bcrypt hashes of "<user>-secret" (cost 4), for when Python's crypt module
# (deprecated, gone in 3.13) is not there.
PRECOMPUTED_BCRYPT = {
    "alice-secret": "$2b$04$VQ7R09HPMAz3GoCFFnR3Z.SqX4OaGxMo2TsAolL7orBb8q9L99bvC",
    "bob-secret": "$2b$04$UIIvE.ft.nuda4VJhdtsBeFbpQML4MgsJ57L3pFG4YapbxXc53pLC",
    "carol-secret": "$2b$04$ZWv/RzEM9FElks5dhudEDuN6179QO56lkdSXp5OIu7lyKjQZxNyo.",
    "dave-secret": "$2b$04$xItAEYoyaRoK3OYj9i3zXOKQ4CtsxYpBdwNTSyRbfzk5p5pQ28oZC",
    "erin-secret": "$2b$04$AyZd4i/EfJd0UeOM3ed9aOs5ciRK6WAafs0BRLRbstvWLRqwzmNWq",
    "frank-secret": "$2b$04$ZlzdEfzx4TS7mynUX77F0.dfkyqppOjimHTfTLNu5FANZLncGRltG",
    "grace-secret": "$2b$04$lKVwTZjc6RzQ4DZHJOp64.qxlYyOYYS6RW.u74gLVsfE8EibRNte.",
    "heidi-secret": "$2b$04$MMzAv2yrRkmYoM2qmQa.TuNA605quhxFrnZzsOQFHqNOCLaC/zpBy",
}


def password_of(user):
    """The password the tests give `user`."""
    return f"{user}-secret"


def bcrypt_hash(password):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # noqa: PLC0415 (deprecated in 3.11, removed in 3.13)
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
        if h and h.startswith("$2"):
            return h
    except (ImportError, OSError, ValueError):
        pass
    if password in PRECOMPUTED_BCRYPT:
        return PRECOMPUTED_BCRYPT[password]
    raise unittest.SkipTest("no bcrypt available (crypt module) for password " + password)


def htpasswd_text(users):
    """htpasswd -B content for `users` (names; password_of(name) each)."""
    return "".join(f"{u}:{bcrypt_hash(password_of(u))}\n" for u in users)


# --------------------------------------------------------------------------
# a small OCI image layout for skopeo


def make_oci_layout(directory, tag="v1", seed=None):
    """An OCI image layout with one image (config + one gzip tar layer)
    tagged `tag`. Returns the manifest digest."""
    d = Path(directory)
    (d / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)

    def put(data):
        dg = sha256(data)
        (d / "blobs" / "sha256" / dg.split(":")[1]).write_bytes(data)
        return dg

    raw = io.BytesIO()
    seed = seed if seed is not None else unique_int()
    content = (f"cairn e2e layer {seed}\n".encode()) * 200
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mode = 0o644
        info.mtime = 1700000000
        tf.addfile(info, io.BytesIO(content))
    tar = raw.getvalue()
    layer = gzip.compress(tar, mtime=0)
    config = canonical_json({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
                             "config": {}})
    manifest = canonical_json({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": put(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": put(layer), "size": len(layer)}]})
    mdigest = put(manifest)
    (d / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (d / "index.json").write_bytes(canonical_json({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": mdigest, "size": len(manifest),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return mdigest


def skopeo(*args, timeout=120, check=True):
    """skopeo with no signature policy and a bounded run time."""
    return run_tool(["skopeo", "--insecure-policy"] + [str(a) for a in args],
                    timeout=timeout, check=check)


# --------------------------------------------------------------------------
# test base class

_counter = itertools.count(1)
_counter_lock = threading.Lock()


def unique_int():
    with _counter_lock:
        return next(_counter)


class Image:
    """A pushed (or built) manifest and what it references."""

    def __init__(self, body, media_type, config=None, layers=(), response=None):
        self.body = body
        self.media_type = media_type
        self.digest = sha256(body)
        self.size = len(body)
        self.config = config
        self.layers = list(layers)
        self.response = response

    def descriptor(self, **extra):
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        d.update(extra)
        return d


class CairnTestCase(unittest.TestCase):
    """One cairn server per TestCase class."""

    server = None
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = cls.make_server()
        try:
            cls.server.start()
        except BaseException:
            cls.server.cleanup()
            raise

    @classmethod
    def make_server(cls):
        """The server setUpClass starts; subclasses pass a config, TLS..."""
        return CairnServer()

    @classmethod
    def tearDownClass(cls):
        server, cls.server = cls.server, None
        try:
            if server is not None:
                try:
                    server.stop()  # asserts exit status 0
                finally:
                    server.cleanup()
        finally:
            super().tearDownClass()

    # -- access
    @property
    def tree(self):
        return self.server.tree

    def req(self, method, path, body=None, headers=None, **kw):
        return self.server.request(method, path, body=body, headers=headers, **kw)

    def repo(self, suffix=""):
        """A repository name unique to the running test method."""
        name = self._testMethodName.lower().replace("_", "-").strip("-")
        return name + (f"-{suffix}" if suffix else "")

    # -- assertions
    def assert_status(self, resp, status):
        if isinstance(status, int):
            status = (status,)
        self.assertIn(resp.status, status, f"unexpected status: {resp!r}")

    def assert_json_content_type(self, resp):
        self.assertEqual(media_type_of(resp.header("Content-Type")), "application/json",
                         f"Content-Type of {resp!r}")

    def assert_content_length(self, resp):
        cl = resp.header("Content-Length")
        self.assertIsNotNone(cl, f"no Content-Length in {resp!r}")
        self.assertEqual(int(cl), len(resp.body), f"Content-Length mismatch in {resp!r}")

    def assert_error(self, resp, status, *codes):
        """Status is `status` (int or tuple) and the body is an OCI error with a
        code among `codes`, Content-Type application/json, right Content-Length."""
        self.assert_status(resp, status)
        if resp.method == "HEAD":
            return None
        self.assert_json_content_type(resp)
        self.assert_content_length(resp)
        try:
            doc = resp.json()
        except ValueError:
            self.fail(f"error body is not JSON: {resp!r}")
        self.assertIsInstance(doc, dict, resp)
        errors = doc.get("errors")
        self.assertIsInstance(errors, list, f"no 'errors' list: {resp!r}")
        self.assertGreaterEqual(len(errors), 1, resp)
        for e in errors:
            self.assertIsInstance(e, dict, resp)
            self.assertIsInstance(e.get("code"), str, resp)
            self.assertIsInstance(e.get("message"), str, resp)
        if codes:
            self.assertIn(errors[0]["code"], codes, f"error code: {resp!r}")
        return errors[0]

    def assert_link(self, path, digest):
        self.assertTrue(Path(path).is_file(), f"missing link file {path}")
        self.assertEqual(Tree.read_link(path), digest, f"content of {path}")

    def assert_no_path(self, path):
        self.assertFalse(Path(path).exists(), f"{path} should not exist")

    def assert_tree_clean(self):
        problems = self.tree.problems()
        self.assertEqual(problems, [], "tree invariants violated")

    def assert_blob_stored(self, name, digest, data):
        p = self.tree.blob_data(digest)
        self.assertTrue(p.is_file(), f"missing blob data {p}")
        self.assertEqual(p.read_bytes(), data, f"bytes of {p}")
        self.assert_link(self.tree.layer_link(name, digest), digest)

    # -- blobs
    def push_blob(self, name, data, alg="sha256"):
        """Monolithic POST ?digest=; returns the digest; asserts 201."""
        d = digest_of(data, alg)
        r = self.req("POST", f"/v2/{name}/blobs/uploads/?digest={d}", body=data,
                     headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 201, f"push_blob: {r!r}")
        return d

    def start_upload(self, name):
        """POST a new upload session; returns its Location."""
        r = self.req("POST", f"/v2/{name}/blobs/uploads/")
        self.assertEqual(r.status, 202, f"start_upload: {r!r}")
        loc = r.header("Location")
        self.assertIsNotNone(loc, r)
        return loc

    def patch(self, location, data, content_range=None):
        headers = {"Content-Type": "application/octet-stream"}
        if content_range is not None:
            headers["Content-Range"] = content_range
        return self.req("PATCH", location, body=data, headers=headers)

    def put_upload(self, location, digest, data=b""):
        q = f"digest={digest}" if digest is not None else ""
        url = with_query(location, q) if q else location
        return self.req("PUT", url, body=data,
                        headers={"Content-Type": "application/octet-stream"})

    def push_blob_chunked(self, name, chunks, final=b"", alg="sha256"):
        loc = self.start_upload(name)
        for c in chunks:
            r = self.patch(loc, c)
            self.assertEqual(r.status, 202, f"PATCH: {r!r}")
            loc = r.header("Location") or loc
        d = digest_of(b"".join(chunks) + final, alg)
        r = self.put_upload(loc, d, final)
        self.assertEqual(r.status, 201, f"PUT upload: {r!r}")
        return d

    def get_blob(self, name, digest, headers=None):
        return self.req("GET", f"/v2/{name}/blobs/{digest}", headers=headers)

    # -- manifests
    def put_manifest(self, name, ref, body, media_type):
        if not isinstance(body, bytes):
            body = canonical_json(body)
        return self.req("PUT", f"/v2/{name}/manifests/{ref}", body=body,
                        headers={"Content-Type": media_type})

    def push_manifest(self, name, ref, body, media_type):
        """PUT a manifest and assert 201; returns the Response."""
        r = self.put_manifest(name, ref, body, media_type)
        self.assertEqual(r.status, 201, f"push_manifest {name}:{ref}: {r!r}")
        return r

    def get_manifest(self, name, ref, method="GET", accept=None):
        accept = accept or ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
        return self.req(method, f"/v2/{name}/manifests/{ref}", headers={"Accept": accept})

    def make_image(self, name, tag=None, *, layers=1, media_type=OCI_MANIFEST,
                   artifact_type=None, subject=None, annotations=None, push=True,
                   push_blobs=True, config_media_type=None):
        """Upload a config and `layers` layers (unique content), build a
        manifest of `media_type` (OCI or Docker schema2), and PUT it by `tag`
        (or by digest when tag is None) unless push=False."""
        n = unique_int()
        docker = media_type == DOCKER_MANIFEST
        if config_media_type is None:
            config_media_type = DOCKER_CONFIG if docker else OCI_CONFIG
        if config_media_type == OCI_EMPTY:
            config = EMPTY_JSON
        else:
            config = canonical_json({"architecture": "amd64", "os": "linux",
                                     "rootfs": {"type": "layers", "diff_ids": []},
                                     "cairn-test": n})
        layer_blobs = [f"layer {n}.{i} ".encode() * (50 + i) for i in range(layers)]
        if push_blobs:
            self.push_blob(name, config)
            for lb in layer_blobs:
                self.push_blob(name, lb)
        layer_mt = DOCKER_LAYER if docker else OCI_LAYER
        m = {"schemaVersion": 2, "mediaType": media_type}
        if artifact_type is not None:
            m["artifactType"] = artifact_type
        m["config"] = {"mediaType": config_media_type, "digest": sha256(config),
                       "size": len(config)}
        m["layers"] = [{"mediaType": layer_mt, "digest": sha256(b), "size": len(b)}
                       for b in layer_blobs]
        if subject is not None:
            m["subject"] = subject
        if annotations is not None:
            m["annotations"] = annotations
        body = canonical_json(m)
        img = Image(body, media_type, config=config, layers=layer_blobs)
        if push:
            img.response = self.push_manifest(name, tag or img.digest, body, media_type)
        return img

    def make_index(self, name, children, tag=None, *, media_type=OCI_INDEX,
                   artifact_type=None, subject=None, annotations=None, push=True):
        """Build (and PUT) an index / manifest list over `children` (Images)."""
        m = {"schemaVersion": 2, "mediaType": media_type}
        if artifact_type is not None:
            m["artifactType"] = artifact_type
        m["manifests"] = [c.descriptor(platform={"architecture": f"arch{i}", "os": "linux"})
                          for i, c in enumerate(children)]
        if subject is not None:
            m["subject"] = subject
        if annotations is not None:
            m["annotations"] = annotations
        body = canonical_json(m)
        img = Image(body, media_type)
        if push:
            img.response = self.push_manifest(name, tag or img.digest, body, media_type)
        return img


class _BoundHelpers(CairnTestCase):
    """CairnTestCase's helpers bound to a server the caller manages."""

    def __init__(self, server):
        super().__init__("_noop")
        self._bound_server = server

    def _noop(self):
        pass

    @property
    def server(self):
        return self._bound_server


def helpers_for(server):
    """Helpers (push_blob, make_image, assert_error, ...) for `server`, for
    tests that start their own servers instead of using setUpClass."""
    return _BoundHelpers(server)
