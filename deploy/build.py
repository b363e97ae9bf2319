"""Build what serverless.yml deploys, from broker.yml alone, offline but for PyPI.

    python deploy/build.py [--config broker.yml] [--out .build] [--config-source ssm:/name]
                           [--stage dev] [--serverless serverless.yml] [--arch arm64|x86_64]

Writes into the output folder:
- ``broker.zip`` (:mod:`deploy.package`): broker/, backends/, the configuration as
  ``broker.json`` (no YAML parser at run time), the deployment's pin ``broker.pin.json``, and
  only the dependencies the Lambda runtime lacks and the configuration needs, built for
  ``--arch`` (default arm64);
- ``deploy.json`` (:mod:`deploy.template`): the function environment and architecture, the
  IAM statements, one alias per registry with its invoke permissions, and their outputs,
  which serverless.yml includes.

It refuses, before building anything:
- a service, stage or function name that an AWS managed policy would let its holders invoke
  (see broker/names.py);
- a configuration that validates only with this machine's environment (e.g. a Vault
  ``address`` taken from VAULT_ADDR): it is validated with the deployed function's;
- an ``env`` backend (a test deployment's), unless ``--allow-env-backend``;
- a variable the function will not have, a loopback (unless ``--allow-loopback``) or
  link-local registry or server.
A ``ca_bundle`` is shipped in the zip (``ca/``), and the packaged configuration points at it.
Every check reads the one deployment model (:mod:`broker.deployment`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

from broker import deployment, pins, reach
from broker.config import load_config
from broker.deployment import Deployment
from broker.errors import BrokerError, ConfigError
from broker.names import managed_policy_risk
from broker.refs import is_function_variable
from broker.sources import anchor_paths, folder_of, read_document, resolve_source
from deploy import package
from deploy.errors import BuildError
from deploy.template import deploy_document

ROOT = Path(__file__).resolve().parents[1]
ROTATION_ENTRY = "${file(${param:buildDir}/deploy.json):rotationFunction}"
TASK_ROOT = "/var/task"

__all__ = ["BuildError", "main"]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _build(args)
    except (BrokerError, BuildError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _build(args: argparse.Namespace) -> int:
    source = resolve_source(args.config)
    model = deployable(source, args.allow_env_backend, args.called_as)
    check_names(Path(args.serverless), args.stage)
    check_own_role(model, Path(args.serverless), args.stage, args.region)
    extra_env = function_environment(args.env)
    check_reachable(model, extra_env, args.allow_loopback, args.called_as)
    check_rotation_regions(model, args.region)
    for warning in region_warnings(model, args.region):
        print(f"warning: {warning}", file=sys.stderr)
    for note in reach.notes(model):
        print(f"note: {note}", file=sys.stderr)
    runtime_source = args.config_source or f"{TASK_ROOT}/{package.PACKAGED_CONFIG}"
    document = {**deploy_document(model, runtime_source), "architecture": args.arch}
    document["environment"].update(extra_env)
    out = Path(args.out)
    zip_path = _package(model, source, runtime_source, document, out, args.arch)
    (out / "deploy.json").write_text(json.dumps(document, indent=2))
    size, count = zip_path.stat().st_size, len(model.registries)
    print(f"{zip_path}: {size / 1024:.0f} KiB, {count} registr{'y' if count == 1 else 'ies'}, "
          f"BROKER_CONFIG={runtime_source}")
    return 0


def _package(model: Deployment, source: str, runtime_source: str, document: dict, out: Path,
             arch: str) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    stage = out / "stage"
    package.stage_code(stage, model, runtime_source)
    package.stage_plugins(model, stage)
    packaged = package.stage_config(anchor_paths(read_document(source), folder_of(source, {})),
                                    stage)
    pin = pins.pin_of(packaged, document["iamStatements"])
    (stage / pins.PIN_FILE).write_text(json.dumps(pin, indent=1, sort_keys=True))
    package.vendor(model.distributions(runtime_source), stage, package.PLATFORMS[arch])
    package.compile_for_runtime(stage)
    zip_path = package.write_zip(stage, out / "broker.zip")
    shutil.rmtree(stage)
    return zip_path


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
    parser.add_argument("--arch", choices=sorted(package.PLATFORMS), default="arm64",
                        help="the function's architecture, for the vendored wheels (default arm64)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a variable the function needs (an {env: NAME} reference); its value "
                             "is stored in the function's configuration, in clear")
    parser.add_argument("--region", default="us-east-1",
                        help="the stage's deploy region (default us-east-1, as serverless.yml's), "
                             "to warn about stores read in another region")
    parser.add_argument("--allow-loopback", action="store_true",
                        help="allow loopback registries and servers (a local test deployment, "
                             "as `make e2e` runs under the Lambda runtime emulator)")
    parser.add_argument("--called-as", choices=("build.py", "make"), default="build.py",
                        help=argparse.SUPPRESS)  # `make package` says so: errors name BUILD_ARGS=
    parser.add_argument("--allow-env-backend", action="store_true",
                        help="package `env` backends (test deployments only: the login sits in "
                             "the function's environment)")
    return parser


def function_names(serverless: Path, stage: str) -> tuple[str, list[str]]:
    """The service name and every function name ``serverless.yml`` may deploy for ``stage``
    (those in a file it includes by a stage parameter too, whichever value the stage sets)."""
    import yaml

    document = yaml.safe_load(serverless.read_text())
    service = str(document.get("service", ""))
    functions = document.get("functions") or {}
    entries = functions if isinstance(functions, list) else [functions]
    specs = [spec for entry in entries for spec in _function_specs(entry, serverless.parent)]
    return service, [str((spec or {}).get("name") or f"{service}-{stage}-{key}")
                     for key, spec in specs]


def _function_specs(entry: object, folder: Path) -> list[tuple[str, dict]]:
    """``(key, spec)`` of a ``functions`` entry: a mapping, ``${file(PATH):KEY.${param:P}}``
    (every variant under KEY), or the rotation function deploy.json may hold."""
    import yaml

    if isinstance(entry, dict):
        return list(entry.items())
    if str(entry) == ROTATION_ENTRY:  # written by this build: the rotation function, if any
        return [("rotation", {})]
    found = re.fullmatch(r"\$\{file\(([^)]+)\):([\w.-]+)\.\$\{param:\w+\}\}", str(entry))
    if found is None:
        raise BuildError(f"serverless.yml: a functions entry build.py cannot read: {entry!r}")
    variants = yaml.safe_load((folder / found.group(1)).read_text())[found.group(2)]
    return [item for variant in variants.values() for item in (variant or {}).items()]


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


def flag(text: str, called_as: str = "build.py") -> str:
    """How the user passes build.py's flag ``text``, in the words of the command they ran."""
    return f"BUILD_ARGS='{text}' to make package" if called_as == "make" else f"{text} to build.py"


