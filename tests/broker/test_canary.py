"""The scheduled canary: one EMF line per registry."""

from __future__ import annotations

import json
import time

import pytest

from broker.canary import NAMESPACE, emf
from broker.preflight import Result


def test_emf_document_shape():
    line = emf(Result("acme", False, "bearer", "token: GET https://r/token answered HTTP 401",
                      "token", (), 12.5, 2), 1_700_000_000_000)
    metrics = line["_aws"]["CloudWatchMetrics"][0]
    assert line["_aws"]["Timestamp"] == 1_700_000_000_000
    assert metrics["Namespace"] == NAMESPACE
    assert metrics["Dimensions"] == [["Registry"], []]
    assert {m["Name"] for m in metrics["Metrics"]} == {"PreflightFailed", "PreflightDuration"}
    assert (line["Registry"], line["PreflightFailed"], line["PreflightDuration"]) == ("acme", 1, 12.5)
    json.dumps(line)


def test_canary_checks_every_registry(registries, monkeypatch, capsys):
    import broker.canary as canary
    from broker.app import App

    user = registries.users["reader"]
    monkeypatch.setenv("RU", user.username)
    monkeypatch.setenv("RP", user.password)
    config = {"registries": {name: {"host": reg.host, "insecure": True, "backend": {
        "type": "env", "username_var": "RU", "password_var": "RP"}}
        for name, reg in (("tok", registries.token), ("open", registries.open),
                          ("far", registries.elsewhere))}}
    monkeypatch.setattr(canary, "app", App(json.dumps(config)))
    assert canary.handler({}, None) == {"checked": 3, "failed": 1}
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert {(x["Registry"], x["PreflightFailed"]) for x in lines} == {
        ("tok", 0), ("open", 0), ("far", 1)}


def test_canary_stays_within_its_invocation(scripted, monkeypatch):
    import broker.canary as canary
    from broker.app import App
    from broker.cli import LocalContext
    from tests.support.scripted import challenge

    stalled = scripted().on("/v2/", [(challenge('Basic realm="r"'), 5.0)])
    config = {"registries": {"slow": {"host": stalled.netloc, "insecure": True, "timeout": 5,
                                      "backend": {"type": "env", "username_var": "RU",
                                                  "password_var": "RP"}}}}
    monkeypatch.setattr(canary, "app", App(json.dumps(config), environ={"RU": "u", "RP": "p"}))
    started = time.monotonic()
    assert canary.handler({}, LocalContext(timeout_ms=1500)) == {"checked": 1, "failed": 1}
    assert time.monotonic() - started < 1.5, "the canary outlived its invocation"


