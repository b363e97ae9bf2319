"""The ACR example plugin (examples/plugins/broker-acr): installed, it passes the shared
contract through the real App, `broker validate`, and deploy/build.py.

Entra ID and the registry are loopback TLS stand-ins (tests/support/azure.py) that check each
request against the documented shapes.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import zipfile

import pytest

from broker.cli import main
from broker.errors import ConfigError
from broker.testing import MintedContract, expect_error, invoke, make_app, secret
from tests.support.azure import CLIENT, SCOPE, TENANT, USERNAME, AcrStandIns, jwt
from tests.support.packaging import ROOT
from tests.support.scripted import json_body, response

if os.environ.get("CI") == "true":
    import broker_acr  # CI installs it (make install): missing, the tests fail, never skip
else:
    broker_acr = pytest.importorskip("broker_acr", reason="pip install -e examples/plugins/broker-acr")


def test_the_stand_ins_speak_for_the_plugin():
    assert (broker_acr.USERNAME, broker_acr.SCOPE) == (USERNAME, SCOPE)

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
    ({"client_secret": {"env": "S"}, "authority_host": "http://login.microsoftonline.com"},
     "registries.team.backend.authority_host: must be an https URL"),
    ({"client_secret": {"env": "S"}, "authority_host": "https://login.microsoftonline.com@evil.example"},
     "registries.team.backend.authority_host: must be an https URL: a URL with user info"),
    ({"client_secret": {"env": "S"}, "authority_host": "https://login.evil.example"},
     "registries.team.backend.authority_host: must be an Entra ID host"),
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


def test_the_entra_token_goes_to_no_registry_but_an_azure_container_registry(store, clock):
    store.mint(secret("minted"))
    app = make_app(store, clock, host="registry.example.com")
    error = expect_error(app, ConfigError, store)
    assert "not an Azure Container Registry" in str(error)
    assert store.requests("entra") == [] and store.requests("registry") == []


@pytest.mark.parametrize("exp", ["10" + "0" * 400, "1e999", "NaN", "true", '"soon"', "[1]"])
def test_a_hostile_expiry_claim_falls_back_to_three_hours(exp):
    token = jwt({}, "sig").split(".")
    payload = base64.urlsafe_b64encode(f'{{"exp": {exp}}}'.encode()).rstrip(b"=").decode()
    assert broker_acr._expiry(f"{token[0]}.{payload}.sig", 1000.0) == 1000.0 + 3 * 3600


def test_a_redirect_from_the_registry_is_never_followed_with_the_entra_token(store, clock,
                                                                            scripted):
    elsewhere = scripted("127.0.0.3")
    store.mint(secret("minted"))
    store._servers["registry"].on("/oauth2/exchange", response(
        307, [("Location", f"http://{elsewhere.netloc}/oauth2/exchange")]))
    error = expect_error(make_app(store, clock), ConfigError, store)
    assert "redirect, which is never followed" in str(error)
    assert elsewhere.requests == []


def test_the_client_secret_goes_only_to_entra_id_whatever_discovery_names(store, clock, scripted,
                                                                          tmp_path):
    """Third review, finding 3: msal takes ``token_endpoint`` from the tenant's discovery
    document; a hostile (or hijacked) one named another host, and the secret was POSTed there.
    The session itself now refuses every origin but the authority's."""
    elsewhere = scripted("127.0.0.2", tls=store.ca.server_context("127.0.0.2", tmp_path))
    elsewhere.on(f"/{TENANT}/oauth2/v2.0/token", response(200))
    base = f"https://127.0.0.1:{store._ports['entra']}/{TENANT}"
    store._servers["entra"].on(f"/{TENANT}/v2.0/.well-known/openid-configuration", json_body(
        json.dumps({"token_endpoint": f"https://{elsewhere.netloc}/{TENANT}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0"})))
    store.mint(secret("minted"))
    error = expect_error(make_app(store, clock), ConfigError, store)
    assert elsewhere.requests == [], "the client secret went to a host discovery named"
    assert "not an origin this backend may send to" in str(error)


@pytest.mark.parametrize("tenant_id", ["../../evil", "contoso", "a" * 300 + ".com", "x/y.com",
                                       "11111111-2222-3333-4444-55555555555"])
def test_a_tenant_id_is_a_guid_or_a_domain(tmp_path, capsys, tenant_id):
    path = tmp_path / "broker.json"
    path.write_text(json.dumps({"registries": {"team": {"host": "team.azurecr.io", "backend": {
        "type": "acr", "tenant_id": tenant_id, "client_id": CLIENT,
        "client_secret": {"env": "S"}}}}}))
    assert main(["validate", "--config", str(path)]) == 2
    assert "registries.team.backend.tenant_id: must be the tenant's GUID or its domain" in \
        capsys.readouterr().err


def test_a_tenant_domain_is_accepted(tmp_path, capsys):
    path = tmp_path / "broker.json"
    path.write_text(json.dumps({"registries": {"team": {"host": "team.azurecr.io", "backend": {
        "type": "acr", "tenant_id": "contoso.onmicrosoft.com", "client_id": CLIENT,
        "client_secret": {"env": "S"}}}}}))
    assert main(["validate", "--config", str(path)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("second", [{"host": "team.azurecr.io:443"},
                                    {"tenant_id": "contoso.onmicrosoft.com"}])
def test_one_app_on_one_registry_however_written_mints_one_login(second):
    """Attacker's read: the same registry with :443, or the tenant by domain instead of GUID,
    passed as another identity, and both aliases were served one refresh token."""
    from broker.config import parse_config

    backend = {"type": "acr", "tenant_id": TENANT, "client_id": CLIENT,
               "client_secret": {"env": "S"}}
    first = {"host": "team.azurecr.io", "backend": backend}
    other = {"host": second.get("host", "team.azurecr.io"),
             "backend": {**backend, **{k: v for k, v in second.items() if k != "host"}}}
    with pytest.raises(ConfigError, match="both mint through"):
        parse_config({"registries": {"a": first, "b": other}}, "test")