def check_own_role(model: Deployment, serverless: Path, stage: str, region: str) -> None:
    """Refuse a ``role_arn`` that names the function's own execution role: the identity rule
    compares it as another role than "the function's own", so two registries could mint as
    one identity (the role serverless creates: SERVICE-STAGE-REGION-lambdaRole)."""
    from broker.identity import aws_role

    service, _ = function_names(serverless, stage)
    own = f"{service}-{stage}-{region}-lambdaRole".lower()
    named = [(facts.name, getattr(facts.registry.backend, "role_arn", None))
             for facts in model.registries]
    found = [name for name, arn in named if arn and aws_role(arn).key.endswith(f":{own}")]
    if found:
        raise BuildError(f"registries {', '.join(found)}: role_arn names the function's own role "
                         f"({own}); leave role_arn out to use it, so that the identity rule "
                         "keeps registries minting as it apart")


def deployable(source: str, allow_env_backend: bool = False,
               called_as: str = "build.py") -> Deployment:
    """The deployment model of the configuration, validated as the deployed function will see
    it: with its environment (none of this machine's variables), without test-only backends."""
    try:
        config = load_config(source, environ={})
    except ConfigError as exc:
        load_config(source)  # raises if the configuration is wrong anyway: report that as is
        raise BuildError(f"{exc.problem}\nThat configuration is valid only with this machine's "
                         "environment (VAULT_ADDR, ...), which the deployed function does not "
                         "have: put those values in the configuration") from None
    model = deployment.model(config)
    refused = [facts.name for facts in model.registries if not facts.deployable]
    if refused and not allow_env_backend:
        raise BuildError(f"registries {', '.join(refused)} use the env backend: the login would "
                         "sit in the function's environment. Use a secret store, or pass "
                         f"{flag('--allow-env-backend', called_as)} for a test deployment")
    in_env = [facts.name for facts in model.registries if facts.rotation and facts.rotation.variables]
    if in_env and not allow_env_backend:
        raise BuildError(f"registries {', '.join(in_env)}: the rotation's admin credential is an "
                         "{env: ...} reference: it would sit in every function's environment, "
                         "the broker's too. Use {secretsmanager: ...} or {ssm: ...}, or pass "
                         f"{flag('--allow-env-backend', called_as)} for a test deployment")
    return model


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


def check_reachable(model: Deployment, function_env: dict[str, str],
                    allow_loopback: bool = False, called_as: str = "build.py") -> None:
    """Refuse what the deployed function cannot have or reach: a variable it is not given, a
    loopback (unless allowed, for a local test deployment) or link-local registry or server."""
    problems = []
    for facts in model.registries:
        needed = [("backend", var) for var in facts.variables]
        needed += [("rotation.admin", var) for var in (facts.rotation.variables
                                                        if facts.rotation else ())]
        problems += [(f"registries.{facts.name}.{key}", f"reads {var} from the environment, "
                      "which the deployed function will not have: pass "
                      f"{flag(f'--env {var}=VALUE', called_as)}, or use a "
                      "{secretsmanager: ...} or {ssm: ...} reference")
                     for key, var in needed if var not in function_env]
        problems += [(f"registries.{facts.name}.{key}", "is a loopback or link-local address: "
                      "the deployed function cannot reach it there (a loopback one is allowed "
                      f"for a local test deployment with {flag('--allow-loopback', called_as)})")
                     for key, host in facts.hosts if _local(host, allow_loopback)]
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


def check_rotation_regions(model: Deployment, deploy_region: str) -> None:
    """Secrets Manager invokes a rotation function in the secret's own region only."""
    elsewhere = [facts.name for facts in model.registries
                 if facts.rotation and facts.region and facts.region != deploy_region]
    if elsewhere:
        raise BuildError(f"registries {', '.join(elsewhere)} rotate a secret outside the "
                         f"stage's region {deploy_region}: Secrets Manager rotates a secret "
                         "only with a function in its own region; deploy a stage there for it")


def region_warnings(model: Deployment, deploy_region: str) -> list[str]:
    """Stores read in another region than the stage's (their ``region``, or the region their
    ARN names): read across regions, which a VPC endpoint in the stage's region does not cover."""
    return [f"registries.{facts.name}.backend is read in {facts.region}, across regions from "
            f"the stage's {deploy_region}: a VPC endpoint in {deploy_region} does not reach it"
            for facts in model.registries if facts.region and facts.region != deploy_region]


if __name__ == "__main__":
    raise SystemExit(main())
