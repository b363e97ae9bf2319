"""Which servers a deployment must reach inside a network: a registry, token server or Vault
host that is an internal name or a private address is out of reach of a function that is not
in a VPC (Lambda's default), and says nothing until the first pull fails."""

from __future__ import annotations

from broker import netguard
from broker.deployment import Deployment

INTERNAL_SUFFIXES = (".internal", ".local", ".lan", ".corp", ".home", ".intranet", ".private",
                     ".localdomain", ".svc", ".cluster.local", ".home.arpa")
"""Suffixes no public DNS resolves (RFC 6762, RFC 8375, and the ones private networks use)."""

VPC_ARGS = ("SLS_ARGS='--param=vpc=true --param=subnetIds=subnet-aaa,subnet-bbb "
            "--param=securityGroupIds=sg-aaa'")
"""The stage parameters that put the function in a VPC (make package / make deploy)."""


def is_private(host: str) -> bool:
    """True for an internal name (no dot, or an internal suffix) or a private IP address."""
    name = host.strip("[]").lower().rstrip(".")
    if netguard.is_ip(name):
        try:
            return netguard.kind_of(netguard.address(name)) != netguard.PUBLIC
        except netguard.Refused:
            return True  # link-local and the like: no public route either
    return "." not in name or name.endswith(INTERNAL_SUFFIXES)


def private_hosts(model: Deployment) -> list[tuple[str, str, str]]:
    """``(registry, key, host)`` for every server the deployment reaches on a private network:
    the registry, its trusted token realms, and the hosts its backend names."""
    found = []
    for facts in model.registries:
        hosts = [*facts.hosts, *((f"trusted_realms[{i}]", realm) for i, realm
                                 in enumerate(facts.registry.trusted_realms))]
        found += [(facts.name, key, host) for key, host in hosts
                  if "*" not in host and is_private(host)]
    return found


def notes(model: Deployment) -> list[str]:
    """What to tell a user about reach: each private host, and the VPC parameters."""
    found = private_hosts(model)
    if not found:
        return []
    listed = ", ".join(f"registries.{name}.{key} ({host})" for name, key, host in found)
    return [f"{listed} {'is' if len(found) == 1 else 'are'} on a private network: outside a VPC "
            f"(the default) the function cannot reach {'it' if len(found) == 1 else 'them'}. "
            f"Deploy into your VPC: make package {VPC_ARGS} (and make deploy with the same)"]
