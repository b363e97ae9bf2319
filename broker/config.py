"""Validate a configuration document into the frozen records of :mod:`broker.model`,
reporting every problem at once with its key path.

:func:`load_config` reads the document (:mod:`broker.sources`) and validates it here: the
registry blocks, each backend's settings (by the backend's own ``Settings``), names that
become Lambda aliases, and the identity rule across minted logins (:mod:`broker.identity`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import backends
from broker import schema
from broker.errors import ConfigError
from broker.model import Config, Registry
from broker.names import managed_policy_risk
from broker.sources import anchor_paths, folder_of, read_document, resolve_source, source_label, source_origin

if TYPE_CHECKING:
    from broker.aws import AwsClients

__all__ = ["Config", "Defaults", "Registry", "load_config", "parse_config", "valid_host"]

DEFAULT_CONFIG_TTL = 300.0
# Regexes as text, compiled (and cached by re) on first use: a rule no registry needs costs nothing.
NAME_PATTERN = r"^(?![0-9]+\Z)[A-Za-z0-9_-]{1,128}\Z"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}\Z"
REPOSITORY_PATTERN = r"^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*\Z"
REFERENCE_PATTERN = r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|[a-z0-9]+:[a-f0-9]{32,})\Z"
HOSTNAME_PATTERN = (r"(?i)^(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
                    r"(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z")
PORT_PATTERN = r"^[0-9]{1,5}\Z"
HOST_USAGE = ("must be host[:port], without scheme or path (e.g. registry.example.com:5000, "
              "10.0.0.5:5000 or [fd00::5]:5000)")


# The document's own shapes, read once by schema.build (not frozen, no eq or repr: they live
# only while a document is validated, and generating those methods is cold-start time).
_SHAPE = {"kw_only": True, "eq": False, "repr": False}


def fraction_problem(value: float) -> str | None:
    """``refresh_fraction`` is a share of a minted login's life: more than 0, at most 1."""
    return None if 0 < value <= 1 else "must be more than 0 and at most 1 (a share of the life)"


@dataclass(**_SHAPE)
class Defaults:
    """Settings every registry inherits unless it sets its own."""

    cache_ttl: float = field(default=300.0, metadata={"min": 0})
    stale_if_error: float = field(default=3600.0, metadata={"min": 0})
    expiry_skew: float = field(default=300.0, metadata={"min": 0})
    refresh_fraction: float = field(default=0.5, metadata={"check": fraction_problem})
    timeout: float = field(default=5.0, metadata={"min": 0.1})
    retries: int = field(default=2, metadata={"min": 0})
    preflight: Literal["off", "warn", "enforce"] = "off"
    trusted_realms: tuple[str, ...] = ()
    insecure: bool = False
    ca_bundle: str | None = None

    def check(self) -> list[tuple[str, str]]:
        return schema.ca_bundle_problems(self.ca_bundle) + realm_problems(self.trusted_realms)


