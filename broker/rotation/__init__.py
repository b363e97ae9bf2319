"""Rotation of stored registry logins, run by Secrets Manager (``broker.rotation.handler``).

Each rotated registry has two logins with the same pull rights (two robots, two tokens): a
rotation renews the one that is not ``AWSCURRENT``, stores it as ``AWSPENDING``, proves it
against the registry (the preflight) and only then makes it current, so the login served
before stays valid for a whole rotation period (docs/rotation.md).

Rotators are looked up by the ``type`` of a registry's ``rotation`` block: the built-in ones
below, imported only when a registry uses them, then the entry-point group
``broker.rotators`` (``NAME = package.module:RotatorClass``), read only for a type that is not
built in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broker.rotation.base import Rotator

ENTRY_POINT_GROUP = "broker.rotators"
KNOWN = {
    "harbor-robot": "broker.rotation.harbor:HarborRobot",
    "quay-robot": "broker.rotation.quay:QuayRobot",
    "gitlab-token": "broker.rotation.gitlab:GitLabToken",
    "artifactory-token": "broker.rotation.artifactory:ArtifactoryToken",
    "dockerhub-token": "broker.rotation.dockerhub:DockerHubToken",
}


def names() -> list[str]:
    """Every valid rotator ``type``: the built-in ones, then the installed plugins."""
    return [*KNOWN, *(name for name in sorted(plugins()) if name not in KNOWN)]


def plugins() -> dict[str, Any]:
    """The installed ``broker.rotators`` entry points, by name."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def rotator_class(name: str) -> type[Rotator]:
    """The rotator registered under ``name``; KeyError lists the valid names."""
    from broker.rotation.base import Rotator

    if isinstance(name, str) and name in KNOWN:
        module_name, _, class_name = KNOWN[name].partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
    else:
        found = plugins().get(name) if isinstance(name, str) else None
        if found is None:
            from broker.schema import did_you_mean

            raise KeyError(f"unknown rotator type{did_you_mean(name, names())} (valid: "
                           f"{', '.join(names())})")
        cls = found.load()
    if not (isinstance(cls, type) and issubclass(cls, Rotator)) or cls.type != name:
        raise KeyError(f"the rotator registered as {name!r} is not a broker.rotation.base.Rotator "
                       f"subclass declaring type {name!r}")
    return cls


def built_in_module(name: str) -> str | None:
    """The module of built-in rotator ``name``, None for a plugin."""
    return KNOWN[name].partition(":")[0] if name in KNOWN else None


def plugin_distribution(name: str) -> Any:
    """The installed distribution that provides rotator plugin ``name``."""
    return plugins()[name].dist
