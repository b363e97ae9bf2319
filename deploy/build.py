"""Build what serverless.yml deploys, from broker.yml alone, offline but for PyPI.

    python deploy/build.py [--config broker.yml] [--out .build] [--config-source ssm:/name]
                           [--stage dev] [--serverless serverless.yml] [--arch arm64|x86_64]

Writes into the output folder:
- ``broker.zip``: broker/, backends/, the configuration as ``broker.json`` (no YAML parser
  at run time), the deployment's pin ``broker.pin.json``, and only the dependencies the
  Lambda runtime lacks and the configuration needs (hvac and requests for Vault, requests
  for the preflight, PyYAML for an ``ssm:`` configuration), built for ``--arch`` (default
  arm64) and compiled for the runtime's Python when that interpreter is on PATH;
- ``deploy.json``: the function environment and architecture, the IAM statements, one alias
  per registry with its invoke permissions, and their outputs, which serverless.yml includes.

It refuses, before building anything, a service, stage or function name that an AWS managed
policy attached to SageMaker roles would let every such role invoke (see broker/names.py).
"""

from __future__ import annotations

import argparse
import hashlib
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

from broker import iam, pins  # noqa: E402
from broker.config import Config, load_config, read_document, resolve_source  # noqa: E402
from broker.errors import BrokerError  # noqa: E402
from broker.names import managed_policy_risk  # noqa: E402

RUNTIME = "3.12"
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
PACKAGED_CONFIG = "broker.json"
TASK_ROOT = "/var/task"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # same inputs, same zip: no redeploy for unchanged code
URLLIB3 = "urllib3>=2.6"  # older ones inflate a gzip bomb to gigabytes


class BuildError(Exception):
    """A reason not to build, said to the user without a traceback."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _build(args)
    except (BrokerError, BuildError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _build(args: argparse.Namespace) -> int:
    source = resolve_source(args.config)
    config = load_config(source)
    check_names(Path(args.serverless), args.stage)
    runtime_source = args.config_source or f"{TASK_ROOT}/{PACKAGED_CONFIG}"
    document = {**deploy_document(config, runtime_source), "architecture": args.arch}
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    stage = out / "stage"
    _stage_code(read_document(source), pins.pin_of(config, document["iamStatements"]), stage)
    _vendor(needed_packages(config, runtime_source), stage, PLATFORMS[args.arch])
    _compile(stage)
    zip_path = _zip(stage, out / "broker.zip")
    shutil.rmtree(stage)
    (out / "deploy.json").write_text(json.dumps(document, indent=2))
    size, count = zip_path.stat().st_size, len(config.registries)
    print(f"{zip_path}: {size / 1024:.0f} KiB, {count} registr{'y' if count == 1 else 'ies'}, "
          f"BROKER_CONFIG={runtime_source}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="broker.yml to deploy (default: $BROKER_CONFIG, ./broker.yml)")
    parser.add_argument("--out", default=str(ROOT / ".build"), help="output folder (default .build)")
    parser.add_argument("--config-source", help="what BROKER_CONFIG will be at run time, e.g. "
                        "ssm:/broker/config (default: the packaged broker.json)")
    parser.add_argument("--stage", default="dev", help="the Serverless stage, part of every "
                        "function name (default dev, as serverless's)")
    parser.add_argument("--serverless", default=str(ROOT / "serverless.yml"),
                        help="the serverless.yml that will deploy the build")
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64",
                        help="the function's architecture, for the vendored wheels (default arm64)")
    return parser


def function_names(serverless: Path, stage: str) -> tuple[str, list[str]]:
    """The service name and every function name ``serverless.yml`` deploys for ``stage``."""
    import yaml

    document = yaml.safe_load(serverless.read_text())
    service = str(document.get("service", ""))
    functions = document.get("functions") or {}
    return service, [str((spec or {}).get("name") or f"{service}-{stage}-{key}")
                     for key, spec in functions.items()]


def check_names(serverless: Path, stage: str) -> None:
    """Refuse names that a SageMaker managed policy matches (the registry names, which become
    alias names, are checked with the configuration)."""
    service, functions = function_names(serverless, stage)
    named = [("service", service), ("stage", stage), *(("function", f) for f in functions)]
    for what, name in named:
        risk = managed_policy_risk(name)
        if risk:
            raise BuildError(f"the {what} '{name}' {risk}. Rename it (in {serverless.name} or "
                             "with --stage/STAGE=)")


def needed_packages(config: Config, runtime_source: str) -> list[str]:
    """Runtime dependencies the Lambda Python runtime lacks, for this configuration only."""
    packages = set()
    if "vault" in config.backend_types():
        packages |= {"hvac", "requests", URLLIB3}
    if any(r.preflight != "off" for r in config.registries.values()):
        packages |= {"requests", URLLIB3}
    if runtime_source.startswith("ssm:"):
        packages.add("PyYAML")  # the parameter may hold YAML, as the README documents
    return sorted(packages)


def _stage_code(document: object, pin: dict, stage: Path) -> None:
    for package in ("broker", "backends"):
        shutil.copytree(ROOT / package, stage / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # JSON, so the function never imports a YAML parser (nor needs one packaged).
    (stage / PACKAGED_CONFIG).write_text(json.dumps(document, indent=1))
    (stage / pins.PIN_FILE).write_text(json.dumps(pin, indent=1, sort_keys=True))


def _vendor(packages: list[str], stage: Path, platform: str) -> None:
    if not packages:
        return
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(stage),
                    "--platform", platform, "--implementation", "cp", "--python-version", RUNTIME,
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
    resources: dict = {}
    outputs: dict = {}
    for registry in config.registries.values():
        alias = _add(resources, logical_id("Alias", registry.name), _alias(registry))
        _add(outputs, logical_id("AliasArn", registry.name), {
            "Description": f"TrainingRepositoryCredentialsProviderArn for {registry.host}",
            "Value": {"Ref": alias}})
        for index, role in enumerate(registry.invokers, 1):
            # Always on the alias: a permission on the function would give every registry.
            _add(resources, f"{logical_id('Invoke', registry.name)}N{index}", {
                "Type": "AWS::Lambda::Permission",
                "Properties": {"Action": "lambda:InvokeFunction", "FunctionName": {"Ref": alias},
                               "Principal": role}})
    return {"environment": {"BROKER_CONFIG": source},
            "iamStatements": iam.for_cloudformation(iam.statements(config, source)),
            "resources": resources, "outputs": outputs}


def _add(section: dict, key: str, value: dict) -> str:
    if key.lower() in {k.lower() for k in section}:
        raise BuildError(f"two registries map to the CloudFormation id {key}; rename one")
    section[key] = value
    return key


def _alias(registry) -> dict:
    return {"Type": "AWS::Lambda::Alias", "Properties": {
        "FunctionName": {"Ref": "BrokerLambdaFunction"}, "FunctionVersion": "$LATEST",
        "Name": registry.name, "Description": f"Registry login for {registry.host}"}}


def logical_id(prefix: str, name: str) -> str:
    """A CloudFormation logical id for a registry: its letters and digits, readable, then 8 hex
    digits of the name's SHA-256, so names that differ only in '-', '_' or case stay apart."""
    readable = re.sub(r"[^A-Za-z0-9]", "", name)
    digest = hashlib.sha256(name.encode()).hexdigest()[:8].upper()
    return f"{prefix}{readable[:1].upper()}{readable[1:]}{digest}"


if __name__ == "__main__":
    raise SystemExit(main())
