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

Packages are installed from ``deploy/vendor.lock.json`` only (``--require-hashes --no-deps``;
``deploy/lock.py`` writes it), and only ``*.py`` files of broker/ and backends/ are copied.

It refuses, before building anything:
- a service, stage or function name that an AWS managed policy attached to SageMaker roles
  would let every such role invoke (see broker/names.py);
- a configuration that validates only with this machine's environment (e.g. a Vault
  ``address`` taken from VAULT_ADDR): it is validated with the deployed function's;
- an ``env`` backend (a test deployment's), unless ``--allow-env-backend``.
A ``ca_bundle`` is shipped in the zip (``ca/``), and the packaged configuration points at it.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import backends  # noqa: E402
from broker import iam, pins  # noqa: E402
from broker.config import (  # noqa: E402
    Config,
    anchor_paths,
    ca_holders,
    folder_of,
    load_config,
    read_document,
    resolve_source,
)
from broker.errors import BrokerError, ConfigError  # noqa: E402
from broker.names import managed_policy_risk  # noqa: E402
from broker.refs import is_function_variable  # noqa: E402

RUNTIME = "3.12"
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
PACKAGED_CONFIG = "broker.json"
TASK_ROOT = "/var/task"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # same inputs, same zip: no redeploy for unchanged code
LOCK = ROOT / "deploy" / "vendor.lock.json"
CA_FOLDER = "ca"


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
    config = deployable_config(source, args.allow_env_backend)
    check_names(Path(args.serverless), args.stage)
    extra_env = function_environment(args.env)
    check_reachable(config, extra_env, args.allow_loopback)
    for warning in region_warnings(config, args.region):
        print(f"warning: {warning}", file=sys.stderr)
    runtime_source = args.config_source or f"{TASK_ROOT}/{PACKAGED_CONFIG}"
    document = {**deploy_document(config, runtime_source), "architecture": args.arch}
    document["environment"].update(extra_env)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    stage = out / "stage"
    _stage_code(stage, config)
    _stage_plugins(config, stage)
    packaged = _stage_config(anchor_paths(read_document(source), folder_of(source, {})), stage)
    pin = pins.pin_of(packaged, document["iamStatements"])
    (stage / pins.PIN_FILE).write_text(json.dumps(pin, indent=1, sort_keys=True))
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
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a variable the function needs (an {env: NAME} reference); its value "
                             "is stored in the function's configuration, in clear")
    parser.add_argument("--region", default="us-east-1",
                        help="the stage's deploy region (default us-east-1, as serverless.yml's), "
                             "to warn about stores in another region")
    parser.add_argument("--allow-loopback", action="store_true",
                        help="allow loopback registries and servers (a local test deployment, "
                             "as `make e2e` runs under the Lambda runtime emulator)")
    parser.add_argument("--allow-env-backend", action="store_true",
                        help="package `env` backends (test deployments only: the login sits in "
                             "the function's environment)")
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
    named = [("service", service, "part"), ("stage", stage, "part"),
             *(("function", f, "function") for f in functions)]
    for what, name, where in named:
        risk = managed_policy_risk(name, where)
        if risk:
            raise BuildError(f"the {what} '{name}' {risk}. Rename it (in {serverless.name} or "
                             "with --stage/STAGE=)")


def deployable_config(source: str, allow_env_backend: bool = False) -> Config:
    """The configuration, validated as the deployed function will see it: with its environment
    (none of this machine's variables) and without test-only backends."""
    try:
        config = load_config(source, environ={})
    except ConfigError as exc:
        load_config(source)  # raises if the configuration is wrong anyway: report that as is
        raise BuildError(f"{exc.problem}\nThat configuration is valid only with this machine's "
                         "environment (VAULT_ADDR, ...), which the deployed function does not "
                         "have: put those values in the configuration") from None
    refused = [name for name, r in config.registries.items()
               if not backends.backend_class(r.backend_type).deployable]
    if refused and not allow_env_backend:
        raise BuildError(f"registries {', '.join(refused)} use the env backend: the login would "
                         "sit in the function's environment. Use a secret store, or pass "
                         "--allow-env-backend for a test deployment")
    return config


