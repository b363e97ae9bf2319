"""The execution environment: the invocation log line, and an ssm: configuration reloaded on its TTL."""

from __future__ import annotations

import json

import pytest

from broker.app import App
from broker.aws import AwsClients
from broker.cli import LocalContext
from broker.errors import ConfigError, SecretNotFound


def env_config(*names: str) -> str:
    return json.dumps({"registries": {n: {"host": f"{n}.example", "backend": {
        "type": "env", "username_var": "U", "password_var": "P"}} for n in names}})


def test_log_line_fields(clock, log_lines):
    app = App(env_config("one"), environ={"U": "user-x", "P": "pw-x"}, clock=clock)
    context = LocalContext("one")
    app.invoke({}, context)
    with pytest.raises(SecretNotFound):
        App(env_config("one"), environ={}, clock=clock).invoke({}, context)
    served, failed = log_lines()
    assert set(served) == {"level", "logger", "event", "registry", "backend", "source",
                           "preflight", "duration_ms", "request_id",
                           "_aws", "Registry", "Source", "Served", "Duration"}  # EMF
    assert served["preflight"] == "skipped"
    assert served["request_id"] == context.aws_request_id and served["duration_ms"] >= 0
    assert "user-x" not in json.dumps(served) and "pw-x" not in json.dumps(served)
    assert failed["event"] == "credentials_failed" and failed["level"] == "ERROR"
    assert failed["error_type"] == "SecretNotFound" and "registry 'one'" in failed["error"]


def test_unexpected_errors_are_logged_without_their_message(clock, log_lines, monkeypatch):
    app = App(env_config("one"), environ={"U": "u", "P": "p"}, clock=clock)
    backend = app.broker().backends["one"]
    monkeypatch.setattr(backend, "fetch", lambda deadline=None: {}["secret-ish detail"])
    with pytest.raises(KeyError):
        app.invoke({}, None)
    line = log_lines()[-1]
    assert line["error_type"] == "KeyError" and "secret-ish" not in line["error"]


@pytest.fixture
def ssm_app(aws, moto, clock):
    ssm = aws("ssm")

    def put(text):
        ssm.put_parameter(Name="/broker/app-config", Value=text, Type="String", Overwrite=True)
    put(env_config("first"))
    app = App("ssm:/broker/app-config", environ={"U": "u", "P": "p", "BROKER_CONFIG_TTL": "30"},
              aws=AwsClients(endpoint_url=moto.url), clock=clock)
    return app, put


def test_ssm_config_is_reread_after_its_ttl(ssm_app, clock):
    app, put = ssm_app
    put(env_config("second"))
    clock.advance(29)
    assert app.broker().config.names == ["first"]
    clock.advance(1)
    assert app.broker().config.names == ["second"]


def test_unchanged_ssm_config_keeps_the_cache(ssm_app, clock, log_lines):
    app, _ = ssm_app
    app.invoke({}, None)
    clock.advance(31)
    app.invoke({}, None)
    assert [line["source"] for line in log_lines()] == ["backend", "cache"]


def test_bad_reload_keeps_the_last_good_config(ssm_app, clock, log_lines):
    app, put = ssm_app
    put("registries: {}")
    clock.advance(31)
    assert app.broker().config.names == ["first"]
    assert log_lines()[-1]["event"] == "config_reload_failed"
    assert "must name at least one registry" in log_lines()[-1]["error"]


def test_config_error_at_init_is_raised_by_each_invocation(clock, tmp_path):
    app = App(str(tmp_path / "absent.json"), environ={}, clock=clock)
    for _ in range(2):
        with pytest.raises(ConfigError, match="absent.json"):
            app.invoke({}, None)
    (tmp_path / "absent.json").write_text(env_config("late"))
    assert app.broker().config.names == ["late"], "a config fixed later is picked up"


def test_backend_setup_failure_is_a_config_error(clock, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # botocore cannot build a client without a region
    config = json.dumps({"registries": {"s": {"host": "h", "backend": {
        "type": "secretsmanager", "secret_id": "x"}}}})
    with pytest.raises(ConfigError, match="registries.s.backend: no valid AWS region"):
        App(config, environ={}, clock=clock).invoke({}, None)


def test_every_served_and_failed_line_is_a_per_registry_metric(log_lines):
    """Issue 17, item 7: the broker publishes its own EMF metrics (served by source, failed by
    error type, duration), so an operator sees every registry's health without the canary."""
    import json

    from broker.app import App
    from broker.cli import LocalContext
    from broker.metrics import NAMESPACE

    config = {"registries": {"one": {"host": "one.example.com", "backend": {
        "type": "env", "username_var": "RU", "password_var": "RP"}}}}
    App(json.dumps(config), environ={"RU": "u", "RP": "p"}).invoke({}, LocalContext("one"))
    with pytest.raises(SecretNotFound):
        App(json.dumps(config), environ={}).invoke({}, LocalContext("one"))
    served, failed = log_lines()[-2:]
    for line, count, second in ((served, "Served", "Source"), (failed, "Failed", "ErrorType")):
        metric = line["_aws"]["CloudWatchMetrics"][0]
        assert metric["Namespace"] == NAMESPACE
        assert metric["Dimensions"] == [["Registry"], ["Registry", second]]
        assert {m["Name"] for m in metric["Metrics"]} == {count, "Duration"}
        assert line["Registry"] == "one" and line[count] == 1 and line["Duration"] >= 0
    assert (served["Source"], failed["ErrorType"]) == ("backend", "SecretNotFound")
