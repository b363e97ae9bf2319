"""The preflight's transport: the guarded path for every request to a registry or its token
server. A :class:`Transport` belongs to one registry check. For each request it

- vets the URL (:mod:`broker.netguard`) and refuses a host nobody trusted: the registry's,
  and those the caller has :meth:`~Transport.trust`-ed (a vetted token realm);
- resolves each host once (inside the request's budget), checks every address it resolves
  to, and connects to the first one, pinned: TLS server name, certificate check and ``Host``
  header keep the name, so a second DNS answer (rebinding) is never asked for;
- follows redirects by hand, each hop vetted the same way; a request carrying the login is
  never redirected to another origin (scheme, host, port);
- sends ``Accept-Encoding: identity``, reads at most ``MAX_BODY`` bytes undecoded and
  inflates gzip/deflate itself, never past that cap;
- gives the whole exchange (resolution, connect, TLS, headers, body) a wall-clock budget: the
  registry's ``timeout``, cut to what is left of the invocation, held by the watchdog.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode, urljoin

from broker import netguard
from broker.deadline import Deadline
from broker.netguard import Target
from broker.transport import resolve
from broker.transport.budget import MIN_BUDGET, budget
from broker.transport.errors import DnsError, ProtocolError, Refused, Timeout, TooLarge
from broker.transport.watchdog import Watchdog

MAX_BODY = 1 << 20
MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}


class Answer(NamedTuple):
    """A response read whole: status, headers (case-insensitive), body and the URL it came from."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    method: str
    target: Target


