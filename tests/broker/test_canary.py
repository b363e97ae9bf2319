"""The scheduled canary: one EMF line per registry."""

from __future__ import annotations

import json

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
