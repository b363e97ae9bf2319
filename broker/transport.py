"""The guarded HTTP transport: the one path for every request the broker sends outside AWS and Vault.

A :class:`Transport` belongs to one registry check. For each request it

- vets the URL (:mod:`broker.netguard`) and refuses a host nobody trusted: the registry's,
  and those the caller has :meth:`~Transport.trust`-ed (a vetted token realm);
- resolves each host once, checks every address it resolves to, and connects to the first
  one, pinned: TLS server name, certificate check and ``Host`` header keep the name, so a
  second DNS answer (rebinding) is never asked for;
- follows redirects by hand, each hop vetted the same way; a request carrying the login is
  never redirected to another origin (scheme, host, port);
- sends ``Accept-Encoding: identity``, reads at most ``MAX_BODY`` bytes undecoded and
  inflates gzip/deflate itself, never past that cap;
- gives the whole exchange (connect, TLS, headers, body) a wall-clock budget: the registry's
  ``timeout``, cut to what is left of the invocation. A watchdog shuts the socket when the
  budget is spent, so a registry dripping bytes cannot hold the broker.

Every failure is a :class:`TransportError` with a message safe to log: client exceptions can
quote header values, so they are never chained or echoed.
"""

from __future__ import annotations

import functools
import socket
import threading
import zlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode

from broker import netguard
from broker.deadline import Deadline
from broker.netguard import Refused, Target

MAX_BODY = 1 << 20
MAX_REDIRECTS = 5
MIN_BUDGET = 0.05
DEFAULT_TIMEOUT = 5.0
USER_AGENT = "registry-broker"
_REDIRECTS = {301, 302, 303, 307, 308}

