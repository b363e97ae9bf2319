"""Names that AWS managed policies would hand to roles that were never meant to invoke broker.

Some AWS managed policies allow ``lambda:InvokeFunction``, with no condition, on every function
or alias whose ARN matches a pattern: ``AmazonSageMakerFullAccess`` (attached to many
SageMaker execution roles) on ``arn:aws:lambda:*:*:function:*SageMaker*``,
``AmazonSSMMaintenanceWindowRole`` on ``...:function:*:SSM*`` (an alias named ``SSM...``),
and others. A function, stage or alias whose ARN such a pattern matches can be invoked by
every role holding the policy, whatever the alias's own permissions say: that would hand a
registry's login to all of them.

The patterns are not a hand list: :mod:`broker.managed_policies` is generated from every AWS
managed policy (``deploy/refresh_policies.py``). Matching follows IAM: ``*`` matches any run
of characters (``:`` included) and ``?`` one character, case-sensitively. A name is checked
where it sits in the deployed ARNs, with the rest of the ARN unknown (a character no pattern
spells), so the check holds whatever the function and stage are called.
"""

from __future__ import annotations

import functools

_UNKNOWN = "\x00"
_ARN = f"arn:aws:lambda:{_UNKNOWN}:{_UNKNOWN}:function:"
PROBES = {
    "alias": (f"{_ARN}{_UNKNOWN}:{{}}",),
    "function": (f"{_ARN}{{}}", f"{_ARN}{{}}:{_UNKNOWN}"),
    "part": (f"{_ARN}{_UNKNOWN}{{}}{_UNKNOWN}", f"{_ARN}{_UNKNOWN}{{}}{_UNKNOWN}:{_UNKNOWN}"),
}
"""The deployed ARNs a name appears in, by where it sits: an alias (a registry), a whole
function name, or a part of one (the stage, the service)."""


def iam_match(pattern: str, value: str) -> bool:
    """IAM's wildcard match: ``*`` any run of characters, ``?`` one, case-sensitive."""
    p = v = 0
    star, resume = -1, 0
    while v < len(value):
        if p < len(pattern) and pattern[p] in ("?", value[v]) and pattern[p] != "*":
            p, v = p + 1, v + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume, p = p, v, p + 1
        elif star >= 0:
            p, resume = star + 1, resume + 1
            v = resume
        else:
            return False
    return all(c == "*" for c in pattern[p:])


def matching_policies(name: str, where: str = "alias") -> tuple[str, tuple[str, ...]] | None:
    """The first managed-policy pattern that matches ``name`` at ``where`` (see PROBES), with
    the policies that hold it; None when no pattern does."""
    arns = [probe.format(name) for probe in PROBES[where]]
    for pattern, policies, literal in _patterns():
        # A pattern's longest literal must appear in the name: a cheap test that rejects most.
        if literal in name and any(iam_match(pattern, arn) for arn in arns):
            return pattern, policies
    return None


@functools.cache
def _patterns() -> tuple[tuple[str, tuple[str, ...], str], ...]:
    from broker.managed_policies import INVOKE_PATTERNS

    return tuple((pattern, policies, _longest_literal(pattern))
                 for pattern, policies in INVOKE_PATTERNS)


def _longest_literal(pattern: str) -> str:
    """The longest run of ``pattern`` without wildcards after ``function:`` (the part a name
    must supply: the probes supply the rest, and nothing a pattern spells)."""
    if ":function:" not in pattern:
        return ""  # no cheap test: match it whole
    body = pattern.split(":function:", 1)[1].replace(":", "*").replace("?", "*")
    return max(body.split("*"), key=len)


def managed_policy_risk(name: str, where: str = "alias") -> str | None:
    """Why ``name`` must not sit at ``where`` in a deployed ARN, or None when it is safe."""
    found = matching_policies(name, where)
    if found is None:
        return None
    pattern, policies = found
    held = ", ".join(policies[:3]) + (f" and {len(policies) - 3} more" if len(policies) > 3 else "")
    return (f"makes the deployed ARN match {pattern}, on which the AWS managed polic"
            f"{'y' if len(policies) == 1 else 'ies'} {held} allow lambda:InvokeFunction with no "
            "condition: every role holding one could invoke it and be served the login")
