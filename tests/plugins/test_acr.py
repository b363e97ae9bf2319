"""The ACR example plugin (examples/plugins/broker-acr): installed, it passes the shared
contract through the real App, `broker validate`, and deploy/build.py.

Entra ID and the registry are loopback TLS stand-ins that check each request against the
documented shapes: msal's tenant discovery and client-credentials grant, ACR's
``/oauth2/exchange``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import zipfile
from urllib.parse import parse_qs

import pytest

from broker.cli import main
from broker.testing import MintedContract, MintingStore, invoke, make_app, secret
from tests.support.packaging import ROOT
from tests.support.scripted import ScriptedServer, json_body
from tests.support.tls import TestCA

if os.environ.get("CI") == "true":
    import broker_acr  # CI installs it (make install): missing, the tests fail, never skip
else:
    broker_acr = pytest.importorskip("broker_acr", reason="pip install -e examples/plugins/broker-acr")

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
        return broker_acr.USERNAME, self.refresh

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
                 and broker_acr.SCOPE in form.get("scope", "").split())
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


@pytest.fixture
def store(tmp_path):
    stand_ins = AcrStandIns(tmp_path)
    yield stand_ins
    stand_ins.down()
    assert stand_ins.wrong == [], f"requests not in the documented shape: {stand_ins.wrong}"


class TestAcr(MintedContract):
    """The shared contract for a minting backend, through the real App."""


def test_a_federated_client_assertion_works_too(store, clock):
    store.mint(secret("minted"))
    backend = {**store.backend(), "client_assertion": {"env": "ACR_CLIENT_SECRET"}}
    del backend["client_secret"]
    app = make_app(store, clock, backend=backend)
    assert invoke(app)["Credentials"]["Username"] == broker_acr.USERNAME
    assert "client_assertion" in store.requests("entra")[-1].body.decode()


@pytest.mark.parametrize("settings, problem", [
    ({"client_secret": "a-literal"}, "registries.team.backend.client_secret: must be a reference"),
    ({"client_secret": {"env": "S"}, "authority_host": "http://login.example"},
     "registries.team.backend.authority_host: must be an https URL"),
    ({}, "registries.team.backend.client_secret: set exactly one of"),
    ({"client_secret": {"env": "S"}, "tenant": "x"}, "registries.team.backend.tenant: unknown key"),
])
def test_validate_checks_the_plugins_settings(tmp_path, capsys, settings, problem):
    path = tmp_path / "broker.json"
    path.write_text(json.dumps({"registries": {"team": {"host": "team.azurecr.io", "backend": {
        "type": "acr", "tenant_id": TENANT, "client_id": CLIENT, **settings}}}}))
    assert main(["validate", "--config", str(path)]) == 2
    assert problem in capsys.readouterr().err


def test_build_vendors_the_plugin_and_msal_and_grants_its_secret(tmp_path):
    path = tmp_path / "broker.json"
    path.write_text(json.dumps({"registries": {"team": {"host": "team.azurecr.io", "backend": {
        "type": "acr", "tenant_id": TENANT, "client_id": CLIENT,
        "client_secret": {"secretsmanager": "acr/team-app"}}}}}))
    proc = subprocess.run([sys.executable, str(ROOT / "deploy" / "build.py"), "--config", str(path),
                           "--out", str(tmp_path / "out"), "--arch", "x86_64"],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "out" / "broker.zip") as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert {"broker_acr.py", "msal", "jwt", "requests"} <= tops
    statements = json.loads((tmp_path / "out" / "deploy.json").read_text())["iamStatements"]
    resources = [r["Fn::Sub"] if isinstance(r, dict) else r for s in statements
                 for r in s["Resource"]]
    assert any(r.endswith(":secret:acr/team-app-??????") for r in resources)
