"""A loopback TLS stand-in of JFrog Access's AWS token exchange, for the artifactory backend.

``POST /access/api/v1/aws/token?region=R`` with ``{"expires_in": N}`` and the headers of a
SigV4-signed STS ``GetCallerIdentity`` (``Authorization``, ``X-Amz-Date``, and
``X-Amz-Security-Token`` for temporary credentials), as JFrog's own clients send them: the
stand-in replays those headers against moto's STS with IAM authentication on, as JFrog does
against AWS, maps the caller's ARN to a user (``PUT /access/api/v1/aws/iam_role``, by an
admin), and answers ``{token_id, access_token, scope, token_type, expires_in, username}``.
Anything else gets a 400 and is recorded in ``wrong``; an unmapped or unverified caller, 403.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from urllib.parse import parse_qs, urlsplit

from broker.aws import AwsClients
from broker.testing import MintingStore
from tests.support.scripted import ScriptedServer, json_body
from tests.support.sts import iam_user, verified_caller
from tests.support.tls import TestCA

SIGNED = ("authorization", "x-amz-date", "x-amz-security-token")


class JFrogStandIn(MintingStore):
    """JFrog Access on 127.0.0.1 (TLS), trusting one moto IAM user mapped to ``svc-puller``."""

    backend_type = "artifactory"
    lifetime = 3600.0
    host = "acme.jfrog.test"

    def __init__(self, tmp_path, admin, moto, name: str = "127.0.0.1") -> None:
        super().__init__()
        self.admin, self.moto = admin, moto
        self.trusted, session = iam_user(admin, moto)
        self.aws = AwsClients(session=session)
        frozen = session.get_credentials().get_frozen_credentials()
        self.environment = {"AWS_ACCESS_KEY_ID": frozen.access_key,
                            "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
        self.ca = TestCA.create(tmp_path)
        self.tls = self.ca.server_context(name, tmp_path)
        self.mapped = {self.trusted: "svc-puller"}  # PUT /access/api/v1/aws/iam_role
        self.minted, self.wrong, self.replays, self.exchanges = "", [], [], []
        self._port, self._name = 0, name
        self.up()

    @property
    def url(self) -> str:
        return f"https://{self._name}:{self._port}"

    def backend(self) -> dict:
        return {"type": "artifactory", "url": self.url, "region": "us-east-1",
                "ca_bundle": str(self.ca.bundle)}

    def mint(self, password: str) -> None:
        self.minted = password

    def expected(self, password: str) -> tuple[str, str]:
        return "svc-puller", password

    def up(self) -> None:
        self.server = ScriptedServer("127.0.0.1", self._port, self.tls)
        self._port = self.server.port
        self.server.on("/access/api/v1/aws/token", self._exchange)
        self.ref = f"AWS token exchange at {self.url}"  # what messages name

    def down(self) -> None:
        self.server.stop()

    @contextlib.contextmanager
    def denied(self):
        """Another real IAM user: AWS verifies its signature, but no JFrog user is mapped to it."""
        _, session = iam_user(self.admin, self.moto)
        yield {"aws": AwsClients(session=session)}

    def _exchange(self, request):
        query = parse_qs(urlsplit(request.target).query)
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        shaped = (request.method == "POST" and query == {"region": ["us-east-1"]}
                  and isinstance(body, dict) and set(body) == {"expires_in"}
                  and isinstance(body["expires_in"], int)
                  and request.headers.get("content-type") == "application/json"
                  and request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "))
        if not shaped:
            self.wrong.append((request.method, request.target, sorted(request.headers)))
            return json_body('{"errors": [{"code": "BAD_REQUEST"}]}', 400)
        user = self.mapped.get(self._verified_caller(request.headers))
        if user is None:
            return json_body('{"errors": [{"code": "FORBIDDEN", "message": "no mapping"}]}', 403)
        self.exchanges.append(body["expires_in"])
        return json_body(json.dumps({
            "token_id": secrets.token_hex(8), "access_token": self.minted,
            "scope": "applied-permissions/user", "token_type": "Bearer",
            "expires_in": int(self.lifetime), "username": user}))

    def _verified_caller(self, headers: dict) -> str | None:
        """The ARN AWS (moto, IAM authentication on) answers for the replayed signed headers."""
        replayed = {name: headers[name] for name in SIGNED if name in headers}
        replayed["host"] = "sts.us-east-1.amazonaws.com"
        status, caller = verified_caller(self.moto, "GET", replayed)
        self.replays.append(status)
        return caller
