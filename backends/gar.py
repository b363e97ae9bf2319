"""``gar``: a Google Artifact Registry login minted from the function's own AWS identity.

Workload identity federation, with no stored secret: google-auth signs an STS
``GetCallerIdentity`` request with the function's AWS credentials (the request is never sent
to AWS), Google's STS verifies it and answers a federated access token, which IAM Credentials
optionally exchanges for a ``service_account``'s token. The login is ``oauth2accesstoken``
and that token, with its own expiry.

The signed request proves the function's AWS identity to whoever receives it for fifteen
minutes, so it goes only to Google's STS (and the federated token only to IAM Credentials):
their own https endpoints or Private Service Connect names, with fixed paths (or, for a local
test, a loopback address, which deploy/build.py refuses); no redirect is followed.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from backends.base import Backend, signer_grants
from broker import aws, schema
from broker.aws import REGION, ROLE_ARN
from broker.errors import AccessDenied, BackendUnavailable, BrokerError, ConfigError, SecretNotFound
from broker.login import Login, checked_login

if TYPE_CHECKING:
    from broker.identity import Minting

USERNAME = "oauth2accesstoken"
SCOPE = "https://www.googleapis.com/auth/cloud-platform.read-only"
"""The narrowest scope Artifact Registry accepts for pulling. A token with it cannot call IAM
Credentials' generateAccessToken (which takes the iam or cloud-platform scope): a served
federated token cannot impersonate any service account."""
SUBJECT_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"
AUDIENCE = {"pattern": (re.compile(
    r"//iam\.googleapis\.com/projects/[0-9]+/locations/global/workloadIdentityPools/"
    r"[a-z0-9-]+/providers/[a-z0-9-]+"),
    "must be the provider's full name: //iam.googleapis.com/projects/NUMBER/locations/global/"
    "workloadIdentityPools/POOL/providers/PROVIDER")}
SERVICE_ACCOUNT = {"pattern": (re.compile(r"[a-z0-9-]+@[a-z0-9.-]+\.gserviceaccount\.com"),
                               "must be a service account email (NAME@PROJECT.iam.gserviceaccount.com)")}
_ENDPOINTS = {  # key: (Google's host for it, its Private Service Connect form, its path)
    "token_url": ("sts.googleapis.com", re.compile(r"sts-[a-z0-9-]+\.p\.googleapis\.com"),
                  ("/v1/token",)),
    "iam_credentials_url": ("iamcredentials.googleapis.com",
                            re.compile(r"iamcredentials-[a-z0-9-]+\.p\.googleapis\.com"), ("/",)),
}


@dataclass(frozen=True, kw_only=True)
class GarSettings:
    """``audience`` (the workload identity pool provider), ``service_account`` to impersonate
    (optional: without it the federated token itself pulls), ``region`` to sign for and
    ``role_arn`` to sign as (default the function's own); ``token_url``,
    ``iam_credentials_url`` and ``ca_bundle`` for a private endpoint or a test."""

    audience: str = field(metadata=AUDIENCE)
    service_account: str | None = field(default=None, metadata=SERVICE_ACCOUNT)
    region: str | None = field(default=None, metadata=REGION)
    role_arn: str | None = field(default=None, metadata=ROLE_ARN)
    token_url: str = "https://sts.googleapis.com/v1/token"
    iam_credentials_url: str = "https://iamcredentials.googleapis.com"
    ca_bundle: str | None = None

    def check(self) -> list[tuple[str, str]]:
        problems = [(key, problem) for key in _ENDPOINTS
                    for problem in _endpoint_problems(key, getattr(self, key))]
        problems += schema.ca_bundle_problems(self.ca_bundle)
        return problems


def _endpoint_problems(key: str, url: str) -> list[str]:
    """Where the signed AWS identity (token_url) or the federated token (iam_credentials_url)
    may go: Google's own endpoint for it (or its Private Service Connect name), or, for
    tests, a loopback address; https, its own path, nothing else."""
    from broker import netguard

    host, private, paths = _ENDPOINTS[key]
    try:
        target = netguard.parse_url(url, {"https"})
    except netguard.Refused as exc:
        return [f"must be an https URL: {exc.args[0]} was given"]
    if not (target.host == host or private.fullmatch(target.host)
            or netguard.is_loopback(target.host)):
        return [f"must be on {host} (or its Private Service Connect name, "
                f"{private.pattern.replace(chr(92), '')}): it receives "
                f"{'the signed AWS identity' if key == 'token_url' else 'the federated token'}"]
    if target.path not in paths or "#" in url:
        return [f"must have the path {paths[0]} and no query or fragment"]
    return []


class GarBackend(Backend):
    """One STS exchange (and one impersonation) per token lifetime; no stored secret."""

    type = "gar"
    Settings = GarSettings
    mints = True
    distributions = ("google-auth", "requests")
    loggers = ("google.auth", "google.oauth2")

    @classmethod
    def iam_grants(cls, settings: GarSettings) -> list[Any]:
        return signer_grants(settings.role_arn)

    @classmethod
    def minting(cls, settings: GarSettings, host: str) -> Minting:
        """The AWS identity it signs as, the pool's federated principal for it, and the
        service account it impersonates, if any. Served without one, the federated token acts
        as the principal: no other registry may then impersonate through that principal (its
        invokers could mint that registry's login), which the framework refuses."""
        from broker import identity

        chain = identity.minted_by(settings.role_arn)
        pool = settings.audience.split("/providers/", 1)[0]
        chain = chain.then(f"google-principal:{pool}|{chain.served.key}", f"the Google principal "
                           f"of {pool.rsplit('/', 1)[-1]} signed as {chain.served.label}")
        if settings.service_account:
            chain = chain.then(f"google-sa:{settings.service_account.lower()}",
                               f"service account {settings.service_account}")
        return chain

    @classmethod
    def scoping(cls, settings: GarSettings) -> str:
        return ("reading only (cloud-platform.read-only, the narrowest scope Artifact Registry "
                "takes); which repositories is the principal's roles/artifactregistry.reader")

    @classmethod
    def describe(cls, settings: GarSettings) -> str:
        who = f" as {settings.service_account}" if settings.service_account else ""
        return f"workload identity provider {settings.audience}{who}"

    @classmethod
    def network_hosts(cls, settings: GarSettings) -> list[tuple[str, str]]:
        found = [("token_url", urlsplit(settings.token_url).hostname or "")]
        if settings.service_account:
            found.append(("iam_credentials_url", urlsplit(settings.iam_credentials_url).hostname or ""))
        return found

    @classmethod
    def deploy_notes(cls, settings: GarSettings) -> list[str]:
        signer = settings.role_arn or "the function's execution role (stack output BrokerRoleArn)"
        reader = settings.service_account or "the federated principal"
        notes = [f"Google: the workload identity pool's AWS provider must trust {signer}; grant "
                 f"{reader} roles/artifactregistry.reader on the repositories"]
        if settings.service_account:
            notes.append(f"Google: grant the federated principal roles/iam.workloadIdentityUser "
                         f"on {settings.service_account}")
        return notes

    def __init__(self, registry: Any, deps: Any) -> None:
        super().__init__(registry, deps)
        # At init, not in the first invocation: google-auth with cryptography takes ~100 ms.
        import google.auth.aws  # noqa: F401
        import google.auth.transport.requests  # noqa: F401

        self._last: tuple[str, int] | None = None  # the host last asked, and its answer's status

    def _fetch(self) -> Login:
        from google.auth import aws as google_aws

        self._last = None
        s = self.settings
        credentials = google_aws.Credentials(
            audience=s.audience, subject_token_type=SUBJECT_TOKEN_TYPE, token_url=s.token_url,
            aws_security_credentials_supplier=_AwsIdentity(self), scopes=[SCOPE],
            service_account_impersonation_url=self._impersonation_url())
        credentials.refresh(self._request())
        login = checked_login(USERNAME, credentials.token, "the username", "the access token")
        expiry = credentials.expiry.replace(tzinfo=datetime.UTC).timestamp()
        return self.deps.expiring(login, expiry)

    def _impersonation_url(self) -> str | None:
        account = self.settings.service_account
        return account and (f"{self.settings.iam_credentials_url.rstrip('/')}/v1/projects/-/"
                            f"serviceAccounts/{account}:generateAccessToken")

    def _request(self) -> Any:
        """google-auth's transport over a bounded session, recording each answer's status."""
        from google.auth.transport.requests import Request

        from broker.transport.bounded import bounded_session

        s = self.settings
        urls = [s.token_url] + ([s.iam_credentials_url] if s.service_account else [])
        session = bounded_session(self.deadline, urls)
        session.verify = self.settings.ca_bundle or True
        inner, timeout = Request(session), self.registry.timeout

        def request(url: str, method: str = "GET", **kwargs: Any) -> Any:
            self._last = (urlsplit(url).hostname or "", 0)
            kwargs["timeout"] = timeout
            response = inner(url, method, **kwargs)
            self._last = (self._last[0], response.status)
            return response
        return request

    def aws_identity(self) -> tuple[Any, str]:
        """The frozen AWS credentials to sign with, and the region to sign for."""
        return self.signing_identity(self.settings.role_arn, self.settings.region)

    def translate(self, exc: Exception) -> BrokerError:
        import google.auth.exceptions as google

        if isinstance(exc, google.DefaultCredentialsError):  # settings google-auth refused
            return self.error(ConfigError, f"google-auth refused the settings "
                                           f"({type(exc).__name__})", "Check audience and the URLs")
        if isinstance(exc, (google.RefreshError, google.OAuthError)) and self._last:
            return self._refused(*self._last)
        if isinstance(exc, google.TransportError):
            return self.error(BackendUnavailable, "Google did not answer",
                              "Retry; check the function's network access to googleapis.com")
        if isinstance(exc, (ValueError, TypeError, OverflowError, KeyError)):
            return self.error(BackendUnavailable, f"Google answered a token without a usable "
                                                  f"expiry ({type(exc).__name__})", "Retry later")
        return aws.translate(exc, self.error) or super().translate(exc)

    def _refused(self, host: str, status: int) -> BrokerError:
        at_sts = host == urlsplit(self.settings.token_url).hostname
        where = f"Google's STS ({host})" if at_sts else f"IAM Credentials ({host})"
        if status in (400, 401, 403):
            hint = ("Check `audience` is the provider's full name and that the pool's AWS provider "
                    "trusts this account and role" if at_sts else
                    "Grant the federated principal roles/iam.workloadIdentityUser on the service "
                    "account")
            return self.error(AccessDenied, f"{where} refused the exchange (HTTP {status})", hint)
        if status == 200:
            return self.error(BackendUnavailable, f"{where} answered without a usable token or "
                                                  f"expiry", "Retry later")
        if status == 404:
            return self.error(SecretNotFound, f"{where} knows no such "
                                              f"{'provider' if at_sts else 'service account'}",
                              "Check `audience` and `service_account`")
        return self.error(BackendUnavailable, f"{where} answered HTTP {status}", "Retry later")


class _AwsIdentity:
    """google-auth's AWS credentials supplier (duck-typed: subclassing its ABC would import
    google-auth with this module), backed by the backend's botocore session."""

    def __init__(self, backend: GarBackend) -> None:
        self.backend = backend

    def get_aws_security_credentials(self, context: Any, request: Any) -> Any:
        from google.auth.aws import AwsSecurityCredentials

        frozen, _ = self.backend.aws_identity()
        return AwsSecurityCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    def get_aws_region(self, context: Any, request: Any) -> str:
        return self.backend.aws_identity()[1]

