"""The Lambda entry point, imported as Lambda imports it, in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import leaks

ROOT = Path(__file__).parents[2]

RUN = """
import json, sys
from broker.cli import LocalContext
import broker.handler as h
out = {"modules": sorted(m for m in sys.modules if m.split(".")[0] in
       ("hvac", "requests", "yaml", "boto3", "botocore", "backends"))}
for alias in sys.argv[1:]:
    try:
        out.setdefault("responses", []).append(h.handler({}, LocalContext(alias or None)))
    except Exception as exc:
        out.setdefault("errors", []).append([type(exc).__name__, str(exc)])
print(json.dumps(out))
"""


def run_handler(config: str, env: dict[str, str] | None = None, aliases=("",)) -> dict:
    environ = {**os.environ, "BROKER_CONFIG": config, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run([sys.executable, "-c", RUN, *aliases], env=environ, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    logs = "\n".join(proc.stdout.splitlines()[:-1]) + proc.stderr  # the last line is the response
    assert not leaks.leaks_in(logs), "a secret reached the function's log output"
    return json.loads(proc.stdout.splitlines()[-1])


def sm_config(moto_url: str, secret_id: str) -> str:
    return json.dumps({"registries": {"acme": {"host": "r.example", "backend": {
        "type": "secretsmanager", "secret_id": secret_id}}}})


def test_secretsmanager_registry_served_without_loading_other_backends(aws, moto):
    password = leaks.secret("password")
    aws("secretsmanager").create_secret(
        Name="handler/acme", SecretString=json.dumps({"username": "u", "password": password}))
    out = run_handler(sm_config(moto.url, "handler/acme"), {"AWS_ENDPOINT_URL": moto.url})
    assert out["responses"] == [{"Credentials": {"Username": "u", "Password": password}}]
    imported = {m.split(".")[0] for m in out["modules"]}
    assert imported == {"botocore", "backends"}, "no boto3, hvac, requests or yaml on this path"
    assert "backends.vault" not in out["modules"] and "backends.ssm" not in out["modules"]


def test_env_registry_imports_no_aws_sdk():
    config = json.dumps({"registries": {"local": {"host": "h", "backend": {
        "type": "env", "username_var": "RU", "password_var": "RP"}}}})
    out = run_handler(config, {"RU": "u", "RP": "p"})
    assert out["responses"] == [{"Credentials": {"Username": "u", "Password": "p"}}]
    assert {m.split(".")[0] for m in out["modules"]} == {"backends"}


def test_broken_config_does_not_break_import_and_fails_every_invocation(tmp_path):
    out = run_handler(str(tmp_path / "nope.yml"), aliases=("", "acme"))
    assert [e[0] for e in out["errors"]] == ["ConfigError", "ConfigError"]
    assert "nope.yml" in out["errors"][0][1]


def test_alias_pins_the_registry_in_the_lambda_path():
    config = json.dumps({"registries": {
        name: {"host": f"{name}.example", "backend": {
            "type": "env", "username_var": f"{name.upper()}_U", "password_var": f"{name.upper()}_P"}}
        for name in ("a", "b")}})
    env = {"A_U": "ua", "A_P": "pa", "B_U": "ub", "B_P": "pb"}
    out = run_handler(config, env, aliases=("b", "a", ""))
    assert [r["Credentials"]["Username"] for r in out["responses"]] == ["ub", "ua"]
    assert out["errors"][0][0] == "RegistryNotAllowed", "unqualified, with two registries"


@pytest.mark.parametrize("level, served_lines", [("INFO", 1), ("ERROR", 0)])
def test_log_level_from_environment(level, served_lines, tmp_path):
    config = json.dumps({"registries": {"l": {"host": "h", "backend": {
        "type": "env", "username_var": "RU", "password_var": "RP"}}}})
    environ = {**os.environ, "BROKER_CONFIG": config, "PYTHONPATH": str(ROOT), "RU": "u",
               "RP": "p", "BROKER_LOG_LEVEL": level}
    proc = subprocess.run([sys.executable, "-c", RUN, ""], env=environ, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["responses"][0]["Credentials"]["Username"] == "u"
    lines = [json.loads(line) for line in proc.stdout.splitlines()[:-1]]
    assert [line["event"] for line in lines] == ["credentials_served"] * served_lines


SNAPSTART = """
import sys, types, json
hooks = {"before": [], "after": []}
module = types.ModuleType("snapshot_restore_py")
module.register_before_snapshot = hooks["before"].append
module.register_after_restore = hooks["after"].append
sys.modules["snapshot_restore_py"] = module
import broker.handler as h
from broker.cli import LocalContext
backend = h.app.broker().backends["acme"]
init_has_secret = bool(h.app.broker().cache._entries)
h.handler({}, LocalContext())
cached = bool(h.app.broker().cache._entries)
hooks["before"][0]()
after_snapshot = bool(h.app.broker().cache._entries)
h.handler({}, LocalContext())
hooks["after"][0]()
print(json.dumps({"hooks": [len(hooks["before"]), len(hooks["after"])], "init": init_has_secret,
                  "cached": cached, "after_snapshot": after_snapshot,
                  "after_restore": bool(h.app.broker().cache._entries)}))
"""


def test_snapstart_hooks_drop_every_secret(aws, moto):
    aws("secretsmanager").create_secret(Name="handler/snap", SecretString=json.dumps(
        {"username": "u", "password": leaks.secret("password")}))
    environ = {**os.environ, "BROKER_CONFIG": sm_config(moto.url, "handler/snap"),
               "PYTHONPATH": str(ROOT), "AWS_ENDPOINT_URL": moto.url,
               "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}
    proc = subprocess.run([sys.executable, "-c", SNAPSTART], env=environ, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out == {"hooks": [1, 1], "init": False, "cached": True, "after_snapshot": False,
                   "after_restore": False}
