"""``artifactory``: a JFrog Artifactory login minted from the function's own AWS identity.

JFrog's passwordless access (Artifactory 7.90.10 or later): the function signs an STS
``GetCallerIdentity`` request with botocore's own SigV4 signer (the request is never sent to
AWS) and posts its signed headers to ``POST /access/api/v1/aws/token``; JFrog verifies them
with AWS, finds the JFrog user an administrator mapped to the role (``PUT
/access/api/v1/aws/iam_role``) and answers a short-lived token for that user. No Artifactory
password exists anywhere.

The signed headers prove the function's identity to whoever holds them for fifteen minutes:
they go only to ``url``'s origin, through a bounded session (no redirect followed, no other
host, one resolution per request), and the framework refuses one identity's proof going to
two hosts (:meth:`signed_identities`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from backends.base import Backend, signer_grants
from broker import schema
from broker.aws import REGION, ROLE_ARN
from broker.errors import AccessDenied, BackendUnavailable, MalformedSecret, SecretNotFound
from broker.login import Login, checked_login

if TYPE_CHECKING:
    from broker.identity import Minting

EXCHANGE = "/access/api/v1/aws/token"
URL = {"pattern": (re.compile(r"https://[^\s/?#@\\]+(/[^\s?#@\\]*)?"),
                   "must be the JFrog platform's https:// URL (https://acme.jfrog.io), without "
                   "query, fragment or user")}
_TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*\Z")


@dataclass(frozen=True, kw_only=True)
class ArtifactorySettings:
    """``url`` (the JFrog platform), ``region`` to sign for and ``role_arn`` to sign as
    (default the function's own), ``expires_in`` (seconds the token lives), ``ca_bundle``."""

    url: str = field(metadata=URL)
    region: str | None = field(default=None, metadata=REGION)
    role_arn: str | None = field(default=None, metadata=ROLE_ARN)
    expires_in: int = field(default=3600, metadata={"min": 300})
    ca_bundle: str | None = None

    def check(self) -> list[tuple[str, str]]:
        problems = schema.ca_bundle_problems(self.ca_bundle)
        if self.expires_in > 86400:
            problems.append(("expires_in", "must be at most 86400 (a day): a minted login is "
                                           "short-lived"))
        return problems


class ArtifactoryBackend(Backend):
    """One token exchange per half token lifetime; no stored secret."""

    type = "artifactory"
    Settings = ArtifactorySettings
    mints = True
    distributions = ("requests",)

    @classmethod
    def iam_grants(cls, settings: ArtifactorySettings) -> list[Any]:
        return signer_grants(settings.role_arn)

    @classmethod
    def minting(cls, settings: ArtifactorySettings, host: str) -> Minting:
        """The AWS identity it signs as, then the JFrog user mapped to it on ``url``'s host:
        two registries signing as one identity on one platform would get one user's token."""
        from broker import identity

        chain = identity.minted_by(settings.role_arn)
        platform = _host(settings.url)
        return chain.then(f"jfrog-user:{platform}|{chain.served.key}",
                          f"the JFrog user mapped to {chain.served.label} on {platform}")

    @classmethod
    def signed_identities(cls, settings: ArtifactorySettings) -> list[tuple[str, str]]:
        from broker import identity

        return [(identity.minted_by(settings.role_arn).served.key, _host(settings.url))]

    @classmethod
    def scoping(cls, settings: ArtifactorySettings) -> str:
        return ("cannot scope: JFrog's AWS token exchange takes only an expiry, so the token "
                "carries the mapped user's permissions: give that user read on the "
                "repositories, nothing more")

    @classmethod
    def describe(cls, settings: ArtifactorySettings) -> str:
        return f"AWS token exchange at {settings.url.rstrip('/')}"

    @classmethod
    def network_hosts(cls, settings: ArtifactorySettings) -> list[tuple[str, str]]:
        return [("url", _host(settings.url))]

    @classmethod
    def deploy_notes(cls, settings: ArtifactorySettings) -> list[str]:
        role = settings.role_arn or "the function's execution role (`mints as` above; stack " \
                                    "output BrokerRoleArn)"
        return [f"JFrog: map {role} to a user with read on the repositories: PUT "
                f"{settings.url.rstrip('/')}/access/api/v1/aws/iam_role with "
                "{\"username\": USER, \"iam_role\": ROLE_ARN} (an admin token; Artifactory "
                "7.90.10 or later)"]

    def _fetch(self) -> Login:
        from broker.transport.bounded import bounded_session

        s = self.settings
        headers, region = self._signed()
        session = bounded_session(self.deadline, [s.url])
        session.verify = s.ca_bundle or True
        answer = session.post(f"{s.url.rstrip('/')}{EXCHANGE}", params={"region": region},
                              json={"expires_in": s.expires_in}, headers=headers,
                              timeout=self.registry.timeout)
        return self._login(answer)

    def _signed(self) -> tuple[dict[str, str], str]:
        """The headers of a SigV4-signed ``GetCallerIdentity`` for ``region``'s STS."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials, region = self.signing_identity(self.settings.role_arn, self.settings.region)
        request = AWSRequest(method="GET", url=f"https://sts.{region}.amazonaws.com/"
                                               "?Action=GetCallerIdentity&Version=2011-06-15")
        SigV4Auth(credentials, "sts", region).add_auth(request)
        signed = {k: v for k, v in request.headers.items()
                  if k.lower() in ("authorization", "x-amz-date", "x-amz-security-token")}
        return {**signed, "Content-Type": "application/json"}, region

    def _login(self, answer: Any) -> Login:
        if answer.status_code != 200:
            raise self._refused(answer.status_code)
        try:
            found = answer.json()
            token, username, seconds = (found["access_token"], found["username"],
                                        found["expires_in"])
        except (ValueError, KeyError, TypeError, RecursionError):
            raise self.error(MalformedSecret, "JFrog answered something that is not a token "
                             "(access_token, username, expires_in)", "Check `url` is the JFrog "
                             "platform, not a proxy or a repository URL") from None
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 < seconds <= 86400 \
                or not isinstance(token, str) or not _TOKEN.match(token):
            raise self.error(MalformedSecret, "JFrog answered a token without a usable expiry, "
                             "or one that is not a single word", "Retry; check the platform")
        login = checked_login(username, token, "the token's username", "the access token")
        return self.deps.expiring(login, self.deps.wall() + seconds)

    def _refused(self, status: int) -> Exception:
        role = self.settings.role_arn or "the function's role"
        if status in (401, 403):
            return self.error(AccessDenied, f"JFrog refused the AWS identity (HTTP {status})",
                              f"Map {role} to a JFrog user: PUT /access/api/v1/aws/iam_role "
                              "(broker plan prints it)")
        if status == 404:
            return self.error(SecretNotFound, "JFrog has no AWS token exchange here (HTTP 404)",
                              "Check `url` (the platform, not /artifactory) and that it runs "
                              "Artifactory 7.90.10 or later")
        return self.error(BackendUnavailable, f"JFrog answered HTTP {status}", "Retry later")


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
