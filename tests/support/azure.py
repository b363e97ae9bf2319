"""Loopback TLS stand-ins of Entra ID and an Azure Container Registry's token exchange, for
the ACR example plugin (examples/plugins/broker-acr): each request is checked against the
documented shapes (msal's tenant discovery and client-credentials grant, ACR's
``/oauth2/exchange``); one that does not fit gets a 400 and is recorded in ``wrong``."""

from __future__ import annotations

import base64
import contextlib
import json
from urllib.parse import parse_qs

from broker.testing import MintingStore, secret
from tests.support.scripted import ScriptedServer, json_body
from tests.support.tls import TestCA

USERNAME = "00000000-0000-0000-0000-000000000000"  # ACR's, as broker_acr serves it
SCOPE = "https://containerregistry.azure.net/.default"

TENANT, CLIENT = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def jwt(claims: dict, signature: str) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{signature}"


class AcrStandIns(MintingStore):
    """Entra ID and one registry on 127.0.0.1 (TLS, a test CA); a request that does not have
    the documented shape gets a 400, and is recorded in ``wrong``."""

    backend_type = "acr"
    lifetime = 3 * 3600.0

    def __init__(self, tmp_path) -> None:
        super().__init__()
        self.ref = CLIENT  # what messages name: the app registration
        self.ca = TestCA.create(tmp_path)
        self.tls = self.ca.server_context("127.0.0.1", tmp_path)
        self.secret_value = secret("acr-client-secret")
        self.environ = {"ACR_CLIENT_SECRET": self.secret_value}
        self.entra_token, self.refresh, self.wrong = secret("entra-token"), "", []
        self.wall = lambda: self.wall_start
        self._servers: dict[str, ScriptedServer] = {}
        self._ports = {"entra": 0, "registry": 0}
        self.up()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._ports['registry']}"

    def backend(self) -> dict:
        return {"type": "acr", "tenant_id": TENANT, "client_id": CLIENT,
                "client_secret": {"env": "ACR_CLIENT_SECRET"}, "ca_bundle": str(self.ca.bundle),
                "authority_host": f"https://127.0.0.1:{self._ports['entra']}"}

    def mint(self, password: str) -> None:
        self.refresh = jwt({"exp": self.wall_start + self.lifetime, "tenant": TENANT}, password)

    def expected(self, password: str) -> tuple[str, str]:
        return USERNAME, self.refresh

    def down(self) -> None:
        for server in self._servers.values():
            server.stop()

    def up(self) -> None:
        entra = ScriptedServer("127.0.0.1", self._ports["entra"], self.tls)
        registry = ScriptedServer("127.0.0.1", self._ports["registry"], self.tls)
        self._servers = {"entra": entra, "registry": registry}
        self._ports = {"entra": entra.port, "registry": registry.port}
        entra.on(f"/{TENANT}/v2.0/.well-known/openid-configuration", self._discovery)
        entra.on(f"/{TENANT}/oauth2/v2.0/token", self._token)
        registry.on("/oauth2/exchange", self._exchange)

    @contextlib.contextmanager
    def denied(self):
        yield {"environ": {"ACR_CLIENT_SECRET": secret("wrong-client-secret")}}

    def requests(self, name: str) -> list:
        return self._servers[name].requests

    def _discovery(self, request):
        base = f"https://127.0.0.1:{self._ports['entra']}/{TENANT}"
        return json_body(json.dumps({"token_endpoint": f"{base}/oauth2/v2.0/token",
                                     "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                     "issuer": f"{base}/v2.0"}))

    def _token(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        shape = (request.method == "POST" and form.get("grant_type") == "client_credentials"
                 and form.get("client_id") == CLIENT
                 and SCOPE in form.get("scope", "").split())
        if not shape:
            self.wrong.append(("token", form))
            return json_body('{"error": "invalid_request"}', status=400)
        good = form.get("client_secret") == self.secret_value or (
            form.get("client_assertion_type") == ASSERTION_TYPE
            and form.get("client_assertion") == self.secret_value)
        if not good:
            return json_body('{"error": "invalid_client"}', status=401)
        return json_body(json.dumps({"access_token": self.entra_token, "expires_in": 3599,
                                     "token_type": "Bearer"}))

    def _exchange(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        expected = {"grant_type": "access_token", "service": self.host, "tenant": TENANT,
                    "access_token": self.entra_token}
        if request.method != "POST" or form != expected:
            self.wrong.append(("exchange", sorted(form)))
            return json_body('{"errors": [{"code": "UNSUPPORTED"}]}', status=400)
        return json_body(json.dumps({"refresh_token": self.refresh}))
