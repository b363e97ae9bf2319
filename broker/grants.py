"""What a deployment grants, as backends declare it: IAM grants and the ARNs they name.

A leaf: backends, the reference table and :mod:`broker.iam` all build on it, so none of them
imports another to say what a registry needs. Resources use CloudFormation pseudo parameters
(``${AWS::Region}``, ``${AWS::AccountId}``, ``${AWS::Partition}``) wherever the
configuration leaves them open.
"""

from __future__ import annotations

from typing import NamedTuple

REGION, ACCOUNT, PARTITION = "${AWS::Region}", "${AWS::AccountId}", "${AWS::Partition}"
SECRETS = ("secretsmanager:GetSecretValue",)
PARAMETERS = ("ssm:GetParameter", "ssm:GetParameters")
ASSUME = ("sts:AssumeRole",)
DECRYPT = ("kms:Decrypt",)
ROTATE = ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
          "secretsmanager:ListSecretVersionIds", "secretsmanager:PutSecretValue",
          "secretsmanager:UpdateSecretVersionStage")
"""What the rotation function needs on a secret it rotates (and nothing on any other)."""
ENCRYPT = ("kms:Decrypt", "kms:GenerateDataKey")
"""On a rotated secret's customer-managed key: reading it, and storing a new version."""


class Grant(NamedTuple):
    """``actions`` on ``resource``, only when ``condition`` (``(operator, key, value)``
    triples) holds: what a backend declares its registry needs."""

    actions: tuple[str, ...]
    resource: str
    condition: tuple[tuple[str, str, str], ...] = ()


def read_secret(arn: str, stage: str = "AWSCURRENT") -> Grant:
    """``GetSecretValue`` on ``arn`` at version stage ``stage`` only: the broker never reads
    another stage of a secret than the one it serves (a rotation's AWSPENDING, AWSPREVIOUS).
    A set operator, as Secrets Manager's guide writes it: a version may carry several labels."""
    return Grant(SECRETS, arn, (("ForAnyValue:StringEquals", "secretsmanager:VersionStage", stage),))


class Decrypt(NamedTuple):
    """``kms:Decrypt`` (or ``actions``) on ``key``, only through ``service``
    (``kms:ViaService``)."""

    key: str
    service: str
    actions: tuple[str, ...] = DECRYPT


def via(service: str, region: str | None = None) -> str:
    """The ``kms:ViaService`` value of ``service`` in ``region`` (the stack's by default)."""
    return f"{service}.{region or REGION}.amazonaws.com"


def secret_arn(secret_id: str, region: str | None = None) -> str:
    """A secret name becomes ``...:secret:NAME-??????`` (AWS appends six random characters)."""
    if secret_id.startswith("arn:"):
        return secret_id
    return f"arn:{PARTITION}:secretsmanager:{region or REGION}:{ACCOUNT}:secret:{secret_id}-??????"


def parameter_arn(name: str, region: str | None = None) -> str:
    """``/reg/user`` becomes ``...:parameter/reg/user``."""
    if name.startswith("arn:"):
        return name
    return f"arn:{PARTITION}:ssm:{region or REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}"
