"""The ``broker`` command line: invoke the real handler locally, validate and check a
configuration, write one (``init``), describe it (``schema``, ``plan``, ``iam-policy``) and wire
SageMaker to it (``sagemaker-config``)."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from broker.errors import BrokerError, ConfigError

MASK = "********"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:broker"


class LocalContext:
    """The parts of a Lambda context the broker reads, for an invocation through ``alias``."""

    function_name = "broker"
    memory_limit_in_mb = 256

    def __init__(self, alias: str | None = None, timeout_ms: int = 30_000) -> None:
        self.invoked_function_arn = f"{FUNCTION_ARN}:{alias}" if alias else FUNCTION_ARN
        self.aws_request_id = str(uuid.uuid4())
        self._timeout_ms = timeout_ms

    def get_remaining_time_in_millis(self) -> int:
        """A fixed budget: local runs are not cut short."""
        return self._timeout_ms


DESCRIPTION = ("Run the broker's real handler locally, check a configuration and its registries, "
               "and print what a deployment needs.")


def _parser() -> argparse.ArgumentParser:
    from broker import __version__

    parser = argparse.ArgumentParser(prog="broker", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"broker {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _invoke_parser(commands)
    validate = commands.add_parser("validate", help="check the configuration without network")
    _add_config(validate)
    validate.add_argument("--json", action="store_true", help="print the result (and every "
                          "problem with its key path) as JSON")
    check = commands.add_parser("check", help="prove each registry accepts its login (preflight)")
    _add_config(check)
    check.add_argument("names", nargs="*", metavar="NAME", help="registries (default: all)")
    check.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    _init_parser(commands)
    commands.add_parser("schema", help="print the JSON Schema of broker.yml (for editors)")
    _plan_parser(commands)
    policy = commands.add_parser("iam-policy", help="print the function's least-privilege IAM policy")
    _add_config(policy)
    policy.add_argument("--config-source", help="the deployed BROKER_CONFIG, when it is ssm:/name")
    _add_account(policy)
    policy.add_argument("--partition", default="aws", help="fill in ${AWS::Partition} (default aws)")
    _wiring_parser(commands)
    _rotate_parser(commands)
    return parser


def _rotate_parser(commands: Any) -> None:
    rotate = commands.add_parser("rotate", help="rotate a registry's stored login now, as the "
                                 "rotation function would (docs/rotation.md)")
    _add_config(rotate)
    rotate.add_argument("name", metavar="NAME", help="the registry (it has a `rotation` block)")
    mode = rotate.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="say what it would do; change nothing")
    mode.add_argument("--status", action="store_true", help="show the secret's stages and when "
                      "each login was made")


def _invoke_parser(commands: Any) -> None:
    invoke = commands.add_parser("invoke", help="run the handler as Lambda would; print the response")
    _add_config(invoke)
    pick = invoke.add_mutually_exclusive_group()
    pick.add_argument("--registry", help="send {\"registry\": NAME} in the event")
    pick.add_argument("--image", help="send {\"image\": REF} in the event")
    invoke.add_argument("--alias", help="invoke through this Lambda alias (pins the registry)")
    invoke.add_argument("--show-password", action="store_true", help="print the password unmasked")
    invoke.add_argument("--no-preflight", action="store_true", help="serve without the preflight")
    invoke.add_argument("--json", action="store_true", help="one JSON line: the response, or "
                        "Lambda's error payload {errorType, errorMessage}")


def _init_parser(commands: Any) -> None:
    from broker import presets

    init = commands.add_parser("init", help="write a commented broker.yml, a registry per preset")
    init.add_argument("--preset", action="append", default=[], choices=presets.names(),
                      metavar="NAME", help=f"one of {', '.join(presets.names())} (repeatable)")
    init.add_argument("--output", metavar="FILE", help="write there (never over an existing file) "
                      "instead of printing")


def _plan_parser(commands: Any) -> None:
    plan = commands.add_parser("plan", help="what deploying broker.yml would create and grant, "
                               "per registry (offline)")
    _add_config(plan)
    plan.add_argument("--stage", default="dev", help="the Serverless stage (default dev)")
    _add_account(plan)
    plan.add_argument("--json", action="store_true", help="print a JSON list instead of text")


def _wiring_parser(commands: Any) -> None:
    wiring = commands.add_parser("sagemaker-config", help="print the image config block that points "
                                 "SageMaker (a training job or a model) at a registry's alias")
    _add_config(wiring)
    wiring.add_argument("name", metavar="NAME", help="the registry (its alias)")
    wiring.add_argument("--function-arn", required=True,
                        help="the stack's BrokerFunctionArn output, or the registry's AliasArn... "
                             "output")
    wiring.add_argument("--image", help="refuse unless the registry serves this image "
                                        "(host/path:tag, as SageMaker will pull it)")
    wiring.add_argument("--for", dest="use", choices=("training", "model"), default="training",
                        help="training: AlgorithmSpecification.TrainingImageConfig for "
                             "CreateTrainingJob (default); model: a container's ImageConfig for "
                             "CreateModel (inference)")
    wiring.add_argument("--invoker-policy", action="store_true",
                        help="print the identity policy the SageMaker execution role needs instead")


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="SRC",
                        help="file, inline JSON or ssm:/name (default: $BROKER_CONFIG, ./broker.yml)")


def _add_account(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="fill in ${AWS::Region}")
    parser.add_argument("--account", help="fill in ${AWS::AccountId}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    args = _parser().parse_args(argv)
    commands = {"invoke": _invoke, "validate": _validate, "check": _check, "init": _init,
                "schema": _schema, "plan": _plan, "iam-policy": _iam_policy,
                "sagemaker-config": _sagemaker_config, "rotate": _rotate}
    return commands[args.command](args)


def _invoke(args: argparse.Namespace) -> int:
    from broker import log
    from broker.app import App

    app = App(args.config, local=True, preflight=not args.no_preflight)
    log.setup(app.environ.get("BROKER_LOG_LEVEL"), stream_name="stderr",
              without=("credentials_failed",))
    event = {key: value for key in ("registry", "image") if (value := getattr(args, key))}
    try:
        _check_alias(app.broker().config, args.alias)
        response = app.invoke(event, LocalContext(args.alias))
    except BrokerError as exc:
        if args.json:
            print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}))
            return 1
        return _fail(exc, 1)
    if not args.show_password:
        response = {"Credentials": {**response["Credentials"], "Password": MASK}}
    print(json.dumps(response) if args.json else json.dumps(response, indent=2))
    if app.last_expires_in is not None:
        print(f"note: this login expires in {app.last_expires_in} s", file=sys.stderr)
    return 0


def _check_alias(config, alias: str | None) -> None:
    """A local run through an alias that is no registry is a typo: say so, and suggest one."""
    import difflib

    from broker.errors import UnknownRegistry, echo

    if alias is None or alias in config.registries:
        return
    close = difflib.get_close_matches(alias, config.names, n=1)
    suggestion = f" (did you mean '{close[0]}'?)" if close else ""
    raise UnknownRegistry(f"there is no registry '{echo(alias, 64)}' to invoke through its alias"
                          f"{suggestion}; configured: {', '.join(config.names)}",
                          hint="Use a configured registry name with --alias")


def _validate(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
    except BrokerError as exc:
        if args.json:
            problems = getattr(exc, "problems", []) or [("", str(exc))]
            print(json.dumps({"ok": False, "error_type": type(exc).__name__, "problems": [
                {"path": path, "message": message} for path, message in problems]}, indent=2))
            return 2
        if exc.hint == ConfigError.HINT:  # not "run validate": this is validate
            exc = ConfigError(exc.problem, hint="Fix these keys")
        return _fail(exc, 2)
    if args.json:
        print(json.dumps({"ok": True, "source": config.source, "registries": [
            {"name": r.name, "host": r.host, "backend": r.backend_type}
            for r in config.registries.values()]}, indent=2))
        return 0
    print(f"OK: {len(config.registries)} registr{'y' if len(config.registries) == 1 else 'ies'} "
          f"in {config.source}")
    for registry in config.registries.values():
        rotated = (f", rotated by {registry.rotation.type} {registry.rotation.schedule}"
                   if registry.rotation else "")
        print(f"  {registry.name}: {registry.host} via {registry.backend_type}{rotated}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from broker import checks
    from broker.app import App

    app = App(args.config)
    try:
        results = checks.run_all(app.broker(), args.names or None)
    except BrokerError as exc:
        return _fail(exc, 2)
    if args.json:
        print(json.dumps([r.as_json() for r in results], indent=2))
    else:
        print(checks.table(results))
    return 0 if all(r.ok for r in results) else 1


def _iam_policy(args: argparse.Namespace) -> int:
    from broker import deployment, iam

    try:
        model = deployment.model(_config(args))
    except BrokerError as exc:
        return _fail(exc, 2)
    document = iam.render(model.statements(args.config_source), args.region, args.account,
                          args.partition)
    print(json.dumps(document, indent=2))
    for facts in model.registries:
        for note in facts.notes:
            print(f"note: registries.{facts.name}: {note}", file=sys.stderr)
    return 0


def _init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from broker import presets

    text = presets.render(args.preset)
    if args.output is None:
        print(text, end="")
        return 0
    try:
        with open(args.output, "x", encoding="utf-8") as handle:  # x: never overwrite
            handle.write(text)
    except FileExistsError:
        print(f"{args.output} exists; init never overwrites a file (pick another --output, or "
              "leave it out to print)", file=sys.stderr)
        return 2
    print(f"wrote {Path(args.output)}; check it with: broker validate --config {args.output}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from broker import config_schema

    print(json.dumps(config_schema.document(), indent=2))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from broker import plan

    try:
        config = _config(args)
        entries = plan.plan(config, stage=args.stage, region=args.region, account=args.account)
    except BrokerError as exc:
        return _fail(exc, 2)
    print(json.dumps(entries, indent=2) if args.json else plan.table(entries))
    for note in plan.reach_notes(config):
        print(f"note: {note}", file=sys.stderr)
    return 0


def _sagemaker_config(args: argparse.Namespace) -> int:
    from broker import iam, wiring

    try:
        config = _config(args)
        alias_arn = wiring.alias_arn(config, args.name, args.function_arn)
        if args.image is not None:
            wiring.check_image(config, args.name, args.image)
    except BrokerError as exc:
        return _fail(exc, 2)
    block = (iam.invoker_policy(alias_arn) if args.invoker_policy
             else wiring.IMAGE_CONFIGS[args.use](alias_arn))
    print(json.dumps(block, indent=2))
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from broker import log
    from broker.rotation.handler import RotationApp
    from broker.rotation.local import Workstation
    from broker.sources import resolve_source

    try:
        app = RotationApp(resolve_source(args.config))
        log.setup(app.environ.get("BROKER_LOG_LEVEL"), stream_name="stderr")  # stdout: the result
        registry = _rotated(app.config(), args.name)
        station = Workstation(app, registry)
        lines = station.status() if args.status else station.dry_run() if args.dry_run else \
            station.rotate()
    except BrokerError as exc:
        return _fail(exc, 1)
    print("\n".join(lines))
    return 0


def _rotated(config, name: str):
    from broker.errors import UnknownRegistry

    rotated = [r.name for r in config.rotated()]
    if name not in rotated:
        raise UnknownRegistry(f"registry '{name}' has no `rotation` block (rotated: "
                              f"{', '.join(rotated) or 'none'})",
                              hint="Add one (docs/rotation.md), or name a rotated registry")
    return config.registries[name]


def _config(args: argparse.Namespace):
    """The validated configuration named by --config (or the default source); no network."""
    from broker.config import load_config

    return load_config(args.config)


def _fail(exc: BrokerError, code: int) -> int:
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    return code

