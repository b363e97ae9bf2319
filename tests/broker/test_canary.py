"""The scheduled canary: one EMF line per registry."""

from __future__ import annotations

import json
import time

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
