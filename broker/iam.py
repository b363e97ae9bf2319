"""Least-privilege IAM from the grants the deployment model collects (:mod:`broker.deployment`):
one source of truth, no ARN typed twice.

Grants name resources with CloudFormation pseudo parameters (:mod:`broker.grants`) wherever
the configuration leaves them open; :func:`for_cloudformation` wraps those in ``Fn::Sub`` and
:func:`render` fills them in for a plain policy document.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from broker.grants import (
    ACCOUNT,
    DECRYPT,
    PARAMETERS,
    PARTITION,
    REGION,
    ROTATE,
    SECRETS,
    Decrypt,
    Grant,
    parameter_arn,
)

_SIDS = {SECRETS: "ReadRegistrySecrets", PARAMETERS: "ReadRegistryParameters",
         ("sts:AssumeRole",): "AssumeSecretRoles", ROTATE: "RotateRegistrySecrets"}


def statements(grants: Iterable[Grant | Decrypt],
               config_source: str | None = None) -> list[dict[str, Any]]:
    """The policy statements for ``grants`` (a deployment model's, see
    :mod:`broker.deployment`) and an ``ssm:`` config source: one per set of actions."""
    by_actions: dict[tuple[tuple[str, ...], tuple], set[str]] = defaultdict(set)
    decrypt: dict[tuple[str, tuple[str, ...]], set[str]] = defaultdict(set)
    for grant in grants:
        if isinstance(grant, Decrypt):
            decrypt[(grant.key, grant.actions)].add(grant.service)
        else:
            by_actions[(grant.actions, grant.condition)].add(grant.resource)
    if config_source and config_source.startswith("ssm:"):
        by_actions[(PARAMETERS, ())].add(parameter_arn(config_source[4:]))
    found = [_statement(actions, condition, resources)
             for (actions, condition), resources in sorted(by_actions.items())]
    return found + [_decrypt_statement(i, key, actions, services)
                    for i, ((key, actions), services) in enumerate(sorted(decrypt.items()), 1)]


def _statement(actions: tuple[str, ...], condition: tuple, resources: set[str]) -> dict[str, Any]:
    found = {"Sid": _sid(actions, condition), "Effect": "Allow", "Action": list(actions),
             "Resource": sorted(resources)}
    if condition:
        conditions: dict[str, dict[str, str]] = defaultdict(dict)
        for operator, key, value in condition:
            conditions[operator][key] = value
        found["Condition"] = dict(conditions)
    return found


def _sid(actions: tuple[str, ...], condition: tuple = ()) -> str:
    """The statement id: a fixed one for the built-in grants, else derived from the actions."""
    values = [value for _, _, value in condition if value != "AWSCURRENT"]
    suffix = "".join(re.findall(r"[A-Za-z0-9]+", "At" + "And".join(values))) if values else ""
    if actions in _SIDS:
        return (_SIDS[actions] + suffix)[:128]
    words = re.findall(r"[A-Za-z0-9]+", " ".join(actions))
    return ("".join(w[:1].upper() + w[1:] for w in words) + suffix)[:128]


def _decrypt_statement(index: int, key: str, actions: tuple[str, ...],
                       services: set[str]) -> dict[str, Any]:
    verb = "Decrypt" if actions == DECRYPT else "EncryptAndDecrypt"
    return {"Sid": f"{verb}SecretsWithKey{index}", "Effect": "Allow", "Action": list(actions),
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