@dataclass(**_SHAPE)
class _RegistryFields:
    """A registry block as written; ``backend`` is checked against its type's settings."""

    host: str
    match: tuple[str, ...] | None = None
    backend: dict
    repository: str | None = None
    reference: str = "latest"
    invokers: tuple[str, ...] = ()
    # Overrides of Defaults; None inherits.
    cache_ttl: float | None = field(default=None, metadata={"min": 0})
    stale_if_error: float | None = field(default=None, metadata={"min": 0})
    expiry_skew: float | None = field(default=None, metadata={"min": 0})
    refresh_fraction: float | None = field(default=None, metadata={"check": fraction_problem})
    timeout: float | None = field(default=None, metadata={"min": 0.1})
    retries: int | None = field(default=None, metadata={"min": 0})
    preflight: Literal["off", "warn", "enforce"] | None = None
    allow_refresh: bool = False
    trusted_realms: tuple[str, ...] | None = None
    insecure: bool | None = None
    ca_bundle: str | None = None
    rotation: dict | None = None  # checked by broker.rotation.config once the registry is built

    def check(self) -> list[tuple[str, str]]:
        problems = schema.ca_bundle_problems(self.ca_bundle) + realm_problems(self.trusted_realms)
        if not valid_host(self.host):
            problems.append(("host", HOST_USAGE))
        if self.repository is not None and not re.match(REPOSITORY_PATTERN, self.repository):
            problems.append(("repository", "must be an image path such as team/trainer "
                                           "(lower-case, no host, no tag)"))
        if not re.match(REFERENCE_PATTERN, self.reference):
            problems.append(("reference", "must be a tag (e.g. latest) or a digest (sha256:...)"))
        problems += [(f"invokers[{i}]", "must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
                     for i, arn in enumerate(self.invokers) if not re.match(ROLE_ARN_PATTERN, arn)]
        return problems


def realm_problems(realms: tuple[str, ...] | None) -> list[tuple[str, str]]:
    """``trusted_realms`` are host names or globs, matched against a realm's host: a URL (or
    anything with a scheme, path or port) can never match, and trusts nothing."""
    return [(f"trusted_realms[{i}]", "must be a host name or a glob (auth.example.com, "
                                     "*.example.com), not a URL: it is matched against the "
                                     "realm's host alone")
            for i, realm in enumerate(realms or ()) if re.search(r"[/:@\\]", realm)]


def valid_host(host: str) -> bool:
    """True for ``name[:port]``, ``a.b.c.d[:port]`` and ``[ipv6][:port]``, port 1-65535."""
    name, sep, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not sep:
        name = host
    elif not re.match(PORT_PATTERN, port) or not 0 < int(port) < 65536:
        return False
    if name.startswith("[") and name.endswith("]"):
        import ipaddress

        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return False
        return True
    return re.match(HOSTNAME_PATTERN, name) is not None


@dataclass(**_SHAPE)
class _Document:
    defaults: Defaults = field(default_factory=Defaults)
    registries: dict
    # Lets the event pick a registry when the invocation is not through a registry's alias:
    # then every invoker of the function, unqualified, can get every registry's login.
    event_selection: bool = False


def load_config(source: str | None = None, environ: Mapping[str, str] | None = None,
                aws: AwsClients | None = None) -> Config:
    """Read, parse and validate the configuration; raise ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    origin = source_origin(source, environ)
    source = resolve_source(source, environ)
    document = anchor_paths(read_document(source, aws, origin), folder_of(source, environ))
    return parse_config(document, source_label(source), environ)


def parse_config(document: Any, source: str, environ: Mapping[str, str] | None = None) -> Config:
    """Validate a parsed document; raise ConfigError listing every problem."""
    problems: schema.Problems = []
    top = schema.build(_Document, document, "", problems)
    raw = document.get("registries") if isinstance(document, dict) else None
    registries = {}
    if isinstance(raw, dict):  # checked even when defaults are wrong: report everything at once
        registries = _registries(raw, top.defaults if top else Defaults(), environ or {}, problems)
    if problems:
        raise ConfigError.from_problems(source, problems)
    return Config(source, MappingProxyType(registries), top.event_selection)


def _registries(raw_registries: dict, defaults: Defaults, environ: Mapping[str, str],
                problems: schema.Problems) -> dict:
    if not raw_registries:
        problems.append(("registries", "must name at least one registry"))
    parsed, seen = {}, {}
    for name, raw in raw_registries.items():
        path = f"registries.{name}"
        name_problem = _name_problem(name, seen)
        if name_problem:
            problems.append((path, name_problem))
        registry = _registry(str(name), raw, defaults, environ, path, problems)
        if registry and not name_problem:
            parsed[name] = registry
    problems.extend(_across_registries(parsed))
    return parsed


def _across_registries(parsed: dict[str, Registry]) -> schema.Problems:
    """The identity rule across every registry whose login is minted (broker.identity), for
    built-in backends and plugins alike; a minting backend that declares nothing is refused."""
    minted, problems, signed = [], [], []
    for name, registry in parsed.items():
        cls = backends.backend_class(registry.backend_type)
        signed.append((name, cls.signed_identities(registry.backend)))
        chain = cls.minting(registry.backend, registry.host)
        if chain is not None:
            minted.append((name, chain))
        elif cls.mints:
            problems.append((f"registries.{name}.backend.type", f"the {registry.backend_type} "
                             "backend mints logins but declares no identity it mints through "
                             "(Backend.minting), so it cannot be kept apart from other "
                             "registries; fix the backend (docs/plugins.md)"))
    if minted or any(proofs for _, proofs in signed):
        from broker import identity

        problems += [(f"registries.{name}.backend", message)
                     for name, message in identity.problems(minted)]
        problems += [(f"registries.{name}.backend", message)
                     for name, message in identity.proof_problems(signed)]
    return problems


def _name_problem(name: Any, seen: dict[str, str]) -> str | None:
    """Why ``name`` cannot be a registry name (it doubles as a Lambda alias), or None."""
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        return ("a registry name must be 1-128 of A-Z a-z 0-9 _ -, not all digits (it doubles as "
                "a Lambda alias)")
    risk = managed_policy_risk(name)
    if risk:
        return f"the name {risk}; rename the registry (it becomes the Lambda alias)"
    clash = seen.setdefault(name.lower(), name)
    if clash != name:
        return (f"differs from '{clash}' only in letter case; registry names must differ in more "
                "than case (they become Lambda aliases and CloudFormation ids)")
    return None


def _registry(name: str, raw: Any, defaults: Defaults, environ: Mapping[str, str],
              path: str, problems: schema.Problems) -> Registry | None:
    fields = schema.build(_RegistryFields, raw, path, problems)
    backend_raw = raw.get("backend") if isinstance(raw, dict) else None
    if not isinstance(backend_raw, dict):
        return None  # build() has reported it
    backend_type, settings = _backend(backend_raw, environ, f"{path}.backend", problems)
    if fields is None or settings is None:
        return None
    host = fields.host.lower()
    registry = Registry(
        name=name, host=host, match=fields.match or (f"{host}/*",), backend_type=backend_type,
        backend=settings, repository=fields.repository, reference=fields.reference,
        invokers=fields.invokers, allow_refresh=fields.allow_refresh,
        **_inherited(fields, defaults))
    if "rotation" not in raw:
        return registry
    try:
        from broker.rotation import config as rotation_config
    except ModuleNotFoundError:  # deploy/build.py ships broker.rotation only to rotate
        problems.append((f"{path}.rotation", "this deployment was packaged without rotation: "
                                             "rotate through a redeploy (make package)"))
        return None
    rotation = rotation_config.parse(raw["rotation"], registry, f"{path}.rotation", problems)
    return registry._replace(rotation=rotation) if rotation else None


def _inherited(fields: _RegistryFields, defaults: Defaults) -> dict[str, Any]:
    return {k: getattr(defaults, k) if getattr(fields, k) is None else getattr(fields, k)
            for k in _DEFAULT_KEYS}


_DEFAULT_KEYS = tuple(f.name for f in dataclasses.fields(Defaults))


def _backend(raw: dict, environ: Mapping[str, str], path: str,
             problems: schema.Problems) -> tuple[str, Any]:
    backend_type = raw.get("type")
    if backend_type is None:
        problems.append((f"{path}.type", f"required (one of: {', '.join(backends.names())})"))
        return "", None
    try:
        cls = backends.backend_class(backend_type)
    except KeyError as exc:
        problems.append((f"{path}.type", exc.args[0]))
        return "", None
    rest = {k: v for k, v in raw.items() if k != "type"}
    settings = schema.build(cls.Settings, rest, path, problems, environ)
    if settings is not None:
        problems += [(f"{path}.{key}", message) for key, message in cls.check_settings(settings)]
    return backend_type, settings

