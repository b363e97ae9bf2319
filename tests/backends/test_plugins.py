"""Third-party backends by entry point: found only when named, validated like the built-ins,
passing the shared contract (broker.testing), and vendored with their IAM by deploy/build.py.

The plugin here is written into a temporary folder with its own dist-info, as pip installs
one, and put on sys.path (PYTHONPATH for the build), so importlib.metadata finds its entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import backends
from broker.config import parse_config
from broker.errors import ConfigError
from broker.testing import BackendContract, invoke, make_app  # noqa: I001 - after the store
from tests.backends.test_secretsmanager import SecretsManagerStore
from tests.support.packaging import ROOT

PLUGIN = '''
"""A toy plugin: the login is a JSON document behind any secret reference."""
from dataclasses import dataclass

from backends.base import Backend
from broker import refs
from broker.login import Login, SecretFormat
from broker.refs import SecretRef


@dataclass(frozen=True, kw_only=True)
class ToySettings(SecretFormat):
    login: SecretRef
    label: str = "toy"


class ToyBackend(Backend):
    type = "toy"
    Settings = ToySettings

    @classmethod
    def describe(cls, settings):
        return f"reference {settings.login}"

    def _fetch(self) -> Login:
        text = refs.resolve(self.settings.login, self.deps, self._error,
                            timeout=self.registry.timeout, word=False)
        return self.settings.parse(text, self.registry.host)

    def _error(self, cls, problem, hint, ref):
        return self.error(cls, problem, hint, ref)
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    (site / "broker_toy.py").write_text(PLUGIN)
    info = site / "broker_toy-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broker-toy\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[broker.backends]\ntoy = broker_toy:ToyBackend\n")
    (info / "top_level.txt").write_text("broker_toy\n")
    (info / "RECORD").write_text("broker_toy.py,,\n")
    return site


@pytest.fixture
def installed(plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))
    yield plugin_site
    sys.modules.pop("broker_toy", None)


def test_unknown_types_list_built_in_and_installed_names(installed):
    with pytest.raises(ConfigError) as info:
        parse_config({"registries": {"r": {"host": "r.example", "backend": {"type": "nope"}}}}, "t")
    message = dict(info.value.problems)["registries.r.backend.type"]
    assert "secretsmanager, ssm, vault, env, ecr" in message and "toy" in message


def test_plugin_settings_are_validated_like_the_built_ins(installed):
    with pytest.raises(ConfigError) as info:
        parse_config({"registries": {"r": {"host": "r.example", "backend": {
            "type": "toy", "login": "a-literal", "lable": 1}}}}, "t")
    found = dict(info.value.problems)
    assert set(found) == {"registries.r.backend.login", "registries.r.backend.lable"}
    assert "literal secret" in found["registries.r.backend.login"]


def test_built_in_types_never_read_entry_points(monkeypatch):
    monkeypatch.setattr(backends, "plugins", lambda: pytest.fail("entry points were scanned"))
    parse_config({"registries": {"r": {"host": "r.example", "backend": {
        "type": "secretsmanager", "secret_id": "s"}}}}, "t")


class ToyStore(SecretsManagerStore):
    backend_type = "toy"

    def backend(self):
        return {"type": "toy", "login": {"secretsmanager": self.ref}}

    def identity(self):
        return []  # the reference names the secret; a plugin need not name region and account


@pytest.fixture
def store(aws, moto, proxy_to, installed):
    return ToyStore(aws, proxy_to(moto))


class TestToyPlugin(BackendContract):
    """The shared contract, through the real App, against moto."""

    def test_served_through_the_handler(self, store, clock):
        store.put_login("toy-user", "toy-pass")
        assert invoke(make_app(store, clock))["Credentials"]["Username"] == "toy-user"


def test_build_vendors_the_plugin_and_grants_its_reference(installed, tmp_path):
    config = tmp_path / "broker.json"
    config.write_text(json.dumps({"registries": {"r": {"host": "r.example", "backend": {
        "type": "toy", "login": {"secretsmanager": "team/toy-login"}}}}}))
    proc = subprocess.run([sys.executable, str(ROOT / "deploy" / "build.py"), "--config",
                           str(config), "--out", str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": f"{installed}{os.pathsep}{ROOT}"})
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "out" / "broker.zip") as archive:
        assert "broker_toy.py" in archive.namelist()
        archive.extractall(tmp_path / "task")
    # the function finds it by entry point, with nothing but the zip on its path (-S: no site)
    found = subprocess.run([sys.executable, "-S", "-c", "import sys; sys.path[:0] = [sys.argv[1]]; "
                            "import backends; print(backends.backend_class('toy').__name__)",
                            str(tmp_path / "task")], capture_output=True, text=True, timeout=60,
                           cwd=tmp_path, env={"PATH": os.environ["PATH"]})
    assert (found.returncode, found.stdout.strip()) == (0, "ToyBackend"), found.stderr
    statements = json.loads((tmp_path / "out" / "deploy.json").read_text())["iamStatements"]
    resources = [r["Fn::Sub"] if isinstance(r, dict) else r for s in statements for r in s["Resource"]]
    assert any(r.endswith(":secret:team/toy-login-??????") for r in resources)
