"""The broker command line: invoke (masked unless asked), validate (exit 0 or 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from broker.cli import MASK, main
from tests.support import leaks

ROOT = Path(__file__).parents[2]


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "broker.yml"
    path.write_text("registries:\n"
                    "  a: {host: a.example, backend: {type: env, username_var: AU, password_var: AP}}\n"
                    "  b: {host: b.example, match: ['b.example/*', 'mirror.example/*'],\n"
                    "      backend: {type: env, username_var: BU, password_var: BP}}\n")
    monkeypatch.setenv("AU", "user-a")
    monkeypatch.setenv("AP", leaks.secret("password"))
    monkeypatch.setenv("BU", "user-b")
    monkeypatch.setenv("BP", leaks.secret("password"))
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, user", [
    (["--registry", "a"], "user-a"), (["--image", "mirror.example/x:1"], "user-b"),
    (["--alias", "b"], "user-b"),
])
def test_invoke_prints_the_masked_response(capsys, config, args, user):
    code, out, err = run(capsys, "invoke", "--config", config, *args)
    assert code == 0
    assert json.loads(out) == {"Credentials": {"Username": user, "Password": MASK}}
    assert json.loads(err.splitlines()[-1])["event"] == "credentials_served"


def test_show_password(capsys, tmp_path, monkeypatch):
    # Not a sentinel: this test's whole point is to print the password.
    monkeypatch.setenv("XU", "user-x")
    monkeypatch.setenv("XP", "visible-on-request")
    inline = json.dumps({"registries": {"x": {"host": "x", "backend": {
        "type": "env", "username_var": "XU", "password_var": "XP"}}}})
    code, out, _ = run(capsys, "invoke", "--config", inline, "--show-password")
    assert code == 0 and json.loads(out)["Credentials"]["Password"] == "visible-on-request"


@pytest.mark.parametrize("args, error_type", [
    ([], "RegistryNotSelected"),
    (["--registry", "zzz"], "UnknownRegistry"),
    (["--alias", "a", "--registry", "b"], "RegistryNotAllowed"),
])
def test_invoke_errors(capsys, config, args, error_type):
    code, out, err = run(capsys, "invoke", "--config", config, *args)
    assert code == 1 and out == ""
    assert err.splitlines()[-1].startswith(f"{error_type}: ")


def test_validate_ok(capsys, config):
    code, out, _ = run(capsys, "validate", "--config", config)
    assert code == 0 and "OK: 2 registries" in out and "a: a.example via env" in out


def test_validate_lists_every_problem(capsys, tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("registries:\n  a: {host: 'http://a', backend: {type: ssm}}\n  '1': {}\n")
    code, out, err = run(capsys, "validate", "--config", str(path))
    assert code == 2 and out == ""
    assert err.startswith("ConfigError: 5 problems")
    for key in ("registries.a.host", "registries.a.backend.parameter", "registries.1",
                "registries.1.host", "registries.1.backend"):
        assert f"  {key}: " in err


def test_python_dash_m_broker(config):
    proc = subprocess.run([sys.executable, "-m", "broker", "validate", "--config", config],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and "OK: 2 registries" in proc.stdout


def test_a_mistyped_alias_is_named_with_the_nearest_registry(capsys, tmp_path, monkeypatch):
    path = tmp_path / "broker.yml"
    env = "backend: {type: env, username_var: U, password_var: P}"
    path.write_text(f"registries:\n  gitlab: {{host: gitlab.example, {env}}}\n"
                    f"  ghcr: {{host: ghcr.io, {env}}}\n")
    code, out, err = run(capsys, "invoke", "--config", str(path), "--alias", "gitlabb")
    assert code == 1 and out == ""
    assert err.startswith("UnknownRegistry: there is no registry 'gitlabb'")
    assert "(did you mean 'gitlab'?)" in err and "configured: gitlab, ghcr" in err


def test_validate_does_not_tell_the_user_to_run_validate(capsys, tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("registries: {a: {host: 'http://a', backend: {type: ssm}}}\n")
    code, _, err = run(capsys, "validate", "--config", str(path))
    assert code == 2 and "broker validate" not in err


def test_a_missing_file_names_where_it_came_from(capsys, tmp_path, monkeypatch):
    code, _, err = run(capsys, "validate", "--config", str(tmp_path / "nope.yml"))
    assert code == 2 and "(from --config)" in err and "Fix these keys" not in err
    monkeypatch.setenv("BROKER_CONFIG", str(tmp_path / "gone.yml"))
    code, _, err = run(capsys, "validate")
    assert code == 2 and "(from BROKER_CONFIG)" in err


def test_yaml_syntax_errors_give_line_and_column(capsys, tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("registries:\n  a: {host: a.example\n  b: [\n")
    code, _, err = run(capsys, "validate", "--config", str(path))
    assert code == 2 and "line 3, column" in err


def test_a_bad_function_arn_does_not_point_at_validate(capsys, tmp_path, config):
    code, _, err = run(capsys, "sagemaker-config", "a", "--config", config, "--function-arn", "nope")
    assert code == 2 and "Fix these keys" not in err and "--function-arn" in err


def test_version_and_help(capsys):
    from broker import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"broker {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    for command in ("invoke", "validate", "check", "init", "schema", "plan", "iam-policy",
                    "sagemaker-config"):
        assert command in help_text
    assert "``" not in help_text


def test_validate_json_lists_problems_with_their_paths(capsys, tmp_path, config):
    code, out, _ = run(capsys, "validate", "--config", config, "--json")
    assert code == 0 and json.loads(out)["registries"][0] == {"name": "a", "host": "a.example",
                                                               "backend": "env"}
    path = tmp_path / "bad.yml"
    path.write_text("registries: {a: {host: 'http://a', backend: {type: ssm}}}\n")
    code, out, _ = run(capsys, "validate", "--config", str(path), "--json")
    result = json.loads(out)
    assert code == 2 and result["ok"] is False
    assert {p["path"] for p in result["problems"]} == {"registries.a.host",
                                                       "registries.a.backend.parameter"}


def test_invoke_json_prints_one_line_and_errors_as_lambda_would(capsys, config):
    code, out, err = run(capsys, "invoke", "--config", config, "--alias", "a", "--json")
    assert code == 0 and json.loads(out) == {"Credentials": {"Username": "user-a", "Password": MASK}}
    code, out, err = run(capsys, "invoke", "--config", config, "--alias", "a", "--registry", "b",
                         "--json")
    assert code == 1 and json.loads(out)["errorType"] == "RegistryNotAllowed"
    assert "credentials_failed" not in err, "the error is said once"


def test_invoke_no_preflight(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("U", "u")
    monkeypatch.setenv("P", "p")
    path = tmp_path / "broker.yml"
    path.write_text("registries:\n  r: {host: '127.0.0.1:9', insecure: true, preflight: enforce,\n"
                    "      backend: {type: env, username_var: U, password_var: P}}\n")
    assert run(capsys, "invoke", "--config", str(path))[0] == 1
    code, out, err = run(capsys, "invoke", "--config", str(path), "--no-preflight")
    assert code == 0 and '"preflight":"skipped"' in err


def test_iam_policy_notes_vault_aws_auth(capsys):
    code, out, err = run(capsys, "iam-policy", "--config", str(ROOT / "examples" / "broker.yml"))
    assert code == 0 and json.loads(out)["Version"] == "2012-10-17"
    assert "note: registries.quay: logs in to Vault with the function's own IAM role" in err
