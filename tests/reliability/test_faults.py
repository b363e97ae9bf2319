"""Faults injected in front of the real stand-ins: throttling, 5xx, hangs, drops, a sealed Vault."""

from __future__ import annotations

import json
import secrets
import time

import pytest

from broker.app import App
from broker.aws import AwsClients
from broker.cli import LocalContext
from broker.errors import BackendUnavailable
from tests.support import leaks
from tests.support.faults import DROP, HANG, SERVER_ERROR, THROTTLE
from tests.support.servers import OpenBaoServer

TTL, STALE = 60, 600


@pytest.fixture
def secret(aws):
    """A Secrets Manager secret holding a sentinel login; returns (id, password)."""
    name, password = f"faults/{secrets.token_hex(4)}", leaks.secret("password")
    aws("secretsmanager").create_secret(Name=name, SecretString=json.dumps(
        {"username": "robot", "password": password}))
    return name, password


def sm_app(endpoint, secret_id, clock, **registry):
    config = {"registries": {"acme": {
        "host": "r.test", "cache_ttl": TTL, "stale_if_error": STALE,
        "backend": {"type": "secretsmanager", "secret_id": secret_id}, **registry}}}
    return App(json.dumps(config), environ={}, aws=AwsClients(endpoint_url=endpoint), clock=clock)


def reads(proxy):
    return [action for _, _, action in proxy.seen]


def test_throttling_is_retried_then_served(moto, fault_proxy, secret, clock):
    proxy = fault_proxy(moto)
    proxy.plan = [THROTTLE, THROTTLE]
    answer = sm_app(proxy.url, secret[0], clock).invoke({}, LocalContext())
    assert answer["Credentials"]["Password"] == secret[1]
    assert reads(proxy) == ["400", "400", "pass"]


def test_persistent_server_errors_give_up_after_the_retries(moto, fault_proxy, secret, clock):
    proxy = fault_proxy(moto)
    proxy.plan = [SERVER_ERROR] * 5
    with pytest.raises(BackendUnavailable) as info:
        sm_app(proxy.url, secret[0], clock).invoke({}, LocalContext())
    assert reads(proxy) == ["503"] * 3
    assert f"secret '{secret[0]}'" in str(info.value) and "ServiceUnavailable" in str(info.value)


def test_retries_zero_means_one_attempt(moto, fault_proxy, secret, clock):
    proxy = fault_proxy(moto)
    proxy.plan = [THROTTLE]
    with pytest.raises(BackendUnavailable, match="ThrottlingException"):
        sm_app(proxy.url, secret[0], clock, retries=0).invoke({}, LocalContext())
    assert reads(proxy) == ["400"]


def test_dropped_connection_is_retried(moto, fault_proxy, secret, clock):
    proxy = fault_proxy(moto)
    proxy.plan = [DROP]
    assert sm_app(proxy.url, secret[0], clock).invoke({}, LocalContext())["Credentials"]
    assert reads(proxy) == ["drop", "pass"]


def test_hanging_store_fails_within_the_invocation(moto, fault_proxy, secret, clock):
    proxy = fault_proxy(moto)
    proxy.plan = [HANG] * 5
    app = sm_app(proxy.url, secret[0], clock, timeout=0.4)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        app.invoke({}, LocalContext(timeout_ms=1600))
    elapsed = time.monotonic() - started
    assert elapsed < 1.6 - 0.5 + 0.1, f"took {elapsed:.2f} s of a 1.6 s invocation"
    assert 1 <= len(proxy.seen) <= 2


