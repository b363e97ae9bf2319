"""Promise 3: no password, token or secret_id in a log, an error, a repr or a traceback.

Attacks: a literal secret in an inline-JSON configuration, a secret value that a client library
would quote in its own exception, and a function running with DEBUG logs. (The test suite's own
guard, which must read whole tracebacks, is tested in tests/test_leak_guard.py.)
"""

from __future__ import annotations

import json
import logging
import sys

import pytest

from broker.app import App
from broker.aws import AwsClients
from broker.cli import LocalContext, main
from broker.errors import ConfigError, MalformedSecret
from tests.support import leaks

# --- Finding 12: an inline-JSON configuration is named, never echoed --------------------------

def literal_token_config() -> dict:
    return {"registries": {"v": {"host": "h.example", "backend": {
        "type": "vault", "address": "https://vault.example", "path": "p",
        "auth": {"method": "token", "token": leaks.secret("vault-token")}}}}}


def test_an_inline_json_config_is_named_by_its_size_in_errors(log_lines):
    source = json.dumps(literal_token_config())
    with pytest.raises(ConfigError) as info:
        App(source, environ={}).invoke({}, LocalContext("v"))
    assert f"inline JSON ({len(source.encode())} bytes)" in str(info.value)
    leaks.assert_clean(info.value)
    assert log_lines()[-1]["error_type"] == "ConfigError"


def test_validate_does_not_echo_an_inline_json_config(capsys):
    assert main(["validate", "--config", json.dumps(literal_token_config())]) == 2
    err = capsys.readouterr().err
    assert "inline JSON (" in err and "registries.v.backend.auth.token" in err


# --- Finding 13: secret values a client library would quote -----------------------------------

@pytest.fixture
def vault_login(openbao):
    """A KV v2 login in OpenBao, and a token allowed to read it."""
    root = openbao.client()
    root.sys.create_or_update_policy("leak-reader", 'path "secret/data/*" { capabilities = ["read"] }')
    root.secrets.kv.v2.create_or_update_secret(
        path="leak/acme", secret={"username": "robot", "password": leaks.secret("password")})
    token = root.auth.token.create(policies=["leak-reader"], ttl="1h")["auth"]["client_token"]
    leaks.SENTINELS[token] = "vault-token"
    return openbao, token


@pytest.mark.parametrize("mangle", [lambda t: t + "\n", lambda t: " " + t, lambda t: t + "\r\nX: y",
                                    lambda t: t[:4] + "\x7f" + t[4:]])
def test_a_token_a_header_cannot_carry_is_refused_by_reference(vault_login, mangle, log_lines):
    server, token = vault_login
    config = {"registries": {"v": {"host": "h.example", "backend": {
        "type": "vault", "address": server.url, "insecure": True, "path": "leak/acme",
        "auth": {"method": "token", "token": {"env": "LEAK_TOKEN"}}}}}}
    app = App(json.dumps(config), environ={"LEAK_TOKEN": mangle(token)})
    with pytest.raises(MalformedSecret, match="env:LEAK_TOKEN") as info:
        app.invoke({}, LocalContext("v"))
    leaks.assert_clean(info.value)
    assert info.value.__cause__ is None
    assert "whitespace or control characters" in str(info.value)


# --- Finding 14: library DEBUG logs -----------------------------------------------------------

@pytest.fixture
def root_logs_at_debug():
    """The root logger as Lambda's runtime sets it with AWS_LAMBDA_LOG_LEVEL=DEBUG."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stdout)
    before = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield
    root.removeHandler(handler)
    root.setLevel(before)


def test_debug_logging_never_prints_a_fetched_secret(aws, moto, root_logs_at_debug, capsys):
    password = leaks.secret("password")
    aws("secretsmanager").create_secret(Name="leak/debug", SecretString=json.dumps(
        {"username": "robot", "password": password}))
    config = {"registries": {"a": {"host": "a.example", "backend": {
        "type": "secretsmanager", "secret_id": "leak/debug"}}}}
    app = App(json.dumps(config), environ={"BROKER_LOG_LEVEL": "DEBUG"},
              aws=AwsClients(endpoint_url=moto.url))
    assert app.invoke({}, LocalContext("a"))["Credentials"]["Password"] == password
    out = capsys.readouterr().out
    assert "credentials_served" in out
    assert password not in out
    for name in ("botocore", "urllib3", "requests"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
