"""Prove a login against the registry itself, the way SageMaker will use it.

Steps, each named in a failure: ``ping`` (GET /v2/ without credentials),
``basic`` (GET /v2/ with the login), ``realm`` (is the token server safe to
send the login to?), ``token`` (the token exchange), ``token-check`` (GET /v2/
with the token) and ``manifest`` (HEAD the configured image with the login or
token). Messages carry the step, the URL without query or credentials and the
HTTP status; never the username, password or token.

This module is the registry protocol only: every request goes through
:class:`broker.transport.guarded.Transport`, which decides where a request may go and
bounds its time and size. Whatever a registry answers, :func:`check` returns a
:class:`Result`; it never raises for the registry's behaviour.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from broker import challenges
from broker.deadline import Deadline, ms_since, within
from broker.login import Login
from broker.model import Registry
from broker.transport import resolve
from broker.transport.errors import TlsError, TransportError
from broker.transport.guarded import Answer, Transport

CLIENT_ID = "registry-broker"
CHECK_BUDGET = 3
"""A whole check may take at most this many times the registry's ``timeout`` (slow answers and
redirects add up), and never past the invocation's own deadline."""
DEFAULT_TOKEN_TTL = 60
MAX_TOKEN_CHARS = 16_384
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
# What an Authorization header may carry (RFC 6750 b64token, and the JWT alphabet).
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9\-._~+/]+=*\Z")


@dataclass(frozen=True)
class Result:
    """What the check found. ``ok`` is False when any step failed."""

    registry: str
    ok: bool
    scheme: str  # none | basic | bearer
    detail: str
    step: str | None = None
    warnings: tuple[str, ...] = ()
    duration_ms: float = 0.0
    round_trips: int = 0

    def as_json(self) -> dict[str, Any]:
        """The ``broker check --json`` shape."""
        return {"registry": self.registry, "ok": self.ok, "scheme": self.scheme,
                "detail": self.summary, "duration_ms": self.duration_ms}

    @property
    def summary(self) -> str:
        """The detail followed by any warnings."""
        return "; ".join([self.detail, *(f"warning: {w}" for w in self.warnings)])


class _Failed(Exception):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(detail)
        self.step, self.detail = step, detail


def check(registry: Registry, login: Login, *, resolver: resolve.Resolver = resolve.system,
          deadline: Deadline | None = None) -> Result:
    """Run the preflight for ``registry`` with ``login``; never raises for registry behaviour.

    With a ``deadline`` (the invocation's), no request runs past it; in any case the whole
    check ends within CHECK_BUDGET times the registry's ``timeout``.
    """
    transport = Transport(registry.hostname, insecure=registry.insecure, ca_bundle=registry.ca_bundle,
                          timeout=registry.timeout, resolver=resolver,
                          deadline=within(deadline, CHECK_BUDGET * registry.timeout))
    return _Check(registry, login, transport).run()


