"""Build frozen dataclasses from parsed YAML/JSON, collecting every problem.

A dataclass field's type says what a key accepts: ``str``, ``int``, ``float``,
``bool``, ``Literal[...]``, ``tuple[str, ...]``, a nested dataclass, a class
with a ``from_config`` classmethod, or a union of those with ``None``.
Field metadata may set ``min`` for numbers, ``check`` (a function of the value answering a
problem or None), and ``pattern`` for strings (a regex, as text or
compiled: text is compiled on first use, so an unset field costs nothing, and
the message when it does not match the whole value). A class may define
``check() -> list[(subkey, message)]`` for rules across keys, and
``ENV_DEFAULTS = {key: VARIABLE}`` for keys an environment variable fills in.
Problems are ``(key path, message)`` pairs; values are never echoed, since a
misplaced secret must not end up in an error message.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Problems = list[tuple[str, str]]


def ca_bundle_problems(path: str | None) -> Problems:
    """``ca_bundle`` names a file that exists, or is unset (for a ``check()`` method)."""
    import os

    if path is None or os.path.isfile(path):
        return []
    return [("ca_bundle", f"no such file: {path}")]


def kind(value: Any) -> str:
    """A YAML-flavoured name for a value's type, for messages."""
    names = {bool: "boolean", int: "number", float: "number", str: "string",
             list: "list", dict: "mapping", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def join(path: str, key: str) -> str:
    """``registries.acme`` + ``host`` -> ``registries.acme.host``; an empty path drops out."""
    return f"{path}.{key}" if path and key else path or key


@functools.cache
def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    """Each init field of ``cls`` with its resolved type hint (computed once per class)."""
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls) if f.init}


def build(cls: type, raw: Any, path: str, problems: Problems,
          environ: Mapping[str, str] | None = None) -> Any:
    """Return ``cls(**raw)`` checked against its fields, or None when anything is wrong."""
    if not isinstance(raw, dict):
        problems.append((path, f"must be a mapping, not a {kind(raw)}"))
        return None
    before = len(problems)
    fields = _fields(cls)
    raw = _with_env_defaults(cls, raw, environ)
    for key in raw:
        if key not in fields:
            problems.append((join(path, key), f"unknown key{did_you_mean(key, fields)} (valid: "
                                              f"{', '.join(fields)})"))
    values = {}
    for name, (f, hint) in fields.items():
        if name in raw:  # paths are only built for keys present or missing: parsing stays cheap
            values[name] = coerce(hint, raw[name], join(path, name), problems, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.append((join(path, name), _required(cls, name)))
    if len(problems) > before:
        return None
    obj = cls(**values)
    problems.extend((join(path, sub), msg) for sub, msg in _check(obj))
    return obj if len(problems) == before else None


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest of ``choices``, or nothing."""
    import difflib

    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _required(cls: type, name: str) -> str:
    variable = getattr(cls, "ENV_DEFAULTS", {}).get(name)
    return f"required (or set {variable})" if variable else "required"


def _with_env_defaults(cls: type, raw: dict, environ: Mapping[str, str] | None) -> dict:
    defaults = getattr(cls, "ENV_DEFAULTS", {})
    filled = {key: environ[var] for key, var in defaults.items()
              if key not in raw and environ and environ.get(var)}
    return {**raw, **filled} if filled else raw


def _check(obj: Any) -> Problems:
    check = getattr(obj, "check", None)
    return list(check()) if check else []


def coerce(hint: Any, value: Any, path: str, problems: Problems,
           meta: Mapping[str, Any] | None = None) -> Any:
    """Check ``value`` against a type hint; record a problem and return None if it does not fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(args, value, path, problems, meta)
    if origin is Literal:
        if value is False and "off" in args:
            value = "off"  # YAML 1.1 reads a bare `off` as false
        if value in args and type(value) in {type(a) for a in args}:
            return value
        problems.append((path, f"must be one of {', '.join(map(str, args))}"))
        return None
    if origin is tuple:
        return _coerce_tuple(args[0], value, path, problems, meta)
    if hasattr(hint, "from_config"):
        return hint.from_config(value, path, problems)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, path, problems)
    return _coerce_scalar(hint, value, path, problems, meta or {})


def _coerce_union(args: tuple, value: Any, path: str, problems: Problems, meta: Any) -> Any:
    if value is None and type(None) in args:
        return None
    options = [a for a in args if a is not type(None)]
    for option in options:
        if _accepts(option, value):
            return coerce(option, value, path, problems, meta)
    return coerce(options[0], value, path, problems, meta)


def _accepts(hint: Any, value: Any) -> bool:
    if hasattr(hint, "from_config") or dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    return isinstance(value, hint) if isinstance(hint, type) else False


def _coerce_tuple(item: Any, value: Any, path: str, problems: Problems,
                  meta: Mapping[str, Any] | None = None) -> tuple | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        problems.append((path, "must be a non-empty list"))
        return None
    before = len(problems)
    items = tuple(coerce(item, v, f"{path}[{i}]", problems, meta) for i, v in enumerate(value))
    return items if len(problems) == before else None


def _coerce_scalar(hint: Any, value: Any, path: str, problems: Problems,
                   meta: Mapping[str, Any]) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        problems.append((path, "must be a finite number"))
        return None
    if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
        problems.append((path, f"must be a {kind(hint())}, not a {kind(value)}"))
        return None
    if hint is str and not value.strip():
        problems.append((path, "must not be empty"))
        return None
    if "min" in meta and value < meta["min"]:
        problems.append((path, f"must be at least {meta['min']}"))
        return None
    if "pattern" in meta and not re.fullmatch(meta["pattern"][0], value):
        problems.append((path, meta["pattern"][1]))
        return None
    problem = meta["check"](value) if "check" in meta else None
    if problem:
        problems.append((path, problem))
        return None
    return value

