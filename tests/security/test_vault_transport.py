"""Second review, finding 1 and 3: how the broker reaches Vault.

Attacks: a configuration that sends the signed AWS login, an AppRole secret_id or a Vault
token over plain http; setup mistakes that masquerade as an outage; a Vault (or whatever
answers at its address) that drips its answers, stalls a re-login or answers 20 MB.
"""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest

from broker.app import App
from broker.cli import LocalContext
from broker.config import parse_config
from broker.errors import BackendUnavailable, ConfigError, MalformedSecret
from tests.support import leaks
from tests.support.scripted import json_body, response


def vault_block(registry: dict | None = None, **backend) -> dict:
    auth = backend.pop("auth", {"method": "token", "token": {"env": "VT"}})
    return {"registries": {"v": {"host": "v.example", **(registry or {}), "backend": {
        "type": "vault", "path": "reg", "auth": auth, **backend}}}}


def problems(document) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(document, "test")
    return dict(info.value.problems)


# --- Finding 1: transport and setup ------------------------------------------------------------

@pytest.mark.parametrize("address", ["http://vault.internal:8200", "vault.internal:8200",
                                     "https://", "ftp://vault.internal", "https://u:p@vault.internal",
                                     "https://vault.internal:8200\r\nX: y"])
def test_a_vault_address_must_be_an_https_url_with_a_host(address):
    found = problems(vault_block(address=address))
    assert "https" in found["registries.v.backend.address"]


def test_plain_http_vault_needs_insecure():
    parsed = parse_config(vault_block(address="http://127.0.0.1:8200", insecure=True), "test")
    assert parsed.registries["v"].backend.address == "http://127.0.0.1:8200"


def test_aws_login_needs_the_server_id_header():
    found = problems(vault_block(address="https://vault.internal", auth={"method": "aws",
                                                                          "role": "r"}))
    assert found == {"registries.v.backend.auth.header_value": "required for this auth method "
                     "(it binds the signed login to this Vault: the same value as the auth "
                     "method's iam_server_id_header_value)"}


@pytest.mark.parametrize("settings, key", [
    ({"namespace": "team\r\nX-Injected: 1"}, "namespace"),
    ({"namespace": "team a"}, "namespace"),
    ({"ca_bundle": "/no/such/ca.pem"}, "ca_bundle"),
])
def test_vault_setup_mistakes_are_config_errors_at_validation(settings, key):
    found = problems(vault_block(address="https://vault.internal", **settings))
    assert f"registries.v.backend.{key}" in found


# --- Finding 3: time and size bounds ----------------------------------------------------------

@pytest.fixture
def fake_vault(scripted):
    """A scripted Vault on 127.0.0.1 (plain http, hence insecure: true)."""
    server = scripted("127.0.0.1")

    def app(auth: dict, timeout: float = 5, **environ: str) -> App:
        document = vault_block({"timeout": timeout, "retries": 0},
                               address=f"http://{server.netloc}", insecure=True, auth=auth)
        return App(json.dumps(document), environ=environ)
    return server, app


def invoke_with(app: App, left_ms: int):
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        app.invoke({}, LocalContext("v", timeout_ms=left_ms))
    elapsed = time.monotonic() - started  # before the leak check, which grows with the suite
    leaks.assert_clean(info.value)
    return info.value, elapsed


def test_a_drip_fed_login_cannot_outlive_the_invocation(fake_vault):
    server, make = fake_vault
    head = json_body('{"auth": {"client_token": "t", "lease_duration": 60}}')
    server.on("/v1/auth/approle/login", [(head[:60], 0.0)] + [(bytes([b]), 0.3) for b in head[60:]])
    app = make({"method": "approle", "role_id": "r", "secret_id": {"env": "SID"}},
               SID=leaks.secret("approle-secret-id"))
    error, elapsed = invoke_with(app, 3000)
    assert isinstance(error, BackendUnavailable)
    assert elapsed < 2.7, f"the login held the invocation {elapsed:.1f} s (3 s left)"