class Transport:
    """Requests for one registry check; see the module docstring for what each one guarantees."""

    def __init__(self, registry_host: str, *, insecure: bool = False, ca_bundle: str | None = None,
                 timeout: float = 5.0, deadline: Deadline | None = None,
                 resolver: resolve.Resolver = resolve.system) -> None:
        self.schemes = frozenset({"http", "https"} if insecure else {"https"})
        self.ca_bundle, self.timeout = ca_bundle, timeout
        self.deadline = deadline or Deadline()
        self.resolver = resolver
        self.registry = netguard.host_of(registry_host)
        self.trusted = {self.registry}
        self.pins: dict[str, str] = {}
        self.site: str | None = None
        self.round_trips = 0
        self._session: Any = None

    def vet(self, url: str) -> Target:
        """The parts of ``url`` if it is fit to send to (scheme, no user info, a plain host)."""
        try:
            return netguard.parse_url(url, self.schemes)
        except netguard.Refused as exc:
            raise Refused(f"refused {exc}") from None

    def trust(self, target: Target) -> None:
        """Allow requests to ``target``'s host, after checking every address it resolves to."""
        self._pin(target.host, budget(self.timeout, self.deadline))
        self.trusted.add(target.host)

    def request(self, method: str, url: str | Target, headers: Mapping[str, str] | None = None, *,
                query: Mapping[str, str] | None = None, form: Mapping[str, str] | None = None,
                public_ca: bool = False) -> Answer:
        """Send one request (following vetted redirects); ``public_ca`` verifies TLS against the
        default CA bundle instead of ``ca_bundle``."""
        target = url if isinstance(url, Target) else self.vet(url)
        if query:
            target = _with_query(target, query)
        headers = dict(headers or {})
        carries_login = "Authorization" in headers or form is not None
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._once(method, target, headers, form, public_ca)
            if answer.status not in _REDIRECTS or "location" not in answer.headers:
                return answer
            method, form, target = self._redirect(answer, method, form, carries_login)
        raise Refused(f"more than {MAX_REDIRECTS} redirects")

    def _redirect(self, answer: Answer, method: str, form: Any,
                  carries_login: bool) -> tuple[str, Any, Target]:
        try:
            target = self.vet(urljoin(answer.target.url, answer.headers["location"]))
        except Refused as exc:
            raise Refused(f"refused a redirect from {answer.target.safe} to "
                          f"{str(exc).removeprefix('refused ')}") from None
        if target.host not in self.trusted:
            raise Refused(f"refused a redirect to {target.safe}: not a vetted host")
        if carries_login and target.origin != answer.target.origin:
            raise Refused(f"refused a redirect to {target.safe}: another origin, and the request "
                          "carries the login")
        if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
            return ("HEAD" if method == "HEAD" else "GET"), None, target
        return method, form, target

    def _once(self, method: str, target: Target, headers: dict[str, str], form: Any,
              public_ca: bool) -> Answer:
        from broker.transport.adapters import translate

        if target.host not in self.trusted:
            raise Refused(f"refused {target.safe}: not a vetted host")
        seconds, started = budget(self.timeout, self.deadline), time.monotonic()
        address = self._pin(target.host, seconds)
        seconds -= time.monotonic() - started  # resolution came out of the same budget
        if seconds <= MIN_BUDGET:
            raise Timeout(f"{method} {target.safe}: no time left after resolving the name")
        self.round_trips += 1
        with Watchdog(seconds) as watchdog:
            try:
                answer = self._exchange(method, target, headers, form, public_ca, seconds)
            except Exception as exc:  # noqa: BLE001 - every client error becomes a TransportError
                raise translate(exc, watchdog.fired, f"{method} {target.safe}", address,
                                seconds) from None
        if watchdog.fired:
            raise translate(TimeoutError(), True, f"{method} {target.safe}", address, seconds)
        return answer

    def _exchange(self, method: str, target: Target, headers: dict[str, str], form: Any,
                  public_ca: bool, seconds: float) -> Answer:
        import requests

        session = self._session_for()
        prepared = session.prepare_request(requests.Request(
            method, target.url, headers={**headers, "Host": target.netloc},
            data=urlencode(form) if form is not None else None))
        if form is not None:
            prepared.headers["Content-Type"] = "application/x-www-form-urlencoded"
        verify: Any = True if public_ca or not self.ca_bundle else self.ca_bundle
        response = session.send(prepared, timeout=seconds, verify=verify, allow_redirects=False,
                                stream=True)
        with response:
            body = b"" if method == "HEAD" else _read_body(response.raw, target)
        return Answer(response.status_code, response.headers, body, method, target)

    def _session_for(self) -> Any:
        from broker.transport.adapters import PinnedAdapter, quiet_session

        if self._session is None:
            self._session = quiet_session()
            for prefix in ("https://", "http://"):
                self._session.mount(prefix, PinnedAdapter(self._pinned))
        return self._session

    def _pinned(self, name: str) -> str:
        if name not in self.pins:
            raise Refused("refused a connection to a host that was not vetted")
        return self.pins[name]

    def _pin(self, host: str, seconds: float) -> str:
        """The one address ``host`` is reached at, resolved (within ``seconds``) and vetted on
        first use."""
        if host not in self.pins:
            kinds = self._vetted(host, seconds)
            if host == self.registry:
                self.site = netguard.site_of(list(kinds.values()))
            else:
                self._check_reachable(host, kinds, seconds)
            self.pins[host] = next(iter(kinds))
        return self.pins[host]

    def _vetted(self, host: str, seconds: float) -> dict[str, str]:
        found = [host] if netguard.is_ip(host) else resolve.within(host, seconds, self.resolver)
        try:
            addresses = [str(netguard.address(a)) for a in found]
            return {a: netguard.kind_of(netguard.address(a)) for a in addresses}
        except netguard.Refused as exc:
            raise Refused(f"'{host}' resolves to {exc}; nothing was sent to it") from None
        except ValueError:
            raise DnsError(f"'{host}' resolved to something that is not an IP address") from None

    def _check_reachable(self, host: str, kinds: dict[str, str], seconds: float) -> None:
        self._pin(self.registry, seconds)
        site = self.site or netguard.PUBLIC
        for address, kind in kinds.items():
            if not netguard.reachable(kind, site):
                raise Refused(f"'{host}' resolves to {_article(kind)} address but the registry "
                              f"does not ({address}); nothing was sent to it")


def _article(kind: str) -> str:
    return {"loopback": "a loopback", "private": "an internal"}[kind]


def _with_query(target: Target, query: Mapping[str, str]) -> Target:
    joiner = "&" if "?" in target.path else "?"
    return target._replace(path=f"{target.path}{joiner}{urlencode(query)}")


def _read_body(raw: Any, target: Target) -> bytes:
    """At most MAX_BODY bytes, undecoded on the wire and inflated here under the same cap."""
    body = raw.read(MAX_BODY + 1, decode_content=False)
    encoding = (raw.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        body = _inflate(body, encoding, target)
    elif encoding != "identity":
        raise ProtocolError(f"{target.safe} answered with Content-Encoding '{encoding[:20]}', "
                            "which was not asked for")
    if len(body) > MAX_BODY:
        raise TooLarge(f"{target.safe} sent more than {MAX_BODY} bytes")
    return body


def _inflate(data: bytes, encoding: str, target: Target) -> bytes:
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding != "deflate" else zlib.MAX_WBITS)
    try:
        return inflater.decompress(data, MAX_BODY + 1)
    except zlib.error:
        raise ProtocolError(f"{target.safe} sent a body that does not inflate as "
                            f"{encoding}") from None