def function_environment(pairs: list[str]) -> dict[str, str]:
    """``--env NAME=VALUE`` pairs, refusing the names Lambda reserves."""
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise BuildError(f"--env takes NAME=VALUE, not {pair.split('=', 1)[0]!r}")
        if is_function_variable(name):
            raise BuildError(f"--env {name}: a name Lambda reserves (AWS_*, _X_AMZN_*)")
        found[name] = value
    if found:
        print(f"note: --env {', '.join(found)}: the value is stored in the function's environment, "
              "visible to anyone who can read the function's configuration; prefer "
              "{secretsmanager: ...} or {ssm: ...} references for secrets", file=sys.stderr)
    return found


def check_reachable(config: Config, function_env: dict[str, str],
                    allow_loopback: bool = False) -> None:
    """Refuse what the deployed function cannot have or reach: a variable it is not given, a
    loopback (unless allowed, for a local test deployment) or link-local registry or server."""
    problems = []
    for name, registry in config.registries.items():
        cls = backends.backend_class(registry.backend_type)
        problems += [(f"registries.{name}.backend", f"reads {var} from the environment, which the "
                      f"deployed function will not have: pass --env {var}=VALUE to build.py, or "
                      "use a {secretsmanager: ...} or {ssm: ...} reference")
                     for var in cls.environment_variables(registry.backend)
                     if var not in function_env]
        hosts = [("host", registry.hostname)] + [(f"backend.{key}", host) for key, host
                                                  in cls.network_hosts(registry.backend)]
        problems += [(f"registries.{name}.{key}", "is a loopback or link-local address: the "
                      "deployed function cannot reach it there")
                     for key, host in hosts if _local(host, allow_loopback)]
    if problems:
        raise BuildError("the deployed function could not work:\n" + "\n".join(
            f"  {path}: {message}" for path, message in problems))


def _local(host: str, allow_loopback: bool = False) -> bool:
    from broker import netguard

    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return not allow_loopback
    try:
        ip = netguard.unwrap(netguard.address(host.strip("[]")))
    except ValueError:
        return False
    return ip.is_link_local or (ip.is_loopback and not allow_loopback)


def region_warnings(config: Config, deploy_region: str) -> list[str]:
    """Stores named by an ARN in another region than the stage's, with no ``region`` key: the
    client would ask the stage's region."""
    warnings = []
    for name, registry in config.registries.items():
        if getattr(registry.backend, "region", None):
            continue
        cls = backends.backend_class(registry.backend_type)
        warnings += [f"registries.{name}.backend.{key} is in {region}, but the stage deploys to "
                     f"{deploy_region} and the backend sets no `region`: set region: {region}"
                     for key, region in cls.arn_regions(registry.backend) if region != deploy_region]
    return warnings


def needed_packages(config: Config, runtime_source: str) -> list[str]:
    """Runtime dependencies the Lambda Python runtime lacks, for this configuration only."""
    packages = {_normalized(dist) for t in config.backend_types()
                for dist in backends.backend_class(t).distributions}
    if any(r.preflight != "off" for r in config.registries.values()):
        packages.add("requests")
    if runtime_source.startswith("ssm:"):
        packages.add("pyyaml")  # the parameter may hold YAML, as the README documents
    return sorted(packages)


NOT_SHIPPED = {"broker/testing.py"}  # plugins' test kit: pytest, never imported by the function


