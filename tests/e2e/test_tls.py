"""TLS: HTTPS with ALPN h2 and http/1.1 (curl --http2), minimum version,
the TLS 1.2 cipher suites (Mozilla's intermediate profile by default,
http.tls.ciphersuites as in Distribution, at start and by reload), client
renegotiation refused with a no_renegotiation alert, certificate rotation by
reload without dropping open connections, a broken certificate edit refused,
client certificates (mTLS) as identities, skopeo with credentials over TLS,
and a >2 GiB upload over HTTP/1.1 + TLS."""

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import textwrap
import threading
import unittest
from pathlib import Path

from cairn_server import (HOST, CairnServer, CairnTestCase, Pki, client_context, find_binary,
                          free_port, helpers_for, htpasswd_text, make_oci_layout, merge,
                          parse_challenge, password_of, poll_until, require_tools, run_tool,
                          sha256, skopeo, write_atomic, yaml_doc)

RELOAD_TIMEOUT = 3.0
GiB = 1024 ** 3
MiB = 1024 ** 2


def tls_config(pki_cert, **extra):
    return merge({"version": "0.1",
                  "http": {"tls": {"certificate": str(pki_cert.cert),
                                   "key": str(pki_cert.key)}}}, extra)


def handshake(port, cafile, alpn=None, cert=None, minimum=None, maximum=None, timeout=10):
    """Opens a TLS connection; returns (peer certificate DER, ALPN protocol,
    TLS version)."""
    ctx = client_context(cafile, cert=cert, alpn=alpn, minimum=minimum, maximum=maximum)
    with socket.create_connection((HOST, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=HOST) as s:
            return s.getpeercert(binary_form=True), s.selected_alpn_protocol(), s.version()


def s_client_serial(port, *extra):
    """The serial number (int) of the certificate `openssl s_client` sees,
    or None when the handshake fails."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{port}",
                        "-servername", "localhost", *extra],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    if p.returncode != 0 or b"BEGIN CERTIFICATE" not in p.stdout:
        return None
    x = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=p.stdout,
                       capture_output=True, timeout=20)
    if x.returncode != 0:
        return None
    return int(x.stdout.decode().strip().split("=", 1)[1], 16)


# Mozilla's "intermediate" profile for TLS 1.2: ECDHE key exchange, AEAD
# ciphers. With an RSA certificate only the RSA half can be negotiated.
INTERMEDIATE_TLS12_RSA = {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                          "ECDHE-RSA-CHACHA20-POLY1305"}


def tls12_cipher(port, cipher, timeout=10):
    """The suite a TLS 1.2 handshake offering only `cipher` (an OpenSSL name)
    negotiates, or None when the server refuses it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(f"{cipher}:@SECLEVEL=0")
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=HOST) as s:
                return s.cipher()[0]
    except (ssl.SSLError, ConnectionError):
        return None