Resolver = Callable[[str], list[str]]


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, each once."""
    return list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, None)))


class TransportError(Exception):
    """A request that was refused or did not complete; ``kind`` is one of refused, dns, connect,
    timeout, tls, protocol, too-large."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


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
                 resolver: Resolver = resolve) -> None:
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
        except Refused as exc:
            raise TransportError("refused", f"refused {exc}") from None

    def trust(self, target: Target) -> None:
        """Allow requests to ``target``'s host, after checking every address it resolves to."""
        self._pin(target.host)
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
        raise TransportError("refused", f"more than {MAX_REDIRECTS} redirects")

    def _redirect(self, answer: Answer, method: str, form: Any,
                  carries_login: bool) -> tuple[str, Any, Target]:
        try:
            target = self.vet(_join(answer.target, answer.headers["location"]))
        except TransportError as exc:
            raise TransportError("refused", f"refused a redirect from {answer.target.safe} to "
                                            f"{str(exc).removeprefix('refused ')}") from None
        if target.host not in self.trusted:
            raise TransportError("refused", f"refused a redirect to {target.safe}: not a vetted host")
        if carries_login and target.origin != answer.target.origin:
            raise TransportError("refused", f"refused a redirect to {target.safe}: another origin, "
                                            "and the request carries the login")
        if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
            return ("HEAD" if method == "HEAD" else "GET"), None, target
        return method, form, target

    def _once(self, method: str, target: Target, headers: dict[str, str], form: Any,
              public_ca: bool) -> Answer:
        if target.host not in self.trusted:
            raise TransportError("refused", f"refused {target.safe}: not a vetted host")
        address = self._pin(target.host)
        budget = self._budget()
        self.round_trips += 1
        with _Watchdog(budget) as watchdog:
            try:
                answer = self._exchange(method, target, headers, form, public_ca, budget)
            except Exception as exc:  # noqa: BLE001 - every client error becomes a TransportError
                if isinstance(exc, TransportError) and not watchdog.fired:
                    raise
                raise _translate(exc, watchdog.fired, method, target, address, budget) from None
        if watchdog.fired:
            raise _translate(TimeoutError(), True, method, target, address, budget)
        return answer

    def _exchange(self, method: str, target: Target, headers: dict[str, str], form: Any,
                  public_ca: bool, budget: float) -> Answer:
        import requests

        session = self._session_for()
        prepared = session.prepare_request(requests.Request(
            method, target.url, headers={**headers, "Host": target.netloc},
            data=urlencode(form) if form is not None else None))
        if form is not None:
            prepared.headers["Content-Type"] = "application/x-www-form-urlencoded"
        verify: Any = True if public_ca or not self.ca_bundle else self.ca_bundle
        response = session.send(prepared, timeout=budget, verify=verify, allow_redirects=False,
                                stream=True)
        with response:
            body = b"" if method == "HEAD" else _read_body(response.raw, target)
        return Answer(response.status_code, response.headers, body, method, target)

    def _session_for(self) -> Any:
        if self._session is None:
            self._session = _pinned_session(self.pins)
        return self._session

    def _budget(self) -> float:
        left = self.deadline.left()
        budget = self.timeout if left is None else min(self.timeout, left)
        if budget <= MIN_BUDGET:
            raise TransportError("timeout", "no time left in the invocation for the request")
        return budget

    def _pin(self, host: str) -> str:
        """The one address ``host`` is reached at, resolved and vetted on first use."""
        if host not in self.pins:
            kinds = self._vetted(host)
            if host == self.registry:
                self.site = netguard.site_of(list(kinds.values()))
            else:
                self._check_reachable(host, kinds)
            self.pins[host] = next(iter(kinds))
        return self.pins[host]

    def _vetted(self, host: str) -> dict[str, str]:
        try:
            found = [str(netguard.address(a)) for a in self._resolve(host)]
            return {a: netguard.kind_of(netguard.address(a)) for a in found}
        except Refused as exc:
            raise TransportError("refused", f"'{host}' resolves to {exc}; nothing was sent "
                                            "to it") from None
        except ValueError:
            raise TransportError("dns", f"'{host}' resolved to something that is not an IP "
                                        "address") from None

    def _resolve(self, host: str) -> list[str]:
        if _is_ip(host):
            return [host]
        try:
            found = self.resolver(host)
        except (OSError, UnicodeError):
            found = []
        if not found:
            raise TransportError("dns", f"the name '{host}' does not resolve")
        return found

    def _check_reachable(self, host: str, kinds: dict[str, str]) -> None:
        self._pin(self.registry)
        site = self.site or netguard.PUBLIC
        for address, kind in kinds.items():
            if not netguard.reachable(kind, site):
                raise TransportError("refused", f"'{host}' resolves to {_article(kind)} address but "
                                                f"the registry does not ({address}); nothing was "
                                                "sent to it")


def _article(kind: str) -> str:
    return {"loopback": "a loopback", "private": "an internal"}[kind]


def _is_ip(host: str) -> bool:
    try:
        netguard.address(host)
    except ValueError:
        return False
    return True


def _with_query(target: Target, query: Mapping[str, str]) -> Target:
    joiner = "&" if "?" in target.path else "?"
    return target._replace(path=f"{target.path}{joiner}{urlencode(query)}")


def _join(base: Target, location: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base.url, location)


def _read_body(raw: Any, target: Target) -> bytes:
    """At most MAX_BODY bytes, undecoded on the wire and inflated here under the same cap."""
    body = raw.read(MAX_BODY + 1, decode_content=False)
    encoding = (raw.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        body = _inflate(body, encoding, target)
    elif encoding != "identity":
        raise TransportError("protocol", f"{target.safe} answered with Content-Encoding "
                                         f"'{encoding[:20]}', which was not asked for")
    if len(body) > MAX_BODY:
        raise TransportError("too-large", f"{target.safe} sent more than {MAX_BODY} bytes")
    return body


def _inflate(data: bytes, encoding: str, target: Target) -> bytes:
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding != "deflate" else zlib.MAX_WBITS)
    try:
        return inflater.decompress(data, MAX_BODY + 1)
    except zlib.error:
        raise TransportError("protocol", f"{target.safe} sent a body that does not inflate as "
                                         f"{encoding}") from None


