"""Prove a login against the registry itself, the way SageMaker will use it.

Steps, each named in a failure: ``ping`` (GET /v2/ without credentials),
``basic`` (GET /v2/ with the login), ``realm`` (is the token server safe to
send the login to?), ``token`` (the token exchange), ``token-check`` (GET /v2/
with the token) and ``manifest`` (HEAD the configured image with the login or
token). Messages carry the step, the URL without query or credentials and the
HTTP status; never the username, password or token.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urljoin, urlsplit

from broker import challenges
from broker.config import Registry
from broker.deadline import Deadline
from broker.login import Login

CLIENT_ID = "sagemaker-registry-broker"
MAX_BODY = 1 << 20
MAX_REDIRECTS = 5
DEFAULT_TOKEN_TTL = 60
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
_METADATA = {ipaddress.ip_address("fd00:ec2::254")}

Resolver = Callable[[str], list[str]]


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


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})


def check(registry: Registry, login: Login, *, session: Any = None,
          resolver: Resolver = resolve, deadline: Deadline | None = None) -> Result:
    """Run the preflight for ``registry`` with ``login``; never raises for registry behaviour.

    With a ``deadline`` (the invocation's), no request waits past it.
    """
    import requests

    if session is None:
        session = requests.Session()
        session.trust_env = False  # no .netrc credentials, no proxies from the environment
    return _Check(registry, login, session, resolver, deadline or Deadline()).run()


@dataclass
class _Check:
    registry: Registry
    login: Login
    session: Any
    resolver: Resolver
    deadline: Deadline
    scheme: str = "none"
    round_trips: int = 0
    warnings: list[str] = field(default_factory=list)
    allowed: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.base = f"{'http' if self.registry.insecure else 'https'}://{self.registry.host}"
        self.allowed.add((urlsplit(self.base).scheme, self.registry.hostname))

    def run(self) -> Result:
        import requests

        started = time.perf_counter()
        try:
            detail = self._steps()
            ok, step = True, None
        except _Failed as failure:
            ok, step, detail = False, failure.step, f"{failure.step}: {failure.detail}"
        except requests.RequestException as exc:  # raised by _send, which records the step
            ok, step, detail = False, self._step, f"{self._step}: {_describe(exc)}"
        return Result(self.registry.name, ok, self.scheme, detail, step, tuple(self.warnings),
                      round((time.perf_counter() - started) * 1000, 1), self.round_trips)

    def _steps(self) -> str:
        answer = self._get("ping", f"{self.base}/v2/", {})
        if answer.status_code == 200:
            self.warnings.extend(self._ca_warning())
            return "the registry answers /v2/ without a login"
        if answer.status_code != 401:
            raise _Failed("ping", f"GET {_safe(answer.url)} answered HTTP {answer.status_code}; "
                                  "a registry answers 401 or 200")
        chosen = self._challenge(answer)
        self.scheme = chosen.scheme
        if chosen.scheme == "basic":
            detail = self._basic()
        else:
            detail = self._bearer(chosen.params)
        self.warnings.extend(self._ca_warning())
        return detail

    def _challenge(self, answer: Any) -> challenges.Challenge:
        header = answer.headers.get("WWW-Authenticate", "")
        try:
            offered = challenges.parse(header)
        except challenges.ChallengeError as exc:
            raise _Failed("ping", f"unreadable WWW-Authenticate header ({exc})") from None
        chosen = challenges.pick(offered)
        if chosen is None:
            schemes = ", ".join(c.scheme for c in offered)
            raise _Failed("ping", f"the registry offers neither Basic nor Bearer ({schemes})")
        return chosen

    def _basic(self) -> str:
        auth = {"Authorization": _basic_header(self.login)}
        answer = self._get("basic", f"{self.base}/v2/", auth)
        if answer.status_code in (401, 403):
            raise _Failed("basic", f"GET {_safe(answer.url)} answered HTTP {answer.status_code}: "
                                   "the registry rejected the login")
        if answer.status_code != 200:
            raise _Failed("basic", f"GET {_safe(answer.url)} answered HTTP {answer.status_code}")
        return self._with_manifest("basic login accepted", auth)

    def _bearer(self, params: dict[str, str]) -> str:
        realm = params.get("realm")
        if not realm:
            raise _Failed("realm", "the Bearer challenge names no realm")
        realm = _without_userinfo(realm)
        self._validate_realm(realm)
        token, lifetime = self._token(realm, params.get("service"))
        auth = {"Authorization": f"Bearer {token}"}
        answer = self._get("token-check", f"{self.base}/v2/", auth)
        if answer.status_code != 200:
            raise _Failed("token-check", f"GET {_safe(answer.url)} with the token answered HTTP "
                                         f"{answer.status_code}")
        return self._with_manifest(f"token from {_safe(realm)} (valid {lifetime} s)", auth)

    def _validate_realm(self, realm: str) -> None:
        parts = urlsplit(realm)
        allowed_schemes = {"https", "http"} if self.registry.insecure else {"https"}
        if parts.scheme not in allowed_schemes:
            raise _Failed("realm", f"realm {_safe(realm)} is not https (set insecure: true only "
                                   "for a test registry)")
        host = (parts.hostname or "").lower()
        trusted = host == self.registry.hostname or any(
            fnmatchcase(host, glob) for glob in self.registry.trusted_realms)
        if not trusted:
            raise _Failed("realm", f"realm host '{host}' is neither the registry host nor in "
                                   "trusted_realms; the login was not sent to it")
        self._check_addresses(host)
        self.allowed.add((parts.scheme, host))

    def _check_addresses(self, host: str) -> None:
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in self._resolve(host)]
        if any(a.is_link_local or a in _METADATA for a in addresses):
            raise _Failed("realm", f"realm host '{host}' resolves to a link-local or metadata "
                                   "address; the login was not sent to it")
        internal = [a for a in addresses if a.is_private or a.is_loopback]
        if internal and not self._registry_is_internal():
            raise _Failed("realm", f"realm host '{host}' resolves to an internal address but the "
                                   "registry does not; the login was not sent to it")

    def _registry_is_internal(self) -> bool:
        addresses = [ipaddress.ip_address(a.split("%")[0])
                     for a in self._resolve(self.registry.hostname)]
        return bool(addresses) and all(a.is_private or a.is_loopback for a in addresses)

    def _resolve(self, host: str) -> list[str]:
        try:
            return self.resolver(host)
        except OSError:
            raise _Failed("realm", f"cannot resolve '{host}'") from None

    def _token(self, realm: str, service: str | None) -> tuple[str, int]:
        query = {k: v for k, v in (("service", service), ("scope", self._scope())) if v}
        answer = self._get("token", realm, {"Authorization": _basic_header(self.login)},
                           params={**query, "account": self.login.username})
        if answer.status_code in (404, 405):
            form = {"grant_type": "password", "client_id": CLIENT_ID,
                    "username": self.login.username, "password": self.login.password, **query}
            answer = self._send("token", "POST", realm, {}, data=form)
        if answer.status_code in (401, 403):
            raise _Failed("token", f"{answer.request.method} {_safe(realm)} answered HTTP "
                                   f"{answer.status_code}: the token server rejected the login")
        if answer.status_code != 200:
            raise _Failed("token", f"{answer.request.method} {_safe(realm)} answered HTTP "
                                   f"{answer.status_code}")
        return _token_from(answer.body, realm)

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
        if answer.status_code == 200:
            return f"{detail}; pull access to {repo}:{ref} proven"
        if answer.status_code in (401, 403):
            raise _Failed("manifest", f"HEAD {_safe(url)} answered HTTP {answer.status_code}: the "
                                      f"login is valid but lacks pull access to {repo}")
        if answer.status_code == 404:
            self.warnings.append(f"{repo}:{ref} not found (HEAD {_safe(url)} answered 404); the "
                                 "login works")
            return detail
        raise _Failed("manifest", f"HEAD {_safe(url)} answered HTTP {answer.status_code}")

    def _ca_warning(self) -> list[str]:
        import requests

        if not self.registry.ca_bundle or self.registry.insecure:
            return []
        try:
            self.round_trips += 1
            self.session.get(f"{self.base}/v2/", timeout=self._timeout(), verify=True,
                             allow_redirects=False).close()
        except requests.exceptions.SSLError:
            return ["the registry's certificate verifies only with ca_bundle; SageMaker requires "
                    "a certificate from a public CA"]
        except (requests.RequestException, _Failed):
            pass
        return []

    def _timeout(self) -> float:
        """The registry's timeout, cut to what is left of the invocation."""
        left = self.deadline.left()
        if left is None or left >= self.registry.timeout:
            return self.registry.timeout
        if left <= 0.05:
            raise _Failed(self._step, "no time left in the invocation for the check")
        return left

    def _get(self, step: str, url: str, headers: dict[str, str], params: Any = None) -> Any:
        return self._send(step, "GET", url, headers, params=params)

    def _send(self, step: str, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
        """One request, following redirects only to validated scheme/host pairs."""
        self._step = step
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._request(method, url, headers, **kw)
            if not answer.is_redirect:
                return answer
            url = urljoin(url, answer.headers["Location"])
            target = urlsplit(url)
            if (target.scheme, (target.hostname or "").lower()) not in self.allowed:
                raise _Failed(step, f"refused a redirect to {_safe(url)}: not a validated host")
            kw.pop("params", None)
        raise _Failed(step, f"more than {MAX_REDIRECTS} redirects")

    def _request(self, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
        self.round_trips += 1
        verify = self.registry.ca_bundle or True
        answer = self.session.request(method, url, headers=headers, timeout=self._timeout(),
                                      verify=verify, allow_redirects=False, stream=True, **kw)
        with answer:
            answer.body = answer.raw.read(MAX_BODY + 1, decode_content=True) if method != "HEAD" \
                else b""
        if len(answer.body) > MAX_BODY:
            raise _Failed(self._step, f"{_safe(url)} sent more than {MAX_BODY} bytes")
        return answer

    _step = "ping"


def _token_from(body: bytes, realm: str) -> tuple[str, int]:
    try:
        data = json.loads(body)
    except ValueError:
        raise _Failed("token", f"{_safe(realm)} did not answer JSON") from None
    token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise _Failed("token", f"{_safe(realm)} answered without a token")
    lifetime = data.get("expires_in")
    valid = isinstance(lifetime, int) and not isinstance(lifetime, bool) and lifetime > 0
    return token, lifetime if valid else DEFAULT_TOKEN_TTL


def _without_userinfo(url: str) -> str:
    """Drop ``user:pass@`` a registry put in its realm: requests would send it instead of ours."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl()


def _basic_header(login: Login) -> str:
    import base64

    pair = f"{login.username}:{login.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _safe(url: str) -> str:
    """A URL fit for messages: no credentials, no query (it may carry the username)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if _port(parts) else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _port(parts: Any) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _describe(exc: Any) -> str:
    import requests

    request = getattr(exc, "request", None)
    where = f"{request.method} {_safe(request.url)}: " if request is not None else ""
    if isinstance(exc, requests.exceptions.SSLError):
        return f"{where}TLS verification failed (set ca_bundle for a private CA)"
    if isinstance(exc, requests.Timeout):
        return f"{where}timed out"
    if isinstance(exc, requests.ConnectionError):
        return f"{where}could not connect"
    return f"{where}{type(exc).__name__}"


HINTS = {
    "ping": "Check `host`, and that the function can reach the registry (VPC, security groups)",
    "basic": "The stored login is wrong or expired: fix or rotate it in the secret store",
    "realm": "If you trust that token server, add its host to `trusted_realms`",
    "token": "The stored login is wrong or expired: fix or rotate it in the secret store",
    "token-check": "The registry does not accept its own token server's token: check the registry",
    "manifest": "Grant this login pull access to `repository`, or fix `repository`/`reference`",
}
