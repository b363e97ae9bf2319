"""``ecr``: a 12-hour Amazon ECR login minted with the function's own identity, no stored secret.

SageMaker pulls from ECR in another account or region through VPC mode with this login:
``GetAuthorizationToken`` for the registry's account (``registry_id``) in ``region``,
optionally as ``role_arn``. The token carries the caller's permissions, so the configuration
names the ``repositories`` it may pull, and the deployment grants exactly those.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backends.base import AwsBackend
from broker.aws import NO_WILDCARD, REGION, ROLE_ARN
from broker.errors import MalformedSecret
from broker.login import FormatProblem, Login, checked_login

if TYPE_CHECKING:
    from broker.identity import Minting

ACCOUNT = {"pattern": (re.compile(r"[0-9]{12}"), "must be a 12-digit AWS account id")}


@dataclass(frozen=True, kw_only=True)
class EcrSettings:
    """``repositories`` (required), ``registry_id`` (the registry's account; default the
    function's), ``region`` (default the function's), ``role_arn``."""

    repositories: tuple[str, ...] = field(metadata=NO_WILDCARD)
    registry_id: str | None = field(default=None, metadata=ACCOUNT)
    region: str | None = field(default=None, metadata=REGION)
    role_arn: str | None = field(default=None, metadata=ROLE_ARN)


class EcrBackend(AwsBackend):
    """One ``GetAuthorizationToken`` per token lifetime (the cache honours its expiry)."""

    type = "ecr"
    service = "ecr"
    Settings = EcrSettings
    mints = True

    @classmethod
    def store_grants(cls, settings: EcrSettings) -> list:
        from broker import grants

        account, region = settings.registry_id or grants.ACCOUNT, settings.region or grants.REGION
        pull = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
        # GetAuthorizationToken has no resource to scope to: AWS requires "*".
        return [grants.Grant(("ecr:GetAuthorizationToken",), "*"),
                *(grants.Grant(pull, f"arn:{grants.PARTITION}:ecr:{region}:{account}:repository/{name}")
                  for name in settings.repositories)]

    @classmethod
    def minting(cls, settings: EcrSettings, host: str) -> Minting:
        """An ECR token carries every pull grant of the identity that asked for it, in any
        registry: two registries asking as one identity would each pull the other's
        repositories, so the framework refuses them (broker.identity)."""
        from broker import identity

        chain = identity.minted_by(settings.role_arn)
        return chain.then(f"ecr-token:{chain.served.key}", f"an ECR token of {chain.served.label}")

    @classmethod
    def scoping(cls, settings: EcrSettings) -> str:
        return (f"pull only, on {', '.join(settings.repositories)}: the token carries the "
                "asking role's grants, which name exactly those")

    @classmethod
    def deploy_notes(cls, settings: EcrSettings) -> list[str]:
        if not settings.role_arn:
            return []
        return [f"the token carries {settings.role_arn}'s permissions: let that role "
                f"GetAuthorizationToken and pull exactly {', '.join(settings.repositories)}"]

    @classmethod
    def describe(cls, settings: EcrSettings) -> str:
        account = settings.registry_id or "the function's account"
        return f"authorization token for {account}'s registry"

    def _fetch(self) -> Login:
        s = self.settings
        asked = {"registryIds": [s.registry_id]} if s.registry_id else {}
        answer = self.client.get_authorization_token(**asked)
        data = (answer.get("authorizationData") or [{}])[0]
        login = _login_from(data.get("authorizationToken"))
        expires = data.get("expiresAt")
        if expires is None:
            raise self.error(MalformedSecret, "ECR answered a token without an expiry",
                             "Retry; if it persists, check the ECR endpoint")
        return self.deps.expiring(login, expires.timestamp())

    @property
    def format_hint(self) -> str:
        return "ECR answered something that is not its own token; check the endpoint"


def _login_from(token: Any) -> Login:
    try:
        text = base64.b64decode(token or "", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, TypeError):
        raise FormatProblem("the authorization token is not base64 of 'AWS:password'") from None
    username, sep, password = text.partition(":")
    if not sep:
        raise FormatProblem("the authorization token has no ':'")
    return checked_login(username, password, "the token's user", "the token's password")
