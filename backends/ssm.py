"""``ssm``: the login in SSM Parameter Store, as one document or two parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backends.base import AwsBackend
from broker.aws import KMS_KEY_ARN, NO_WILDCARD, REGION, ROLE_ARN
from broker.errors import SecretNotFound
from broker.login import Login, SecretFormat, checked_login


@dataclass(frozen=True, kw_only=True)
class SsmSettings(SecretFormat):
    """Either ``parameter`` (a whole login document) or ``username_parameter`` + ``password_parameter``."""

    parameter: str | None = field(default=None, metadata=NO_WILDCARD)
    username_parameter: str | None = field(default=None, metadata=NO_WILDCARD)
    password_parameter: str | None = field(default=None, metadata=NO_WILDCARD)
    region: str | None = field(default=None, metadata=REGION)
    role_arn: str | None = field(default=None, metadata=ROLE_ARN)
    # A customer-managed key: deployment grants kms:Decrypt on it.
    kms_key: str | None = field(default=None, metadata=KMS_KEY_ARN)

    def check(self) -> list[tuple[str, str]]:
        problems = [(key, problem) for key in ("parameter", "username_parameter",
                                               "password_parameter")
                    if (problem := name_problem(getattr(self, key)))]
        pair = (self.username_parameter, self.password_parameter)
        one_document, two_parameters = self.parameter and not any(pair), not self.parameter and all(pair)
        if not (one_document or two_parameters):
            problems.append(("parameter", "set either `parameter`, or both `username_parameter` "
                                          "and `password_parameter`"))
        return problems

    @property
    def names(self) -> list[str]:
        """The parameter names fetched, in one GetParameters call."""
        if self.parameter:
            return [self.parameter]
        return [self.username_parameter, self.password_parameter]  # type: ignore[list-item]


def name_problem(name: str | None) -> str | None:
    """Why SSM would refuse ``name``, or None: a name in a hierarchy (with a ``/``) must start
    with ``/`` (or be a parameter ARN)."""
    if name and "/" in name and not name.startswith(("/", "arn:")):
        return f"a parameter name in a hierarchy starts with '/': write /{name}"
    return None


class SsmBackend(AwsBackend):
    """One ``GetParameters`` call (with decryption) per fetch, whichever layout is used."""

    type = "ssm"
    service = "ssm"
    Settings = SsmSettings

    @classmethod
    def store_grants(cls, settings: SsmSettings) -> list:
        from broker import grants

        region = cls.region_of(settings)  # the region it is read in: the grant must be there
        return [grants.Grant(grants.PARAMETERS, grants.parameter_arn(name, region))
                for name in settings.names]

    @classmethod
    def describe(cls, settings: SsmSettings) -> str:
        names = settings.names
        return f"parameter{'s' if len(names) > 1 else ''} {', '.join(names)}"

    def _fetch(self) -> Login:
        names = self.settings.names
        try:
            values = read_parameters(self.client, names)
        except ParametersMissing as exc:
            raise self.error(SecretNotFound, f"missing: {', '.join(exc.names)}",
                             "Create the parameter(s) in this account and region, or fix the "
                             "names") from None
        if self.settings.parameter:
            return self.settings.parse(values[names[0]], self.registry.host)
        return checked_login(values[names[0]], values[names[1]],
                             *(f"parameter {name}" for name in names))


class ParametersMissing(Exception):
    """Parameters that do not exist (names from the configuration, never values)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def read_parameters(client: Any, names: list[str]) -> dict[str, str]:
    """Every parameter's value, decrypted, in one ``GetParameters`` call: the one read of
    parameters, for this backend, ``{ssm: ...}`` references and an ``ssm:`` configuration
    alike (client errors are translated by the caller with :func:`broker.aws.translate`)."""
    answer = client.get_parameters(Names=names, WithDecryption=True)
    if answer.get("InvalidParameters"):
        raise ParametersMissing([str(name) for name in answer["InvalidParameters"]])
    return {p["Name"]: p["Value"] for p in answer["Parameters"]}