def _stage_code(stage: Path, config: Config) -> None:
    """Only the code: ``*.py`` files, so a stray ``.env`` or note beside it never ships; of the
    built-in backends, only those the configuration uses (the pin keeps it from changing)."""
    unused = {f"{backends.KNOWN[name].split(':')[0].replace('.', '/')}.py"
              for name in set(backends.KNOWN) - config.backend_types()}
    for package in ("broker", "backends"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts and \
                    path.relative_to(ROOT).as_posix() not in NOT_SHIPPED | unused:
                target = stage / path.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


def _stage_plugins(config: Config, stage: Path) -> None:
    """The code of every plugin backend the configuration uses (its ``*.py`` files); what it
    requires comes from the lock with the rest (its ``distributions``)."""
    import importlib.util

    for name in sorted(config.backend_types() - set(backends.KNOWN)):
        top = backends.plugins()[name].value.split(":")[0].split(".")[0]
        spec = importlib.util.find_spec(top)
        if spec is None or spec.origin is None:
            raise BuildError(f"the plugin for backend type {name!r} ({top}) cannot be found")
        _stage_entry_points(backends.plugin_distribution(name), stage)
        origin = Path(spec.origin)
        if origin.name != "__init__.py":  # a single module
            shutil.copyfile(origin, stage / origin.name)
            continue
        for path in sorted(origin.parent.rglob("*.py")):
            if "__pycache__" not in path.parts:
                target = stage / top / path.relative_to(origin.parent)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


def _stage_entry_points(dist: Any, stage: Path) -> None:
    """The plugin distribution's METADATA and entry_points.txt, in a dist-info folder: the
    function finds its backends by entry point, as the builder did."""
    folder = stage / f"{_normalized(dist.metadata['Name']).replace('-', '_')}-{dist.version}.dist-info"
    folder.mkdir(exist_ok=True)
    for part in ("METADATA", "entry_points.txt"):
        (folder / part).write_text(dist.read_text(part) or "")


def _stage_config(document: dict, stage: Path) -> Config:
    """Write the configuration as JSON (no YAML parser at run time), with every ``ca_bundle``
    copied into the zip and pointed at relatively; return it as the function will load it."""
    packaged = json.loads(json.dumps(document))
    for holder in ca_holders(packaged):
        holder["ca_bundle"] = _ship_file(Path(holder["ca_bundle"]), stage)
    path = stage / PACKAGED_CONFIG
    path.write_text(json.dumps(packaged, indent=1))
    return load_config(str(path), environ={})


def _ship_file(path: Path, stage: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BuildError(f"cannot read ca_bundle {path} ({type(exc).__name__})") from None
    name = f"{CA_FOLDER}/{hashlib.sha256(data).hexdigest()[:16]}-{path.name}"
    (stage / name).parent.mkdir(parents=True, exist_ok=True)
    (stage / name).write_bytes(data)
    return name


def _vendor(packages: list[str], stage: Path, platform: str) -> None:
    """Install ``packages`` and what they require, exactly as locked, hashes checked."""
    if not packages:
        return
    locked = json.loads(LOCK.read_text())["packages"]
    missing = [name for name in packages if name not in locked]
    if missing:
        raise BuildError(f"{', '.join(missing)} is not pinned in deploy/vendor.lock.json: add it "
                         f"with `python deploy/lock.py --add {' '.join(missing)}` and review the diff")
    requirements = stage.parent / "requirements.txt"
    requirements.write_text("".join(
        f"{name}=={locked[name]['version']} "
        + " ".join(f"--hash=sha256:{h}" for h in locked[name]["hashes"]) + "\n"
        for name in _closure(packages, locked)))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(stage),
                    "--platform", platform, "--implementation", "cp", "--python-version", RUNTIME,
                    "--only-binary=:all:", "--no-compile", "--no-deps", "--require-hashes",
                    "-r", str(requirements)], check=True)
    requirements.unlink()
    shutil.rmtree(stage / "bin", ignore_errors=True)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(packages: list[str], locked: dict) -> list[str]:
    found: set[str] = set()
    pending = list(packages)
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending += locked[name]["requires"]
    return sorted(found)


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
    outputs: dict = {"BrokerRoleArn": {
        "Description": "The function's execution role (bind it in Vault's aws auth role)",
        "Value": {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]}}}
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