def _translate(exc: Exception, fired: bool, method: str, target: Target, address: str,
               budget: float) -> TransportError:
    """The most specific TransportError for a client exception, by type only (never its text)."""
    import requests
    import urllib3.exceptions as u3

    where = f"{method} {target.safe}"
    if fired or isinstance(exc, (requests.Timeout, u3.TimeoutError, socket.timeout)):
        return TransportError("timeout", f"{where} timed out (budget {budget:.1f} s)")
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportError("tls", f"{where}: TLS failed: the certificate does not verify for "
                                     f"'{target.host}' (set ca_bundle for a private CA)")
    if _caused_by(exc, ConnectionRefusedError):
        return TransportError("connect", f"{where}: connection refused by {address}")
    if isinstance(exc, requests.ConnectionError) and not _caused_by(exc, u3.ProtocolError):
        return TransportError("connect", f"{where}: could not connect to {address}")
    if isinstance(exc, UnicodeError):
        return TransportError("protocol", f"{where}: a header value the HTTP client cannot send")
    return TransportError("protocol", f"{where}: the answer broke off or is not HTTP "
                                      f"({type(exc).__name__})")


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind) or any(isinstance(a, kind) for a in getattr(exc, "args", ())):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__ or getattr(exc, "reason", None)
    return False


