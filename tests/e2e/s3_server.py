"""An S3-compatible server for the e2e tests, and an independent S3 client to
check what cairn wrote there.

Python 3.11 standard library only.  The server is tests/s3/s3-server.js
(@20minutes/s3rver 4.0.4, which verifies AWS Signature V4) run by Node >= 20;
its node modules are installed by tests/run, or on first use here.  Without
Node >= 20 every test that starts one is skipped.

    s3 = S3Server()                 # temporary data directory, bucket "cairn-test"
    s3.start()                      # free port on 127.0.0.1; waits until ready
    s3.endpoint                     # "http://127.0.0.1:<port>" (path-style, us-east-1)
    s3.stop()                       # SIGTERM, wait, assert exit status 0
    s3.start()                      # again: same port, same objects (an outage, then recovery)
    s3.list_keys("docker/")         # [(key, size), ...] in key order
    s3.get_object(key)              # bytes;  s3.head(key) -> dict or None
    s3.cleanup()                    # stop, remove the data directory

The credentials are S3_ACCESS_KEY / S3_SECRET_KEY.  The cross-checks
(list_keys, get_object, head, put_object, delete_object, run_boto3) do not use
cairn's code: they run boto3 in Debian's /usr/bin/python3 (python3-boto3) in a
subprocess, since the python3 running the tests may be another one without
boto3.
"""

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

HOST = "127.0.0.1"
S3_ACCESS_KEY = "cairn-test-access"
S3_SECRET_KEY = "cairn-test-secret"
S3_BUCKET = "cairn-test"
S3_REGION = "us-east-1"

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
CLIENT_TIMEOUT = 120.0

TOP = Path(__file__).resolve().parents[2]
S3_DIRECTORY = TOP / "tests" / "s3"
LAUNCHER = S3_DIRECTORY / "s3-server.js"
INSTALLER = S3_DIRECTORY / "install"
SYSTEM_PYTHON = "/usr/bin/python3"


def node_binary():
    """The node to run (CAIRN_NODE overrides PATH's), or raise SkipTest."""
    node = os.environ.get("CAIRN_NODE") or shutil.which("node")
    if not node:
        raise cannot_run("node is not installed: the S3 test server needs Node >= 20")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < 20:
        raise cannot_run(f"the S3 test server needs Node >= 20 (found {version or node})")
    return node


def cannot_run(reason):
    """SkipTest on a developer's machine; a failure in CI (CI=true), where the
    S3 tests must run."""
    if os.environ.get("CI"):
        return AssertionError(f"CI: {reason}")
    return unittest.SkipTest(reason)


_installed = False


def ensure_installed():
    """Installs tests/s3/node_modules (npm ci) unless already there: a quick
    no-op after tests/run.  tests/s3/install serialises parallel callers with
    a lock.  Raises SkipTest without Node >= 20, RuntimeError when npm ci fails."""
    global _installed
    if _installed:
        return
    node_binary()
    result = subprocess.run([str(INSTALLER)], capture_output=True, text=True)
    if result.returncode == 3:
        raise cannot_run(result.stderr.strip())
    if result.returncode != 0:
        raise RuntimeError(f"tests/s3/install failed ({result.returncode}):\n{result.stderr}")
    _installed = True


