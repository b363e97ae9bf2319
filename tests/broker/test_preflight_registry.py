"""The preflight against real distribution registries: htpasswd, token auth, and no auth."""

from __future__ import annotations

import json

import pytest

from broker import preflight
from broker.app import App
from broker.cli import main
from broker.config import parse_config
from broker.errors import PreflightFailed
from broker.login import Login
from tests.support import leaks
from tests.support.registry_fixture import REPOSITORY, TAG


def registry_config(registry, **extra):
    block = {"host": registry.host, "insecure": True, "repository": REPOSITORY, "reference": TAG,
             "backend": {"type": "env", "username_var": "RU", "password_var": "RP"}, **extra}
    return parse_config({"registries": {"r": block}}, "test").registries["r"]


def run(registry, user, **extra) -> preflight.Result:
    result = preflight.check(registry_config(registry, **extra), Login(user.username, user.password))
    assert not leaks.leaks_in(json.dumps(result.as_json())), "a secret reached the result"
    return result


def wrong(user):
    return type(user)(user.username, leaks.secret("wrong-password"))


def test_basic_good_login_proves_pull(registries):
    result = run(registries.basic, registries.users["reader"])
    assert (result.ok, result.scheme) == (True, "basic")
    assert f"pull access to {REPOSITORY}:{TAG} proven" in result.detail


def test_basic_wrong_password(registries):
    result = run(registries.basic, wrong(registries.users["reader"]))
    assert (result.ok, result.step) == (False, "basic")
    assert f"GET http://{registries.basic.host}/v2/ answered HTTP 401" in result.detail


def test_bearer_good_login_proves_pull(registries):
    result = run(registries.token, registries.users["reader"])
    assert (result.ok, result.scheme, result.warnings) == (True, "bearer", ())
    assert f"token from {registries.token_server.realm} (valid 300 s)" in result.detail
    asked = registries.token_server.requests[-1]["query"]
    assert asked["scope"] == [f"repository:{REPOSITORY}:pull"], "pull only, never push"
    assert asked["service"] == ["broker-test-registry"]
    assert asked["account"] == [registries.users["reader"].username]
    assert result.round_trips == 4  # GET /v2/, GET realm, GET /v2/ with token, HEAD manifest


def test_bearer_wrong_password(registries):
    result = run(registries.token, wrong(registries.users["reader"]))
    assert (result.ok, result.step) == (False, "token")
    assert f"GET {registries.token_server.realm} answered HTTP 401" in result.detail


def test_bearer_valid_login_without_pull_access(registries):
    result = run(registries.token, registries.users["stranger"])
    assert (result.ok, result.step) == (False, "manifest")
    assert f"lacks pull access to {REPOSITORY}" in result.detail
    assert "HTTP 401" in result.detail


def test_missing_tag_is_a_warning(registries):
    result = run(registries.token, registries.users["reader"], reference="nope")
    assert result.ok and result.warnings
    assert f"{REPOSITORY}:nope not found" in result.warnings[0]


def test_registry_needing_no_login(registries):
    result = run(registries.open, registries.users["reader"])
    assert (result.ok, result.scheme) == (True, "none")
    assert "without a login" in result.detail


def test_untrusted_realm_gets_no_credentials(registries):
    result = run(registries.elsewhere, registries.users["reader"])
    assert (result.ok, result.step) == (False, "realm")
    assert "127.0.0.2" in result.detail and "not sent" in result.detail
    assert registries.far_token_server.requests == [], "the token server must never be contacted"


def test_trusted_realm_on_another_host_is_used(registries):
    result = run(registries.elsewhere, registries.users["reader"], trusted_realms=["127.0.0.2"])
    assert result.ok, result.detail
    assert len(registries.far_token_server.requests) == 1
    registries.far_token_server.requests.clear()


def test_unreachable_registry(registries):
    from tests.support.servers import free_port

    block = registry_config(registries.open)
    result = preflight.check(block._replace(host=f"127.0.0.1:{free_port()}"),
                             Login("u", "p"))
    assert (result.ok, result.step) == (False, "ping")
    assert "connection refused by 127.0.0.1" in result.detail


@pytest.fixture
def env_login(monkeypatch, registries):
    def use(role, password=None):
        user = registries.users[role]
        monkeypatch.setenv("RU", user.username)
        monkeypatch.setenv("RP", password or user.password)
    return use


def app_for(registry, clock, mode, **extra):
    block = {"host": registry.host, "insecure": True, "repository": REPOSITORY, "reference": TAG,
             "preflight": mode, "backend": {"type": "env", "username_var": "RU", "password_var": "RP"},
             **extra}
    return App(json.dumps({"registries": {"r": block}}), clock=clock)


