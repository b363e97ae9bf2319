"""Least-privilege IAM derived from the configuration: one source of truth, no ARN typed twice.

Statements are built with CloudFormation pseudo parameters (``${AWS::Region}``,
``${AWS::AccountId}``, ``${AWS::Partition}``) wherever the configuration leaves
them open; :func:`for_cloudformation` wraps those in ``Fn::Sub`` and
:func:`render` fills them in for a plain policy document.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from broker.config import Config, Registry
from broker.refs import SecretRef

REGION, ACCOUNT, PARTITION = "${AWS::Region}", "${AWS::AccountId}", "${AWS::Partition}"
_SECRETS = ("secretsmanager:GetSecretValue",)
_PARAMETERS = ("ssm:GetParameter", "ssm:GetParameters")
_ASSUME = ("sts:AssumeRole",)
_DECRYPT = ("kms:Decrypt",)
_SIDS = {_SECRETS: "ReadRegistrySecrets", _PARAMETERS: "ReadRegistryParameters",
         _ASSUME: "AssumeSecretRoles"}


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


def statements(config: Config, config_source: str | None = None) -> list[dict[str, Any]]:
    """Every permission the function needs for ``config`` (and an ``ssm:`` config source)."""
    grants: dict[tuple[str, ...], set[str]] = defaultdict(set)
    decrypt: dict[str, set[str]] = defaultdict(set)
    for registry in config.registries.values():
        _grant_registry(registry, grants, decrypt)
    if config_source and config_source.startswith("ssm:"):
        grants[_PARAMETERS].add(parameter_arn(config_source[4:]))
    found = [{"Sid": _SIDS[actions], "Effect": "Allow", "Action": list(actions),
              "Resource": sorted(resources)} for actions, resources in sorted(grants.items())]
    return found + [_decrypt_statement(i, key, services)
                    for i, (key, services) in enumerate(sorted(decrypt.items()), 1)]


def _grant_registry(registry: Registry, grants: dict, decrypt: dict) -> None:
    settings = registry.backend
    if registry.backend_type in ("secretsmanager", "ssm"):
        if settings.role_arn:  # the assumed role reads the secret, not the function's role
            grants[_ASSUME].add(settings.role_arn)
            return
        for actions, arn in _store_grants(registry.backend_type, settings):
            grants[actions].add(arn)
        if settings.kms_key:
            decrypt[settings.kms_key].add(f"{registry.backend_type}.{settings.region or REGION}"
                                          ".amazonaws.com")
    elif registry.backend_type == "vault":  # login references kept in AWS
        auth = settings.auth
        for ref in (auth.token, auth.secret_id, auth.role_id):
            if isinstance(ref, SecretRef) and ref.kind == "secretsmanager":
                grants[_SECRETS].add(secret_arn(ref.name))
            elif isinstance(ref, SecretRef) and ref.kind == "ssm":
                grants[_PARAMETERS].add(parameter_arn(ref.name))


def _store_grants(backend_type: str, settings: Any) -> list[tuple[tuple[str, ...], str]]:
    if backend_type == "secretsmanager":
        return [(_SECRETS, secret_arn(settings.secret_id, settings.region))]
    return [(_PARAMETERS, parameter_arn(name, settings.region)) for name in settings.names]


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
