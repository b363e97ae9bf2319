"""Loopback TLS stand-ins of Google's STS and IAM Credentials, for the gar backend's tests.

The STS stand-in verifies what it receives as Google does: the form of an RFC 8693 token
exchange, then the serialized signed ``GetCallerIdentity`` request (naming the audience in its
``x-goog-cloud-target-resource`` header), replayed against moto's STS with IAM authentication
on: it answers only when AWS says the signature is good and the caller is the trusted
principal.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import secrets
import time
from urllib.parse import parse_qs, unquote

from backends import gar
from broker.aws import AwsClients
from broker.testing import MintingStore, secret
from tests.support.scripted import ScriptedServer, json_body
from tests.support.sts import iam_user, verified_caller
from tests.support.tls import TestCA

PROJECT_NUMBER = "123456789012"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
PULL_SCOPE = "https://www.googleapis.com/auth/cloud-platform.read-only"  # Artifact Registry reads
# generateAccessToken's authorization scopes (IAM Credentials API reference): a caller's token
# with neither cannot impersonate.
IMPERSONATING_SCOPES = {IAM_SCOPE, CLOUD_PLATFORM}
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
GET_CALLER_IDENTITY = "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"


class GoogleStandIns(MintingStore):
    """Google's STS on 127.0.0.1 and IAM Credentials on 127.0.0.2 (TLS, a test CA) that trust
    one moto IAM user; a request not in the documented shape is recorded in ``wrong``."""

    backend_type = "gar"
    lifetime = 3600.0
    host = "us-docker.pkg.dev"

    def __init__(self, tmp_path, admin, moto, impersonate: bool) -> None:
        super().__init__()
        self.wall_start = time.time()  # google-auth and Google date a token by the real clock
        self.admin, self.moto, self.impersonate = admin, moto, impersonate
        self.ref = (f"//iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/"
                    f"workloadIdentityPools/aws-{secrets.token_hex(3)}/providers/broker")
        self.account = f"puller@project-{secrets.token_hex(2)}.iam.gserviceaccount.com"
        self.trusted, session = iam_user(admin, moto)
        self.aws = AwsClients(session=session)
        frozen = session.get_credentials().get_frozen_credentials()
        self.environment = {"AWS_ACCESS_KEY_ID": frozen.access_key,  # the trusted user's, for
                            "AWS_SECRET_ACCESS_KEY": frozen.secret_key}  # a function's process
        self.ca = TestCA.create(tmp_path)
        self.tls = {ip: self.ca.server_context(ip, tmp_path) for ip in ("127.0.0.1", "127.0.0.2")}
        self.federated, self.minted, self.wrong, self.replays = secret("federated"), "", [], []
        self.issued: dict[str, str] = {}  # every token STS answered, and the scope it carries
        self._ports = {"127.0.0.1": 0, "127.0.0.2": 0}
        self.up()

    def backend(self) -> dict:
        block = {"type": "gar", "audience": self.ref, "ca_bundle": str(self.ca.bundle),
                 "token_url": f"https://127.0.0.1:{self._ports['127.0.0.1']}/v1/token",
                 "iam_credentials_url": f"https://127.0.0.2:{self._ports['127.0.0.2']}"}
        return {**block, "service_account": self.account} if self.impersonate else block

    def mint(self, password: str) -> None:
        self.minted = password

    def expected(self, password: str) -> tuple[str, str]:
        return gar.USERNAME, password

    def up(self) -> None:
        self._servers = {ip: ScriptedServer(ip, self._ports[ip], self.tls[ip]) for ip in self._ports}
        self._ports = {ip: server.port for ip, server in self._servers.items()}
        self._servers["127.0.0.1"].on("/v1/token", self._exchange)
        self._servers["127.0.0.2"].on(
            f"/v1/projects/-/serviceAccounts/{self.account}:generateAccessToken", self._impersonate)

    def down(self) -> None:
        for server in self._servers.values():
            server.stop()

    @contextlib.contextmanager
    def denied(self):
        """Another real IAM user, whose signature moto accepts but the pool does not trust."""
        _, session = iam_user(self.admin, self.moto)
        yield {"aws": AwsClients(session=session)}

    def requests(self, ip: str) -> list:
        return self._servers[ip].requests

    # Google's STS: https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token
    def _exchange(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        expected = {"grant_type": TOKEN_EXCHANGE, "audience": self.ref,
                    "requested_token_type": ACCESS_TOKEN_TYPE,
                    "subject_token_type": gar.SUBJECT_TOKEN_TYPE}
        known_scope = form.get("scope") in {PULL_SCOPE, CLOUD_PLATFORM, IAM_SCOPE}
        if request.method != "POST" or {k: form.get(k) for k in expected} != expected \
                or not known_scope:
            self.wrong.append(("sts", sorted(form)))
            return json_body('{"error": "invalid_request"}', status=400)
        caller = self._verified_caller(form.get("subject_token", ""))
        if caller != self.trusted:
            return json_body('{"error": "invalid_grant", "error_description": "no"}', status=400)
        token = self.federated if self.impersonate else self.minted
        self.issued[token] = form["scope"]
        return json_body(json.dumps({"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE,
                                     "token_type": "Bearer", "expires_in": int(self.lifetime)}))

    def _verified_caller(self, subject_token: str) -> str | None:
        """The ARN moto's STS answers for the replayed signed request, if it is well formed."""
        signed = json.loads(unquote(subject_token))
        headers = {h["key"]: h["value"] for h in signed["headers"]}
        well_formed = (signed["url"] == GET_CALLER_IDENTITY and signed["method"] == "POST"
                       and headers.get("x-goog-cloud-target-resource") == self.ref
                       and headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "))
        if not well_formed:
            self.wrong.append(("subject_token", sorted(headers)))
            return None
        return self._replay(headers)

    def _replay(self, headers: dict) -> str | None:
        status, caller = verified_caller(self.moto, "POST", headers)
        self.replays.append(status)
        return caller

    # IAM Credentials: projects.serviceAccounts.generateAccessToken
    def _impersonate(self, request):
        body = json.loads(request.body or b"{}")
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if request.method != "POST" or PULL_SCOPE not in body.get("scope", []):
            self.wrong.append(("impersonate", sorted(body)))
            return json_body('{"error": {"code": 400, "status": "INVALID_ARGUMENT"}}', status=400)
        if self.issued.get(bearer) not in IMPERSONATING_SCOPES:  # unknown, or scoped too narrowly
            return json_body('{"error": {"code": 403, "status": "PERMISSION_DENIED"}}', status=403)
        expiry = datetime.datetime.fromtimestamp(time.time() + self.lifetime, datetime.UTC)
        return json_body(json.dumps({"accessToken": self.minted,
                                     "expireTime": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}))
