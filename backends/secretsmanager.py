"""``secretsmanager``: the login in one AWS Secrets Manager secret."""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.base import AwsBackend
from broker.aws import KMS_KEY_ARN, NO_WILDCARD, REGION, ROLE_ARN
from broker.errors import MalformedSecret
from broker.login import Login, SecretFormat


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
        from broker import iam

        return [iam.Grant(iam.SECRETS, iam.secret_arn(settings.secret_id, settings.region))]

    @classmethod
    def describe(cls, settings: SecretsManagerSettings) -> str:
        return f"secret '{settings.secret_id}'"

    def _fetch(self) -> Login:
        s = self.settings
        answer = self.client.get_secret_value(SecretId=s.secret_id, VersionStage=s.version_stage)
        if "SecretString" not in answer:
            raise self.error(MalformedSecret, "the secret holds SecretBinary, not SecretString",
                             "Store the login as a SecretString (JSON text)")
        return s.parse(answer["SecretString"], self.registry.host)
