"""How SageMaker is pointed at a registry's alias: for training jobs and for models (inference)."""

from __future__ import annotations

import re
from typing import Any

from broker.errors import ConfigError, UnknownRegistry
from broker.model import Config
from broker.names import managed_policy_risk

FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}\Z")
"""An unqualified function ARN; SageMaker's own pattern is arn:...:lambda:...:function:.*"""


def alias_arn(config: Config, name: str, function_arn: str) -> str:
    """The ARN SageMaker invokes for registry ``name``: the function ARN qualified by the alias."""
    if name not in config.registries:
        raise UnknownRegistry(f"'{name}' is not configured; configured: {', '.join(config.names)}",
                              hint="Use one of the configured registry names")
    if not FUNCTION_ARN.match(function_arn):
        raise ConfigError.from_problems("--function-arn", [(
            "--function-arn", "must be an unqualified Lambda function ARN such as "
                              "arn:aws:lambda:eu-west-1:123456789012:function:NAME")], hint=ARN_HINT)
    risk = managed_policy_risk(function_arn.rsplit(":", 1)[1], "function")
    if risk:
        raise ConfigError.from_problems("--function-arn", [(
            "--function-arn", f"the function name {risk}; redeploy under the default name")],
            hint=ARN_HINT)
    return f"{function_arn}:{name}"


ARN_HINT = "Pass the deployed broker function's ARN (the stack's function output), unqualified"


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