def every_tls12_cipher():
    """Every TLS 1.2 suite this machine's OpenSSL can offer, by OpenSSL name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return sorted({c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"})


def tls12_accepted(port):
    """The TLS 1.2 suites the server accepts, each offered alone."""
    return {c for c in every_tls12_cipher() if tls12_cipher(port, c) is not None}


def s_client_cipher(port, *extra):
    """(return code, output) of `openssl s_client` with `extra` options and
    nothing to send."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{port}",
                        "-servername", "localhost", *extra],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def s_client_renegotiate(port, cafile, wait=10):
    """`openssl s_client -tls1_2`, typing "R" (renegotiate) once the
    handshake is done; returns (return code, everything it printed). Fails
    the caller (AssertionError) when s_client is still waiting after `wait`
    seconds: the server must answer the attempt."""
    proc = subprocess.Popen(["openssl", "s_client", "-connect", f"{HOST}:{port}",
                             "-servername", "localhost", "-tls1_2", "-CAfile", str(cafile)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    printed = []
    reader = threading.Thread(target=lambda: printed.extend(iter(proc.stdout.readline, b"")))
    reader.start()
    # stdin stays open until s_client exits: at end of input it would quit
    # before the server's answer arrives (and -ign_eof turns "R" off).
    try:
        # the session summary ends the handshake's output
        if not poll_until(lambda: b"Verify return code" in b"".join(printed), wait):
            raise AssertionError("s_client's handshake did not finish:\n"
                                 + b"".join(printed).decode(errors="replace"))
        proc.stdin.write(b"R\n")
        proc.stdin.flush()
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        reader.join()
        raise AssertionError("s_client got no answer to its renegotiation within "
                             f"{wait}s:\n{b''.join(printed).decode(errors='replace')}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        reader.join()
        proc.stdout.close()
    return proc.returncode, b"".join(printed).decode(errors="replace")


def curl(url, *args, cacert, body=None, version_flag="--http2", cert=None):
    """curl over TLS; returns (http_version, status, headers, body)."""
    with tempfile.TemporaryDirectory() as scratch:
        head, out = Path(scratch) / "head", Path(scratch) / "out"
        cmd = ["curl", "-s", "-D", str(head), "-o", str(out), "--max-time", "30",
               version_flag, "--cacert", str(cacert)]
        if cert is not None:
            cmd += ["--cert", str(cert.cert), "--key", str(cert.key)]
        if body is not None:
            data = Path(scratch) / "body"
            data.write_bytes(body)
            cmd += ["--data-binary", f"@{data}"]
        cmd += list(args) + [url]
        run_tool(cmd, timeout=40)
        text = head.read_bytes().decode()
        blocks = [b for b in text.split("\r\n\r\n") if b.strip()]
        last = blocks[-1].split("\r\n")
        version, status = last[0].split(" ")[0], int(last[0].split(" ")[1])
        headers = {}
        for line in last[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return version, status, headers, out.read_bytes()


class PkiMixin:
    """A CA, a server certificate for 127.0.0.1, per class."""

    @classmethod
    def make_pki(cls):
        require_tools("openssl")
        cls.pki_dir = Path(tempfile.mkdtemp(prefix="cairn-e2e-pki-"))
        cls.pki = Pki(cls.pki_dir)
        cls.ca = cls.pki.ca("ca", cn="cairn e2e CA")
        cls.server_cert = cls.pki.server(cls.ca, "server", serial=1001)

    @classmethod
    def drop_pki(cls):
        if not os.environ.get("CAIRN_E2E_KEEP"):
            shutil.rmtree(cls.pki_dir, ignore_errors=True)


class TlsTest(PkiMixin, CairnTestCase):

    @classmethod
    def setUpClass(cls):
        cls.make_pki()
        try:
            super().setUpClass()
        except BaseException:
            cls.drop_pki()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.drop_pki()

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc(tls_config(cls.server_cert)),
                           ssl_context=client_context(cls.ca.cert))

    def test_https_base(self):
        r = self.req("GET", "/v2/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Docker-Distribution-API-Version"), "registry/2.0")

    def test_presents_configured_certificate(self):
        der, _, _ = handshake(self.server.port, self.ca.cert)
        self.assertEqual(der, self.server_cert.der())
        self.assertEqual(s_client_serial(self.server.port), 1001)

    def test_alpn_prefers_h2(self):
        _, proto, _ = handshake(self.server.port, self.ca.cert, alpn=["h2", "http/1.1"])
        self.assertEqual(proto, "h2")

    def test_alpn_http11(self):
        _, proto, _ = handshake(self.server.port, self.ca.cert, alpn=["http/1.1"])
        self.assertEqual(proto, "http/1.1")

    def test_no_alpn_is_http11(self):
        r = self.req("GET", "/v2/")  # http.client offers no ALPN
        self.assertEqual(r.status, 200)

    def test_tls12_client_accepted_by_default(self):
        _, _, version = handshake(self.server.port, self.ca.cert,
                                  maximum=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(version, "TLSv1.2")

    def test_tls13_client(self):
        _, _, version = handshake(self.server.port, self.ca.cert,
                                  minimum=ssl.TLSVersion.TLSv1_3)
        self.assertEqual(version, "TLSv1.3")

    def test_push_pull_over_https(self):
        name = self.repo()
        img = self.make_image(name, "v1", layers=2)
        r = self.get_manifest(name, "v1")
        self.assertEqual((r.status, sha256(r.body)), (200, img.digest))
        r = self.get_blob(name, sha256(img.layers[1]))
        self.assertEqual((r.status, r.body), (200, img.layers[1]))

    def test_curl_http2_over_tls(self):
        require_tools("curl")
        version, status, headers, body = curl(self.server.url("/v2/"), cacert=self.ca.cert)
        self.assertEqual((version, status), ("HTTP/2", 200))
        self.assertEqual(headers.get("docker-distribution-api-version"), "registry/2.0")

    def test_curl_http11_over_tls(self):
        require_tools("curl")
        version, status, _, _ = curl(self.server.url("/v2/"), cacert=self.ca.cert,
                                     version_flag="--http1.1")
        self.assertEqual((version, status), ("HTTP/1.1", 200))

    def test_curl_http2_blob_push_and_get(self):
        require_tools("curl")
        name = self.repo()
        data = b"h2 over tls " * 5000
        d = sha256(data)
        version, status, headers, _ = curl(
            self.server.url(f"/v2/{name}/blobs/uploads/?digest={d}"), "-X", "POST",
            "-H", "Content-Type: application/octet-stream", cacert=self.ca.cert, body=data)
        self.assertEqual((version, status), ("HTTP/2", 201))
        self.assertEqual(headers.get("docker-content-digest"), d)
        version, status, _, body = curl(self.server.url(f"/v2/{name}/blobs/{d}"),
                                         cacert=self.ca.cert)
        self.assertEqual((version, status, body), ("HTTP/2", 200, data))
        version, status, _, _ = curl(self.server.url(f"/v2/{name}/blobs/sha256:" + "0" * 64),
                                     cacert=self.ca.cert)
        self.assertEqual((version, status), ("HTTP/2", 404))

    def test_untrusted_client_fails_verification(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            handshake(self.server.port, None)  # system CAs only

    # -- TLS 1.2 cipher suites by default: Mozilla's intermediate profile

    def test_tls12_static_rsa_suite_refused(self):
        rc, out = s_client_cipher(self.server.port, "-tls1_2", "-cipher", "AES128-GCM-SHA256")
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn("Cipher is AES128-GCM-SHA256", out)

    def test_tls12_cbc_suite_refused(self):
        rc, out = s_client_cipher(self.server.port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA")
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn("Cipher is ECDHE-RSA-AES128-SHA", out)

    def test_tls12_ecdhe_aead_suite_accepted(self):
        rc, out = s_client_cipher(self.server.port, "-tls1_2", "-cipher",
                                  "ECDHE-RSA-AES128-GCM-SHA256")
        self.assertEqual(rc, 0, out)
        self.assertIn("Cipher is ECDHE-RSA-AES128-GCM-SHA256", out)

    def test_tls12_accepts_only_ecdhe_aead_suites(self):
        self.assertEqual(tls12_accepted(self.server.port), INTERMEDIATE_TLS12_RSA)

    def test_tls13_suites_unchanged(self):
        for suite in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                      "TLS_CHACHA20_POLY1305_SHA256"):
            rc, out = s_client_cipher(self.server.port, "-tls1_3", "-ciphersuites", suite)
            self.assertEqual(rc, 0, out)
            self.assertIn(f"TLSv1.3, Cipher is {suite}", out)

    # -- renegotiation

    def test_renegotiation_refused_with_alert(self):
        rc, out = s_client_renegotiate(self.server.port, self.ca.cert)
        self.assertIn("RENEGOTIATING", out)
        self.assertNotIn("bad record mac", out)
        # s_client's own words for the no_renegotiation alert
        self.assertIn("no renegotiation", out)
        # and the server goes on serving
        self.assertEqual(self.req("GET", "/v2/").status, 200)


class Tls13MinimumTest(PkiMixin, CairnTestCase):

    @classmethod
    def setUpClass(cls):
        cls.make_pki()
        try:
            super().setUpClass()
        except BaseException:
            cls.drop_pki()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.drop_pki()

    @classmethod
    def make_server(cls):
        return CairnServer(
            config=yaml_doc(tls_config(cls.server_cert,
                                       http={"tls": {"minimumtls": "tls1.3"}})),
            ssl_context=client_context(cls.ca.cert))

    def test_tls12_client_refused(self):
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            handshake(self.server.port, self.ca.cert, maximum=ssl.TLSVersion.TLSv1_2)

    def test_s_client_tls12_fails(self):
        self.assertIsNone(s_client_serial(self.server.port, "-tls1_2"))
        self.assertEqual(s_client_serial(self.server.port, "-tls1_3"), 1001)

    def test_tls13_client_served(self):
        _, _, version = handshake(self.server.port, self.ca.cert)
        self.assertEqual(version, "TLSv1.3")
        self.assertEqual(self.req("GET", "/v2/").status, 200)


class CipherSuitesTest(PkiMixin, CairnTestCase):
    """http.tls.ciphersuites with one TLS 1.2 suite: only it is accepted, and
    TLS 1.3 keeps its own suites."""

    @classmethod
    def setUpClass(cls):
        cls.make_pki()
        try:
            super().setUpClass()
        except BaseException:
            cls.drop_pki()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.drop_pki()

    @classmethod
    def make_server(cls):
        return CairnServer(
            config=yaml_doc(tls_config(cls.server_cert, http={"tls": {
                "ciphersuites": ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]}})),
            ssl_context=client_context(cls.ca.cert))

    def test_only_the_configured_suite(self):
        self.assertEqual(tls12_accepted(self.server.port), {"ECDHE-RSA-AES256-GCM-SHA384"})

    def test_tls13_still_served(self):
        _, _, version = handshake(self.server.port, self.ca.cert,
                                  minimum=ssl.TLSVersion.TLSv1_3)
        self.assertEqual(version, "TLSv1.3")
        self.assertEqual(self.req("GET", "/v2/").status, 200)


class CipherSuitesReloadTest(PkiMixin, unittest.TestCase):
    """A reload that changes http.tls.ciphersuites applies to new handshakes."""

    def setUp(self):
        self.make_pki()
        self.addCleanup(self.drop_pki)
        self.server = CairnServer(config=yaml_doc(tls_config(self.server_cert)),
                                  ssl_context=client_context(self.ca.cert))
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def tearDown(self):
        if self.server.proc is not None:
            self.server.stop()

    def reload_with(self, suites):
        mark = self.server.log_mark()
        write_atomic(self.server.config_path, yaml_doc(tls_config(
            self.server_cert, http={"tls": {"ciphersuites": suites}})))
        self.assertIsNotNone(self.server.wait_for_log(r"reloaded.*http\.tls", mark,
                                                      RELOAD_TIMEOUT),
                             self.server.log_since(mark))

    def test_reload_changes_the_suites(self):
        port = self.server.port
        conn = self.server.connection()
        self.addCleanup(conn.close)
        conn.request("GET", "/v2/")
        r = conn.getresponse()
        r.read()
        self.assertEqual(tls12_cipher(port, "ECDHE-RSA-CHACHA20-POLY1305"),
                         "ECDHE-RSA-CHACHA20-POLY1305")

        self.reload_with(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
        self.assertEqual(tls12_cipher(port, "ECDHE-RSA-AES128-GCM-SHA256"),
                         "ECDHE-RSA-AES128-GCM-SHA256")
        self.assertIsNone(tls12_cipher(port, "ECDHE-RSA-CHACHA20-POLY1305"))
        # the connection opened before the reload still serves
        conn.request("GET", "/v2/")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)

        # a suite outside the profile, listed on purpose, as Distribution allows
        self.reload_with(["TLS_RSA_WITH_AES_128_GCM_SHA256"])
        self.assertEqual(tls12_cipher(port, "AES128-GCM-SHA256"), "AES128-GCM-SHA256")
        self.assertIsNone(tls12_cipher(port, "ECDHE-RSA-AES128-GCM-SHA256"))

    def test_reload_with_unknown_suite_is_refused(self):
        mark = self.server.log_mark()
        write_atomic(self.server.config_path, yaml_doc(tls_config(
            self.server_cert, http={"tls": {"ciphersuites": ["TLS_NO_SUCH_SUITE"]}})))
        line = self.server.wait_for_log(r"refused", mark, RELOAD_TIMEOUT)
        self.assertIsNotNone(line, self.server.log_since(mark))
        self.assertIn("http.tls.ciphersuites", self.server.log_since(mark))
        self.assertEqual(tls12_accepted(self.server.port), INTERMEDIATE_TLS12_RSA)


class CipherSuitesConfigTest(PkiMixin, unittest.TestCase):
    """http.tls.ciphersuites in `cairn --check-config` and at start: unknown
    and insecure names are errors naming the file, line and key; suites
    outside the profile and TLS 1.3 suites are warnings."""

    def setUp(self):
        self.binary = find_binary()
        if self.binary is None:
            self.skipTest("CAIRN_BINARY is not set")
        self.make_pki()
        self.addCleanup(self.drop_pki)
        self.dir = Path(tempfile.mkdtemp(prefix="cairn-e2e-ciphers-"))
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, tls_lines):
        path = self.dir / "config.yml"
        path.write_text(textwrap.dedent(f"""\
            version: 0.1
            storage:
              filesystem:
                rootdirectory: {self.dir}/root
            http:
              addr: 127.0.0.1:{free_port()}
              tls:
                certificate: {self.server_cert.cert}
                key: {self.server_cert.key}
            """) + textwrap.indent(textwrap.dedent(tls_lines), "    "))
        return path

    def run_cairn(self, *args):
        try:
            p = subprocess.run([self.binary, *map(str, args)], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=20)
        except subprocess.TimeoutExpired:
            self.fail(f"cairn {args} did not exit within 20 s")
        return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")

    def assert_refused(self, tls_lines, line, words):
        path = self.write(tls_lines)
        for args in (["--check-config", path], ["--config", path]):
            rc, out = self.run_cairn(*args)
            self.assertNotEqual(rc, 0, f"cairn {args[0]} accepted:\n{path.read_text()}\n{out}")
            self.assertIn(f"{path}:{line}: http.tls.ciphersuites", out)
            for word in words:
                self.assertIn(word, out)
            self.assertNotIn(": ok", out)

    def assert_accepted(self, tls_lines):
        path = self.write(tls_lines)
        rc, out = self.run_cairn("--check-config", path)
        self.assertEqual(rc, 0, f"--check-config refused:\n{path.read_text()}\n{out}")
        self.assertIn(f"{path}: ok", out)
        return path, out

    def test_unknown_name(self):
        self.assert_refused("""\
            ciphersuites:
              - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
              - TLS_ECDHE_RSA_WITH_AES_512_GCM_SHA256
            """, 12, ["TLS_ECDHE_RSA_WITH_AES_512_GCM_SHA256", "unknown"])

    def test_openssl_name_is_unknown(self):
        self.assert_refused("ciphersuites: [ECDHE-RSA-AES128-GCM-SHA256]\n", 10,
                            ["ECDHE-RSA-AES128-GCM-SHA256", "unknown"])

    def test_insecure_names(self):
        for name in ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
                     "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"):
            with self.subTest(name=name):
                self.assert_refused(f"ciphersuites: [{name}]\n", 10, [name, "insecure"])

    def test_known_names_accepted(self):
        _, out = self.assert_accepted("""\
            ciphersuites:
              - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
              - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
              - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
              - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
              - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
              - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            """)
        self.assertNotIn("warning", out)

    def test_outside_profile_is_a_warning(self):
        path, out = self.assert_accepted("""\
            ciphersuites:
              - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
              - TLS_RSA_WITH_AES_128_CBC_SHA
            """)
        self.assertIn(f"{path}:12: http.tls.ciphersuites", out)
        self.assertIn("TLS_RSA_WITH_AES_128_CBC_SHA", out)

    def test_tls13_names_are_a_warning(self):
        path, out = self.assert_accepted("""\
            ciphersuites:
              - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
              - TLS_AES_128_GCM_SHA256
            """)
        self.assertIn(f"{path}:12: http.tls.ciphersuites", out)
        self.assertIn("TLS 1.3", out)

    def test_with_minimum_tls13_is_a_warning(self):
        path, out = self.assert_accepted("""\
            minimumtls: tls1.3
            ciphersuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
            """)
        self.assertIn(f"{path}:11: http.tls.ciphersuites", out)
        self.assertIn("tls1.3", out)


class CertificateReloadTest(PkiMixin, unittest.TestCase):
    """A server per test: these tests replace its certificate."""

    def setUp(self):
        self.make_pki()
        self.addCleanup(self.drop_pki)
        # the files the server is configured with, beside the PKI's own
        self.live = Path(tempfile.mkdtemp(prefix="cairn-e2e-live-"))
        self.addCleanup(shutil.rmtree, self.live, True)
        self.cert_path, self.key_path = self.live / "tls.crt", self.live / "tls.key"
        shutil.copyfile(self.server_cert.cert, self.cert_path)
        shutil.copyfile(self.server_cert.key, self.key_path)
        live = Pki.Cert(self.cert_path, self.key_path)
        self.server = CairnServer(config=yaml_doc(tls_config(live)),
                                  ssl_context=client_context(self.ca.cert))
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def tearDown(self):
        if self.server.proc is not None:
            self.server.stop()

    def rotate(self, new, cert=True, key=True):
        """Rename new files over the live ones (key first, then certificate)."""
        if key:
            write_atomic(self.key_path, new.key.read_bytes())
        if cert:
            write_atomic(self.cert_path, new.cert.read_bytes())

    def presented(self):
        try:
            return handshake(self.server.port, self.ca.cert)[0]
        except (OSError, ssl.SSLError):
            return None

    def test_rotation_new_handshakes_old_connection_survives(self):
        conn = self.server.connection()
        self.addCleanup(conn.close)
        conn.request("GET", "/v2/")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        sock_before = conn.sock
        self.assertEqual(conn.sock.getpeercert(binary_form=True), self.server_cert.der())

        new = self.pki.server(self.ca, "server2", serial=2002)
        mark = self.server.log_mark()
        self.rotate(new)
        self.assertTrue(poll_until(lambda: self.presented() == new.der(), RELOAD_TIMEOUT),
                        f"new handshakes do not present the new certificate\n"
                        f"{self.server.log_since(mark)}")
        self.assertEqual(s_client_serial(self.server.port), 2002)
        self.assertIsNotNone(self.server.wait_for_log(r"reloaded", mark, RELOAD_TIMEOUT))

        # the connection opened before the rotation still serves requests
        conn.request("GET", "/v2/")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        self.assertIs(conn.sock, sock_before, "http.client reconnected")
        self.assertEqual(conn.sock.getpeercert(binary_form=True), self.server_cert.der())

    def test_rotation_to_ec_certificate(self):
        new = self.pki.server(self.ca, "server-ec", serial=3003, ec=True)
        self.rotate(new)
        self.assertTrue(poll_until(lambda: self.presented() == new.der(), RELOAD_TIMEOUT),
                        self.server.log_tail())

    def test_certificate_without_its_key_is_refused(self):
        new = self.pki.server(self.ca, "server2", serial=2002)
        mark = self.server.log_mark()
        self.rotate(new, key=False)  # certificate and key do not match
        self.assertIsNotNone(self.server.wait_for_log(r"refused", mark, RELOAD_TIMEOUT),
                             self.server.log_since(mark))
        self.assertEqual(self.presented(), self.server_cert.der())
        self.assertEqual(self.server.request("GET", "/v2/").status, 200)
        self.rotate(new, cert=False)  # now the key arrives
        self.assertTrue(poll_until(lambda: self.presented() == new.der(), RELOAD_TIMEOUT),
                        self.server.log_since(mark))

    def test_missing_certificate_file_is_refused(self):
        mark = self.server.log_mark()
        write_atomic(self.server.config_path, yaml_doc(tls_config(
            Pki.Cert(self.live / "missing.crt", self.key_path),
            storage={"maintenance": {"readonly": {"enabled": True}}})))
        self.assertIsNotNone(self.server.wait_for_log(r"refused", mark, RELOAD_TIMEOUT),
                             self.server.log_since(mark))
        self.assertEqual(self.presented(), self.server_cert.der())
        # nothing of the refused file applies (it also asked for read-only)
        r = self.server.request("POST", "/v2/tls/x/blobs/uploads/")
        self.assertEqual(r.status, 202, r)

    def test_garbage_certificate_is_refused(self):
        mark = self.server.log_mark()
        write_atomic(self.cert_path, b"-----BEGIN CERTIFICATE-----\nnot base64\n")
        self.assertIsNotNone(self.server.wait_for_log(r"refused", mark, RELOAD_TIMEOUT),
                             self.server.log_since(mark))
        self.assertEqual(self.presented(), self.server_cert.der())


class MutualTlsTest(PkiMixin, CairnTestCase):
    """http.tls.clientcas: a client certificate's CN is the user name."""

    @classmethod
    def setUpClass(cls):
        cls.make_pki()
        try:
            cls.client_ca = cls.pki.ca("client-ca", cn="cairn e2e client CA")
            cls.alice_cert = cls.pki.issue(cls.client_ca, "alice", cn="alice", client=True)
            cls.rogue_ca = cls.pki.ca("rogue-ca")
            cls.rogue_cert = cls.pki.issue(cls.rogue_ca, "rogue", cn="alice", client=True)
            (cls.pki_dir / "htpasswd").write_text(htpasswd_text(["bob"]))
            super().setUpClass()
        except BaseException:
            cls.drop_pki()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.drop_pki()

    @classmethod
    def make_server(cls):
        cfg = tls_config(cls.server_cert, http={"tls": {"clientcas": [str(cls.client_ca.cert)]}},
                         auth={"htpasswd": {"realm": "mtls-realm",
                                            "path": str(cls.pki_dir / "htpasswd")}},
                         cairn={"access": [
                             {"subjects": ["alice"], "repositories": ["alice/**"],
                              "actions": ["pull", "push"]},
                             {"subjects": ["bob"], "repositories": ["bob/**"],
                              "actions": ["pull", "push"]}]})
        return CairnServer(config=yaml_doc(cfg), ssl_context=client_context(cls.ca.cert))

    def alice(self):
        return self.server.view(ssl_context=client_context(self.ca.cert, cert=self.alice_cert))

    def test_client_certificate_identity(self):
        alice = self.alice()
        self.assertEqual(alice.request("GET", "/v2/").status, 200)
        h = helpers_for(alice)
        img = h.make_image("alice/app", "v1")
        r = h.get_manifest("alice/app", "v1")
        self.assertEqual((r.status, sha256(r.body)), (200, img.digest))

    def test_client_certificate_user_denied_elsewhere(self):
        r = self.alice().request("POST", "/v2/bob/app/blobs/uploads/")
        self.assert_error(r, 403, "DENIED")

    def test_no_client_certificate_is_anonymous(self):
        r = self.req("GET", "/v2/")
        self.assert_error(r, 401, "UNAUTHORIZED")
        scheme, params = parse_challenge(r.header("WWW-Authenticate"))
        self.assertEqual((scheme, params.get("realm")), ("Basic", "mtls-realm"), r)
        r = self.req("POST", "/v2/alice/app/blobs/uploads/")
        self.assert_error(r, 401, "UNAUTHORIZED")

    def test_basic_auth_still_works_without_certificate(self):
        bob = self.server.as_user("bob", password_of("bob"))
        self.assertEqual(helpers_for(bob).start_upload("bob/app").startswith("/v2/bob/app/"),
                         True)

    def test_certificate_from_another_ca_is_not_alice(self):
        rogue = self.server.view(ssl_context=client_context(self.ca.cert, cert=self.rogue_cert))
        try:
            r = rogue.request("POST", "/v2/alice/app/blobs/uploads/")
        except (ssl.SSLError, ConnectionError):
            return  # handshake refused: fine
        self.assertEqual(r.status, 401, r)

    def test_curl_http2_with_client_certificate(self):
        require_tools("curl")
        version, status, _, _ = curl(self.server.url("/v2/"), cacert=self.ca.cert,
                                     cert=self.alice_cert)
        self.assertEqual((version, status), ("HTTP/2", 200))
        version, status, headers, _ = curl(self.server.url("/v2/"), cacert=self.ca.cert)
        self.assertEqual((version, status), ("HTTP/2", 401))
        scheme, params = parse_challenge(headers.get("www-authenticate"))
        self.assertEqual((scheme, params.get("realm")), ("Basic", "mtls-realm"))


class SkopeoOverTlsTest(PkiMixin, CairnTestCase):
    """skopeo push/pull with credentials, trusting the CA via --*-cert-dir."""

    @classmethod
    def setUpClass(cls):
        require_tools("skopeo")
        cls.make_pki()
        try:
            (cls.pki_dir / "htpasswd").write_text(htpasswd_text(["alice"]))
            cls.certs_d = cls.pki_dir / "certs.d"
            cls.certs_d.mkdir()
            shutil.copyfile(cls.ca.cert, cls.certs_d / "ca.crt")
            super().setUpClass()
        except BaseException:
            cls.drop_pki()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.drop_pki()

    @classmethod
    def make_server(cls):
        cfg = tls_config(cls.server_cert,
                         auth={"htpasswd": {"realm": "skopeo-realm",
                                            "path": str(cls.pki_dir / "htpasswd")}})
        return CairnServer(config=yaml_doc(cfg), ssl_context=client_context(cls.ca.cert))

    def test_push_pull_with_credentials(self):
        creds = f"alice:{password_of('alice')}"
        ref = f"docker://{HOST}:{self.server.port}/skopeo/tls:v1"
        with tempfile.TemporaryDirectory(prefix="cairn-e2e-skopeo-") as scratch:
            src, out = Path(scratch) / "src", Path(scratch) / "out"
            digest = make_oci_layout(src, "v1")
            skopeo("copy", "-q", "--dest-cert-dir", self.certs_d, "--dest-creds", creds,
                   f"oci:{src}:v1", ref)
            skopeo("copy", "-q", "--src-cert-dir", self.certs_d, "--src-creds", creds,
                   ref, f"oci:{out}:v1")
            self.assertTrue((out / "blobs" / "sha256" / digest.split(":")[1]).is_file())
            p = skopeo("inspect", "--raw", "--cert-dir", self.certs_d, "--creds", creds, ref)
            self.assertEqual(sha256(p.stdout), digest)
            # wrong password, and no password: refused
            for extra in (["--dest-creds", "alice:wrong"], []):
                p = skopeo("copy", "-q", "--dest-cert-dir", self.certs_d, *extra,
                           f"oci:{src}:v1", f"docker://{HOST}:{self.server.port}/skopeo/tls:x",
                           check=False)
                self.assertNotEqual(p.returncode, 0, f"push with {extra} succeeded")

    def test_push_with_tls_verify_false(self):
        creds = f"alice:{password_of('alice')}"
        with tempfile.TemporaryDirectory(prefix="cairn-e2e-skopeo-") as scratch:
            src = Path(scratch) / "src"
            digest = make_oci_layout(src, "v1")
            skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds", creds,
                   f"oci:{src}:v1", f"docker://{HOST}:{self.server.port}/skopeo/noverify:v1")
            r = self.server.as_user("alice", password_of("alice")).request(
                "HEAD", f"/v2/skopeo/noverify/manifests/{digest}")
            self.assertEqual(r.status, 200, r)


