"""References to secret values, for config fields that must never hold a literal secret.

Written as ``{env: VAR}``, ``{secretsmanager: ID}`` or ``{ssm: /name}``. :data:`KINDS` is
the one table of reference kinds: per kind, how it is read (through the same code, and the
same errors, as the ``secretsmanager`` and ``ssm`` backends), what reading it grants, and how
many store calls it costs an attempt.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from broker import aws as aws_errors
from broker.errors import BackendUnavailable, BrokerError, MalformedSecret, SecretNotFound
from broker.schema import Problems, kind

if TYPE_CHECKING:
    from broker.deps import Deps
    from broker.grants import Grant

_PRINTABLE_WORD = re.compile(r"^[\x21-\x7e]+\Z")
_USAGE = "must be a reference: {env: VAR}, {secretsmanager: ID} or {ssm: /name}"

MakeError = Callable[[type[BrokerError], str, str, str], BrokerError]


@dataclass(frozen=True)
class SecretRef:
    """Where a secret-bearing setting (a Vault token, an AppRole secret_id) is read from."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    @classmethod
    def from_config(cls, raw: Any, path: str, problems: Problems) -> SecretRef | None:
        """Parse ``{kind: name}``; a plain string is refused without echoing it."""
        if isinstance(raw, str):
            problems.append((path, f"{_USAGE}; a literal secret never goes in the config"))
            return None
        if not isinstance(raw, dict) or len(raw) != 1:
            problems.append((path, f"{_USAGE}, not a {kind(raw)}"))
            return None
        (ref_kind, name), = raw.items()
        if ref_kind not in KINDS or not isinstance(name, str) or not name.strip():
            problems.append((path, _USAGE))
            return None
        problem = reference_problem(ref_kind, name)
        if problem:
            problems.append((path, problem))
            return None
        return cls(ref_kind, name)


def reference_problem(kind: str, name: str) -> str | None:
    """Why a reference may not be used, or None: an environment variable holding the function's
    own AWS credentials, or a name with a wildcard (it would become an IAM wildcard)."""
    if kind == "env" and is_function_variable(name):
        return FUNCTION_VARIABLE
    if kind == "ssm":
        from backends.ssm import name_problem

        problem = name_problem(name)
        if problem:
            return problem
    pattern, message = aws_errors.NO_WILDCARD["pattern"]
    return None if re.fullmatch(pattern, name) else message


def is_function_variable(name: str) -> bool:
    """True for the variables Lambda gives the function itself (its AWS credentials among them)."""
    return name.upper().startswith(("AWS_", "_X_AMZN_"))


FUNCTION_VARIABLE = ("names one of the function's own variables (AWS_*, AWS_LAMBDA_*, _X_AMZN_*), "
                     "which hold its AWS credentials: they are never sent anywhere")


class Kind(NamedTuple):
    """One kind of reference: how its value is read, what reading it grants, what it costs."""

    read: Callable[[str, Deps, float], str | None]
    grants: Callable[[str], list[Grant]]
    calls: int
    """Store calls one read makes, each of up to the registry's ``timeout`` (a botocore call,
    which cannot be cut short: it starts only when a whole ``timeout`` is left)."""
    variable: bool = False
    """Read from the function's environment: the deployment must give it the variable."""
    module: str | None = None
    """The backend module whose read it uses: the zip must ship it."""


def _read_env(name: str, deps: Deps, timeout: float) -> str | None:
    return deps.environ.get(name)


def _read_secret(name: str, deps: Deps, timeout: float) -> str | None:
    from backends.secretsmanager import read_secret

    assert deps.aws is not None, "AWS clients are needed for secretsmanager references"
    return read_secret(deps.aws.client("secretsmanager", timeout=timeout), name)


def _read_parameter(name: str, deps: Deps, timeout: float) -> str | None:
    from backends.ssm import ParametersMissing, read_parameters

    assert deps.aws is not None, "AWS clients are needed for ssm references"
    try:
        return read_parameters(deps.aws.client("ssm", timeout=timeout), [name]).get(name)
    except ParametersMissing:
        return None


def _secret_grants(name: str) -> list[Grant]:
    from broker.grants import read_secret, secret_arn

    return [read_secret(secret_arn(name))]


def _parameter_grants(name: str) -> list[Grant]:
    from broker.grants import PARAMETERS, Grant, parameter_arn

    return [Grant(PARAMETERS, parameter_arn(name))]


KINDS: dict[str, Kind] = {
    "env": Kind(_read_env, lambda name: [], calls=0, variable=True),
    "secretsmanager": Kind(_read_secret, _secret_grants, calls=1, module="backends.secretsmanager"),
    "ssm": Kind(_read_parameter, _parameter_grants, calls=1, module="backends.ssm"),
}
"""Every kind of reference: read, grants, cost (the deployment model and the backends read it)."""


def references(settings: Any) -> list[SecretRef]:
    """Every SecretRef in a settings object, nested ones included."""
    if isinstance(settings, SecretRef):
        return [settings]
    if not dataclasses.is_dataclass(settings):
        return []
    return [ref for f in dataclasses.fields(settings)
            for ref in references(getattr(settings, f.name))]


def resolve(ref: SecretRef, deps: Deps, make: MakeError, *, timeout: float = 5.0,
            word: bool = True) -> str:
    """The secret value behind ``ref``; failures are BrokerErrors built by ``make``. With
    ``word`` (a token, a secret_id: what goes into a header), it must be one printable word;
    ``word=False`` takes a document."""
    from broker.deadline import current
    from broker.login import FormatProblem

    if KINDS[ref.kind].calls and not current().allows(aws_errors.call_seconds(timeout)):
        raise make(BackendUnavailable, f"no time is left in the invocation for a read of the "
                                       f"reference (up to {aws_errors.call_seconds(timeout):g} s)",
                   "Raise the function's timeout, or lower `timeout` for this registry", str(ref))
    try:
        value = KINDS[ref.kind].read(ref.name, deps, timeout)
    except FormatProblem as exc:
        raise make(MalformedSecret, str(exc), exc.hint or "Store the value as text",
                   str(ref)) from None
    except Exception as exc:
        error = aws_errors.translate(exc, lambda cls, problem, hint: make(cls, problem, hint, str(ref)))
        if error is None:
            raise
        raise error from None  # never chained: see Backend._fetch_once
    if not value:
        raise make(SecretNotFound, _EMPTY[ref.kind], _EMPTY_HINT[ref.kind], str(ref))
    return _checked(value, ref, make) if word else value


_EMPTY = {"env": "the environment variable is not set or empty",
          "secretsmanager": "the referenced value is empty",
          "ssm": "the parameter does not exist or is empty"}
_EMPTY_HINT = {"env": "Set it in the function's environment", "secretsmanager": "Store the value",
               "ssm": "Create the parameter in this account and region, or fix the name"}


def _checked(value: str, ref: SecretRef, make: MakeError) -> str:
    """A referenced secret goes into a header or a login request: it must be one printable
    word. A client would otherwise refuse it with an error quoting it."""
    if not _PRINTABLE_WORD.match(value):
        raise make(MalformedSecret, "the referenced value holds whitespace or control characters "
                                    "(a trailing newline from `echo` is the usual cause)",
                   "Store the value without surrounding whitespace or line breaks", str(ref))
    return value