@dataclass
class _Check:
    registry: Registry
    login: Login
    transport: Transport
    scheme: str = "none"
    step: str = "ping"
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base = f"{'http' if self.registry.insecure else 'https'}://{self.registry.host}"

    def run(self) -> Result:
        started = time.perf_counter()
        try:
            detail = self._steps()
            ok, step = True, None
        except _Failed as failure:
            ok, step, detail = False, failure.step, f"{failure.step}: {failure.detail}"
        except Exception as exc:  # noqa: BLE001 - a bug here must not cost the login (warn mode)
            ok, step = False, self.step
            detail = f"{step}: unexpected {type(exc).__name__} in the check"
        return Result(self.registry.name, ok, self.scheme, detail, step, tuple(self.warnings),
                      ms_since(started), self.transport.round_trips)

    def _steps(self) -> str:
        answer = self._send("ping", "GET", f"{self.base}/v2/")
        if answer.status == 200:
            self.warnings.extend(self._ca_warning())
            return "the registry answers /v2/ without a login"
        if answer.status != 401:
            raise _Failed("ping", f"GET {answer.target.safe} answered HTTP {answer.status}; "
                                  "a registry answers 401 or 200")
        chosen = self._challenge(answer)
        self.scheme = chosen.scheme
        detail = self._basic() if chosen.scheme == "basic" else self._bearer(chosen.params)
        self.warnings.extend(self._ca_warning())
        return detail

    def _challenge(self, answer: Answer) -> challenges.Challenge:
        try:
            offered = challenges.parse(answer.headers.get("WWW-Authenticate", ""))
        except challenges.ChallengeError as exc:
            raise _Failed("ping", f"unreadable WWW-Authenticate header ({exc})") from None
        chosen = challenges.pick(offered)
        if chosen is None:
            schemes = ", ".join(c.scheme for c in offered)[:200]
            raise _Failed("ping", f"the registry offers neither Basic nor Bearer ({schemes})")
        return chosen

    def _basic(self) -> str:
        auth = {"Authorization": _basic_header(self.login)}
        answer = self._send("basic", "GET", f"{self.base}/v2/", auth)
        if answer.status in (401, 403):
            raise _Failed("basic", f"GET {answer.target.safe} answered HTTP {answer.status}: "
                                   "the registry rejected the login")
        if answer.status != 200:
            raise _Failed("basic", f"GET {answer.target.safe} answered HTTP {answer.status}")
        return self._with_manifest("basic login accepted", auth)

    def _bearer(self, params: dict[str, str]) -> str:
        realm = self._vetted_realm(params.get("realm"))
        token, lifetime = self._token(realm, params.get("service"))
        auth = {"Authorization": f"Bearer {token}"}
        answer = self._send("token-check", "GET", f"{self.base}/v2/", auth)
        if answer.status != 200:
            raise _Failed("token-check", f"GET {answer.target.safe} with the token answered HTTP "
                                         f"{answer.status}")
        return self._with_manifest(f"token from {realm.safe} (valid {lifetime} s)", auth)

    def _vetted_realm(self, realm: str | None) -> Any:
        """The realm's URL once it is safe to send the login to (https, trusted host, safe
        addresses); nothing has been sent to it before this returns."""
        if not realm:
            raise _Failed("realm", "the Bearer challenge names no realm")
        try:
            target = self.transport.vet(realm)
        except TransportError as exc:
            hint = " (set insecure: true only for a test registry)" if realm.startswith("http:") else ""
            raise _Failed("realm", f"the realm is not usable: {exc}{hint}; the login was not "
                                   "sent to it") from None
        trusted = target.host == self.transport.registry or any(
            fnmatchcase(target.host, glob) for glob in self.registry.trusted_realms)
        if not trusted:
            raise _Failed("realm", f"realm host '{target.host}' is neither the registry host nor "
                                   "in trusted_realms; the login was not sent to it")
        try:
            self.transport.trust(target)
        except TransportError as exc:
            raise _Failed("realm", f"realm {exc}") from None
        return target

    def _token(self, realm: Any, service: str | None) -> tuple[str, int]:
        query = {k: v for k, v in (("service", service), ("scope", self._scope())) if v}
        answer = self._send("token", "GET", realm, {"Authorization": _basic_header(self.login)},
                            query={**query, "account": self.login.username})
        if answer.status in (404, 405):
            form = {"grant_type": "password", "client_id": CLIENT_ID,
                    "username": self.login.username, "password": self.login.password, **query}
            answer = self._send("token", "POST", realm, form=form)
        if answer.status in (401, 403):
            raise _Failed("token", f"{answer.method} {answer.target.safe} answered HTTP "
                                   f"{answer.status}: the token server rejected the login")
        if answer.status != 200:
            raise _Failed("token", f"{answer.method} {answer.target.safe} answered HTTP "
                                   f"{answer.status}")
        return _token_from(answer.body, realm.safe)

    def _scope(self) -> str | None:
        # Pull only: some registries create a repository when asked for push.
        repo = self.registry.repository
        return f"repository:{repo}:pull" if repo else None

    def _with_manifest(self, detail: str, auth: dict[str, str]) -> str:
        repo, ref = self.registry.repository, self.registry.reference
        if not repo:
            return detail
        url = f"{self.base}/v2/{repo}/manifests/{ref}"
        answer = self._send("manifest", "HEAD", url, {**auth, "Accept": MANIFEST_TYPES})
        where = f"HEAD {answer.target.safe}"
        if answer.status == 200:
            return f"{detail}; pull access to {repo}:{ref} proven"
        if answer.status in (401, 403):
            raise _Failed("manifest", f"{where} answered HTTP {answer.status}: the login is valid "
                                      f"but lacks pull access to {repo}")
        if answer.status == 404:
            self.warnings.append(f"{repo}:{ref} not found ({where} answered 404); the login works")
            return detail
        raise _Failed("manifest", f"{where} answered HTTP {answer.status}")

    def _ca_warning(self) -> list[str]:
        if not self.registry.ca_bundle or self.registry.insecure:
            return []
        try:
            self.transport.request("GET", f"{self.base}/v2/", public_ca=True)
        except TlsError:
            return ["the registry's certificate verifies only with ca_bundle; SageMaker "
                    "requires a certificate from a public CA"]
        except TransportError:
            pass  # any other failure says nothing about the certificate
        return []

    def _send(self, step: str, method: str, url: Any, headers: dict[str, str] | None = None,
              **kw: Any) -> Answer:
        self.step = step
        try:
            return self.transport.request(method, url, headers, **kw)
        except TransportError as exc:
            raise _Failed(step, str(exc)) from None


def _token_from(body: bytes, realm: str) -> tuple[str, int]:
    try:
        data = json.loads(body)
    except ValueError:
        raise _Failed("token", f"{realm} did not answer JSON") from None
    token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise _Failed("token", f"{realm} answered without a token")
    if len(token) > MAX_TOKEN_CHARS or not _TOKEN_CHARS.match(token):
        raise _Failed("token", f"{realm} answered with a token that is not a bearer token "
                               f"(at most {MAX_TOKEN_CHARS} of A-Z a-z 0-9 - . _ ~ + / =)")
    lifetime = data.get("expires_in")
    valid = isinstance(lifetime, int) and not isinstance(lifetime, bool) and lifetime > 0
    return token, lifetime if valid else DEFAULT_TOKEN_TTL


def _basic_header(login: Login) -> str:
    import base64

    pair = f"{login.username}:{login.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


HINTS = {
    "ping": "Check `host`, and that the function can reach the registry (VPC, security groups)",
    "basic": "The stored login is wrong or expired: fix or rotate it in the secret store",
    "realm": "If you trust that token server, add its host to `trusted_realms`",
    "token": "The stored login is wrong or expired: fix or rotate it in the secret store",
    "token-check": "The registry does not accept its own token server's token: check the registry",
    "manifest": "Grant this login pull access to `repository`, or fix `repository`/`reference`",
}
