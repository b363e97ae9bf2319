"""Validate a registry's ``rotation`` block into a :class:`broker.model.Rotation`, reporting
every problem with its key path (called by :mod:`broker.config` only for registries that
have one, so a configuration without rotation never imports this package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker import rotation, schema
from broker.model import Registry, Rotation
from broker.refs import SecretRef
from broker.rotation import schedule

MARGIN = 3600.0
"""Beyond the longest a login may be held after it stops being current (``cache_ttl`` plus
``stale_if_error``): an hour for a pull that started with it."""
OWN_KEYS = ("type", "schedule", "admin")


@dataclass(kw_only=True, eq=False, repr=False)
class _RotationFields:
    type: str
    schedule: str
    admin: SecretRef


def parse(raw: Any, registry: Registry, path: str, problems: schema.Problems) -> Rotation | None:
    """The rotation of ``registry`` from its block ``raw``, or None (problems reported)."""
    if not isinstance(raw, dict):
        problems.append((path, f"must be a mapping ({', '.join(OWN_KEYS)} and the rotator's "
                               f"keys), not a {schema.kind(raw)}"))
        return None
    fields = schema.build(_RotationFields, {k: raw[k] for k in OWN_KEYS if k in raw}, path,
                          problems)
    settings = _settings(raw, registry, path, problems)
    base = path.removesuffix(".rotation")
    problems += [(f"{base}.{key}", message) for key, message in store_problems(registry)]
    expression = raw.get("schedule")
    seconds = _period(expression, registry, f"{path}.schedule", problems) \
        if isinstance(expression, str) else None
    if fields is None or settings is None or seconds is None:
        return None
    return Rotation(fields.type, fields.schedule, seconds, fields.admin, settings)


def _settings(raw: dict, registry: Registry, path: str, problems: schema.Problems) -> Any:
    try:
        cls = rotation.rotator_class(raw.get("type"))
    except KeyError as exc:
        if "type" in raw:
            problems.append((f"{path}.type", exc.args[0]))
        return None
    settings = schema.build(cls.Settings, {k: v for k, v in raw.items() if k not in OWN_KEYS},
                            path, problems)
    if settings is not None:
        problems += [(f"{path}.{key}", message)
                     for key, message in cls.check_settings(settings, registry)]
    return settings


def store_problems(registry: Registry) -> list[tuple[str, str]]:
    """Why ``registry``'s login cannot be rotated where it is stored (key paths relative to
    the registry), or nothing."""
    problems = [] if registry.repository else [(
        "repository", "required for a rotated registry: testSecret proves the new login can "
                      "pull it before it goes live")]
    return problems + _backend_problems(registry)


def _backend_problems(registry: Registry) -> list[tuple[str, str]]:
    if registry.backend_type == "ssm":
        return [("backend.type", "an SSM parameter has no version stages: a rotation could "
                                 "neither keep the previous login beside the new one nor prove "
                                 "the new one before it goes live; store the login in Secrets "
                                 "Manager (backend type secretsmanager) to rotate it")]
    if registry.backend_type != "secretsmanager":
        return [("backend.type", "only a login stored in Secrets Manager can be rotated "
                                 f"(this registry's backend is {registry.backend_type})")]
    backend, problems = registry.backend, []
    if backend.version_stage != "AWSCURRENT":
        problems.append(("backend.version_stage", "a rotated registry serves AWSCURRENT only "
                                                  "(never AWSPREVIOUS or AWSPENDING): remove it"))
    if backend.format != "json" or backend.role_arn:
        problems.append(("backend", "a rotated login is a JSON object in this account's "
                                    "secret: remove format and role_arn"))
    return problems


def _period(expression: str, registry: Registry, path: str,
            problems: schema.Problems) -> float | None:
    seconds = schedule.period(expression)
    if seconds is None:
        problems.append((path, schedule.USAGE))
        return None
    held = registry.cache_ttl + registry.stale_if_error + MARGIN
    if seconds < held:
        problems.append((path, f"rotates as often as every {schedule.describe(seconds)}, but a "
                               f"login may be served for {schedule.describe(held)} after it "
                               "stops being current (cache_ttl + stale_if_error + an hour): the "
                               "login it replaces would be renewed while still in use; rotate "
                               "less often"))
        return None
    return seconds
