"""The ``broker`` command: run the real handler locally, and validate configuration."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="broker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    invoke = commands.add_parser("invoke", help="run the handler as Lambda would; print the response")
    _add_config(invoke)
    pick = invoke.add_mutually_exclusive_group()
    pick.add_argument("--registry", help="send {\"registry\": NAME} in the event")
    pick.add_argument("--image", help="send {\"image\": REF} in the event")
    invoke.add_argument("--alias", help="invoke through this Lambda alias (pins the registry)")
    invoke.add_argument("--show-password", action="store_true", help="print the password unmasked")
    validate = commands.add_parser("validate", help="check the configuration without network")
    _add_config(validate)
    check = commands.add_parser("check", help="prove each registry accepts its login (preflight)")
    _add_config(check)
    check.add_argument("names", nargs="*", metavar="NAME", help="registries (default: all)")
    check.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    policy = commands.add_parser("iam-policy", help="print the function's least-privilege IAM policy")
    _add_config(policy)
    policy.add_argument("--config-source", help="the deployed BROKER_CONFIG, when it is ssm:/name")
    policy.add_argument("--region", help="fill in ${AWS::Region}")
    policy.add_argument("--account", help="fill in ${AWS::AccountId}")
    policy.add_argument("--partition", default="aws", help="fill in ${AWS::Partition} (default aws)")
    wiring = commands.add_parser("sagemaker-config", help="print the image config block that points "
                                 "SageMaker (a training job or a model) at a registry's alias")
    _add_config(wiring)
    wiring.add_argument("name", metavar="NAME", help="the registry (its alias)")
    wiring.add_argument("--function-arn", required=True, help="the deployed broker function's ARN")
    wiring.add_argument("--for", dest="use", choices=("training", "model"), default="training",
                        help="training: AlgorithmSpecification.TrainingImageConfig for "
                             "CreateTrainingJob (default); model: a container's ImageConfig for "
                             "CreateModel (inference)")
    wiring.add_argument("--invoker-policy", action="store_true",
                        help="print the identity policy the SageMaker execution role needs instead")
    return parser


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="SRC",
                        help="file, inline JSON or ssm:/name (default: $BROKER_CONFIG, ./broker.yml)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    args = _parser().parse_args(argv)
    commands = {"invoke": _invoke, "validate": _validate, "check": _check,
                "iam-policy": _iam_policy, "sagemaker-config": _sagemaker_config}
    return commands[args.command](args)


def _invoke(args: argparse.Namespace) -> int:
    from broker import log
    from broker.app import App

    app = App(args.config, local=True)
    log.setup(app.environ.get("BROKER_LOG_LEVEL"), stream_name="stderr",
              without=("credentials_failed",))
    event = {key: value for key in ("registry", "image") if (value := getattr(args, key))}
    try:
        _check_alias(app.broker().config, args.alias)
        response = app.invoke(event, LocalContext(args.alias))
    except BrokerError as exc:
        return _fail(exc, 1)
    if not args.show_password:
        response = {"Credentials": {**response["Credentials"], "Password": MASK}}
    print(json.dumps(response, indent=2))
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
        if exc.hint == ConfigError.HINT:  # not "run validate": this is validate
            exc = ConfigError(exc.problem, hint="Fix these keys")
        return _fail(exc, 2)
    print(f"OK: {len(config.registries)} registr{'y' if len(config.registries) == 1 else 'ies'} "
          f"in {config.source}")
    for registry in config.registries.values():
        print(f"  {registry.name}: {registry.host} via {registry.backend_type}")
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
    from broker import iam

    try:
        config = _config(args)
    except BrokerError as exc:
        return _fail(exc, 2)
    document = iam.render(iam.statements(config, args.config_source), args.region, args.account,
                          args.partition)
    print(json.dumps(document, indent=2))
    return 0


def _sagemaker_config(args: argparse.Namespace) -> int:
    from broker import iam, wiring

    try:
        config = _config(args)
        alias_arn = wiring.alias_arn(config, args.name, args.function_arn)
    except BrokerError as exc:
        return _fail(exc, 2)
    block = (iam.invoker_policy(alias_arn) if args.invoker_policy
             else wiring.IMAGE_CONFIGS[args.use](alias_arn))
    print(json.dumps(block, indent=2))
    return 0


def _config(args: argparse.Namespace):
    """The validated configuration named by --config (or the default source); no network."""
    from broker.config import load_config

    return load_config(args.config)


def _fail(exc: BrokerError, code: int) -> int:
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    return code

