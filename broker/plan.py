"""``broker plan``: what a deployment of broker.yml would create and grant, offline.

Per registry: the alias ARN SageMaker invokes, the roles allowed to invoke it, the IAM grants
derived for it alone, where its login comes from, and, for a rotated registry, the rotation
function's schedule and grants for it (the broker's own role never holds those).
"""

from __future__ import annotations

from typing import Any

from broker import deployment, iam
from broker.errors import echo
from broker.model import Config

SERVICE = "registry-broker"


def plan(config: Config, *, stage: str = "dev", region: str | None = None,
         account: str | None = None, service: str = SERVICE) -> list[dict[str, Any]]:
    """One entry per registry, in file order."""
    function = (f"arn:aws:lambda:{region or '${AWS::Region}'}:{account or '${AWS::AccountId}'}:"
                f"function:{service}-{stage}-broker")
    role = (f"arn:aws:iam::{account or '${AWS::AccountId}'}:role/{service}-{stage}-"
            f"{region or '${AWS::Region}'}-lambdaRole")
    return [_entry(facts, function, role, region, account)
            for facts in deployment.model(config).registries]


def _entry(facts: deployment.Facts, function: str, role: str, region: str | None,
           account: str | None) -> dict[str, Any]:
    registry, minted = facts.registry, {}
    if facts.minting is not None:
        root = facts.minting.through[0]
        minted = {"mints_as": role if root.key == "aws-role:(function)" else root.label,
                  "scope": facts.scope or "not declared by the backend: assume the identity's "
                                          "own rights"}
    return {**_fields(registry, facts, function, _grants(facts.grants, region, account)),
            **minted, "rotation": _rotation(facts, region, account)}


def _grants(grants: Any, region: str | None, account: str | None) -> list[str]:
    """Each statement ``grants`` make, as ``ACTIONS on RESOURCES``."""
    found = iam.render(iam.statements(grants), region, account)["Statement"]
    return [f"{', '.join(g['Action'])} on {', '.join(g['Resource'])}" for g in found]


def _fields(registry: Any, facts: deployment.Facts, function: str,
            grants: list[str]) -> dict[str, Any]:
    return {"registry": registry.name, "host": registry.host,
            "alias_arn": f"{function}:{registry.name}", "invokers": list(registry.invokers),
            "grants": grants,
            "backend": registry.backend_type, "reference": facts.reference,
            "notes": list(facts.notes)}


def _rotation(facts: deployment.Facts, region: str | None,
              account: str | None) -> dict[str, Any] | None:
    if facts.rotation is None:
        return None
    return {"rotator": facts.registry.rotation.type, "schedule": facts.rotation.schedule,
            "reaches": list(dict.fromkeys(host for _, host in facts.rotation.hosts)),
            "grants": _grants(facts.rotation.grants, region, account)}


def reach_notes(config: Config) -> list[str]:
    """What the whole deployment must reach on a private network (see broker.reach)."""
    from broker import reach

    return reach.notes(deployment.model(config))


def table(entries: list[dict[str, Any]]) -> str:
    """The plan as text, a block per registry (every value escaped for the terminal)."""
    lines = []
    for raw in entries:
        entry = {k: [echo(x, 2000) for x in v] if isinstance(v, list) else echo(v, 2000)
                 for k, v in raw.items()}
        invokers = ", ".join(entry["invokers"]) or ("none (add `invokers`, or allow "
                                                    "lambda:InvokeFunction on the alias in the "
                                                    "callers' own policies)")
        grants = entry["grants"] or ["none (the login needs no AWS permission)"]
        lines += [f"{entry['registry']} ({entry['host']})",
                  f"  alias ARN:  {entry['alias_arn']}",
                  f"  invokers:   {invokers}",
                  f"  login from: {entry['backend']} {entry['reference']}",
                  *([f"  mints as:   {entry['mints_as']}", f"  scope:      {entry['scope']}"]
                    if "mints_as" in entry else []),
                  f"  grants:     {grants[0]}", *(f"              {g}" for g in grants[1:]),
                  *(f"  note:       {note}" for note in entry["notes"]),
                  *_rotation_lines(raw["rotation"]), ""]
    return "\n".join(lines)


def _rotation_lines(rotation: dict[str, Any] | None) -> list[str]:
    if rotation is None:
        return []
    grants = [echo(g, 2000) for g in rotation["grants"]]
    return [f"  rotation:   {echo(rotation['rotator'])} {echo(rotation['schedule'])}, by the "
            f"rotation function (its own role), reaching {', '.join(map(echo, rotation['reaches']))}",
            f"    grants:   {grants[0]}", *(f"              {g}" for g in grants[1:])]
