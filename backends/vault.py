"""``vault``: the login in a HashiCorp Vault or OpenBao KV secret, read through hvac.

The Vault token is obtained on the first fetch (never at init, so no secret is
fetched before a snapshot), re-obtained when two thirds of its lease have
passed, and once more whenever Vault answers 403 (an expired or revoked token).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from backends.base import Backend
from broker import refs, schema
from broker.aws import REGION
from broker.deps import Deps
from broker.errors import (
    AccessDenied,
    BackendUnavailable,
    BrokerError,
    SecretNotFound,
)
from broker.login import Login, SecretFormat
from broker.refs import SecretRef
from broker.transport.errors import TransportError

_METHOD_KEYS = {
    "aws": {"role", "header_value", "region"},
    "approle": {"role_id", "secret_id"},
    "token": {"token"},
}
_REQUIRED = {"approle": ("role_id", "secret_id"), "token": ("token",), "aws": ("header_value",)}
_WHY_REQUIRED = {"header_value": " (it binds the signed login to this Vault: the same value as the "
                                 "auth method's iam_server_id_header_value)"}
_NAMESPACE = re.compile(r"[A-Za-z0-9_./-]+")


@dataclass(frozen=True, kw_only=True)
class VaultAuth:
    """How the broker logs in to Vault: ``aws`` (IAM), ``approle`` or ``token``."""

    method: Literal["aws", "approle", "token"]
    mount: str | None = None
    role: str | None = None
    header_value: str | None = None
    region: str | None = field(default=None, metadata=REGION)  # STS region to sign for
    role_id: SecretRef | str | None = None
    secret_id: SecretRef | None = None
    token: SecretRef | None = None

    def check(self) -> list[tuple[str, str]]:
        problems = [(k, f"required for this auth method{_WHY_REQUIRED.get(k, '')}")
                    for k in _REQUIRED.get(self.method, ()) if getattr(self, k) is None]
        for other, keys in _METHOD_KEYS.items():
            problems += [(k, f"only applies to auth method '{other}'") for k in sorted(keys)
                         if other != self.method and getattr(self, k) is not None]
        return problems


@dataclass(frozen=True, kw_only=True)
class VaultSettings(SecretFormat):
    """Where the KV secret lives and how to reach Vault (``address`` defaults to env VAULT_ADDR).

    ``address`` is an https URL (http only with ``insecure: true``, for a test Vault: the
    signed AWS login, an AppRole secret_id and the Vault token would travel in clear text).
    """

    ENV_DEFAULTS = {"address": "VAULT_ADDR"}

    address: str
    path: str
    auth: VaultAuth
    mount: str = "secret"
    kv_version: Literal[1, 2] = 2
    namespace: str | None = None
    ca_bundle: str | None = None
    insecure: bool = False

    def check(self) -> list[tuple[str, str]]:
        problems = _address_problems(self.address, self.insecure)
        if self.namespace is not None and not _NAMESPACE.fullmatch(self.namespace):
            problems.append(("namespace", "must be a Vault namespace path (letters, digits, "
                                          "_ . / -; no whitespace or control characters)"))
        problems += schema.ca_bundle_problems(self.ca_bundle)
        return problems


def _address_problems(address: str, insecure: bool) -> list[tuple[str, str]]:
    from broker import netguard

    schemes = {"http", "https"} if insecure else {"https"}
    try:
        target = netguard.parse_url(address, schemes)
    except netguard.Refused:
        return [("address", "must be an https URL with a host, such as https://vault.internal:8200 "
                            "(http only with insecure: true, for a test Vault)")]
    if target.path not in ("", "/"):
        return [("address", "must be Vault's base URL, without a path")]
    return []


class VaultBackend(Backend):
    """Reads a KV v1 or v2 secret; logs in lazily and again when the token stops working."""

    type = "vault"
    Settings = VaultSettings
    distributions = ("hvac", "requests")
    loggers = ("hvac",)

    @classmethod
    def deploy_notes(cls, settings: VaultSettings) -> list[str]:
        if settings.auth.method != "aws":
            return []
        return [f"logs in to Vault with the function's own IAM role: no IAM statement is needed; "
                f"bind the function's execution role (stack output BrokerRoleArn) in Vault's aws "
                f"auth role '{settings.auth.role or 'NAME'}'"]

    @classmethod
    def signed_identities(cls, settings: VaultSettings) -> list[tuple[str, str]]:
        """An aws login sends the function's signed identity to Vault."""
        from urllib.parse import urlsplit

        from broker.identity import aws_role

        if settings.auth.method != "aws":
            return []
        return [(aws_role(None).key, (urlsplit(settings.address).hostname or "").lower())]

    @classmethod
    def network_hosts(cls, settings: VaultSettings) -> list[tuple[str, str]]:
        from urllib.parse import urlsplit

        return [("address", urlsplit(settings.address).hostname or "")]

    def __init__(self, registry: Any, deps: Deps) -> None:
        super().__init__(registry, deps)
        import hvac

        from broker.transport.bounded import bounded_session

        s = self.settings
        # token="" keeps hvac from picking up VAULT_TOKEN or ~/.vault-token on its own; the
        # session follows no redirect, ignores proxy variables, and bounds time and size.
        self.client = hvac.Client(url=s.address, token="", namespace=s.namespace,
                                  verify=s.ca_bundle or True, timeout=registry.timeout,
                                  allow_redirects=False,
                                  session=bounded_session(None, [s.address]))
        self._renew_at: float | None = None
        self.logins = 0

    @classmethod
    def describe(cls, settings: VaultSettings) -> str:
        s = settings
        namespace = f", namespace '{s.namespace}'" if s.namespace else ""
        return (f"path '{s.mount}/{s.path}' (mount '{s.mount}', KV v{s.kv_version}{namespace}) "
                f"at {s.address}")

    def _fetch(self) -> Login:
        import hvac.exceptions

        if self._renew_at is None or self.deps.clock() >= self._renew_at:
            self._login()
        try:
            data: dict[str, Any] | None = self._read()
        except hvac.exceptions.Forbidden:
            data = None  # outside the except block: Vault's answer must not ride along
        if data is None:
            self._check_time_for_relogin()
            self._login()
            data = self._read()
        return self.settings.parse(data, self.registry.host)

    def _check_time_for_relogin(self) -> None:
        if not self.deadline.allows(self.registry.timeout):
            raise self.error(BackendUnavailable, "Vault refused the token (403), and no time is "
                                                 "left in the invocation for a fresh login",
                             "Raise the function's timeout, or lower `timeout` for this registry")

    def forget(self) -> None:
        """Drop the Vault token: the next fetch logs in again."""
        self.client.token = ""
        self._renew_at = None

    def _read(self) -> dict[str, Any]:
        s, kv = self.settings, self.client.secrets.kv
        if s.kv_version == 1:
            data = kv.v1.read_secret(path=s.path, mount_point=s.mount).get("data")
        else:
            answer = kv.v2.read_secret_version(path=s.path, mount_point=s.mount,
                                               raise_on_deleted_version=True)
            data = (answer.get("data") or {}).get("data")
        if not isinstance(data, dict):
            raise self.error(SecretNotFound, "the path holds no KV data",
                             "Write the login there, and check kv_version matches the mount")
        return data

    def _login(self) -> None:
        self._renew_at = None
        auth = self.settings.auth
        try:
            lease = self._authenticate(auth)
        except BrokerError:
            raise
        except Exception as exc:
            raise self._login_error(exc, auth) from None  # see Backend._fetch_once
        self.logins += 1
        self._renew_at = self.deps.clock() + lease * 2 / 3 if lease else float("inf")

    def _authenticate(self, auth: VaultAuth) -> float:
        """Log in; return the token's lease in seconds (0: no known expiry)."""
        if auth.method == "token":
            self.client.token = self._secret(auth.token)
            return 0.0
        if auth.method == "approle":
            answer = self.client.auth.approle.login(
                role_id=self._secret(auth.role_id), secret_id=self._secret(auth.secret_id),
                mount_point=auth.mount or "approle")
        else:
            answer = self._aws_login(auth)
        return float(answer["auth"].get("lease_duration") or 0)

    def _aws_login(self, auth: VaultAuth) -> dict[str, Any]:
        """Vault's AWS IAM login: a signed ``sts:GetCallerIdentity`` that Vault replays.

        Signed for STS's global endpoint (us-east-1) unless ``region`` names a regional one:
        it must match the auth method's ``sts_endpoint`` and ``sts_region`` in Vault.
        """
        from hvac import aws_utils

        assert self.deps.aws is not None
        creds = self.deps.aws.session().get_credentials()
        if creds is None:
            raise self.error(AccessDenied, "no AWS credentials to sign the Vault IAM login",
                             "Run with an execution role, or set AWS credentials", self._auth_ref)
        frozen = creds.get_frozen_credentials()
        request = _get_caller_identity(auth.header_value, auth.region)
        aws_utils.SigV4Auth(frozen.access_key, frozen.secret_key, frozen.token,
                            auth.region or "us-east-1").add_auth(request)
        return self.client.adapter.login(url=f"/v1/auth/{auth.mount or 'aws'}/login",
                                         use_token=True, json=_iam_login_body(request, auth.role))

    def _secret(self, value: SecretRef | str | None) -> str:
        if isinstance(value, SecretRef):
            return refs.resolve(value, self.deps, self._ref_error, timeout=self.registry.timeout)
        return str(value)

    def _ref_error(self, cls: type[BrokerError], problem: str, hint: str, ref: str) -> BrokerError:
        return self.error(cls, f"the Vault {self.settings.auth.method} login reference {ref}: "
                               f"{problem}", hint, self._auth_ref)

    @property
    def _auth_ref(self) -> str:
        s = self.settings
        return (f"auth/{s.auth.mount or s.auth.method} at {s.address}, "
                f"logging in to read '{s.mount}/{s.path}'")

    def _login_error(self, exc: Exception, auth: VaultAuth) -> BrokerError:
        if isinstance(exc, TransportError) or _is_unavailable(exc):
            return self.translate(exc)
        return self.error(AccessDenied, f"Vault refused the {auth.method} login "
                                        f"({type(exc).__name__})",
                          "Check the auth method, role and its credentials in Vault",
                          self._auth_ref)

    def translate(self, exc: Exception) -> BrokerError:
        import hvac.exceptions as hv

        if isinstance(exc, hv.InvalidPath):
            return self.error(SecretNotFound, "Vault has no secret at this path",
                              "Write the login there, or fix mount/path/kv_version")
        if isinstance(exc, (hv.Forbidden, hv.Unauthorized)):
            return self.error(AccessDenied, "Vault denied reading the path after a fresh login",
                              "Grant the login's policy `read` on it (for KV v2 the policy path "
                              "is MOUNT/data/PATH), and check kv_version matches the mount")
        if _is_unavailable(exc):
            return self.error(BackendUnavailable, f"Vault is sealed, down or unreachable "
                                                  f"({type(exc).__name__})",
                              "Check that Vault is reachable and unsealed, then retry")
        return super().translate(exc)


