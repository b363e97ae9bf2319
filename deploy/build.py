"""Build what serverless.yml deploys, from broker.yml alone, offline but for PyPI.

    python deploy/build.py [--config broker.yml] [--out .build] [--config-source ssm:/name]

Writes into the output folder:
- ``broker.zip``: broker/, backends/, the configuration as ``broker.json`` (no YAML parser
  at run time), and only the dependencies the Lambda runtime lacks and the configuration
  needs (hvac and requests for Vault, requests for the preflight), built for arm64 and
  compiled for the runtime's Python when that interpreter is on PATH;
- ``deploy.json``: the function environment, the IAM statements, one alias per registry
  with its invoke permissions, and their outputs, which serverless.yml includes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker import iam  # noqa: E402
from broker.config import Config, load_config, read_document  # noqa: E402

RUNTIME = "3.12"
PLATFORM = "manylinux2014_aarch64"
PACKAGED_CONFIG = "broker.json"
TASK_ROOT = "/var/task"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # same inputs, same zip: no redeploy for unchanged code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = load_config(args.config)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    stage = out / "stage"
    _stage_code(config, stage)
    _vendor(needed_packages(config), stage)
    _compile(stage)
    zip_path = _zip(stage, out / "broker.zip")
    shutil.rmtree(stage)
    source = args.config_source or f"{TASK_ROOT}/{PACKAGED_CONFIG}"
    (out / "deploy.json").write_text(json.dumps(deploy_document(config, source), indent=2))
    size = zip_path.stat().st_size
    count = len(config.registries)
    print(f"{zip_path}: {size / 1024:.0f} KiB, {count} registr{'y' if count == 1 else 'ies'}, "
          f"BROKER_CONFIG={source}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="broker.yml to deploy (default: $BROKER_CONFIG, ./broker.yml)")
    parser.add_argument("--out", default=str(ROOT / ".build"), help="output folder (default .build)")
    parser.add_argument("--config-source", help="what BROKER_CONFIG will be at run time, e.g. "
                        "ssm:/broker/config (default: the packaged broker.json)")
    return parser


def needed_packages(config: Config) -> list[str]:
    """Runtime dependencies the Lambda Python runtime lacks, for this configuration only."""
    packages = set()
    if "vault" in config.backend_types():
        packages |= {"hvac", "requests"}
    if any(r.preflight != "off" for r in config.registries.values()):
        packages.add("requests")
    return sorted(packages)


def _stage_code(config: Config, stage: Path) -> None:
    for package in ("broker", "backends"):
        shutil.copytree(ROOT / package, stage / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # JSON, so the function never imports a YAML parser (nor needs one packaged).
    (stage / PACKAGED_CONFIG).write_text(json.dumps(read_document(config.source), indent=1))


def _vendor(packages: list[str], stage: Path) -> None:
    if not packages:
        return
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(stage),
                    "--platform", PLATFORM, "--implementation", "cp", "--python-version", RUNTIME,
                    "--only-binary=:all:", "--no-compile", *packages], check=True)
    shutil.rmtree(stage / "bin", ignore_errors=True)


def _compile(stage: Path) -> None:
    """Bytecode for the runtime's Python: Lambda's file system is read-only, so without it
    every cold start compiles the code again."""
    python = _runtime_python()
    if python is None:
        print(f"note: no working python{RUNTIME}; packaging without .pyc files", file=sys.stderr)
        return
    subprocess.run([python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                    str(stage)], check=True)


def _runtime_python() -> str | None:
    candidates = [os.environ.get("RUNTIME_PYTHON"), shutil.which(f"python{RUNTIME}"),
                  *map(str, sorted(Path.home().glob(f".pyenv/versions/{RUNTIME}*/bin/python{RUNTIME}")))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "pass"], capture_output=True)
        if probe.returncode == 0:
            return candidate
    return None


def _zip(stage: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in stage.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(stage)), FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return target


def deploy_document(config: Config, source: str) -> dict:
    """What serverless.yml includes: environment, IAM statements, aliases, permissions, outputs."""
    resources, outputs = {}, {}
    for registry in config.registries.values():
        alias = logical_id("Alias", registry.name)
        resources[alias] = _alias(registry)
        outputs[logical_id("AliasArn", registry.name)] = {
            "Description": f"TrainingRepositoryCredentialsProviderArn for {registry.host}",
            "Value": {"Ref": alias}}
        for index, role in enumerate(registry.invokers, 1):
            resources[logical_id("Invoke", registry.name) + str(index)] = {
                "Type": "AWS::Lambda::Permission",
                "Properties": {"Action": "lambda:InvokeFunction", "FunctionName": {"Ref": alias},
                               "Principal": role}}
    return {"environment": {"BROKER_CONFIG": source},
            "iamStatements": iam.for_cloudformation(iam.statements(config, source)),
            "resources": resources, "outputs": outputs}


def _alias(registry) -> dict:
    return {"Type": "AWS::Lambda::Alias", "Properties": {
        "FunctionName": {"Ref": "BrokerLambdaFunction"}, "FunctionVersion": "$LATEST",
        "Name": registry.name, "Description": f"Registry login for {registry.host}"}}


def logical_id(prefix: str, name: str) -> str:
    """A CloudFormation logical id from a registry name; '-' and '_' stay distinct."""
    spelled = re.sub(r"[-_]", lambda m: "Dash" if m.group() == "-" else "Under", name)
    return prefix + spelled[:1].upper() + spelled[1:]


if __name__ == "__main__":
    raise SystemExit(main())
