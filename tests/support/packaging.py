"""Package serverless.yml for real, offline: deploy/build.py, then `osls package`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

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
    from tests.conftest import require_binary

    path = ROOT / "node_modules" / ".bin" / "osls"
    if path.exists():
        return str(path)
    return require_binary("osls")


def build(config: dict, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run deploy/build.py on ``config`` into ``workdir/build``; the finished process."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "broker.yml"
    source.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, str(ROOT / "deploy" / "build.py"), "--config", str(source),
                           "--out", str(workdir / "build"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def package(config: dict, workdir: Path, *params: str, build_args: tuple[str, ...] = ()) -> Packaged:
    """Build (with ``build_args``) and package ``config`` (with osls ``params``); return the
    template and the zip listing."""
    built = build(config, workdir, *build_args)
    assert built.returncode == 0, built.stdout + built.stderr
    out = workdir / "serverless"
    proc = subprocess.run([osls(), "package", "--package", str(out),
                           f"--param=buildDir={workdir / 'build'}", *params], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **SLS_ENV})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    template = json.loads((out / "cloudformation-template-update-stack.json").read_text())
    with zipfile.ZipFile(workdir / "build" / "broker.zip") as archive:
        names = archive.namelist()
    return Packaged(config, workdir / "build", template, names)