def _get_caller_identity(header_value: str | None, region: str | None) -> Any:
    """The unsigned STS request: the global endpoint, or ``region``'s own."""
    import requests

    host = "sts.amazonaws.com"
    if region:
        host = f"sts.{region}.amazonaws.com{'.cn' if region.startswith('cn-') else ''}"
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Host": host}
    if header_value:
        headers["X-Vault-AWS-IAM-Server-ID"] = header_value
    return requests.Request("POST", f"https://{host}/", headers=headers,
                            data="Action=GetCallerIdentity&Version=2011-06-15").prepare()


def _iam_login_body(request: Any, role: str | None) -> dict[str, Any]:
    """What Vault's ``auth/aws/login`` takes: the signed request, base64-encoded."""
    import base64
    import json

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()
    headers = json.dumps({k: [v] for k, v in request.headers.items()})
    return {"iam_http_request_method": request.method, "iam_request_url": b64(request.url),
            "iam_request_headers": b64(headers), "iam_request_body": b64(request.body),
            "role": role}


def _is_unavailable(exc: Exception) -> bool:
    import hvac.exceptions as hv
    import requests

    # Only a connection that failed or timed out: requests' other errors (InvalidHeader,
    # InvalidURL) are setup mistakes that no retry or stale login fixes.
    return isinstance(exc, (hv.VaultDown, hv.InternalServerError, hv.BadGateway,
                            hv.RateLimitExceeded, requests.ConnectionError, requests.Timeout))
