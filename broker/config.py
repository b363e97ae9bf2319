"""Load ``broker.yml`` once into frozen dataclasses, reporting every problem at once.

Where the configuration comes from (first that applies): an explicit source,
env ``BROKER_CONFIG``, else ``broker.yml`` in ``$LAMBDA_TASK_ROOT`` or the
working directory. A source is a ``.yml``/``.yaml``/``.json`` path, inline
JSON text (starting with ``{``) or ``ssm:/parameter/name``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import backends
from broker import schema
from broker.errors import ConfigError
from broker.names import managed_policy_risk

if TYPE_CHECKING:
    from broker.aws import AwsClients

DEFAULT_FILES = ("broker.yml", "broker.yaml", "broker.json")
DEFAULT_CONFIG_TTL = 300.0
NAME_PATTERN = re.compile(r"^(?![0-9]+\Z)[A-Za-z0-9_-]{1,128}\Z")
ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}\Z")
REPOSITORY_PATTERN = re.compile(r"^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*\Z")
REFERENCE_PATTERN = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|[a-z0-9]+:[a-f0-9]{32,})\Z")
HOSTNAME_PATTERN = re.compile(r"^(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
                              r"(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z", re.IGNORECASE)
PORT_PATTERN = re.compile(r"^[0-9]{1,5}\Z")
HOST_USAGE = ("must be host[:port], without scheme or path (e.g. registry.example.com:5000, "
              "10.0.0.5:5000 or [fd00::5]:5000)")


@dataclass(frozen=True, kw_only=True)
class Defaults:
    """Settings every registry inherits unless it sets its own."""

    cache_ttl: float = field(default=300.0, metadata={"min": 0})
    stale_if_error: float = field(default=3600.0, metadata={"min": 0})
    expiry_skew: float = field(default=300.0, metadata={"min": 0})
    timeout: float = field(default=5.0, metadata={"min": 0.1})
    retries: int = field(default=2, metadata={"min": 0})
    preflight: Literal["off", "warn", "enforce"] = "off"
    trusted_realms: tuple[str, ...] = ()
    insecure: bool = False
    ca_bundle: str | None = None

    def check(self) -> list[tuple[str, str]]:
        return schema.ca_bundle_problems(self.ca_bundle)


@dataclass(frozen=True, kw_only=True)
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
    timeout: float | None = field(default=None, metadata={"min": 0.1})
    retries: int | None = field(default=None, metadata={"min": 0})
    preflight: Literal["off", "warn", "enforce"] | None = None
    allow_refresh: bool = False
    trusted_realms: tuple[str, ...] | None = None
    insecure: bool | None = None
    ca_bundle: str | None = None

    def check(self) -> list[tuple[str, str]]:
        problems = schema.ca_bundle_problems(self.ca_bundle)
        if not valid_host(self.host):
            problems.append(("host", HOST_USAGE))
        if self.repository is not None and not REPOSITORY_PATTERN.match(self.repository):
            problems.append(("repository", "must be an image path such as team/trainer "
                                           "(lower-case, no host, no tag)"))
        if not REFERENCE_PATTERN.match(self.reference):
            problems.append(("reference", "must be a tag (e.g. latest) or a digest (sha256:...)"))
        problems += [(f"invokers[{i}]", "must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
                     for i, arn in enumerate(self.invokers) if not ROLE_ARN_PATTERN.match(arn)]
        return problems


def valid_host(host: str) -> bool:
    """True for ``name[:port]``, ``a.b.c.d[:port]`` and ``[ipv6][:port]``, port 1-65535."""
    name, sep, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not sep:
        name = host
    elif not PORT_PATTERN.match(port) or not 0 < int(port) < 65536:
        return False
    if name.startswith("[") and name.endswith("]"):
        import ipaddress

        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return False
        return True
    return HOSTNAME_PATTERN.match(name) is not None


@dataclass(frozen=True, kw_only=True)
class _Document:
    defaults: Defaults = field(default_factory=Defaults)
    registries: dict
    # Lets the event pick a registry when the invocation is not through a registry's alias:
    # then every invoker of the function, unqualified, can get every registry's login.
    event_selection: bool = False


@dataclass(frozen=True)
class Registry:
    """One registry: where it is, which images it serves, where its login lives."""

    name: str
    host: str
    match: tuple[str, ...]
    backend_type: str
    backend: Any
    cache_ttl: float
    stale_if_error: float
    timeout: float
    retries: int = 2
    expiry_skew: float = 300.0
    allow_refresh: bool = False
    preflight: str = "off"
    repository: str | None = None
    reference: str = "latest"
    invokers: tuple[str, ...] = ()
    trusted_realms: tuple[str, ...] = ()
    insecure: bool = False
    ca_bundle: str | None = None

    @property
    def hostname(self) -> str:
        """``host`` without its port (and without IPv6 brackets)."""
        return urlsplit(f"//{self.host}").hostname or self.host


@dataclass(frozen=True)
class Config:
    """The whole, validated configuration. Registries keep the file's order."""

    source: str
    registries: Mapping[str, Registry]
    event_selection: bool = False

    @property
    def names(self) -> list[str]:
        """Configured registry names, in file order."""
        return list(self.registries)

    def backend_types(self) -> set[str]:
        """The backend types in use."""
        return {r.backend_type for r in self.registries.values()}


