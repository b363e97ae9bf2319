"""``secretsmanager``: the login in one AWS Secrets Manager secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backends.base import AwsBackend
from broker.aws import KMS_KEY_ARN, NO_WILDCARD, REGION, ROLE_ARN
from broker.login import FormatProblem, Login, SecretFormat


@dataclass(frozen=True, kw_only=True)
class SecretsManagerSettings(SecretFormat):
    """``secret_id`` (name or ARN), ``version_stage``, ``region``, ``role_arn``, and the format keys."""

    secret_id: str = field(metadata=NO_WILDCARD)
    version_stage: str = "AWSCURRENT"
    region: str | None = field(default=None, metadata=REGION)
    role_arn: str | None = field(default=None, metadata=ROLE_ARN)
    # A customer-managed key: deployment grants kms:Decrypt on it.
    kms_key: str | None = field(default=None, metadata=KMS_KEY_ARN)


class SecretsManagerBackend(AwsBackend):
    """One ``GetSecretValue`` per fetch, through a client built at init."""

    type = "secretsmanager"
    service = "secretsmanager"
    Settings = SecretsManagerSettings

    @classmethod
    def store_grants(cls, settings: SecretsManagerSettings) -> list:
        from broker import grants

        region = cls.region_of(settings)  # the region it is read in: the grant must be there
        return [grants.read_secret(grants.secret_arn(settings.secret_id, region),
                                   settings.version_stage)]

    @classmethod
    def describe(cls, settings: SecretsManagerSettings) -> str:
        return f"secret '{settings.secret_id}'"

    def _fetch(self) -> Login:
        s = self.settings
        return s.parse(read_secret(self.client, s.secret_id, s.version_stage), self.registry.host)

def read_secret(client: Any, secret_id: str, version_stage: str = "AWSCURRENT") -> str:
    """The SecretString of ``secret_id`` at ``version_stage``: the one read of a secret, for
    this backend and for ``{secretsmanager: ...}`` references alike (client errors are
    translated by the caller with :func:`broker.aws.translate`)."""
    answer = client.get_secret_value(SecretId=secret_id, VersionStage=version_stage)
    if "SecretString" not in answer:
        raise FormatProblem("the secret holds SecretBinary, not SecretString",
                            "Store the value as a SecretString (JSON text)")
    return answer["SecretString"]
