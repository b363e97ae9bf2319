"""Least-privilege IAM derived from the configuration: one source of truth, no ARN typed twice.

Statements are built with CloudFormation pseudo parameters (``${AWS::Region}``,
``${AWS::AccountId}``, ``${AWS::Partition}``) wherever the configuration leaves
them open; :func:`for_cloudformation` wraps those in ``Fn::Sub`` and
:func:`render` fills them in for a plain policy document.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from broker.config import Config
    from broker.refs import SecretRef

REGION, ACCOUNT, PARTITION = "${AWS::Region}", "${AWS::AccountId}", "${AWS::Partition}"
SECRETS = ("secretsmanager:GetSecretValue",)
PARAMETERS = ("ssm:GetParameter", "ssm:GetParameters")
ASSUME = ("sts:AssumeRole",)
_DECRYPT = ("kms:Decrypt",)
_SIDS = {SECRETS: "ReadRegistrySecrets", PARAMETERS: "ReadRegistryParameters",
         ASSUME: "AssumeSecretRoles"}


class Grant(NamedTuple):
    """``actions`` on ``resource``: what a backend declares its registry needs."""

    actions: tuple[str, ...]
    resource: str


class Decrypt(NamedTuple):
    """``kms:Decrypt`` on ``key``, only through ``service`` (``kms:ViaService``)."""

    key: str
    service: str


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


def reference_grants(refs: list[SecretRef]) -> list[Grant]:
    """What reading these references needs (``env`` ones need nothing)."""
    found = []
    for ref in refs:
        if ref.kind == "secretsmanager":
            found.append(Grant(SECRETS, secret_arn(ref.name)))
        elif ref.kind == "ssm":
            found.append(Grant(PARAMETERS, parameter_arn(ref.name)))
    return found


def statements(config: Config, config_source: str | None = None) -> list[dict[str, Any]]:
    """Every permission the function needs for ``config`` (and an ``ssm:`` config source):
    what each registry's backend declares (:meth:`backends.base.Backend.iam_grants`)."""
    import backends

    grants: dict[tuple[str, ...], set[str]] = defaultdict(set)
    decrypt: dict[str, set[str]] = defaultdict(set)
    for registry in config.registries.values():
        for grant in backends.backend_class(registry.backend_type).iam_grants(registry.backend):
            if isinstance(grant, Decrypt):
                decrypt[grant.key].add(grant.service)
            else:
                grants[grant.actions].add(grant.resource)
    if config_source and config_source.startswith("ssm:"):
        grants[PARAMETERS].add(parameter_arn(config_source[4:]))
    found = [{"Sid": _sid(actions), "Effect": "Allow", "Action": list(actions),
              "Resource": sorted(resources)} for actions, resources in sorted(grants.items())]
    return found + [_decrypt_statement(i, key, services)
                    for i, (key, services) in enumerate(sorted(decrypt.items()), 1)]


def _sid(actions: tuple[str, ...]) -> str:
    """The statement id: a fixed one for the built-in grants, else derived from the actions."""
    if actions in _SIDS:
        return _SIDS[actions]
    words = re.findall(r"[A-Za-z0-9]+", " ".join(actions))
    return "".join(w[:1].upper() + w[1:] for w in words)[:128]


def _decrypt_statement(index: int, key: str, services: set[str]) -> dict[str, Any]:
    return {"Sid": f"DecryptSecretsWithKey{index}", "Effect": "Allow", "Action": list(_DECRYPT),
            "Resource": [key], "Condition": {"StringEquals": {"kms:ViaService": sorted(services)}}}


def for_cloudformation(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wrap resources and conditions that use pseudo parameters in ``Fn::Sub``."""
    return [_map_strings(statement, _sub) for statement in found]


def render(found: list[dict[str, Any]], region: str | None, account: str | None,
           partition: str = "aws") -> dict[str, Any]:
    """A plain IAM policy document; unknown region/account stay as ``${AWS::...}`` placeholders."""
    values = {PARTITION: partition, REGION: region, ACCOUNT: account}

    def fill(text: str) -> str:
        for placeholder, value in values.items():
            text = text.replace(placeholder, value) if value else text
        return text
    return {"Version": "2012-10-17", "Statement": [_map_strings(s, fill) for s in found]}


def invoker_policy(alias_arn: str) -> dict[str, Any]:
    """The identity policy a SageMaker execution role needs to use one registry's alias."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "InvokeRegistryCredentialsAlias", "Effect": "Allow",
        "Action": "lambda:InvokeFunction", "Resource": alias_arn}]}


def _sub(text: str) -> Any:
    return {"Fn::Sub": text} if "${AWS::" in text else text


def _map_strings(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: (v if k in ("Sid", "Effect", "Action") else _map_strings(v, fn))
                for k, v in value.items()}
    return value
