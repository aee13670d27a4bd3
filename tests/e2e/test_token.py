"""Docker token authentication: Bearer JWTs (RS256, ES256) minted in the
test with the openssl CLI, verified against a root certificate bundle (x5c
chain in the header) or a JWKS file (kid); iss, aud, exp, nbf and the access
claim checked; Bearer challenges with the scope the request needs."""

import base64
import hmac
import hashlib
import json
import re
import shutil
import tempfile
import time
import unittest
from pathlib import Path

from cairn_server import (CairnServer, CairnTestCase, Pki, answer_shape, basic_auth, helpers_for,
                          openssl, parse_challenge, require_tools, sha256, yaml_doc)

REALM = "https://auth.example.test/token"
SERVICE = "cairn-e2e"
ISSUER = "cairn-e2e-issuer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_signature_to_raw(sig: bytes, size=32) -> bytes:
    """ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs) -> r || s, 2*size bytes."""
    if sig[0] != 0x30:
        raise ValueError("not a DER sequence")
    i = 2 if sig[1] < 0x80 else 2 + (sig[1] & 0x7F)
    out = b""
    for _ in range(2):
        if sig[i] != 0x02:
            raise ValueError("not a DER integer")
        n = sig[i + 1]
        v = sig[i + 2:i + 2 + n]
        i += 2 + n
        out += v.lstrip(b"\x00").rjust(size, b"\x00")
    return out


def sign(key: Path, data: bytes, alg: str) -> bytes:
    sig = openssl("dgst", "-sha256", "-sign", key, input=data)
    return der_signature_to_raw(sig) if alg == "ES256" else sig


def make_jwt(key, alg, claims, header_extra=None, sign_alg=None):
    header = {"typ": "JWT", "alg": alg}
    header.update(header_extra or {})
    signing_input = (b64url(json.dumps(header).encode()) + "."
                     + b64url(json.dumps(claims).encode()))
    sig = sign(key, signing_input.encode(), sign_alg or alg)
    return signing_input + "." + b64url(sig)


def access(name, *actions):
    return {"type": "repository", "name": name, "actions": list(actions)}


def claims(grants=(), aud=SERVICE, iss=ISSUER, exp_in=300, nbf_in=-10, sub="alice"):
    now = int(time.time())
    return {"iss": iss, "sub": sub, "aud": aud, "exp": now + exp_in, "nbf": now + nbf_in,
            "iat": now + min(nbf_in, 0), "jti": f"jti-{now}-{time.monotonic_ns()}",
            "access": list(grants)}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def ec_public_xy(key: Path):
    der = openssl("ec", "-in", key, "-pubout", "-outform", "DER")
    point = der[-65:]
    assert point[0] == 4
    return point[1:33], point[33:]


def rsa_public_n(key: Path):
    out = openssl("rsa", "-in", key, "-noout", "-modulus").decode().strip()
    return bytes.fromhex(out.split("=", 1)[1])


