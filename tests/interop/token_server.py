#!/usr/bin/env python3
"""A Docker registry token server for cairn's interop tests (Python standard
library and the openssl CLI only; keys, certificates and JWT signing come from
the e2e harness: tests/e2e/cairn_server.py's Pki, test_token.py's make_jwt).

    token_server.py --dir DIR --port-file FILE --service SERVICE
                    --issuer ISSUER [--log FILE] [--user NAME:PASSWORD ...]

At start it makes, in DIR, a root CA (DIR/token-root.pem: what cairn's
auth.token.rootcertbundle names) and a signing certificate issued by it
(token-signer.pem/.key), then listens on a free port of 127.0.0.1 and writes
the port to FILE (the sign that it is ready).

The protocol (https://distribution.github.io/distribution/spec/auth/token/):

  GET /token?service=S&scope=SCOPE[&scope=...]&account=...&client_id=...
      with or without Basic credentials: what docker, podman, skopeo and
      buildah send. 200 {"token", "access_token", "expires_in", "issued_at"}.
  POST /token (application/x-www-form-urlencoded) grant_type=password with
      username, password, service, scope (space-separated), client_id: the
      OAuth2 form containerd uses when it has credentials. 200
      {"access_token", "expires_in", "issued_at", "scope"}. No refresh
      tokens are issued, so grant_type=refresh_token is refused (400).

A known user with the right password gets everything every scope asks for
(type:name:action,action; the name may contain colons); a request without
credentials gets a token with no access at all (what Distribution's token
servers give anonymous clients); wrong credentials get 401, another service
400. Tokens are RS256 JWTs with the signer in the x5c header, valid 5
minutes. Each request is appended to --log as a JSON line: method, user,
ok, requested scopes, granted access.
"""
import argparse
import base64
import binascii
import json
import os
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from cairn_server import Pki  # noqa: E402
from test_token import make_jwt  # noqa: E402

TOKEN_LIFETIME = 300


def parse_scope(scope):
    """'repository:team/app:pull,push' -> {"type", "name", "actions"}; None
    when malformed."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


class TokenServer:
    def __init__(self, args):
        self.service = args.service
        self.issuer = args.issuer
        self.users = dict(u.split(":", 1) for u in args.user)
        self.log_path = args.log
        self.lock = threading.Lock()
        pki = Pki(args.dir)
        root = pki.ca("token-root", cn="cairn interop token root CA")
        self.signer = pki.issue(root, "token-signer", cn="cairn interop token signer",
                                codesign=True)
        self.x5c = [base64.b64encode(self.signer.der()).decode()]

    def record(self, **entry):
        if self.log_path:
            with self.lock, open(self.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def issue(self, user, scopes):
        access = []
        if user is not None:
            for s in scopes:
                parsed = parse_scope(s)
                if parsed is not None:
                    access.append(parsed)
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service,
                  "exp": now + TOKEN_LIFETIME, "nbf": now - 10, "iat": now,
                  "jti": binascii.hexlify(os.urandom(12)).decode(), "access": access}
        token = make_jwt(self.signer.key, "RS256", claims, {"x5c": self.x5c})
        return token, access, datetime.fromtimestamp(now, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")


class Handler(BaseHTTPRequestHandler):
    server_version = "cairn-interop-token-server"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # to stderr, as a short line
        sys.stderr.write("token-server: " + (fmt % args) + "\n")

    def reply(self, status, body, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def refuse(self, status, code, message, user, scopes):
        self.server.tokens.record(method=self.command, user=user, ok=False, status=status,
                                  scopes=scopes, granted=[])
        headers = [("WWW-Authenticate", 'Basic realm="cairn-interop-token"')] if status == 401 else []
        self.reply(status, {"errors": [{"code": code, "message": message}],
                            "error": code.lower(), "error_description": message}, headers)

    def basic_credentials(self):
        """(user, password), None when absent, False when malformed."""
        value = self.headers.get("Authorization")
        if value is None:
            return None
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (user, password) if sep else False

    def answer(self, service, scopes, credentials, oauth):
        tokens = self.server.tokens
        user = credentials[0] if credentials else None
        if service != tokens.service:
            return self.refuse(400, "INVALID_REQUEST", f"unknown service {service!r}", user, scopes)
        if credentials is False:
            return self.refuse(401, "UNAUTHORIZED", "malformed credentials", None, scopes)
        if credentials is not None and tokens.users.get(credentials[0]) != credentials[1]:
            return self.refuse(401, "UNAUTHORIZED", "wrong user name or password", user, scopes)
        token, access, issued = tokens.issue(user, scopes)
        tokens.record(method=self.command, user=user, ok=True, status=200, scopes=scopes,
                      granted=access)
        body = {"access_token": token, "expires_in": TOKEN_LIFETIME, "issued_at": issued}
        if oauth:
            body["scope"] = " ".join(scopes)
        else:
            body["token"] = token
        self.reply(200, body)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
        q = parse_qs(url.query)
        scopes = [s for v in q.get("scope", []) for s in v.split(" ") if s]
        self.answer(q.get("service", [""])[0], scopes, self.basic_credentials(), oauth=False)

    def do_POST(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
        scopes = [s for v in form.get("scope", []) for s in v.split(" ") if s]
        grant = form.get("grant_type", [""])[0]
        if grant != "password":
            return self.refuse(400, "UNSUPPORTED_GRANT_TYPE", f"grant_type {grant!r}", None, scopes)
        credentials = (form.get("username", [""])[0], form.get("password", [""])[0])
        self.answer(form.get("service", [""])[0], scopes, credentials, oauth=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--log")
    ap.add_argument("--user", action="append", default=[], help="NAME:PASSWORD")
    args = ap.parse_args()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.tokens = TokenServer(args)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(httpd.server_address[1]))
    os.rename(tmp, args.port_file)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
