"""What a deployment pinned: the registries it deployed, where each one is and where its login
lives, and the IAM the build granted for them.

``deploy/build.py`` writes ``broker.pin.json`` into the zip (read-only code, changed only by
redeploying). A configuration read at run time, from an ``ssm:`` parameter above all, may tune
a registry (TTLs, retries, timeouts, preflight mode, repository) or drop one, but may not add a
registry, or change what decides where a login is read from or sent to: ``host``, ``insecure``,
``ca_bundle``, ``trusted_realms``, the whole ``backend`` block, or ``event_selection``.
Otherwise whoever may write that parameter could point a registry at their own server and
collect its login.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from broker.model import Config, Registry

PIN_FILE = "broker.pin.json"
PINNED_KEYS = ("host", "insecure", "ca_bundle", "trusted_realms", "backend")
Problems = list[tuple[str, str]]


def pin_of(config: Config, iam_statements: list[dict[str, Any]]) -> dict[str, Any]:
    """The pin document for ``config``, recording the IAM statements granted for it."""
    return {"version": 1, "event_selection": config.event_selection,
            "registries": {name: fingerprint(r) for name, r in config.registries.items()},
            "iam": iam_statements}


def fingerprint(registry: Registry) -> dict[str, Any]:
    """The pinned keys of one registry, as plain JSON values."""
    values = {key: _plain(getattr(registry, key), key) for key in PINNED_KEYS if key != "backend"}
    values["backend"] = {"type": registry.backend_type, **_plain(registry.backend)}
    return json.loads(json.dumps(values))


def _plain(value: Any, name: str = "") -> Any:
    if name == "ca_bundle" and isinstance(value, str):
        return _ca_digest(value)
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name), f.name) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _ca_digest(path: str) -> str:
    """A CA bundle is pinned by its content: the file's path differs between the build and the
    function, and a configuration must not swap in another CA."""
    try:
        with open(path, "rb") as handle:
            return "sha256:" + hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return f"missing:{path}"


def default_path(environ: Mapping[str, str]) -> str | None:
    """``$LAMBDA_TASK_ROOT/broker.pin.json`` inside Lambda; None elsewhere."""
    root = environ.get("LAMBDA_TASK_ROOT")
    return os.path.join(root, PIN_FILE) if root else None


def read(path: str | None) -> dict[str, Any] | None:
    """The pin at ``path``, or None when there is none."""
    if not path or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def problems(config: Config, pin: Mapping[str, Any]) -> Problems:
    """Every way ``config`` departs from what was deployed, with key paths."""
    pinned = pin.get("registries", {})
    found: Problems = []
    if config.event_selection and not pin.get("event_selection"):
        found.append(("event_selection", "pinned to false at deploy time"))
    for name, registry in config.registries.items():
        if name not in pinned:
            found.append((f"registries.{name}", f"not a registry the deployment pinned (pinned: "
                                                f"{', '.join(pinned) or 'none'})"))
            continue
        actual = fingerprint(registry)
        found += [(f"registries.{name}.{key}", "differs from what the deployment pinned")
                  for key in PINNED_KEYS if actual.get(key) != pinned[name].get(key)]
    return found
