"""Issue 17, item 4: errors that point at the real fix, in the words of the command the user
ran."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from broker import preflight
from broker.cli import main
from broker.login import Login
from tests.support.configs import block, registry
from tests.support.packaging import ROOT


def test_a_plain_http_registry_without_insecure_is_said_not_to_speak_tls(registries):
    """Against the real docker-registry on plain HTTP: it was "the certificate does not verify
    ... set ca_bundle", which sends the user to the wrong fix."""
    result = preflight.check(registry(registries.open.host), Login("u", "p"))
    assert (result.ok, result.step) == (False, "ping")
    assert "does not speak TLS" in result.detail and "insecure: true" in result.detail
    assert "ca_bundle" not in result.detail


@pytest.mark.parametrize("text, suffix", [("registries: {a: [}\n", ".yml"), ('{"a": ', ".json")])
def test_a_syntax_error_points_at_the_syntax_not_at_config(tmp_path, capsys, text, suffix):
    path = tmp_path / f"broker{suffix}"
    path.write_text(text)
    assert main(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line" in err and "Fix the syntax where the parser stopped" in err
    assert "Point --config" not in err


def test_a_local_invocation_that_picks_no_registry_names_the_flags(tmp_path, capsys):
    path = tmp_path / "broker.json"
    path.write_text(json.dumps({"registries": {"a": block("a.example.com"),
                                               "b": block("b.example.com")}}))
    assert main(["invoke", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "RegistryNotSelected" in err and "--alias NAME" in err and "--registry NAME" in err
    assert "BROKER_REGISTRY" not in err


def test_a_missing_image_under_enforce_is_logged_as_a_warning(registries, monkeypatch, log_lines):
    from broker.app import App
    from broker.cli import LocalContext

    user = registries.users["reader"]
    config = {"registries": {"r": {"host": registries.basic.host, "insecure": True,
                                   "preflight": "enforce", "repository": "team/absent",
                                   "backend": {"type": "env", "username_var": "RU",
                                               "password_var": "RP"}}}}
    app = App(json.dumps(config), environ={"RU": user.username, "RP": user.password})
    app.invoke({}, LocalContext("r"))
    line = log_lines()[-1]
    assert line["event"] == "credentials_served" and line["preflight"] == "passed"
    assert line["level"] == logging.getLevelName(logging.WARNING)
    assert "not found" in line["preflight_detail"]


def test_a_build_error_through_make_names_build_args(tmp_path):
    config = tmp_path / "broker.json"
    config.write_text(json.dumps({"registries": {"v": {"host": "v.example.com", "backend": {
        "type": "vault", "address": "https://vault.example:8200", "path": "p",
        "auth": {"method": "token", "token": {"env": "VT"}}}}}}))
    proc = subprocess.run(["make", "-s", "package", f"CONFIG={config}", "PYTHON=" + sys.executable,
                           f"VENV={ROOT / '.venv'}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    assert "BUILD_ARGS='--env VT=VALUE'" in proc.stderr, proc.stderr
