"""References to secret values, for config fields that must never hold a literal secret.

Written as ``{env: VAR}``, ``{secretsmanager: ID}`` or ``{ssm: /name}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from broker import aws as aws_errors
from broker.errors import BrokerError, MalformedSecret, SecretNotFound
from broker.schema import Problems, kind

if TYPE_CHECKING:
    from broker.deps import Deps

KINDS = ("env", "secretsmanager", "ssm")
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
    pattern, message = aws_errors.NO_WILDCARD["pattern"]
    return None if pattern.fullmatch(name) else message


def is_function_variable(name: str) -> bool:
    """True for the variables Lambda gives the function itself (its AWS credentials among them)."""
    return name.upper().startswith(("AWS_", "_X_AMZN_"))


FUNCTION_VARIABLE = ("names one of the function's own variables (AWS_*, AWS_LAMBDA_*, _X_AMZN_*), "
                     "which hold its AWS credentials: they are never sent anywhere")


def resolve(ref: SecretRef, deps: Deps, make: MakeError, *, timeout: float = 5.0,
            word: bool = True) -> str:
    """The secret value behind ``ref``; failures are BrokerErrors built by ``make``. With
    ``word`` (a token, a secret_id: what goes into a header), it must be one printable word;
    ``word=False`` takes a document."""
    if ref.kind == "env":
        value = _from_env(ref, deps, make)
        return _checked(value, ref, make) if word else value
    try:
        value = _from_aws(ref, deps, timeout)
    except Exception as exc:
        error = aws_errors.translate(exc, lambda cls, problem, hint: make(cls, problem, hint, str(ref)))
        if error is None:
            raise
        raise error from None  # never chained: see Backend._fetch_once
    if not value:
        raise make(SecretNotFound, "the referenced value is empty", "Store the value", str(ref))
    return _checked(value, ref, make) if word else value


def _from_env(ref: SecretRef, deps: Deps, make: MakeError) -> str:
    value = deps.environ.get(ref.name)
    if not value:
        raise make(SecretNotFound, "the environment variable is not set or empty",
                   "Set it in the function's environment", str(ref))
    return value


def _checked(value: str, ref: SecretRef, make: MakeError) -> str:
    """A referenced secret goes into a header or a login request: it must be one printable
    word. A client would otherwise refuse it with an error quoting it."""
    if not _PRINTABLE_WORD.match(value):
        raise make(MalformedSecret, "the referenced value holds whitespace or control characters "
                                    "(a trailing newline from `echo` is the usual cause)",
                   "Store the value without surrounding whitespace or line breaks", str(ref))
    return value


def _from_aws(ref: SecretRef, deps: Deps, timeout: float) -> str | None:
    assert deps.aws is not None, "AWS clients are needed for secretsmanager/ssm references"
    if ref.kind == "secretsmanager":
        client = deps.aws.client("secretsmanager", timeout=timeout)
        return client.get_secret_value(SecretId=ref.name).get("SecretString")
    client = deps.aws.client("ssm", timeout=timeout)
    return client.get_parameter(Name=ref.name, WithDecryption=True)["Parameter"]["Value"]
