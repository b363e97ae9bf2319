"""How SageMaker is pointed at a registry's alias: for training jobs and for models (inference)."""

from __future__ import annotations

import re
from typing import Any

from broker.errors import ConfigError, UnknownRegistry, echo
from broker.model import Config
from broker.names import managed_policy_risk

FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:"
                          r"([A-Za-z0-9_-]{1,64})(?::([A-Za-z0-9_-]{1,128}))?\Z")
"""A function ARN, unqualified or qualified by an alias; SageMaker's own pattern is
arn:...:lambda:...:function:.*"""


def alias_arn(config: Config, name: str, function_arn: str) -> str:
    """The ARN SageMaker invokes for registry ``name``: the function ARN qualified by the
    registry's alias. Takes the function's ARN (the stack's ``BrokerFunctionArn`` output) or
    the alias's own (its ``AliasArn...`` output), whose alias must then be the registry."""
    if name not in config.registries:
        raise UnknownRegistry(f"'{name}' is not configured; configured: {', '.join(config.names)}",
                              hint="Use one of the configured registry names")
    found = FUNCTION_ARN.match(function_arn)
    if not found:
        raise _refused("must be a Lambda function ARN such as arn:aws:lambda:eu-west-1:"
                       "123456789012:function:NAME, or its alias's ARN (...:NAME:ALIAS)")
    function, alias = found.groups()
    if alias is not None and alias != name:
        raise _refused(f"the ARN's alias is '{alias}', not the registry '{name}': each registry "
                       "has its own alias")
    risk = managed_policy_risk(function, "function")
    if risk:
        raise _refused(f"the function name {risk}; redeploy under the default name")
    return function_arn if alias else f"{function_arn}:{name}"


def _refused(problem: str) -> ConfigError:
    return ConfigError.from_problems("--function-arn", [("--function-arn", problem)],
                                     hint=ARN_HINT)


ARN_HINT = ("Pass the stack's BrokerFunctionArn output, or the registry's AliasArn... output "
            "(`make deploy` prints the outputs; or aws cloudformation describe-stacks "
            "--stack-name registry-broker-STAGE --query Stacks[0].Outputs)")


def check_image(config: Config, name: str, image: str) -> None:
    """Refuse an image registry ``name`` does not serve (its ``match`` globs): SageMaker would
    call the alias for a login to another registry, and the pull would fail."""
    from broker.selection import matches

    registry = config.registries[name]
    if not matches(registry, image):
        raise ConfigError.from_problems("--image", [("--image", (
            f"registry '{name}' does not serve the image '{echo(image)}' (match: "
            f"{', '.join(registry.match)})"))], hint="Pass an image on the registry's host, pick "
            "the registry that serves it, or add a `match` glob")


def training_image_config(alias: str) -> dict[str, Any]:
    """The ``TrainingImageConfig`` block of ``AlgorithmSpecification`` for CreateTrainingJob."""
    return {"TrainingImageConfig": {
        "TrainingRepositoryAccessMode": "Vpc",
        "TrainingRepositoryAuthConfig": {"TrainingRepositoryCredentialsProviderArn": alias}}}


def model_image_config(alias: str) -> dict[str, Any]:
    """The ``ImageConfig`` block of a container (``PrimaryContainer``) for CreateModel."""
    return {"ImageConfig": {
        "RepositoryAccessMode": "Vpc",
        "RepositoryAuthConfig": {"RepositoryCredentialsProviderArn": alias}}}


IMAGE_CONFIGS = {"training": training_image_config, "model": model_image_config}
"""``broker sagemaker-config --for``: the block each SageMaker use takes."""
