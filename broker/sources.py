"""Where the configuration comes from and reading it into a document (not yet validated).

The source, first that applies: an explicit argument, env ``BROKER_CONFIG``, else
``broker.yml`` (or ``.yaml``, ``.json``) in ``$LAMBDA_TASK_ROOT`` or the working directory.
A source is a ``.yml``/``.yaml``/``.json`` path, inline JSON text (starting with ``{``) or
``ssm:/parameter/name``, read through the ``ssm`` backend's own read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from broker.errors import ConfigError

if TYPE_CHECKING:
    from broker.aws import AwsClients

DEFAULT_FILES = ("broker.yml", "broker.yaml", "broker.json")


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
    ``defaults``, a registry, a registry's ``backend`` and ``rotation``."""
    if not isinstance(document, dict):
        return []
    blocks = [document.get("defaults")]
    registries = document.get("registries")
    for registry in registries.values() if isinstance(registries, dict) else ():
        if isinstance(registry, dict):
            blocks += [registry, registry.get("backend"), registry.get("rotation")]
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
    from backends.ssm import ParametersMissing, read_parameters
    from broker import aws as aws_module

    clients = aws or aws_module.AwsClients()
    try:
        return read_parameters(clients.client("ssm"), [name])[name]
    except ParametersMissing:
        raise _fatal(f"ssm:{name}", "the config parameter does not exist (in the function's "
                                    "region)") from None
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
            raise _fatal(source, f"not valid JSON ({exc})", SYNTAX_HINT) from None
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
        raise _fatal(source, f"not valid YAML ({_yaml_problem(exc)})", SYNTAX_HINT) from None


def _yaml_problem(exc: Exception) -> str:
    """``problem at line L, column C``: where the parser stopped, not the text it read."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


SOURCE_HINT = ("Point --config (or BROKER_CONFIG) at the configuration: a .yml, .yaml or .json "
               "file, inline JSON, or ssm:/parameter/name")


SYNTAX_HINT = ("Fix the syntax where the parser stopped (line and column above), then run "
               "`broker validate` again")


def _fatal(source: str, message: str, hint: str = SOURCE_HINT) -> ConfigError:
    return ConfigError.from_problems(source, [("(source)", message)], hint=hint)
