"""Secret backends, looked up by the ``type`` key of a registry's ``backend`` block.

Each built-in backend lives in its own module and is imported only when a registry uses it,
so a Secrets Manager deployment never imports hvac. Third-party backends register under the
entry-point group ``broker.backends`` (``NAME = package.module:BackendClass``); the entry
points are read only when a configuration names a type that is not built in, so the cold
path never scans installed distributions. See docs/plugins.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backends.base import Backend

ENTRY_POINT_GROUP = "broker.backends"
KNOWN = {
    "secretsmanager": "backends.secretsmanager:SecretsManagerBackend",
    "ssm": "backends.ssm:SsmBackend",
    "vault": "backends.vault:VaultBackend",
    "env": "backends.env:EnvBackend",
    "ecr": "backends.ecr:EcrBackend",
    "gar": "backends.gar:GarBackend",
    "artifactory": "backends.artifactory:ArtifactoryBackend",
}


def names() -> list[str]:
    """Every valid backend ``type``: the built-in ones, then the installed plugins."""
    return [*KNOWN, *(name for name in sorted(plugins()) if name not in KNOWN)]


def plugins() -> dict[str, Any]:
    """The installed ``broker.backends`` entry points, by name (read on each call)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def backend_class(name: str) -> type[Backend]:
    """The backend class registered under ``name``; KeyError lists the valid names."""
    if isinstance(name, str) and name in KNOWN:
        module_name, _, class_name = KNOWN[name].partition(":")
        cls = getattr(_built_in(module_name), class_name)
    else:
        cls = _plugin_class(name)
    if getattr(cls, "type", None) != name:
        raise KeyError(f"{cls.__name__} declares type {getattr(cls, 'type', None)!r}, but is "
                       f"registered as {name!r}")
    return cls


def _built_in(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        # deploy/build.py ships only the backends the configuration used when it ran
        raise KeyError("a built-in backend this deployment was not packaged with: rebuild "
                       "with a configuration that uses it (make package)") from None


def _plugin_class(name: Any) -> type[Backend]:
    from backends.base import Backend

    found = plugins().get(name) if isinstance(name, str) else None
    if found is None:
        from broker.schema import did_you_mean

        valid = names()
        raise KeyError(f"unknown backend type{did_you_mean(name, valid)} (valid: "
                       f"{', '.join(valid)})")
    cls = found.load()
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise KeyError(f"the plugin {found.value} is not a backends.base.Backend subclass")
    return cls


def built_in_module(name: str) -> str | None:
    """The module of built-in backend ``name`` (``backends.vault``), None for a plugin."""
    return KNOWN[name].partition(":")[0] if name in KNOWN else None


def plugin_distribution(name: str) -> Any:
    """The installed distribution that provides plugin ``name`` (for vendoring its code)."""
    return plugins()[name].dist
