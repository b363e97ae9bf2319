"""``broker schema``: a JSON Schema (draft 2020-12) of broker.yml, generated from the same
dataclasses ``broker validate`` checks against, so the two cannot drift.

It covers every key, type, enum, minimum and pattern. Rules across keys that ``check()``
methods enforce (an SSM backend's ``parameter`` or pair, a Vault auth method's own keys,
an existing ``ca_bundle`` file) are left to ``broker validate``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

import backends
from broker import config, schema
from broker.refs import KINDS

DRAFT = "https://json-schema.org/draft/2020-12/schema"
NON_EMPTY = {"type": "string", "pattern": r"\S"}
NAME = r"^(?![0-9]+$)[A-Za-z0-9_-]{1,128}$"
HOST = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(:[0-9]{1,5})?$"


def document() -> dict[str, Any]:
    """The schema of a whole configuration."""
    defs: dict[str, Any] = {}
    registry = _object(config._RegistryFields, defs, {"host": {"type": "string", "pattern": HOST},
                                                     "backend": _backend(defs),
                                                     "rotation": _rotation(defs)})
    return {
        "$schema": DRAFT, "title": "broker.yml",
        "description": "The registries broker serves logins for; see the README.",
        "type": "object", "additionalProperties": False, "required": ["registries"],
        "properties": {
            "defaults": _object(config.Defaults, defs),
            "event_selection": {"type": "boolean"},
            "registries": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": NAME},
                           "additionalProperties": registry}},
        "$defs": defs}


def _backend(defs: dict[str, Any]) -> dict[str, Any]:
    names = backends.names()
    branches = [{"if": {"properties": {"type": {"const": name}}},
                 "then": _object(backends.backend_class(name).Settings, defs,
                                 {"type": {"const": name}})} for name in names]
    return {"type": "object", "required": ["type"],
            "properties": {"type": {"enum": names}}, "allOf": branches}


def _rotation(defs: dict[str, Any]) -> dict[str, Any]:
    """A ``rotation`` block: its own keys, then the rotator's settings by ``type``."""
    from broker import rotation
    from broker.rotation.config import _RotationFields

    own = _object(_RotationFields, defs)["properties"]
    branches = [{"if": {"properties": {"type": {"const": name}}},
                 "then": _object(rotation.rotator_class(name).Settings, defs,
                                 {**own, "type": {"const": name}})} for name in rotation.names()]
    return {"type": "object", "required": ["type", "schedule", "admin"],
            "properties": {"type": {"enum": rotation.names()}}, "allOf": branches}


def _object(cls: type, defs: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict:
    """An object schema for a dataclass: its fields, the required ones, nothing else."""
    overrides = overrides or {}
    fields = schema._fields(cls)
    properties = {name: overrides.get(name) or _hint(hint, f.metadata, defs)
                  for name, (f, hint) in fields.items()}
    properties.update({k: v for k, v in overrides.items() if k not in properties})
    from_env = getattr(cls, "ENV_DEFAULTS", {})
    required = [name for name, (f, _) in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                and name not in from_env]
    found = {"type": "object", "additionalProperties": False, "properties": properties}
    return {**found, "required": required} if required else found


def _hint(hint: Any, meta: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [_hint(a, meta, defs) for a in args if a is not type(None)]
        if type(None) in args:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin is Literal:
        return {"enum": [*args, *([False] if "off" in args else [])]}  # YAML reads off as false
    if origin is tuple:
        item = _scalar(args[0], meta or {})
        return {"anyOf": [item, {"type": "array", "minItems": 1, "items": item}]}
    if hasattr(hint, "from_config"):
        return {"type": "object", "minProperties": 1, "maxProperties": 1,
                "additionalProperties": False, "properties": {k: NON_EMPTY for k in KINDS}}
    if dataclasses.is_dataclass(hint):
        defs.setdefault(hint.__name__, _object(hint, defs))
        return {"$ref": f"#/$defs/{hint.__name__}"}
    return _scalar(hint, meta or {})


def _scalar(hint: Any, meta: Any) -> dict[str, Any]:
    if hint is bool:
        return {"type": "boolean"}
    if hint in (int, float):
        found: dict[str, Any] = {"type": "integer" if hint is int else "number"}
        return {**found, "minimum": meta["min"]} if "min" in meta else found
    if "pattern" in meta:
        regex = meta["pattern"][0]
        return {"type": "string", "pattern": f"^(?:{getattr(regex, 'pattern', regex)})$"}
    return dict(NON_EMPTY)
