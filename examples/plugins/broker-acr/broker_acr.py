"""``acr``: an Azure Container Registry login minted from Entra ID (an example plugin).

An Entra ID token (msal, client credentials: a secret or a federated assertion, each behind
a reference) is exchanged at the registry's ``/oauth2/exchange`` for an ACR refresh token,
served with ACR's fixed username and the refresh token's own expiry.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from backends.base import Backend
from broker import netguard, refs, schema
from broker.errors import AccessDenied, BackendUnavailable, BrokerError, ConfigError
from broker.login import FormatProblem, Login, checked_login
from broker.refs import SecretRef

USERNAME = "00000000-0000-0000-0000-000000000000"
SCOPE = "https://containerregistry.azure.net/.default"
DEFAULT_LIFETIME = 3 * 3600  # ACR refresh tokens last three hours
AUTHORITIES = ("login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
               "login.partner.microsoftonline.cn")  # Entra ID's public and sovereign clouds
ACR_HOST = re.compile(r"[a-z0-9]+(-[a-z0-9]+)?\.azurecr\.(io|us|cn)")
TENANT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"
                    r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE)
CLIENT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class AcrSettings:
    """``tenant_id``, ``client_id``, and one of ``client_secret`` or ``client_assertion``
    (references); ``authority_host`` and ``ca_bundle`` for a sovereign cloud or a test."""

    tenant_id: str = field(metadata={"pattern": (TENANT, "must be the tenant's GUID or its domain "
                                                           "(contoso.onmicrosoft.com)")})
    client_id: str = field(metadata={"pattern": (CLIENT, "must be the app registration's "
                                                          "client id (a GUID)")})
    client_secret: SecretRef | None = None
    client_assertion: SecretRef | None = None
    authority_host: str = "https://login.microsoftonline.com"
    ca_bundle: str | None = field(default=None)

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if (self.client_secret is None) == (self.client_assertion is None):
            problems.append(("client_secret", "set exactly one of client_secret and "
                                              "client_assertion (a reference)"))
        problems += [("authority_host", p) for p in _authority_problems(self.authority_host)]
        problems += schema.ca_bundle_problems(self.ca_bundle)
        return problems


class AcrBackend(Backend):
    """An Entra ID token, then an ACR refresh token: two requests per token lifetime."""

    type = "acr"
    Settings = AcrSettings
    distributions = ("msal", "requests")
    loggers = ("msal",)
    mints = True

    @classmethod
    def minting(cls, settings: AcrSettings, host: str) -> Any:
        """The Entra app (a client id is unique across tenants, however the tenant is
        written), then the ACR refresh token it is exchanged for at ``host``'s registry (bound
        to it, whatever port is written). The Entra token itself is never served."""
        from broker import identity

        app = identity.Identity(f"entra:{settings.client_id.lower()}",
                                f"Entra app {settings.client_id}")
        registry = host.lower().removesuffix(":443")  # 443 is the port a registry is on
        return identity.Minting((app,)).then(f"acr:{registry}|{app.key}",
                                             f"an ACR token of {app.label} for {registry}")

    @classmethod
    def describe(cls, settings: AcrSettings) -> str:
        return f"Entra ID app {settings.client_id} in tenant {settings.tenant_id}"

    @classmethod
    def scoping(cls, settings: AcrSettings) -> str:
        return ("cannot scope: the served refresh token carries the app's roles on the "
                "registry; give the app AcrPull only")

    @classmethod
    def network_hosts(cls, settings: AcrSettings) -> list[tuple[str, str]]:
        """Entra ID's host: deploy/build.py refuses a loopback one."""
        from urllib.parse import urlsplit

        return [("authority_host", urlsplit(settings.authority_host).hostname or "")]

    def _fetch(self) -> Login:
        host = self.registry.hostname
        if not (ACR_HOST.fullmatch(host) or netguard.is_loopback(host)):
            raise self.error(ConfigError, "the registry is not an Azure Container Registry "
                                          "(NAME.azurecr.io): the Entra ID token would go to it",
                             "Use the acr backend only for an azurecr.io host")
        entra_token = self._entra_token(self._session(self.settings.authority_host))
        refresh_token = self._exchange(self._session(f"https://{self.registry.host}"), entra_token)
        login = checked_login(USERNAME, refresh_token, "the username", "the refresh token")
        return self.deps.expiring(login, _expiry(refresh_token, self.deps.wall()))

    def _session(self, url: str) -> Any:
        """A bounded session that sends only to ``url``'s origin: the secret only to Entra ID
        (whatever its discovery document names), the Entra token only to the registry."""
        from broker.transport.bounded import bounded_session

        session = bounded_session(self.deadline, [url])
        session.verify = self.settings.ca_bundle or True
        return session

    def _entra_token(self, session: Any) -> str:
        import msal

        s = self.settings
        if s.client_secret:
            credential: Any = self._secret(s.client_secret)
        else:  # a callable: msal asks for the assertion when it needs one
            assertion = self._secret(s.client_assertion)
            credential = {"client_assertion": lambda: assertion}
        app = msal.ConfidentialClientApplication(
            s.client_id, client_credential=credential, http_client=session,
            authority=f"{s.authority_host.rstrip('/')}/{s.tenant_id}", instance_discovery=False,
            token_cache=msal.TokenCache())
        answer = app.acquire_token_for_client(scopes=[SCOPE])
        if "access_token" not in answer:
            raise self.error(AccessDenied, f"Entra ID refused the client credentials "
                                           f"({_word(answer.get('error'))})",
                             "Check the tenant, the app registration and its secret or "
                             "federated credential")
        return answer["access_token"]

    def _exchange(self, session: Any, entra_token: str) -> str:
        host = self.registry.host
        answer = session.post(f"https://{host}/oauth2/exchange", data={
            "grant_type": "access_token", "service": host, "tenant": self.settings.tenant_id,
            "access_token": entra_token}, timeout=self.registry.timeout)
        if answer.status_code in (401, 403):
            raise self.error(AccessDenied, f"the registry refused the Entra ID token (HTTP "
                                           f"{answer.status_code})",
                             "Give the app registration a pull role (AcrPull) on the registry")
        if answer.status_code != 200:
            raise self.error(BackendUnavailable, f"the registry's token exchange answered HTTP "
                                                 f"{answer.status_code}", "Retry later")
        try:
            return json.loads(answer.content)["refresh_token"]
        except (ValueError, KeyError, TypeError):
            raise FormatProblem("the token exchange answered without a refresh_token") from None

    def _secret(self, ref: SecretRef | None) -> str:
        assert ref is not None
        return refs.resolve(ref, self.deps, self._ref_error, timeout=self.registry.timeout)

    def _ref_error(self, cls: type[BrokerError], problem: str, hint: str, ref: str) -> BrokerError:
        return self.error(cls, f"the credential reference {ref}: {problem}", hint)

    def translate(self, exc: Exception) -> BrokerError:
        if isinstance(exc, ValueError):  # msal: an authority it cannot use
            return self.error(ConfigError, f"msal refused the authority ({type(exc).__name__})",
                              "Check authority_host and tenant_id")
        return super().translate(exc)  # transport failures: the framework's one map


def _expiry(token: str, now: float) -> float:
    """The refresh token's own ``exp`` (a JWT) when it is a finite number, else three hours
    from now."""
    try:
        payload = token.split(".")[1]
        exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
        number = isinstance(exp, (int, float)) and not isinstance(exp, bool)
        if number and math.isfinite(float(exp)):
            return float(exp)
    except (IndexError, ValueError, KeyError, TypeError, OverflowError, RecursionError):
        pass
    return now + DEFAULT_LIFETIME


def _authority_problems(url: str) -> list[str]:
    """Entra ID receives the client secret: only its own hosts (a loopback one for tests)."""
    try:
        target = netguard.parse_url(url, {"https"})
    except netguard.Refused as exc:
        return [f"must be an https URL: {exc.args[0]} was given"]
    if target.host not in AUTHORITIES and not netguard.is_loopback(target.host):
        return [f"must be an Entra ID host ({', '.join(AUTHORITIES)}): it receives the secret"]
    if target.path != "/":
        return ["must be the host's URL, without a path"]
    return []


def _word(value: Any) -> str:
    text = str(value or "no error code")
    return text if text.isidentifier() else "an unreadable error code"