def pattern_stream(size, block=MiB):
    """Deterministic bytes: each MiB starts with its index; yields blocks and
    fills `hasher` as it goes."""
    base = bytes(range(256)) * (block // 256)
    sent = 0
    index = 0
    while sent < size:
        n = min(block, size - sent)
        chunk = (index.to_bytes(8, "big") + base[8:])[:n]
        yield chunk
        sent += n
        index += 1


@unittest.skipUnless(os.environ.get("CAIRN_E2E_LARGE"),
                     "set CAIRN_E2E_LARGE=1 for the >2 GiB upload over TLS")
class LargeUploadOverTlsTest(PkiMixin, CairnTestCase):

    @classmethod
    def setUpClass(cls):
        cls.make_pki()
        try:
            super().setUpClass()
        except BaseException:
            cls.drop_pki()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.drop_pki()

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc(tls_config(
            cls.server_cert, cairn={"request_timeout": "30m"})),
            ssl_context=client_context(cls.ca.cert))

    def test_blob_over_2gib_http11_tls(self):
        size = 2 * GiB + MiB + 7
        name = self.repo()
        loc = self.start_upload(name)
        hasher = hashlib.sha256()

        def body():
            for chunk in pattern_stream(size):
                hasher.update(chunk)
                yield chunk

        conn = self.server.connection(timeout=1800)
        try:
            conn.request("PATCH", loc, body=body(),
                         headers={"Content-Type": "application/octet-stream",
                                  "Content-Length": str(size)})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 202, f"PATCH: {r.status} {r.headers}")
            loc = r.headers.get("Location") or loc
            self.assertEqual(r.headers.get("Range"), f"0-{size - 1}")
        finally:
            conn.close()
        digest = "sha256:" + hasher.hexdigest()
        r = self.put_upload(loc, digest)
        self.assertEqual(r.status, 201, r)
        r = self.req("HEAD", f"/v2/{name}/blobs/{digest}")
        self.assertEqual((r.status, r.header("Content-Length")), (200, str(size)))
        self.assertEqual(self.tree.blob_data(digest).stat().st_size, size)


if __name__ == "__main__":
    unittest.main()
