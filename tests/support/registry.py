"""A real CNCF distribution registry (Debian's ``docker-registry``) and a token server for it.

The token server issues ES256 JWTs the way distribution 2.8 expects them:
header ``x5c`` with a self-signed certificate that is the registry's
``rootcertbundle``; claims iss, sub, aud (a string equal to the service), exp,
nbf, iat, jti, and ``access`` limited to what the user may do.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.servers import free_port, wait_for_http

SERVICE = "broker-test-registry"
ISSUER = "broker-test-token-server"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues pull/push tokens to known users; counts every request it receives."""

    def __init__(self, users: dict[str, tuple[str, dict[str, set[str]]]], host: str = "127.0.0.1",
                 workdir: Path | None = None) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.users = users  # name -> (password, {repository: {"pull", "push"}})
        self.host, self.port = host, free_port()
        self.requests: list[dict] = []
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .sign(self.key, hashes.SHA256()))
        self.bundle = Path(workdir or tempfile.mkdtemp()) / f"token-{self.port}.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._der = self.cert.public_bytes(serialization.Encoding.DER)
        self._server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"http://{self.host}:{self.port}/token"

    def start(self) -> TokenServer:
        self._server = ThreadingHTTPServer((self.host, self.port), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def token(self, subject: str, access: list[dict]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self._der).decode()]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 5,
                  "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        return f"{signing_input}.{_b64url(self._sign(signing_input.encode()))}"

    def _sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def grant(self, user: str, scopes: list[str]) -> list[dict]:
        """The intersection of what was asked and what ``user`` may do."""
        allowed = self.users[user][1]
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = sorted(set(actions.split(",")) & allowed.get(name, set()))
            if kind == "repository" and granted:
                access.append({"type": "repository", "name": name, "actions": granted})
        return access

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                server.requests.append({"path": url.path, "query": query,
                                        "authorization": self.headers.get("Authorization")})
                user = self._user()
                if user is None:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": server.token(user, server.grant(user, query.get("scope", []))),
                                   "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _user(self):
                scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
                if scheme.lower() != "basic":
                    return None
                user, _, password = base64.b64decode(value).decode().partition(":")
                known = server.users.get(user)
                return user if known and secrets.compare_digest(known[0], password) else None

        return Handler


class DockerRegistry:
    """``docker-registry serve`` on a free loopback port with htpasswd, token or no auth."""

    def __init__(self, binary: str, auth: dict | None = None) -> None:
        self.binary, self.auth = binary, auth
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="registry-"))
        self._proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> DockerRegistry:
        config = {"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
                  "storage": {"filesystem": {"rootdirectory": str(self.dir / "data")}},
                  "http": {"addr": self.host, "secret": secrets.token_hex(16)}}
        if self.auth:
            config["auth"] = self.auth
        (self.dir / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        self._proc = subprocess.Popen([self.binary, "serve", str(self.dir / "config.yml")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_http(f"{self.url}/v2/")
        return self

    def stop(self) -> None:
        if self._proc:
            self._proc.terminate()
            self._proc.wait(10)

    def push_image(self, repository: str, tag: str, authorization: str | None) -> None:
        """Upload a config blob and an image manifest, so HEAD on the tag answers 200."""
        import requests

        headers = {"Authorization": authorization} if authorization else {}
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        digest = "sha256:" + hashlib.sha256(config).hexdigest()
        start = requests.post(f"{self.url}/v2/{repository}/blobs/uploads/", headers=headers, timeout=10)
        start.raise_for_status()
        location = urllib.parse.urljoin(self.url, start.headers["Location"])
        separator = "&" if "?" in location else "?"
        requests.put(f"{location}{separator}digest={digest}", data=config, headers=headers,
                     timeout=10).raise_for_status()
        manifest = {"schemaVersion": 2,
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                               "size": len(config), "digest": digest}, "layers": []}
        requests.put(f"{self.url}/v2/{repository}/manifests/{tag}", data=json.dumps(manifest),
                     headers={**headers, "Content-Type": manifest["mediaType"]},
                     timeout=10).raise_for_status()
