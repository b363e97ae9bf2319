"""The cross-registry identity rule: no alias's login may be used to obtain another's.

A minting backend declares, for each registry's settings, the chain of identities its login
is minted through, root first (:class:`Minting`): the AWS role that signs or asks, the Google
principal it federates to, the service account it impersonates, the Entra client; the last
is what the served login *is*: whoever holds it can act as that identity.

The rule, checked at validation for every built-in backend and plugin alike (a backend never
re-implements it): a registry may not be served an identity that another registry mints
through or is served. Otherwise an invoker of the first alias, holding its login, could mint
the second registry's login (a Google federated token impersonating the other registry's
service account), or already holds it (two ECR registries asking as one role get one token
carrying both registries' pull grants). A backend with ``mints = True`` that declares no
chain is refused, and so, at run time, is a login with an expiry from a backend that declares
none (:meth:`backends.base.Backend.fetch`).

Identities compare by a normalized key: IAM role names are unique ignoring case within an
account (``role/Puller`` and ``role/puller`` are one role; the path is not part of the name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

_ROLE_ARN = re.compile(r"arn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)")


class Identity(NamedTuple):
    """One identity: ``key`` compares (normalized), ``label`` names it in messages."""

    key: str
    label: str


class Minting(NamedTuple):
    """The identities a registry's login is minted through, root first; the last is served."""

    through: tuple[Identity, ...]

    @property
    def served(self) -> Identity:
        """What the served login is: its holder can act as this identity."""
        return self.through[-1]

    def then(self, key: str, label: str) -> Minting:
        """This chain with one more identity, minted from the last."""
        return Minting((*self.through, Identity(key, label)))


def aws_role(role_arn: str | None) -> Identity:
    """The AWS identity a backend signs or asks as: ``role_arn``, or the function's own role."""
    if not role_arn:
        return Identity("aws-role:(function)", "the function's own role")
    found = _ROLE_ARN.fullmatch(role_arn)
    if found is None:  # validation refuses it; compare the text as given
        return Identity(f"aws-role:{role_arn}", f"role {role_arn}")
    partition, account, name = found.groups()
    return Identity(f"aws-role:{partition}:{account}:{name.lower()}", f"role {role_arn}")


def minted_by(role_arn: str | None) -> Minting:
    """A chain that starts at an AWS identity."""
    return Minting((aws_role(role_arn),))


def problems(minted: Iterable[tuple[str, Minting]]) -> list[tuple[str, str]]:
    """``(registry, problem)`` for every registry whose login another registry's invokers could
    obtain, or that could obtain another's; ``minted`` in file order."""
    chains = list(minted)
    found = []
    for index, (name, chain) in enumerate(chains):
        for other, other_chain in chains[:index]:
            clash = _clash(chain, other_chain) or _clash(other_chain, chain)
            if clash:
                found.append((name, _message(name, other, clash)))
                break
    return found


def _clash(served_by: Minting, through: Minting) -> Identity | None:
    keys = {identity.key for identity in through.through}
    return served_by.served if served_by.served.key in keys else None


def _message(name: str, other: str, identity: Identity) -> str:
    return (f"'{name}' and '{other}' both mint through {identity.label}, and one of them is "
            f"served a login that acts as it: an invoker of one alias could obtain the other's "
            f"login. Give each registry its own identity (its own role_arn, service_account or "
            f"client)")


def proof_problems(signed: Iterable[tuple[str, list[tuple[str, str]]]]) -> list[tuple[str, str]]:
    """``(registry, problem)`` for a signed proof of an AWS identity (``sts:GetCallerIdentity``)
    that goes to a host another registry's proof of the same identity does not: either host
    could replay what it received to the other for 15 minutes and be served that registry's
    login. ``signed`` is ``(registry, [(identity key, receiver host)])`` in file order."""
    receivers: dict[str, tuple[str, str]] = {}
    found = []
    for name, proofs in signed:
        for key, host in proofs:
            first = receivers.setdefault(key, (name, host))
            if first[1] != host:
                found.append((name, f"'{name}' sends a signed proof of {_label(key)} to {host}, "
                                    f"and '{first[0]}' sends one to {first[1]}: either could "
                                    "replay it to the other; sign as another role_arn for one"))
                break
    return found


def _label(key: str) -> str:
    return "the function's own role" if key == "aws-role:(function)" else key.split(":", 1)[1]
