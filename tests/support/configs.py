"""Configuration blocks the tests build on: a registry whose login comes from the environment."""

from __future__ import annotations

from typing import Any

from broker.config import Registry, parse_config


def env_backend(user_var: str = "RU", pass_var: str = "RP") -> dict[str, str]:
    return {"type": "env", "username_var": user_var, "password_var": pass_var}


def block(host: str, **extra: Any) -> dict[str, Any]:
    """One registry block with an env backend."""
    return {"host": host, "backend": env_backend(), **extra}


def registry(host: str, **extra: Any) -> Registry:
    """One validated registry named ``r``."""
    return parse_config({"registries": {"r": block(host, **extra)}}, "test").registries["r"]
