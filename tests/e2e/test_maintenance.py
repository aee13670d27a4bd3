"""The server's periodic purge of stale uploads, and /metrics on a separate
debug address (http.debug.addr)."""

import http.client
import unittest

from cairn_server import HOST, CairnServer, CairnTestCase, free_port, poll_until, yaml_doc


def upload_id_of(location):
    return location.rstrip("/").rsplit("/", 1)[-1].split("?")[0]


class UploadPurgeTest(CairnTestCase):

    @classmethod
    def make_server(cls):
        return CairnServer(config=yaml_doc({
            "version": "0.1",
            "storage": {"maintenance": {"uploadpurging": {
                "enabled": True, "age": "1h", "interval": "1s"}}}}))

    def test_stale_upload_is_purged_fresh_one_kept(self):
        name = self.repo()
        stale = upload_id_of(self.start_upload(name))
        fresh = upload_id_of(self.start_upload(name))
        started_at = self.tree.upload_dir(name, stale) / "startedat"
        started_at.write_text("2020-01-02T03:04:05Z")
        gone = poll_until(lambda: not self.tree.upload_dir(name, stale).exists() or None, 5.0)
        self.assertTrue(gone, "stale upload still there after 5 s")
        self.assertTrue(self.tree.upload_dir(name, fresh).exists())
        r = self.req("GET", f"/v2/{name}/blobs/uploads/{stale}")
        self.assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
        # The purger logs after it removed the directory: wait for the line.
        self.assertIsNotNone(self.server.wait_for_log("purged upload", 0, timeout=5.0),
                             self.server.log_since(0))


class DebugAddressTest(CairnTestCase):

    @classmethod
    def make_server(cls):
        cls.debug_port = free_port()
        return CairnServer(config=yaml_doc({
            "version": "0.1", "http": {"debug": {"addr": f"{HOST}:{cls.debug_port}"}}}))

    def debug_get(self, path):
        connection = http.client.HTTPConnection(HOST, self.debug_port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def test_metrics_only_on_the_debug_address(self):
        status, body = self.debug_get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"cairn_http_requests_total", body)
        self.assertEqual(self.debug_get("/healthz")[0], 200)
        self.assertEqual(self.debug_get("/v2/")[0], 404)
        self.assertEqual(self.req("GET", "/metrics").status, 404)
        self.assertEqual(self.req("GET", "/v2/").status, 200)


if __name__ == "__main__":
    unittest.main()