def test_black_holed_port_answers_with_its_own_error_in_time(black_hole, secret, clock):
    app = sm_app(black_hole.url, secret[0], clock, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        app.invoke({}, LocalContext(timeout_ms=3000))
    assert time.monotonic() - started < 2.5
    assert "did not answer" in str(info.value) and "ReadTimeoutError" in str(info.value)


def test_no_attempt_when_one_would_not_fit(moto, fault_proxy, secret, clock):
    proxy = fault_proxy(moto)
    with pytest.raises(BackendUnavailable, match=r"only 0\.5 s of the invocation remain, less "
                                                 r"than one 7 s call") as info:
        sm_app(proxy.url, secret[0], clock).invoke({}, LocalContext(timeout_ms=1000))
    assert proxy.seen == [] and "Raise the function's timeout" in str(info.value)


def test_stale_login_while_throttled_then_fresh_again(moto, fault_proxy, secret, clock, log_lines):
    proxy = fault_proxy(moto)
    app = sm_app(proxy.url, secret[0], clock)
    app.invoke({}, LocalContext())
    proxy.plan = [THROTTLE] * 3
    clock.advance(TTL + 1)
    assert app.invoke({}, LocalContext())["Credentials"]["Password"] == secret[1]
    clock.advance(1)
    app.invoke({}, LocalContext())
    assert [line["source"] for line in log_lines()] == ["backend", "stale", "backend"]


def test_refresh_is_ignored_unless_allowed(moto, fault_proxy, secret, clock, log_lines):
    proxy = fault_proxy(moto)
    for allowed, source in ((False, "cache"), (True, "backend")):
        app = sm_app(proxy.url, secret[0], clock, allow_refresh=allowed)
        app.invoke({}, LocalContext())
        app.invoke({"refresh": True}, LocalContext())
        line = log_lines()[-1]
        assert (line["source"], line["refresh"]) == (source, "honoured" if allowed else "ignored")


@pytest.fixture
def vault_app(clock):
    def make(address, token, path):
        config = {"registries": {"q": {"host": "q.test", "cache_ttl": TTL, "stale_if_error": 0,
                                       "timeout": 2, "backend": {
            "type": "vault", "address": address, "insecure": True, "path": path,
            "auth": {"method": "token", "token": {"env": "BAO_T"}}}}}}
        return App(json.dumps(config), environ={"BAO_T": token}, clock=clock)
    return make


def test_vault_503_is_retried(openbao, fault_proxy, vault_app):
    path = f"faults/{secrets.token_hex(4)}"
    password = leaks.secret("password")
    openbao.client().secrets.kv.v2.create_or_update_secret(
        path=path, secret={"username": "robot", "password": password})
    proxy = fault_proxy(openbao)
    proxy.plan = [SERVER_ERROR]
    answer = vault_app(proxy.url, openbao.root_token, path).invoke({}, LocalContext())
    assert answer["Credentials"]["Password"] == password
    assert reads(proxy) == ["503", "pass"]


def test_sealed_vault_is_unavailable(vault_app, clock):
    from tests.conftest import require_binary

    server = OpenBaoServer(require_binary("bao"), leaks.secret("bao-root-token")).start()
    try:
        root = server.client()
        root.secrets.kv.v2.create_or_update_secret(path="reg", secret={"username": "u", "password": "p"})
        app = vault_app(server.url, server.root_token, "reg")
        app.invoke({}, LocalContext())
        root.sys.seal()
        clock.advance(TTL)
        with pytest.raises(BackendUnavailable) as info:
            app.invoke({}, LocalContext())
        assert "sealed" in str(info.value) and "path 'secret/reg'" in str(info.value)
        leaks.assert_clean(info.value)
    finally:
        server.stop()


def test_preflight_against_a_hanging_registry_stays_within_the_invocation(black_hole, clock,
                                                                           monkeypatch):
    monkeypatch.setenv("RU", "robot")
    monkeypatch.setenv("RP", leaks.secret("password"))
    config = {"registries": {"r": {"host": f"127.0.0.1:{black_hole.port}", "insecure": True,
                                   "timeout": 5, "preflight": "enforce", "backend": {
                                       "type": "env", "username_var": "RU", "password_var": "RP"}}}}
    app = App(json.dumps(config), clock=clock)
    started = time.monotonic()
    from broker.errors import PreflightFailed

    with pytest.raises(PreflightFailed, match="step ping") as info:
        app.invoke({}, LocalContext(timeout_ms=1500))
    assert time.monotonic() - started < 1.5, "the 5 s registry timeout was cut to the deadline"
    leaks.assert_clean(info.value)
