"""Just enough IAM policy evaluation to ask: may a role with this managed policy invoke that ARN?

AWS's managed policy documents come from moto, which ships them. Resource patterns use IAM
wildcards: ``*`` matches any run of characters (``:`` included, so a function pattern also
matches its aliases) and ``?`` one character; matching is case-sensitive.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any


def managed_policy(name: str) -> dict[str, Any]:
    """The policy document of AWS managed policy ``name``."""
    return managed_policies()[name]


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def wildcard_match(pattern: str, value: str) -> bool:
    """IAM's wildcard semantics for one pattern."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


@functools.cache
def managed_policies() -> dict[str, dict[str, Any]]:
    """Every AWS managed policy document moto ships, by name."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return {name: policy["Document"] for name, policy in json.loads(aws_managed_policies_data).items()}


def allows(document: dict[str, Any], action: str, resource: str,
           unconditioned: bool = False) -> list[str]:
    """The resource patterns of Allow statements that grant ``action`` on ``resource`` (only
    those without a Condition, with ``unconditioned``)."""
    found = []
    for statement in _as_list(document["Statement"]):
        if statement.get("Effect") != "Allow" or "NotResource" in statement:
            continue
        if unconditioned and "Condition" in statement:
            continue
        actions = _as_list(statement.get("Action", []))
        if not any(wildcard_match(a.lower(), action.lower()) for a in actions):
            continue
        found += [p for p in _as_list(statement["Resource"]) if wildcard_match(p, resource)]
    return found
