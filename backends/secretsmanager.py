"""``secretsmanager``: the login in one AWS Secrets Manager secret."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.base import Backend, Deps
from broker import aws
from broker.errors import BrokerError, MalformedSecret
from broker.login import Login, SecretFormat


@dataclass(frozen=True, kw_only=True)
class SecretsManagerSettings(SecretFormat):
    """``secret_id`` (name or ARN), ``version_stage``, ``region``, ``role_arn``, and the format keys."""

    secret_id: str
    version_stage: str = "AWSCURRENT"
    region: str | None = None
    role_arn: str | None = None


class SecretsManagerBackend(Backend):
    """One ``GetSecretValue`` per fetch, through a client built at init."""

    type = "secretsmanager"
    Settings = SecretsManagerSettings

    def __init__(self, registry: Any, deps: Deps) -> None:
        super().__init__(registry, deps)
        assert deps.aws is not None
        s = self.settings
        self.client = deps.aws.client("secretsmanager", region=s.region, role_arn=s.role_arn,
                                      timeout=registry.timeout)

    @property
    def reference(self) -> str:
        return f"secret '{self.settings.secret_id}'"

    def _fetch(self) -> Login:
        s = self.settings
        answer = self.client.get_secret_value(SecretId=s.secret_id, VersionStage=s.version_stage)
        if "SecretString" not in answer:
            raise self.error(MalformedSecret, "the secret holds SecretBinary, not SecretString",
                             "Store the login as a SecretString (JSON text)")
        return s.parse(answer["SecretString"], self.registry.host)

    def translate(self, exc: Exception) -> BrokerError:
        return aws.translate(exc, self.error) or super().translate(exc)