class TokenTestCase(CairnTestCase):
    """Keys and certificates; subclasses choose rootcertbundle or jwks."""

    @classmethod
    def setUpClass(cls):
        require_tools("openssl")
        cls.keydir = Path(tempfile.mkdtemp(prefix="cairn-e2e-token-"))
        try:
            pki = Pki(cls.keydir)
            cls.root = pki.ca("token-root", cn="token root CA")
            cls.rsa = pki.issue(cls.root, "rsa-signer", cn="token signer rsa", codesign=True)
            cls.ec = pki.issue(cls.root, "ec-signer", cn="token signer ec", codesign=True,
                               ec=True)
            cls.rogue_root = pki.ca("rogue-root")
            cls.rogue = pki.issue(cls.rogue_root, "rogue-signer", cn="token signer rsa",
                                  codesign=True)
            cls.prepare()
            super().setUpClass()
        except BaseException:
            shutil.rmtree(cls.keydir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.keydir, ignore_errors=True)

    @classmethod
    def prepare(cls):
        pass

    @classmethod
    def token_config(cls):
        raise NotImplementedError

    @classmethod
    def make_server(cls):
        cfg = {"version": "0.1", "auth": {"token": dict(
            {"realm": REALM, "service": SERVICE, "issuer": ISSUER}, **cls.token_config())}}
        return CairnServer(config=yaml_doc(cfg))

    # -- tokens (subclasses: good RS256 and ES256 headers)
    def rs256(self, c):
        raise NotImplementedError

    def es256(self, c):
        raise NotImplementedError

    def as_token(self, token):
        return self.server.view(bearer(token))

    # -- assertions
    def assert_bearer_challenge(self, resp, scope=None, insufficient=False):
        self.assert_error(resp, 401, "UNAUTHORIZED", "DENIED")
        scheme, params = parse_challenge(resp.header("WWW-Authenticate"))
        self.assertEqual(scheme, "Bearer", resp)
        self.assertEqual(params.get("realm"), REALM, resp)
        self.assertEqual(params.get("service"), SERVICE, resp)
        if scope is not None:
            self.assertEqual(params.get("scope"), scope, resp)
        if insufficient:
            self.assertEqual(params.get("error"), "insufficient_scope", resp)
        return params

    # -- the shared tests
    def test_base_without_token(self):
        r = self.req("GET", "/v2/")
        self.assert_error(r, 401, "UNAUTHORIZED")
        self.assert_bearer_challenge(r)

    def test_pull_without_token_challenge_scope(self):
        r = self.req("GET", "/v2/team-a/app/manifests/v1")
        self.assert_bearer_challenge(r, "repository:team-a/app:pull")
        r = self.req("GET", "/v2/team-a/app/tags/list")
        self.assert_bearer_challenge(r, "repository:team-a/app:pull")

    def test_push_without_token_challenge_scope(self):
        r = self.req("POST", "/v2/team-a/app/blobs/uploads/")
        self.assert_bearer_challenge(r, "repository:team-a/app:pull,push")
        r = self.req("PUT", "/v2/team-a/app/manifests/v1", body=b"{}",
                     headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        self.assert_bearer_challenge(r, "repository:team-a/app:pull,push")

    def test_delete_without_token_challenge_scope(self):
        r = self.req("DELETE", "/v2/team-a/app/manifests/sha256:" + "0" * 64)
        params = self.assert_bearer_challenge(r)
        self.assertRegex(params.get("scope", ""), r"^repository:team-a/app:(\S*,)?delete(,\S*)?$")

    def test_base_with_valid_token(self):
        r = self.as_token(self.rs256(claims())).request("GET", "/v2/")
        self.assertEqual(r.status, 200, r)

    def test_rs256_push_pull(self):
        t = self.as_token(self.rs256(claims([access("team-a/app", "pull", "push")])))
        h = helpers_for(t)
        img = h.make_image("team-a/app", "v1")
        r = h.get_manifest("team-a/app", "v1")
        self.assertEqual((r.status, sha256(r.body)), (200, img.digest))
        r = t.request("GET", "/v2/team-a/app/tags/list")
        self.assertEqual(r.status, 200, r)

    def test_es256_push_pull(self):
        t = self.as_token(self.es256(claims([access("team-a/es", "pull", "push")])))
        h = helpers_for(t)
        img = h.make_image("team-a/es", "v1")
        r = h.get_manifest("team-a/es", "v1")
        self.assertEqual((r.status, sha256(r.body)), (200, img.digest))

    def test_grant_is_for_the_named_repository_only(self):
        t = self.as_token(self.rs256(claims([access("team-a/app", "pull", "push")])))
        r = t.request("GET", "/v2/team-b/app/manifests/v1")
        self.assert_bearer_challenge(r, "repository:team-b/app:pull", insufficient=True)
        r = t.request("POST", "/v2/team-a/app-other/blobs/uploads/")
        self.assert_bearer_challenge(r, "repository:team-a/app-other:pull,push",
                                     insufficient=True)

    def test_pull_only_token_cannot_push(self):
        t = self.as_token(self.rs256(claims([access("team-a/ro", "pull")])))
        r = t.request("POST", "/v2/team-a/ro/blobs/uploads/")
        self.assert_bearer_challenge(r, "repository:team-a/ro:pull,push", insufficient=True)
        r = t.request("GET", "/v2/team-a/ro/tags/list")
        self.assertIn(r.status, (200, 404), r)  # allowed; the repository does not exist

    def test_push_token_cannot_delete(self):
        t = self.as_token(self.rs256(claims([access("team-a/nodel", "pull", "push")])))
        img = helpers_for(t).make_image("team-a/nodel", "v1")
        r = t.request("DELETE", f"/v2/team-a/nodel/manifests/{img.digest}")
        self.assert_bearer_challenge(r, insufficient=True)
        t2 = self.as_token(self.rs256(claims([access("team-a/nodel", "delete")])))
        r = t2.request("DELETE", f"/v2/team-a/nodel/manifests/{img.digest}")
        self.assertEqual(r.status, 202, r)

    def test_several_grants(self):
        t = self.as_token(self.rs256(claims([access("team-a/one", "pull", "push"),
                                             access("team-a/two", "pull", "push")])))
        h = helpers_for(t)
        h.make_image("team-a/one", "v1")
        h.make_image("team-a/two", "v1")

    def test_mount_from_ungranted_repository_is_plain_upload(self):
        writer = helpers_for(self.as_token(self.rs256(
            claims([access("team-b/src", "pull", "push")]))))
        d = writer.push_blob("team-b/src", b"not for team-a")
        t = self.as_token(self.rs256(claims([access("team-a/dst", "pull", "push")])))
        r = t.request("POST", f"/v2/team-a/dst/blobs/uploads/?mount={d}&from=team-b/src")
        self.assertEqual(r.status, 202, r)

    def test_mount_without_from_looks_only_where_the_token_grants_pull(self):
        name = self.repo()
        writer = helpers_for(self.as_token(self.rs256(claims([
            access(f"{name}/b", "pull", "push"), access(f"{name}/a", "pull", "push")]))))
        in_b = writer.push_blob(f"{name}/b", b"in b only " + name.encode())
        in_a = writer.push_blob(f"{name}/a", b"in a only " + name.encode())
        dst = f"{name}/dst"

        def mount(token_claims, d):
            t = self.as_token(self.rs256(claims(token_claims)))
            return t.request("POST", f"/v2/{dst}/blobs/uploads/?mount={d}")

        # Pull on a, nothing on b; push on b without pull does not count.
        grants = [access(dst, "pull", "push"), access(f"{name}/a", "pull"),
                  access(f"{name}/b", "push")]
        hidden = mount(grants, in_b)
        nowhere = mount(grants, sha256(b"exists nowhere " + name.encode()))
        self.assertEqual(hidden.status, 202, hidden)
        self.assertEqual(answer_shape(hidden, dst), answer_shape(nowhere, dst))
        self.assertFalse(self.tree.layer_link(dst, in_b).exists(),
                         "mounted from a repository the token grants no pull on")
        r = mount(grants, in_a)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Location"), f"/v2/{dst}/blobs/{in_a}")
        self.assertEqual(r.header("Docker-Content-Digest"), in_a)
        self.assert_link(self.tree.layer_link(dst, in_a), in_a)
        # A token that also grants pull on b finds it there.
        r = mount([access(dst, "pull", "push"), access(f"{name}/b", "pull")], in_b)
        self.assertEqual(r.status, 201, r)
        self.assert_link(self.tree.layer_link(dst, in_b), in_b)

    def test_expired(self):
        t = self.rs256(claims([access("team-a/app", "pull")], exp_in=-3600, nbf_in=-7200))
        self.assert_bearer_challenge(self.as_token(t).request("GET", "/v2/team-a/app/tags/list"))

    def test_not_yet_valid(self):
        t = self.rs256(claims([access("team-a/app", "pull")], exp_in=7200, nbf_in=3600))
        self.assert_bearer_challenge(self.as_token(t).request("GET", "/v2/team-a/app/tags/list"))

    def test_wrong_audience(self):
        t = self.rs256(claims([access("team-a/app", "pull")], aud="another-service"))
        self.assert_bearer_challenge(self.as_token(t).request("GET", "/v2/team-a/app/tags/list"))

    def test_wrong_issuer(self):
        t = self.rs256(claims([access("team-a/app", "pull")], iss="someone-else"))
        self.assert_bearer_challenge(self.as_token(t).request("GET", "/v2/team-a/app/tags/list"))

    def test_tampered_payload(self):
        good = self.rs256(claims([access("team-a/app", "pull")]))
        h, _, s = good.split(".")
        forged = b64url(json.dumps(claims([access("team-b/app", "pull", "push")])).encode())
        r = self.as_token(f"{h}.{forged}.{s}").request("GET", "/v2/team-b/app/tags/list")
        self.assert_bearer_challenge(r)

    def test_tampered_signature(self):
        good = self.rs256(claims([access("team-a/app", "pull")]))
        h, p, s = good.split(".")
        sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
        sig[10] ^= 0x01
        r = self.as_token(f"{h}.{p}.{b64url(bytes(sig))}").request("GET",
                                                                    "/v2/team-a/app/tags/list")
        self.assert_bearer_challenge(r)

    def test_alg_none(self):
        good = self.rs256(claims([access("team-a/app", "pull")]))
        header = json.loads(base64.urlsafe_b64decode(good.split(".")[0] + "=="))
        header["alg"] = "none"
        payload = good.split(".")[1]
        for token in (f"{b64url(json.dumps(header).encode())}.{payload}.",
                      f"{b64url(json.dumps(header).encode())}.{payload}"):
            r = self.as_token(token).request("GET", "/v2/team-a/app/tags/list")
            self.assert_bearer_challenge(r)

    def test_hs256_with_public_key_as_secret(self):
        """The classic algorithm confusion: HMAC keyed with the public cert."""
        good = self.rs256(claims([access("team-a/app", "pull")]))
        header = json.loads(base64.urlsafe_b64decode(good.split(".")[0] + "=="))
        header["alg"] = "HS256"
        signing_input = b64url(json.dumps(header).encode()) + "." + good.split(".")[1]
        for secret in (self.rsa.cert.read_bytes(), self.rsa.der()):
            mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            r = self.as_token(signing_input + "." + b64url(mac)).request(
                "GET", "/v2/team-a/app/tags/list")
            self.assert_bearer_challenge(r)

    def test_garbage_tokens(self):
        for token in ("x", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA", "é"):
            r = self.req("GET", "/v2/team-a/app/tags/list", headers=bearer(token))
            self.assert_bearer_challenge(r)

    def test_basic_credentials_on_token_server(self):
        r = self.req("GET", "/v2/", headers={"Authorization": basic_auth("alice", "x")})
        self.assert_bearer_challenge(r)

    def test_es256_signature_in_der_is_refused(self):
        """JWS ES256 signatures are raw r||s; a DER signature is malformed."""
        good = self.es256(claims([access("team-a/app", "pull")]))
        h, p, _ = good.split(".")
        der = openssl("dgst", "-sha256", "-sign", self.ec.key, input=f"{h}.{p}".encode())
        r = self.as_token(f"{h}.{p}.{b64url(der)}").request("GET", "/v2/team-a/app/tags/list")
        self.assert_bearer_challenge(r)


class RootCertBundleTest(TokenTestCase):
    """auth.token.rootcertbundle: the header's x5c chain verifies to the bundle."""

    @classmethod
    def token_config(cls):
        return {"rootcertbundle": str(cls.root.cert)}

    @staticmethod
    def x5c(*certs):
        return [base64.b64encode(c.der()).decode() for c in certs]

    def rs256(self, c):
        return make_jwt(self.rsa.key, "RS256", c, {"x5c": self.x5c(self.rsa)})

    def es256(self, c):
        return make_jwt(self.ec.key, "ES256", c, {"x5c": self.x5c(self.ec)})

    def test_chain_to_another_root(self):
        t = make_jwt(self.rogue.key, "RS256", claims([access("team-a/app", "pull")]),
                     {"x5c": self.x5c(self.rogue)})
        self.assert_bearer_challenge(self.as_token(t).request("GET", "/v2/team-a/app/tags/list"))

    def test_trusted_cert_in_header_but_signed_by_other_key(self):
        t = make_jwt(self.rogue.key, "RS256", claims([access("team-a/app", "pull")]),
                     {"x5c": self.x5c(self.rsa)})
        self.assert_bearer_challenge(self.as_token(t).request("GET", "/v2/team-a/app/tags/list"))

    def test_no_x5c(self):
        t = make_jwt(self.rsa.key, "RS256", claims([access("team-a/app", "pull")]))
        self.assert_bearer_challenge(self.as_token(t).request("GET", "/v2/team-a/app/tags/list"))


class JwksTest(TokenTestCase):
    """auth.token.jwks: the header's kid selects the key."""

    @classmethod
    def prepare(cls):
        n = rsa_public_n(cls.rsa.key)
        x, y = ec_public_xy(cls.ec.key)
        jwks = {"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
             "n": b64url(n), "e": b64url((65537).to_bytes(3, "big"))},
            {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
             "x": b64url(x), "y": b64url(y)},
        ]}
        cls.jwks_path = cls.keydir / "jwks.json"
        cls.jwks_path.write_text(json.dumps(jwks, indent=2))

    @classmethod
    def token_config(cls):
        return {"jwks": str(cls.jwks_path)}

    def rs256(self, c):
        return make_jwt(self.rsa.key, "RS256", c, {"kid": "rsa-1"})

    def es256(self, c):
        return make_jwt(self.ec.key, "ES256", c, {"kid": "ec-1"})

    def test_unknown_kid(self):
        t = make_jwt(self.rsa.key, "RS256", claims([access("team-a/app", "pull")]),
                     {"kid": "no-such-key"})
        self.assert_bearer_challenge(self.as_token(t).request("GET", "/v2/team-a/app/tags/list"))

    def test_kid_of_another_key(self):
        t = make_jwt(self.rogue.key, "RS256", claims([access("team-a/app", "pull")]),
                     {"kid": "rsa-1"})
        self.assert_bearer_challenge(self.as_token(t).request("GET", "/v2/team-a/app/tags/list"))

    def test_alg_does_not_match_key_type(self):
        # an ES256 signature presented under the RSA key's kid
        t = make_jwt(self.ec.key, "ES256", claims([access("team-a/app", "pull")]),
                     {"kid": "rsa-1"})
        self.assert_bearer_challenge(self.as_token(t).request("GET", "/v2/team-a/app/tags/list"))


del TokenTestCase  # only its subclasses run


if __name__ == "__main__":
    unittest.main()
