"""The configuration file: `cairn --check-config`, flags over the file,
starting from a real Distribution config.yml, SIGTERM with a config."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import unittest
from pathlib import Path

from cairn_server import (HOST, CairnServer, basic_auth, bcrypt_hash, find_binary, free_port,
                          helpers_for, make_oci_layout, parse_challenge, password_of, sha256,
                          skopeo, yaml_doc)
from gc_tools import fsck_binary, gc_binary


def binary_or_skip():
    b = find_binary()
    if b is None:
        raise unittest.SkipTest("CAIRN_BINARY is not set")
    return b


class CheckConfigTest(unittest.TestCase):
    """`cairn --check-config FILE`: `FILE: ok` and 0, or non-zero and
    `FILE:<line>: <key>: <reason>`."""

    def setUp(self):
        self.binary = binary_or_skip()
        self.dir = Path(tempfile.mkdtemp(prefix="cairn-e2e-check-"))
        self.addCleanup(shutil.rmtree, self.dir, True)

    def check(self, text, name="config.yml"):
        path = self.dir / name
        path.write_text(textwrap.dedent(text))
        try:
            p = subprocess.run([self.binary, "--check-config", str(path)],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("--check-config did not exit within 10 s")
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        return path, p.returncode, out

    def assert_ok(self, text):
        path, rc, out = self.check(text)
        self.assertEqual(rc, 0, f"--check-config rejected a valid file:\n{text}\n{out}")
        self.assertIn(f"{path}: ok", out)
        return out

    def assert_invalid(self, text, line, key):
        path, rc, out = self.check(text)
        self.assertNotEqual(rc, 0, f"--check-config accepted an invalid file:\n{text}\n{out}")
        pattern = re.escape(f"{path}:{line}: {key}:") + r" \S"
        self.assertRegex(out, pattern, f"want '{path}:{line}: {key}: <reason>' in:\n{out}")
        self.assertNotIn(f"{path}: ok", out)
        return out

    def test_valid_minimal(self):
        self.assert_ok("""\
            version: 0.1
            storage:
              filesystem:
                rootdirectory: /tmp/cairn-e2e-never-used
            http:
              addr: 127.0.0.1:5999
            """)

    def test_valid_full(self):
        htpasswd = self.dir / "htpasswd"
        htpasswd.write_text("alice:" + bcrypt_hash(password_of("alice")) + "\n")
        self.assert_ok(f"""\
            version: 0.1
            log:
              level: debug
              formatter: json
            storage:
              filesystem:
                rootdirectory: /tmp/cairn-e2e-never-used
              delete:
                enabled: true
              maintenance:
                uploadpurging:
                  enabled: true
                  age: 168h
                  interval: 24h
                readonly:
                  enabled: false
            http:
              addr: 127.0.0.1:5999
            auth:
              htpasswd:
                realm: test-realm
                path: {htpasswd}
            cairn:
              threads: 2
              workers: 2
              max_body_size: 512MiB
              request_timeout: 15m
              shutdown_grace: 30s
              anonymous_pull: false
              groups:
                admins: [alice]
              access:
                - subjects: [group:admins]
                  repositories: ["**"]
                  actions: [pull, push, delete, catalog]
                - subjects: [anonymous]
                  repositories: ["public/*"]
                  actions: [pull]
            """)

    def test_empty_cairn_section_and_defaults(self):
        self.assert_ok("version: 0.1\n")

    def test_wrong_type_under_cairn(self):
        self.assert_invalid("cairn:\n  threads: many\n", 2, "cairn.threads")

    def test_wrong_type_line_number(self):
        self.assert_invalid("""\
            version: 0.1
            storage:
              filesystem:
                rootdirectory: /tmp/x
              delete:
                enabled: perhaps
            """, 6, "storage.delete.enabled")

    def test_unknown_cairn_key_is_an_error(self):
        self.assert_invalid("""\
            version: 0.1
            cairn:
              threads: 2
              no_such_setting: 1
            """, 4, "cairn.no_such_setting")

    def test_bad_duration(self):
        self.assert_invalid("""\
            storage:
              maintenance:
                uploadpurging:
                  age: soon
            """, 4, "storage.maintenance.uploadpurging.age")

    def test_bad_log_formatter(self):
        self.assert_invalid("log:\n  formatter: xml\n", 2, "log.formatter")

    def test_bad_minimum_tls(self):
        self.assert_invalid("http:\n  tls:\n    minimumtls: ssl3\n", 3, "http.tls.minimumtls")

    def test_bad_access_action(self):
        path, rc, out = self.check("""\
            cairn:
              access:
                - subjects: [alice]
                  repositories: ["**"]
                  actions: [pull, fly]
            """)
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(out, re.escape(f"{path}:") + r"\d+: cairn\.access", out)

    def test_invalid_yaml(self):
        path, rc, out = self.check("version: 0.1\nstorage:\n  filesystem: [unclosed\n")
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(out, re.escape(f"{path}:") + r"\d+:", out)

    def test_missing_file(self):
        missing = self.dir / "does-not-exist.yml"
        p = subprocess.run([self.binary, "--check-config", str(missing)],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(str(missing), (p.stdout + p.stderr).decode(errors="replace"))

    def test_unknown_distribution_keys_are_warnings(self):
        out = self.assert_ok("""\
            version: 0.1
            storage:
              filesystem:
                rootdirectory: /tmp/cairn-e2e-never-used
              cache:
                blobdescriptor: inmemory
            redis:
              addr: localhost:6379
            health:
              storagedriver:
                enabled: true
                interval: 10s
                threshold: 3
            """)
        # a warning that does not name the key would not help anyone
        for key in ("redis", "health", "cache"):
            self.assertIn(key, out, f"no warning naming {key!r}:\n{out}")

    def test_htpasswd_and_token_together_is_an_error(self):
        path, rc, out = self.check("""\
            auth:
              htpasswd:
                realm: r
                path: /tmp/htpasswd
              token:
                realm: https://auth.example/token
                service: s
                issuer: i
                rootcertbundle: /tmp/bundle.pem
            """)
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(out, re.escape(f"{path}:") + r"\d+: auth", out)


class CheckConfigLoadsLikeStartTest(unittest.TestCase):
    """`cairn --check-config`, `cairn-gc --config` and `cairn-fsck --config`
    load a file exactly as the server does at start: whatever makes the
    server refuse to start (a missing or MD5 htpasswd file, a missing TLS
    certificate, a key that does not match, a missing token bundle, S3
    without a bucket) makes each of them fail with the server's message."""

    def setUp(self):
        self.binary = binary_or_skip()
        self.dir = Path(tempfile.mkdtemp(prefix="cairn-e2e-load-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.root = self.dir / "root"
        (self.root / "docker/registry/v2").mkdir(parents=True)

    def run_command(self, *args, env=None):
        try:
            p = subprocess.run([str(a) for a in args], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=20, env=env)
        except subprocess.TimeoutExpired:
            self.fail(f"{args} did not exit within 20 s")
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def write(self, body, http="", storage=""):
        """A configuration over the test's root; `http` and `storage` are
        lines added under those sections."""
        path = self.dir / "config.yml"
        path.write_text(f"version: 0.1\nstorage:\n  filesystem:\n"
                        f"    rootdirectory: {self.root}\n"
                        + textwrap.indent(textwrap.dedent(storage), "  ")
                        + f"http:\n  addr: 127.0.0.1:{free_port()}\n"
                        + textwrap.indent(textwrap.dedent(http), "  ")
                        + textwrap.dedent(body))
        return path

    def assert_refused_everywhere(self, body, expect, http="", storage="", env=None):
        path = self.write(body, http, storage)
        rc, out, err = self.run_command(self.binary, "--config", path, env=env)
        self.assertNotEqual(rc, 0, f"the server started with:\n{path.read_text()}\n{out}{err}")
        server_lines = [line for line in err.splitlines()
                        if line.startswith("cairn: ") and not line.startswith("cairn: warning")]
        self.assertTrue(server_lines, err)
        server_message = server_lines[-1]
        self.assertIn(expect, server_message)

        rc, out, err = self.run_command(self.binary, "--check-config", path, env=env)
        self.assertNotEqual(rc, 0, f"--check-config accepted what the server refuses:\n{out}")
        self.assertNotIn(": ok", out)
        self.assertIn(server_message, err.splitlines(),
                      f"--check-config must say what the server says: {server_message!r}")
        message = server_message[len("cairn: "):]
        for tool, extra in ((gc_binary(), ["--dry-run"]), (fsck_binary(), [])):
            if tool is None:
                continue
            rc, out, err = self.run_command(tool, "--config", path, *extra, env=env)
            self.assertNotEqual(rc, 0, f"{tool} accepted what the server refuses:\n{out}{err}")
            self.assertIn(message, err, f"{tool} must say what the server says")
            self.assertEqual(out, "", f"{tool} worked on the tree anyway")

    def test_missing_htpasswd_file(self):
        missing = self.dir / "no-such-htpasswd"
        self.assert_refused_everywhere(f"""\
            auth:
              htpasswd:
                realm: r
                path: {missing}
            """, str(missing))

    def test_md5_htpasswd_file(self):
        htpasswd = self.dir / "htpasswd"
        htpasswd.write_text("alice:$apr1$8i6A9ZjJ$yWOxZJ/w9wG0Uf/cE0Dju1\n")
        self.assert_refused_everywhere(f"""\
            auth:
              htpasswd:
                realm: r
                path: {htpasswd}
            """, str(htpasswd))

    def test_missing_tls_certificate(self):
        self.assert_refused_everywhere("", "missing.crt", http=f"""\
            tls:
              certificate: {self.dir}/missing.crt
              key: {self.dir}/missing.key
            """)

    def test_tls_key_of_another_certificate(self):
        if shutil.which("openssl") is None:
            self.skipTest("openssl not installed")
        for name in ("a", "b"):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                            f"/CN={name}", "-keyout", self.dir / f"{name}.key", "-out",
                            self.dir / f"{name}.crt"], check=True, capture_output=True)
        self.assert_refused_everywhere("", "b.key", http=f"""\
            tls:
              certificate: {self.dir}/a.crt
              key: {self.dir}/b.key
            """)

    def test_missing_token_bundle(self):
        self.assert_refused_everywhere(f"""\
            auth:
              token:
                realm: https://auth.example/token
                service: registry
                issuer: auth
                rootcertbundle: {self.dir}/missing-bundle.pem
            """, "missing-bundle.pem")

    def test_s3_without_credentials(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.assert_refused_everywhere("", "credentials", env=env, storage="""\
            s3:
              bucket: b
              region: us-east-1
              regionendpoint: http://127.0.0.1:1
            """)

    def test_good_file_passes_everywhere(self):
        htpasswd = self.dir / "htpasswd"
        htpasswd.write_text("alice:" + bcrypt_hash(password_of("alice")) + "\n")
        path = self.write(f"""\
            auth:
              htpasswd:
                realm: r
                path: {htpasswd}
            """)
        rc, out, err = self.run_command(self.binary, "--check-config", path)
        self.assertEqual(rc, 0, err)
        self.assertIn(f"{path}: ok", out)
        for tool, extra in ((gc_binary(), ["--dry-run"]), (fsck_binary(), [])):
            if tool is not None:
                rc, out, err = self.run_command(tool, "--config", path, *extra)
                self.assertEqual(rc, 0, f"{tool}: {out}{err}")


class FlagsOverFileTest(unittest.TestCase):

    def setUp(self):
        binary_or_skip()
        self.dirs = [Path(tempfile.mkdtemp(prefix="cairn-e2e-flags-")) for _ in range(2)]
        for d in self.dirs:
            self.addCleanup(shutil.rmtree, d, True)

    def start(self, server):
        self.addCleanup(server.cleanup)
        server.start()
        return server

    def test_file_alone(self):
        """Without flags, root and listen address come from the file."""
        file_root = self.dirs[0]
        server = CairnServer(root=file_root, use_flags=False, config=lambda s: yaml_doc({
            "version": "0.1",
            "storage": {"filesystem": {"rootdirectory": str(s.root)}},
            "http": {"addr": f"{HOST}:{s.port}"},
            "cairn": {"threads": 2}}))
        self.start(server)
        h = helpers_for(server)
        d = h.push_blob("from-file/x", b"stored where the file says")
        self.assertTrue(server.tree.blob_data(d).is_file())
        server.stop()

    def test_flags_win(self):
        """--root and --listen beat storage.filesystem.rootdirectory and http.addr."""
        file_root, flag_root = self.dirs
        file_port = free_port()
        server = CairnServer(root=flag_root, config=yaml_doc({
            "version": "0.1",
            "storage": {"filesystem": {"rootdirectory": str(file_root)}},
            "http": {"addr": f"{HOST}:{file_port}"},
            "cairn": {"threads": 3}}))
        self.start(server)
        self.assertNotEqual(server.port, file_port)
        h = helpers_for(server)
        data = b"stored where the flag says"
        d = h.push_blob("from-flags/x", data)
        self.assertTrue(server.tree.blob_data(d).is_file())
        self.assertEqual(list(file_root.iterdir()), [], "the file's root was used")
        with self.assertRaises(OSError):
            import socket
            socket.create_connection((HOST, file_port), timeout=1).close()
        server.stop()

    def test_sigterm_with_config_exits_zero(self):
        server = CairnServer(config=yaml_doc({"version": "0.1", "log": {"level": "info"}}))
        self.start(server)
        self.assertEqual(server.request("GET", "/v2/").status, 200)
        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait(), 0, server.log_tail())
        server.proc = None

    def test_invalid_config_refuses_to_start(self):
        binary = binary_or_skip()
        bad = self.dirs[0] / "bad.yml"
        bad.write_text("cairn:\n  threads: many\n")
        p = subprocess.run([binary, "--config", str(bad), "--root", str(self.dirs[1]),
                            "--listen", f"{HOST}:{free_port()}"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"{bad}:2: cairn.threads", p.stderr.decode(errors="replace"))


DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  accesslog:
    disabled: false
  level: info
  formatter: text
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: true
      age: 168h
      interval: 24h
      dryrun: false
http:
  addr: {addr}
  secret: asecretforlocaldevelopment
  headers:
    X-Content-Type-Options: [nosniff]
  http2:
    disabled: false
auth:
  htpasswd:
    realm: basic-realm
    path: {htpasswd}
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


class DistributionConfigTest(unittest.TestCase):
    """A registry:2 config.yml (filesystem storage, htpasswd, delete) as is."""

    @classmethod
    def setUpClass(cls):
        binary_or_skip()
        cls.confdir = Path(tempfile.mkdtemp(prefix="cairn-e2e-distconf-"))
        htpasswd = cls.confdir / "htpasswd"
        # `htpasswd -B` writes $2y$; bcrypt_hash gives $2b$: same algorithm.
        h = bcrypt_hash(password_of("alice"))
        htpasswd.write_text("alice:$2y$" + h[4:] + "\n")
        config = cls.confdir / "config.yml"
        cls.server = CairnServer(use_flags=False, config_path=config)
        cls.server.config = lambda s: DISTRIBUTION_CONFIG.format(
            root=s.root, addr=f"{HOST}:{s.port}", htpasswd=htpasswd)
        try:
            cls.server.start()
        except BaseException:
            cls.server.cleanup()
            shutil.rmtree(cls.confdir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.server.cleanup()
            shutil.rmtree(cls.confdir, ignore_errors=True)

    def test_requires_credentials(self):
        r = self.server.request("GET", "/v2/")
        self.assertEqual(r.status, 401, r)
        scheme, params = parse_challenge(r.header("WWW-Authenticate"))
        self.assertEqual((scheme, params.get("realm")), ("Basic", "basic-realm"), r)

    def test_login_push_pull_delete(self):
        alice = self.server.as_user("alice", password_of("alice"))
        self.assertEqual(alice.request("GET", "/v2/").status, 200)
        h = helpers_for(alice)
        img = h.make_image("dist/app", "v1")
        r = h.get_manifest("dist/app", "v1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sha256(r.body), img.digest)
        r = alice.request("DELETE", f"/v2/dist/app/manifests/{img.digest}")
        self.assertEqual(r.status, 202, r)

    def test_skopeo_push_pull_with_credentials(self):
        if shutil.which("skopeo") is None:
            self.skipTest("skopeo is not installed")
        with tempfile.TemporaryDirectory(prefix="cairn-e2e-skopeo-") as scratch:
            src = Path(scratch) / "src"
            digest = make_oci_layout(src, "v1")
            dest = f"docker://{HOST}:{self.server.port}/dist/skopeo:v1"
            creds = f"alice:{password_of('alice')}"
            skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds", creds,
                   f"oci:{src}:v1", dest)
            r = self.server.as_user("alice", password_of("alice")).request(
                "GET", "/v2/dist/skopeo/manifests/v1",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
            self.assertEqual((r.status, sha256(r.body)), (200, digest), r)
            # without credentials the push is refused
            p = skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{src}:v1",
                       f"docker://{HOST}:{self.server.port}/dist/skopeo:anon", check=False)
            self.assertNotEqual(p.returncode, 0, "anonymous skopeo push succeeded")
            out = Path(scratch) / "out"
            skopeo("copy", "-q", "--src-tls-verify=false", "--src-creds", creds, dest,
                   f"oci:{out}:v1")
            self.assertTrue((out / "blobs" / "sha256" / digest.split(":")[1]).is_file())

    def test_wrong_password(self):
        r = self.server.request("GET", "/v2/",
                                headers={"Authorization": basic_auth("alice", "wrong")})
        self.assertEqual(r.status, 401, r)


if __name__ == "__main__":
    unittest.main()
