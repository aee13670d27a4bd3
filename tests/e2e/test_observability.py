"""/healthz, /metrics (Prometheus text) and the access log (text and JSON)
on stderr; secrets never reach the log."""

import base64
import json
import re
import shutil
import tempfile
import unittest
from pathlib import Path

from cairn_server import (CairnServer, CairnTestCase, basic_auth, helpers_for, htpasswd_text,
                          password_of, poll_until, yaml_doc)

LOG_TIMEOUT = 3.0


def metric_total(text, name):
    """Sum of every sample of `name` (any labels) in Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)", line)
        if m:
            total += float(m.group(2))
    return total


class TextLogTest(CairnTestCase):

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc({"version": "0.1", "log": {"formatter": "text"}}))

    def wait_line(self, *needles, mark=0):
        def find():
            for line in self.server.log_since(mark).splitlines():
                if all(n in line for n in needles):
                    return line
            return None
        line = poll_until(find, LOG_TIMEOUT)
        self.assertIsNotNone(line, f"no access log line with {needles}:\n"
                                   f"{self.server.log_since(mark)[-3000:]}")
        return line

    def test_healthz(self):
        r = self.req("GET", "/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.req("HEAD", "/healthz").status, 200)

    def test_metrics(self):
        r = self.req("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        ct = r.header("Content-Type", "")
        self.assertTrue(ct.lower().startswith("text/plain"), ct)
        self.assertIn("version=0.0.4", ct.replace(" ", ""))
        text = r.body.decode()
        self.assertIn("cairn_http_requests_total", text)
        self.assertIn("cairn_config_reloads_total", text)
        # every sample line is `name{labels} value`
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEInfNa]+$")

    def test_request_counter_grows(self):
        before = metric_total(self.req("GET", "/metrics").body.decode(),
                              "cairn_http_requests_total")
        for _ in range(5):
            self.req("GET", "/v2/")
        after = poll_until(lambda: metric_total(self.req("GET", "/metrics").body.decode(),
                                                "cairn_http_requests_total") >= before + 5,
                           LOG_TIMEOUT)
        self.assertTrue(after, "cairn_http_requests_total did not count 5 requests")

    def test_access_log_line(self):
        mark = self.server.log_mark()
        self.req("GET", "/v2/")
        self.wait_line("GET", "/v2/", " 200", mark=mark)

    def test_access_log_status_and_path(self):
        name = self.repo()
        mark = self.server.log_mark()
        path = f"/v2/{name}/manifests/nope"
        self.assertEqual(self.req("GET", path).status, 404)
        line = self.wait_line("GET", path, " 404", mark=mark)
        self.assertEqual(line.count("\n"), 0)

    def test_access_log_one_line_per_request(self):
        name = self.repo()
        mark = self.server.log_mark()
        for i in range(3):
            self.req("HEAD", f"/v2/{name}/blobs/sha256:{i:064x}")
        for i in range(3):
            self.wait_line("HEAD", f"/v2/{name}/blobs/sha256:{i:064x}", " 404", mark=mark)
        lines = [ln for ln in self.server.log_since(mark).splitlines() if f"/v2/{name}/" in ln]
        self.assertEqual(len(lines), 3, lines)


class JsonLogTest(CairnTestCase):

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc({"version": "0.1", "log": {"formatter": "json"}}))

    def json_lines(self, mark=0):
        out = []
        for line in self.server.log_since(mark).splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append(doc)
        return out

    def wait_entry(self, mark, **want):
        def find():
            for doc in self.json_lines(mark):
                if all(str(doc.get(k)) == str(v) for k, v in want.items()):
                    return doc
            return None
        doc = poll_until(find, LOG_TIMEOUT)
        self.assertIsNotNone(doc, f"no JSON access log entry with {want}:\n"
                                  f"{self.server.log_since(mark)[-3000:]}")
        return doc

    def test_json_access_log(self):
        name = self.repo()
        mark = self.server.log_mark()
        self.req("GET", "/v2/")
        self.req("GET", f"/v2/{name}/tags/list")
        self.wait_entry(mark, method="GET", path="/v2/", status=200)
        doc = self.wait_entry(mark, method="GET", path=f"/v2/{name}/tags/list", status=404)
        self.assertIn(doc["status"], (404, "404"))

    def test_every_stderr_line_is_json(self):
        mark = self.server.log_mark()
        helpers_for(self.server).push_blob(self.repo(), b"json log")
        self.wait_entry(mark, method="POST", status=201)
        for line in self.server.log_since(0).splitlines():
            if line.strip():
                try:
                    self.assertIsInstance(json.loads(line), dict, line)
                except ValueError:
                    self.fail(f"stderr line is not JSON with log.formatter json: {line!r}")


class AuthObservabilityTest(CairnTestCase):
    """With htpasswd configured: /healthz and /metrics need no credentials,
    the user is logged, the password never is."""

    @classmethod
    def setUpClass(cls):
        cls.authdir = Path(tempfile.mkdtemp(prefix="cairn-e2e-obs-"))
        try:
            (cls.authdir / "htpasswd").write_text(htpasswd_text(["alice"]))
            super().setUpClass()
        except BaseException:
            shutil.rmtree(cls.authdir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.authdir, ignore_errors=True)

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc({
            "version": "0.1",
            "auth": {"htpasswd": {"realm": "obs", "path": str(cls.authdir / "htpasswd")}}}))

    def test_healthz_without_credentials(self):
        self.assertEqual(self.req("GET", "/healthz").status, 200)

    def test_metrics_without_credentials(self):
        r = self.req("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"cairn_http_requests_total", r.body)

    def test_user_in_access_log(self):
        name = self.repo()
        mark = self.server.log_mark()
        r = self.server.as_user("alice", password_of("alice")).request(
            "GET", f"/v2/{name}/tags/list")
        self.assertEqual(r.status, 404, r)
        line = poll_until(lambda: next((ln for ln in self.server.log_since(mark).splitlines()
                                        if f"/v2/{name}/tags/list" in ln), None), LOG_TIMEOUT)
        self.assertIsNotNone(line, self.server.log_since(mark))
        self.assertIn("alice", line)

    def test_secrets_not_logged(self):
        secret = "Sup3r-s3cret-Pa55word"
        mark = self.server.log_mark()
        for user in ("alice", "mallory"):
            header = basic_auth(user, secret)
            r = self.req("GET", f"/v2/{self.repo()}/tags/list", headers={"Authorization": header})
            self.assertEqual(r.status, 401, r)
        ok = basic_auth("alice", password_of("alice"))
        self.server.request("GET", "/v2/", headers={"Authorization": ok})
        poll_until(lambda: self.server.log_since(mark).count("\n") >= 3, LOG_TIMEOUT)
        log = self.server.log_since(0)
        for s in (secret, password_of("alice"), basic_auth("alice", secret).split()[1],
                  ok.split()[1], base64.b64encode(secret.encode()).decode()):
            self.assertNotIn(s, log)

    def test_auth_failures_counted(self):
        def failures():
            return metric_total(self.req("GET", "/metrics").body.decode(),
                                "cairn_auth_failures_total")
        before = failures()
        self.req("GET", "/v2/", headers={"Authorization": basic_auth("alice", "wrong")})
        self.assertTrue(poll_until(lambda: failures() > before, LOG_TIMEOUT),
                        "cairn_auth_failures_total did not grow after a bad password")


if __name__ == "__main__":
    unittest.main()
