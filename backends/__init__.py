"""Secret backends, looked up by the ``type`` key of a registry's ``backend`` block.

Each backend lives in its own module and is imported only when a registry
uses it, so a Secrets Manager deployment never imports hvac.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backends.base import Backend

KNOWN = {
    "secretsmanager": "backends.secretsmanager:SecretsManagerBackend",
    "ssm": "backends.ssm:SsmBackend",
    "vault": "backends.vault:VaultBackend",
    "env": "backends.env:EnvBackend",
}


def names() -> list[str]:
    """Every valid backend ``type``."""
    return list(KNOWN)


def backend_class(name: str) -> type[Backend]:
    """The backend class registered under ``name``; KeyError lists the valid names."""
    try:
        module_name, _, class_name = KNOWN[name].partition(":")
    except (KeyError, TypeError):
        raise KeyError(f"unknown backend type (valid: {', '.join(KNOWN)})") from None
    cls = getattr(importlib.import_module(module_name), class_name)
    assert cls.type == name, f"{cls.__name__} declares type {cls.type!r}, registered as {name!r}"
    return cls