class _Watchdog:
    """Shuts every connection used in its ``with`` block once ``budget`` seconds have passed."""

    local = threading.local()

    def __init__(self, budget: float) -> None:
        self.fired = False
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(budget, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        _Watchdog.local.active = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._timer.cancel()
        _Watchdog.local.active = None

    @classmethod
    def watch(cls, connection: Any) -> None:
        """Called by the pinned connections as they connect or send (with themselves and their
        socket)."""
        active = getattr(cls.local, "active", None)
        if active is not None and connection is not None:
            with active._lock:
                active._connections.append(connection)
                if active.fired:
                    _shut(connection)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for connection in self._connections:
                _shut(connection)


def _shut(connection: Any) -> None:
    sock = connection if isinstance(connection, socket.socket) else getattr(connection, "sock", None)
    if sock is not None:
        try:  # the plain socket's shutdown, also for a TLS socket: a blocked read returns at once
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


def _pinned_session(pins: dict[str, str]) -> Any:
    """A requests Session that connects each vetted host to its pinned address."""
    def address_of(name: str) -> str:
        if name not in pins:
            raise TransportError("refused", "a connection to a host that was not vetted")
        return pins[name]
    session = _quiet_session()
    for prefix in ("https://", "http://"):
        session.mount(prefix, _adapter_classes()[1](address_of))
    return session


def bounded_session(deadline: Deadline, max_body: int = MAX_BODY) -> Any:
    """A requests Session for a client other than the preflight (hvac, for Vault).

    No proxies or .netrc from the environment; no redirects (a redirect answer raises
    :class:`Redirected`: requests would carry a token header to any host); each host
    resolved once and connected at one address (a connect attempt per address, each with the
    whole timeout, would not be bounded); every request cut to ``deadline``'s time left and
    held to it by the watchdog; answers read up to ``max_body`` bytes, undecoded.
    """
    session = _adapter_classes()[2](deadline, max_body)
    session.trust_env = False
    session.headers.update({"Accept-Encoding": "identity"})
    for prefix in ("https://", "http://"):
        session.mount(prefix, _adapter_classes()[1](_first_address))
    return session


def _first_address(name: str) -> str:
    """The address a bounded session connects ``name`` at: the first one it resolves to now
    (not cached: a load balancer's addresses change)."""
    try:
        return name if _is_ip(name) else resolve(name)[0]
    except (OSError, IndexError, UnicodeError):
        raise TransportError("dns", f"the name '{name}' does not resolve") from None


class Redirected(Exception):
    """A bounded session's answer was a redirect, which is never followed."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _quiet_session() -> Any:
    import requests

    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc credentials from the environment
    session.headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Accept": "*/*"}
    return session


@functools.cache
def _adapter_classes() -> tuple[type, type, type]:
    """(WatchedAdapter, PinnedAdapter, BoundedSession), built on first use: requests is imported
    only by configurations that need it."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.util import parse_url

    class Watched:
        # The socket is watched itself too: http.client drops it from the connection once a
        # "Connection: close" answer starts, while the body is still being read from it.
        def connect(self) -> None:
            _Watchdog.watch(self)
            super().connect()  # type: ignore[misc]
            _Watchdog.watch(self.sock)  # type: ignore[attr-defined]

        def request(self, *args: Any, **kwargs: Any) -> None:
            _Watchdog.watch(self)
            _Watchdog.watch(self.sock)  # type: ignore[attr-defined]
            super().request(*args, **kwargs)  # type: ignore[misc]

    class WatchedHTTP(Watched, HTTPConnection):
        pass

    class WatchedHTTPS(Watched, HTTPSConnection):
        pass

    watched = {"http": WatchedHTTP, "https": WatchedHTTPS}

    class WatchedAdapter(HTTPAdapter):
        """Every connection it makes can be shut by the active watchdog."""

        def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None,
                                            cert: Any = None) -> Any:
            pool = super().get_connection_with_tls_context(request, verify, None, cert)
            pool.ConnectionCls = watched[pool.scheme]
            return pool

    class PinnedAdapter(WatchedAdapter):
        """Connects each host at the one address ``address_of(name)`` gives (TLS name,
        certificate check and Host keep the name); it raises for a host not allowed."""

        def __init__(self, address_of: Callable[[str], str]) -> None:
            super().__init__(max_retries=0)
            self.address_of = address_of

        def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None,
                                            cert: Any = None) -> Any:
            name = netguard.host_of(parse_url(request.url).host or "")
            host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
            host_params["host"] = self.address_of(name)
            if host_params["scheme"] == "https":
                pool_kwargs = {**pool_kwargs, "server_hostname": name, "assert_hostname": name}
            pool = self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)
            pool.ConnectionCls = watched[host_params["scheme"]]
            return pool

    class BoundedSession(requests.Session):
        """See :func:`bounded_session`."""

        def __init__(self, deadline: Deadline, max_body: int) -> None:
            super().__init__()
            self.deadline, self.max_body = deadline, max_body

        def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
            budget = _within(kwargs.get("timeout"), self.deadline)
            kwargs.update(timeout=budget, stream=True, allow_redirects=False)
            with _Watchdog(budget) as watchdog:
                try:
                    response = super().request(method, url, *args, **kwargs)
                    body = response.raw.read(self.max_body + 1, decode_content=False)
                except Exception:  # noqa: BLE001 - a watchdog cut is a timeout
                    if watchdog.fired:
                        raise TransportError("timeout", f"no answer within {budget:.1f} s") from None
                    raise
            return self._checked(response, body, watchdog.fired, budget)

        def _checked(self, response: Any, body: bytes, fired: bool, budget: float) -> Any:
            response.close()
            if fired:
                raise TransportError("timeout", f"no answer within {budget:.1f} s")
            if response.is_redirect:
                raise Redirected(response.status_code)
            if len(body) > self.max_body:
                raise TransportError("too-large", f"an answer larger than {self.max_body} bytes")
            response._content, response._content_consumed = body, True
            return response

    return WatchedAdapter, PinnedAdapter, BoundedSession


def _within(timeout: Any, deadline: Deadline) -> float:
    """A request's timeout cut to the time left; TransportError when none is."""
    limit = timeout if isinstance(timeout, (int, float)) else DEFAULT_TIMEOUT
    left = deadline.left()
    budget = limit if left is None else min(limit, left)
    if budget <= MIN_BUDGET:
        raise TransportError("timeout", "no time left in the invocation for the request")
    return budget