def test_enforce_blocks_a_bad_login(registries, env_login, clock, log_lines):
    env_login("reader", leaks.secret("wrong-password"))
    with pytest.raises(PreflightFailed) as info:
        app_for(registries.token, clock, "enforce").invoke({}, None)
    message = str(info.value)
    assert "registry 'r'" in message and "env variables RU, RP" in message
    assert "step token" in message and "HTTP 401" in message and "rotate" in message
    leaks.assert_clean(info.value)
    line = log_lines()[-1]
    assert (line["preflight"], line["error_type"]) == ("failed", "PreflightFailed")


def test_warn_serves_the_login_and_logs_the_failure(registries, env_login, clock, log_lines):
    env_login("stranger")
    answer = app_for(registries.token, clock, "warn").invoke({}, None)
    assert answer["Credentials"]["Username"] == registries.users["stranger"].username
    line = log_lines()[-1]
    assert (line["level"], line["preflight"]) == ("WARNING", "warned")
    assert "lacks pull access" in line["preflight_detail"]


def test_passed_check_is_cached_with_the_login(registries, env_login, clock, log_lines):
    env_login("reader")
    app = app_for(registries.token, clock, "enforce")
    app.invoke({}, None)
    asked = len(registries.token_server.requests)
    app.invoke({}, None)
    assert len(registries.token_server.requests) == asked, "a cache hit runs no check"
    assert [(line["source"], line["preflight"]) for line in log_lines()] == [
        ("backend", "passed"), ("cache", "passed")]


def test_off_runs_no_check(registries, env_login, clock, log_lines):
    env_login("reader", leaks.secret("wrong-password"))
    app_for(registries.token, clock, "off").invoke({}, None)
    assert log_lines()[-1]["preflight"] == "skipped"


def test_check_command(registries, env_login, tmp_path, capsys):
    env_login("reader")
    config = {"registries": {
        name: {"host": reg.host, "insecure": True, "repository": REPOSITORY, "reference": TAG,
               "backend": {"type": "env", "username_var": "RU", "password_var": "RP"}}
        for name, reg in (("token", registries.token), ("basic", registries.basic),
                          ("open", registries.open), ("elsewhere", registries.elsewhere))}}
    path = tmp_path / "broker.json"
    path.write_text(json.dumps(config))
    assert main(["check", "--config", str(path), "--json"]) == 1
    results = {r["registry"]: r for r in json.loads(capsys.readouterr().out)}
    assert {k: (r["ok"], r["scheme"]) for k, r in results.items()} == {
        "token": (True, "bearer"), "basic": (True, "basic"), "open": (True, "none"),
        "elsewhere": (False, "bearer")}
    assert results["elsewhere"]["detail"].startswith("realm: ")
    assert main(["check", "--config", str(path), "token", "basic"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["REGISTRY", "SCHEME", "RESULT", "MS"]
    assert [row.split()[:3] for row in table[1:]] == [["token", "bearer", "pass"],
                                                      ["basic", "basic", "pass"]]


def test_a_registry_never_reached_is_not_said_to_refuse_the_login(env_login, clock):
    from tests.support.servers import free_port

    env_login("reader")
    block = {"host": f"127.0.0.1:{free_port()}", "insecure": True, "preflight": "enforce",
             "backend": {"type": "env", "username_var": "RU", "password_var": "RP"}}
    app = App(json.dumps({"registries": {"r": block}}), clock=clock)
    with pytest.raises(PreflightFailed) as info:
        app.invoke({}, None)
    assert "refused the login" not in str(info.value)
    assert "connection refused" in str(info.value)


def test_a_refreshed_login_failing_the_preflight_is_read_once_more(registries, env_login, clock,
                                                                     log_lines, monkeypatch):
    from broker.login import Login

    reader = registries.users["reader"]
    good, stale = Login(reader.username, reader.password), Login(reader.username,
                                                                 leaks.secret("old-password"))
    env_login("reader")
    app = app_for(registries.token, clock, "enforce", cache_ttl=60)
    app.invoke({}, None)
    backend = app.broker().backends["r"]
    answers = iter([stale, good])  # the refresh meets a store mid-rotation, then the new one
    monkeypatch.setattr(backend, "fetch", lambda deadline=None: next(answers))
    clock.advance(61)
    assert app.invoke({}, None)["Credentials"]["Password"] == reader.password
    assert log_lines()[-1]["preflight"] == "passed"


def test_a_first_login_failing_the_preflight_is_not_read_twice(registries, env_login, clock,
                                                                monkeypatch):
    env_login("reader", leaks.secret("wrong-password"))
    app = app_for(registries.token, clock, "enforce")
    backend = app.broker().backends["r"]
    calls = []
    real = backend.fetch
    monkeypatch.setattr(backend, "fetch", lambda deadline=None: calls.append(1) or real(deadline))
    with pytest.raises(PreflightFailed):
        app.invoke({}, None)
    assert len(calls) == 1
