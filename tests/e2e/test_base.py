"""GET /v2/ and basic HTTP behaviour."""

import json
import unittest

from cairn_server import CairnTestCase, media_type_of, raw_exchange


class BaseEndpointTest(CairnTestCase):

    def test_get_v2_root(self):
        r = self.req("GET", "/v2/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Docker-Distribution-API-Version"), "registry/2.0")
        self.assertEqual(media_type_of(r.header("Content-Type")), "application/json")
        self.assert_content_length(r)
        self.assertEqual(json.loads(r.body), {})

    def test_head_v2_root(self):
        r = self.req("HEAD", "/v2/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Docker-Distribution-API-Version"), "registry/2.0")

    def test_head_v2_root_sends_no_body(self):
        head, body = raw_exchange(self.server.port,
                                  b"HEAD /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Connection: close\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertEqual(body, b"")

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        conn = self.server.connection()
        try:
            for _ in range(5):
                conn.request("GET", "/v2/")
                r = conn.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(json.loads(r.read()), {})
        finally:
            conn.close()

    def test_error_responses_keep_connection_usable(self):
        conn = self.server.connection()
        try:
            conn.request("GET", "/v2/some-repo/blobs/sha256:" + "0" * 64)
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 404)
            conn.request("GET", "/v2/")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