def resolve_source(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Explicit argument, else env BROKER_CONFIG, else the first of broker.yml, broker.yaml,
    broker.json beside the function code (``$LAMBDA_TASK_ROOT``) or in the working directory."""
    environ = os.environ if environ is None else environ
    if explicit:
        return explicit
    if environ.get("BROKER_CONFIG"):
        return environ["BROKER_CONFIG"]
    folder = environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    candidates = [os.path.join(folder, name) for name in DEFAULT_FILES]
    return next((path for path in candidates if os.path.isfile(path)), candidates[0])


def load_config(source: str | None = None, environ: Mapping[str, str] | None = None,
                aws: AwsClients | None = None) -> Config:
    """Read, parse and validate the configuration; raise ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    origin = source_origin(source, environ)
    source = resolve_source(source, environ)
    document = anchor_paths(read_document(source, aws, origin), folder_of(source, environ))
    return parse_config(document, source_label(source), environ)


def folder_of(source: str, environ: Mapping[str, str]) -> str:
    """Where a relative path in the configuration points from: the file's own folder, else
    the function's code (``$LAMBDA_TASK_ROOT``) or the working directory."""
    if not _is_inline(source) and not source.startswith("ssm:"):
        return os.path.dirname(os.path.abspath(source))
    return environ.get("LAMBDA_TASK_ROOT") or os.getcwd()


def anchor_paths(document: Any, folder: str) -> Any:
    """``document`` with every relative ``ca_bundle`` made absolute from ``folder`` (the
    packaged configuration ships its CA files beside it, wherever the code is unzipped)."""
    for block in ca_holders(document):
        if block["ca_bundle"] and not os.path.isabs(block["ca_bundle"]):
            block["ca_bundle"] = os.path.join(folder, block["ca_bundle"])
    return document


def ca_holders(document: Any) -> list[dict]:
    """Every mapping of a (not yet validated) document that sets ``ca_bundle`` to a string:
    ``defaults``, a registry, a registry's ``backend``."""
    if not isinstance(document, dict):
        return []
    blocks = [document.get("defaults")]
    registries = document.get("registries")
    for registry in registries.values() if isinstance(registries, dict) else ():
        blocks += [registry, registry.get("backend") if isinstance(registry, dict) else None]
    return [b for b in blocks if isinstance(b, dict) and isinstance(b.get("ca_bundle"), str)]


def source_origin(explicit: str | None, environ: Mapping[str, str]) -> str:
    """Where the source was named, for messages: --config, BROKER_CONFIG or the default."""
    if explicit:
        return "--config"
    if environ.get("BROKER_CONFIG"):
        return "BROKER_CONFIG"
    return "the default: broker.yml beside the code or in the working directory"


def source_label(source: str) -> str:
    """How messages name a source: inline JSON by its size only, since it may hold anything."""
    if _is_inline(source):
        return f"inline JSON ({len(source.encode('utf-8', 'surrogatepass'))} bytes)"
    return source


def _is_inline(source: str) -> bool:
    return source.lstrip().startswith("{")


def read_document(source: str, aws: AwsClients | None = None, origin: str = "--config") -> Any:
    """The parsed YAML/JSON document behind a config source (``origin``: where it was named)."""
    if _is_inline(source):
        return _parse_text(source, source_label(source), as_json=True)
    if source.startswith("ssm:"):
        text = _read_ssm(source[4:], aws)
        return _parse_text(text, source, as_json=text.lstrip().startswith("{"))
    return _parse_text(_read_file(source, origin), source, as_json=_is_json_path(source))


def _is_json_path(path: str) -> bool:
    extension = os.path.splitext(path)[1].lower()
    if extension not in {".json", ".yml", ".yaml"}:
        raise _fatal(path, "the config file must end in .yml, .yaml or .json")
    return extension == ".json"


def _read_file(path: str, origin: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise _fatal(path, f"the config file does not exist (from {origin})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fatal(path, f"the config file cannot be read ({type(exc).__name__})") from None


def _read_ssm(name: str, aws: AwsClients | None) -> str:
    from broker import aws as aws_module

    clients = aws or aws_module.AwsClients()
    try:
        return clients.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except Exception as exc:
        error = aws_module.translate(exc, lambda cls, problem, hint: cls(problem, hint=hint))
        if error is None:
            raise
        raise _fatal(f"ssm:{name}", f"the config parameter cannot be read: {error}") from None


def _parse_text(text: str, source: str, *, as_json: bool) -> Any:
    if as_json:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise _fatal(source, f"not valid JSON ({exc})") from None
    try:
        import yaml
    except ImportError:
        raise _fatal(source, "the configuration is YAML but no YAML parser is installed; store "
                             "it as JSON, or package with deploy/build.py, which adds PyYAML for "
                             "an ssm: source") from None

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise _fatal(source, f"not valid YAML ({_yaml_problem(exc)})") from None


def _yaml_problem(exc: Exception) -> str:
    """``problem at line L, column C``: where the parser stopped, not the text it read."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


SOURCE_HINT = ("Point --config (or BROKER_CONFIG) at the configuration: a .yml, .yaml or .json "
               "file, inline JSON, or ssm:/parameter/name")


def _fatal(source: str, message: str) -> ConfigError:
    return ConfigError.from_problems(source, [("(source)", message)], hint=SOURCE_HINT)


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
    minted, problems = [], []
    for name, registry in parsed.items():
        cls = backends.backend_class(registry.backend_type)
        chain = cls.minting(registry.backend, registry.host)
        if chain is not None:
            minted.append((name, chain))
        elif cls.mints:
            problems.append((f"registries.{name}.backend.type", f"the {registry.backend_type} "
                             "backend mints logins but declares no identity it mints through "
                             "(Backend.minting), so it cannot be kept apart from other "
                             "registries; fix the backend (docs/plugins.md)"))
    if minted:
        from broker import identity

        problems += [(f"registries.{name}.backend", message)
                     for name, message in identity.problems(minted)]
    return problems


def _name_problem(name: Any, seen: dict[str, str]) -> str | None:
    """Why ``name`` cannot be a registry name (it doubles as a Lambda alias), or None."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
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
    return Registry(
        name=name, host=host, match=fields.match or (f"{host}/*",), backend_type=backend_type,
        backend=settings, repository=fields.repository, reference=fields.reference,
        invokers=fields.invokers, allow_refresh=fields.allow_refresh,
        **_inherited(fields, defaults))


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
    return backend_type, schema.build(cls.Settings, rest, path, problems, environ)