class S3Server:
    """tests/s3/s3-server.js on 127.0.0.1 with a data directory that outlives
    stop(), so start() after stop() serves the same objects on the same port."""

    def __init__(self, directory=None, bucket=S3_BUCKET, access_key=S3_ACCESS_KEY,
                 secret_key=S3_SECRET_KEY):
        self._own_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="cairn-s3-"))
        self.data_directory = self.directory / "data"
        self.log_path = self.directory / "s3-server.log"
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = S3_REGION
        self.port = None
        self.process = None

    # -- life cycle

    @property
    def endpoint(self):
        if self.port is None:
            raise RuntimeError("the S3 server has not been started")
        return f"http://{HOST}:{self.port}"

    def running(self):
        return self.process is not None and self.process.poll() is None

    def start(self, timeout=START_TIMEOUT):
        """Starts the server: on a free port the first time, on the same port
        afterwards (retried while the old socket is still being released)."""
        if self.running():
            raise RuntimeError("the S3 server is already running")
        ensure_installed()
        node = node_binary()
        deadline = time.monotonic() + timeout
        while True:
            error = self._try_start(node, deadline)
            if error is None:
                return self
            if self.port is None or "EADDRINUSE" not in error or time.monotonic() > deadline:
                raise RuntimeError(f"the S3 server did not start: {error}")
            time.sleep(0.2)

    def _try_start(self, node, deadline):
        command = [node, str(LAUNCHER), "--host", HOST, "--port", str(self.port or 0),
                   "--directory", str(self.data_directory), "--access-key", self.access_key,
                   "--secret-key", self.secret_key, "--bucket", self.bucket]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=log)
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(remaining, 0))
            chunk = os.read(self.process.stdout.fileno(), 256) if ready else b""
            if not chunk:  # timed out, or the server exited
                self._kill_quietly()
                return (f"no 'listening' line (exit status {self.process.returncode}); "
                        f"log: {self.log_tail()}")
            line += chunk
        words = line.decode().split()
        if len(words) != 2 or words[0] != "listening":
            self._kill_quietly()
            return f"unexpected output {line!r}"
        self.port = int(words[1])
        return None

    def _kill_quietly(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdout.close()

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait; asserts the server exited with status 0."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the S3 server did not stop within {timeout} s")
        finally:
            process.stdout.close()
        if status != 0:
            raise AssertionError(f"the S3 server exited with status {status}; log: {self.log_tail()}")

    def kill(self):
        """SIGKILL: the server dies without closing anything (a crash)."""
        if self.process is not None:
            process, self.process = self.process, None
            process.kill()
            process.wait()
            process.stdout.close()

    def cleanup(self):
        """Stops the server (if running) and removes the data directory if this
        object made it."""
        try:
            self.kill()
        finally:
            if self._own_directory:
                shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def log_tail(self, size=2000):
        try:
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""

    def environment(self):
        """AWS_* variables for the aws CLI or another S3 client."""
        return {"AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}

    # -- independent client: boto3 in /usr/bin/python3

    def run_boto3(self, code, value=None, binary_output=False):
        """Runs `code` in /usr/bin/python3 with `client` (a boto3 S3 client for
        this server, path-style, SigV4), `bucket` and `value` (JSON-able) defined;
        the code sets `result`.  Returns result: as JSON, or raw bytes when
        binary_output (then result must be bytes)."""
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            raise cannot_run(f"{SYSTEM_PYTHON} is missing (python3-boto3 cross-checks)")
        request = json.dumps({"endpoint": self.endpoint, "bucket": self.bucket,
                              "region": self.region, "value": value,
                              "binary": binary_output, "code": code})
        environment = {key: item for key, item in os.environ.items()
                       if not key.startswith(("AWS_", "PYTHON")) and "proxy" not in key.lower()}
        environment.update(self.environment())
        environment.update({"AWS_CONFIG_FILE": os.devnull,
                            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                            "AWS_EC2_METADATA_DISABLED": "true"})
        result = subprocess.run([SYSTEM_PYTHON, "-c", _BOTO3_RUNNER], input=request.encode(),
                                capture_output=True, env=environment, timeout=CLIENT_TIMEOUT)
        if result.returncode != 0:
            raise AssertionError(f"boto3 cross-check failed: {result.stderr.decode(errors='replace')}")
        return result.stdout if binary_output else json.loads(result.stdout)

    def list_keys(self, prefix=""):
        """[(key, size), ...] of every object under prefix, in key order
        (ListObjectsV2, all pages)."""
        return [tuple(pair) for pair in self.run_boto3(
            "result = []\n"
            "for page in client.get_paginator('list_objects_v2').paginate("
            "Bucket=bucket, Prefix=value):\n"
            "    result += [(o['Key'], o['Size']) for o in page.get('Contents', [])]\n",
            prefix)]

    def get_object(self, key):
        """The object's bytes; AssertionError (NoSuchKey) when absent."""
        return self.run_boto3(
            "result = client.get_object(Bucket=bucket, Key=value)['Body'].read()\n",
            key, binary_output=True)

    def head(self, key):
        """{'size', 'last_modified' (epoch seconds), 'etag'} or None when absent."""
        return self.run_boto3(
            "try:\n"
            "    h = client.head_object(Bucket=bucket, Key=value)\n"
            "    result = {'size': h['ContentLength'], 'etag': h['ETag'],\n"
            "              'last_modified': h['LastModified'].timestamp()}\n"
            "except botocore.exceptions.ClientError as error:\n"
            "    if error.response['Error']['Code'] not in ('404', 'NoSuchKey'):\n"
            "        raise\n"
            "    result = None\n",
            key)

    def put_object(self, key, data: bytes):
        """Writes an object behind cairn's back (to plant damage, say)."""
        self.run_boto3(
            "client.put_object(Bucket=bucket, Key=value[0], Body=bytes.fromhex(value[1]))\n"
            "result = None\n",
            [key, data.hex()])

    def delete_object(self, key):
        self.run_boto3("client.delete_object(Bucket=bucket, Key=value)\nresult = None\n", key)


# Runs in /usr/bin/python3: reads the request (JSON) on stdin, writes the
# result on stdout.
_BOTO3_RUNNER = """
import json, sys
import boto3, botocore.config, botocore.exceptions
request = json.load(sys.stdin)
client = boto3.session.Session().client(
    's3', endpoint_url=request['endpoint'], region_name=request['region'],
    config=botocore.config.Config(signature_version='s3v4',
                                  s3={'addressing_style': 'path'},
                                  retries={'max_attempts': 1}))
scope = {'client': client, 'bucket': request['bucket'], 'value': request['value'],
         'botocore': botocore, 'result': None}
exec(request['code'], scope)
if request['binary']:
    sys.stdout.buffer.write(scope['result'])
else:
    json.dump(scope['result'], sys.stdout)
"""