def test_no_fresh_login_starts_when_it_cannot_finish(fake_vault):
    server, make = fake_vault
    said = json.dumps({"errors": [leaks.secret("vault-answer")]}).encode()
    server.on("/v1/secret/data/reg", [(response(403, body=said), 1.1)])
    app = make({"method": "token", "token": {"env": "VT"}}, timeout=1.2,
               VT=leaks.secret("vault-token"))
    error, elapsed = invoke_with(app, 2500)
    assert isinstance(error, BackendUnavailable) and "fresh" in str(error)
    assert elapsed < 2.0 and len(server.requests) == 1


def test_a_huge_vault_answer_is_refused_without_holding_it(fake_vault):
    server, make = fake_vault
    huge = json.dumps({"data": {"data": {"username": "u", "password": "p" * (20 << 20)}}}).encode()
    server.on("/v1/secret/data/reg", response(200, [("Content-Type", "application/json")], huge))
    app = make({"method": "token", "token": {"env": "VT"}}, VT=leaks.secret("vault-token"))
    tracemalloc.start()
    try:
        error, _ = invoke_with(app, 10_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, MalformedSecret) and "larger than" in str(error)
    assert peak < 16 << 20, f"{peak >> 20} MiB held for one Vault answer"


def test_vault_requests_ignore_proxy_variables(fake_vault, monkeypatch):
    server, make = fake_vault
    server.on("/v1/secret/data/reg", json_body(json.dumps({"data": {"data": {
        "username": "u", "password": "p"}}})))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    app = make({"method": "token", "token": {"env": "VT"}}, VT=leaks.secret("vault-token"))
    assert app.invoke({}, LocalContext("v"))["Credentials"]["Username"] == "u"


def test_a_vault_name_with_many_unanswering_addresses_is_still_bounded(monkeypatch):
    import socket

    from tests.support.faults import unanswered_listener

    holes = [unanswered_listener(f"127.0.0.{i}") for i in (2, 3, 4)]
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "vault.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"127.0.0.{i}", hole[1]))
                    for i, hole in zip((2, 3, 4), holes, strict=True)]
        return real(host, port, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    document = vault_block({"timeout": 2, "retries": 0}, address="http://vault.test:8200",
                           insecure=True)
    app = App(json.dumps(document), environ={"VT": leaks.secret("vault-token")})
    error, elapsed = invoke_with(app, 3000)
    assert isinstance(error, BackendUnavailable)
    assert elapsed < 2.6, f"one Vault request held the invocation {elapsed:.1f} s (3 s left)"
    for server, _, fillers in holes:
        for sock in (server, *fillers):
            sock.close()


@pytest.mark.parametrize("left_ms", [4000, 2600])
def test_an_attempt_of_several_calls_still_ends_before_the_deadline(black_hole_endpoint, left_ms):
    """Two AWS lookups, then a Vault login and a read: the attempt starts when its first call
    fits (issue 17 made attempts shrink to fit), and each later call is checked or cut, so the
    broker still answers before the invocation's time is up (minus its answer margin)."""
    auth = {"method": "approle", "role_id": {"ssm": "/vault/role-id"},
            "secret_id": {"ssm": "/vault/secret-id"}}
    document = vault_block({"timeout": 1.5, "retries": 0}, address="https://vault.internal",
                           auth=auth)
    app = App(json.dumps(document), environ={}, aws=black_hole_endpoint)
    error, elapsed = invoke_with(app, left_ms)
    assert isinstance(error, BackendUnavailable)
    assert elapsed < left_ms / 1000 - 0.5, f"answered {elapsed:.1f} s into {left_ms} ms"


@pytest.fixture
def black_hole_endpoint():
    from broker.aws import AwsClients
    from tests.support.faults import BlackHole

    hole = BlackHole()
    yield AwsClients(endpoint_url=hole.url)
    hole.close()