class _Recorder:
    """sys.stdout stand-in that timestamps each line the canary writes."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.lines += [(time.monotonic(), x) for x in text.splitlines() if x.strip()]
        return len(text)

    def flush(self) -> None:
        pass


def test_canary_speaks_as_each_check_ends_and_marks_the_unfinished(scripted, monkeypatch,
                                                                   registries):
    import broker.canary as canary
    from broker.app import App
    from broker.cli import LocalContext
    from tests.support.scripted import challenge

    stalled = scripted().on("/v2/", [(challenge('Basic realm="r"'), 30.0)])
    env = {"type": "env", "username_var": "RU", "password_var": "RP"}
    config = {"registries": {
        "stalled": {"host": stalled.netloc, "insecure": True, "timeout": 5, "backend": env},
        **{f"open{i}": {"host": registries.open.host, "insecure": True, "backend": env}
           for i in range(3)}}}
    monkeypatch.setattr(canary, "app", App(json.dumps(config), environ={"RU": "u", "RP": "p"}))
    out = _Recorder()
    monkeypatch.setattr("sys.stdout", out)
    started = time.monotonic()
    result = canary.handler({}, LocalContext(timeout_ms=3000))
    ended = time.monotonic()
    assert ended - started < 3.0, "the canary outlived its invocation"
    assert result == {"checked": 4, "failed": 1}
    lines = {json.loads(text)["Registry"]: (at, json.loads(text)) for at, text in out.lines
             if '"_aws"' in text}
    assert set(lines) == {"stalled", "open0", "open1", "open2"}
    assert all(lines[f"open{i}"][0] - started < 1.0 for i in range(3)), "healthy lines waited"
    assert lines["stalled"][1]["PreflightFailed"] == 1
    assert "no time left" in lines["stalled"][1]["detail"] or "timed out" in lines["stalled"][1]["detail"]


def test_a_broken_configuration_makes_the_canary_fail_loudly(monkeypatch, capsys):
    import broker.canary as canary
    from broker.app import App
    from broker.cli import LocalContext
    from broker.errors import ConfigError

    monkeypatch.setattr(canary, "app", App('{"registries": {}}', environ={}))
    with pytest.raises(ConfigError):
        canary.handler({}, LocalContext(timeout_ms=3000))
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert [(x["Registry"], x["PreflightFailed"]) for x in lines] == [("(configuration)", 1)]


def test_the_alarm_treats_missing_data_as_breaching_and_watches_errors():
    import yaml

    from tests.support.packaging import ROOT

    alarms = yaml.safe_load((ROOT / "deploy" / "optional.yml").read_text())["canaryAlarm"]["true"]
    assert {a["Properties"]["TreatMissingData"] for a in alarms.values()} == {"breaching"}
    assert {a["Properties"]["MetricName"] for a in alarms.values()} == {"PreflightFailed", "Errors"}


def test_a_refused_reload_is_reported_by_a_warm_canary(aws, moto, registries, monkeypatch, capsys,
                                                        clock):
    import broker.canary as canary
    from broker.app import App
    from broker.aws import AwsClients
    from broker.cli import LocalContext
    from broker.errors import ConfigError

    good = {"registries": {"open": {"host": registries.open.host, "insecure": True, "backend": {
        "type": "env", "username_var": "RU", "password_var": "RP"}}}}
    ssm = aws("ssm")
    ssm.put_parameter(Name="/canary/config", Value=json.dumps(good), Type="String", Overwrite=True)
    monkeypatch.setattr(canary, "app", App("ssm:/canary/config", clock=clock,
                                           environ={"RU": "u", "RP": "p", "BROKER_CONFIG_TTL": "30"},
                                           aws=AwsClients(endpoint_url=moto.url)))
    assert canary.handler({}, LocalContext(timeout_ms=5000)) == {"checked": 1, "failed": 0}
    ssm.put_parameter(Name="/canary/config", Value="registries: [", Type="String", Overwrite=True)
    clock.advance(31)
    capsys.readouterr()
    with pytest.raises(ConfigError):
        canary.handler({}, LocalContext(timeout_ms=5000))
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert {(x["Registry"], x["PreflightFailed"]) for x in lines} == {("(configuration)", 1),
                                                                       ("open", 0)}


def test_invoked_again_within_a_minute_the_canary_replays_instead_of_fetching(scripted, monkeypatch,
                                                                             capsys, clock):
    """Third review, finding 5: every canary invocation fetched every login uncached and called
    every registry, whoever invoked it. Now at most once a minute per execution environment."""
    import broker.canary as canary
    from broker.app import App
    from tests.support.scripted import challenge, response

    reg = scripted().on("/v2/", lambda r: response(200) if "authorization" in r.headers
                        else challenge('Basic realm="r"'))
    environ = {"RU": "u", "RP": "p"}
    config = {"registries": {"r": {"host": reg.netloc, "insecure": True, "backend": {
        "type": "env", "username_var": "RU", "password_var": "RP"}}}}
    monkeypatch.setattr(canary, "app", App(json.dumps(config), environ=environ, clock=clock))
    assert canary.handler({}, None) == {"checked": 1, "failed": 0}
    seen = len(reg.requests)
    for _ in range(20):
        clock.advance(2)
        assert canary.handler({}, None) == {"checked": 1, "failed": 0, "replayed": True}
    assert len(reg.requests) == seen, "a replayed run called the registry"
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert len(lines) == 21, "every run still prints its registry's line"
    clock.advance(canary.MIN_INTERVAL)
    assert canary.handler({}, None) == {"checked": 1, "failed": 0}
    assert len(reg.requests) == 2 * seen
