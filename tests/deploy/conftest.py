"""Package serverless.yml for real, offline: deploy/build.py, then `osls package`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import require_binary

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "broker.yml"
SLS_ENV = {"SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off",
           "SLS_INTERACTIVE_SETUP_DISABLE": "1", "AWS_ACCESS_KEY_ID": "packaging-only",
           "AWS_SECRET_ACCESS_KEY": "packaging-only"}


@dataclass
class Packaged:
    config: dict
    build: Path
    template: dict
    zip_names: list[str]

    def resources(self, kind: str) -> dict[str, dict]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def role_statements(self) -> list[dict]:
        role = self.template["Resources"]["IamRoleLambdaExecution"]["Properties"]
        return role["Policies"][0]["PolicyDocument"]["Statement"]

    def read(self, name: str) -> bytes:
        with zipfile.ZipFile(self.build / "broker.zip") as archive:
            return archive.read(name)


def osls() -> str:
    path = ROOT / "node_modules" / ".bin" / "osls"
    if path.exists():
        return str(path)
    return require_binary("osls")


def package(config: dict, workdir: Path, *params: str) -> Packaged:
    """Build and package ``config``; return the template and the zip listing."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "broker.yml"
    source.write_text(yaml.safe_dump(config))
    build = workdir / "build"
    subprocess.run([sys.executable, str(ROOT / "deploy" / "build.py"), "--config", str(source),
                    "--out", str(build)], check=True, cwd=ROOT, capture_output=True)
    out = workdir / "serverless"
    proc = subprocess.run([osls(), "package", "--package", str(out), f"--param=buildDir={build}",
                           *params], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **SLS_ENV})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    template = json.loads((out / "cloudformation-template-update-stack.json").read_text())
    with zipfile.ZipFile(build / "broker.zip") as archive:
        names = archive.namelist()
    return Packaged(config, build, template, names)


@pytest.fixture(scope="session")
def example_config() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


@pytest.fixture(scope="session")
def packaged(example_config, tmp_path_factory) -> Packaged:
    """The example broker.yml (all three backends), packaged."""
    return package(example_config, tmp_path_factory.mktemp("example"))


@pytest.fixture(scope="session")
def packaged_plus_one(example_config, tmp_path_factory) -> Packaged:
    """The example plus one Secrets Manager registry with two invoker roles."""
    config = json.loads(json.dumps(example_config))
    config["registries"]["extra_team"] = {
        "host": "extra.example.com", "backend": {"type": "secretsmanager", "secret_id": "team/extra"},
        "invokers": ["arn:aws:iam::123456789012:role/TrainerA", "arn:aws:iam::123456789012:role/TrainerB"]}
    return package(config, tmp_path_factory.mktemp("plus-one"))
