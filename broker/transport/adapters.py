"""requests' pieces for the broker's transports: connections the watchdog can shut, an adapter
that connects each host at one given address, the bounded session handed to client libraries,
and the one map from requests' and urllib3's exceptions to :class:`TransportError`.

Imported only by configurations that send HTTP (Vault, minted logins, a preflight).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Collection, Iterator
from typing import Any

import requests
import urllib3.exceptions as u3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util import parse_url

from broker import netguard
from broker.deadline import Deadline, current
from broker.transport import resolve
from broker.transport.budget import MIN_BUDGET, budget
from broker.transport.errors import (
    ConnectError,
    ProtocolError,
    Redirected,
    Refused,
    Timeout,
    TlsError,
    TooLarge,
    TransportError,
)
from broker.transport.watchdog import Watchdog

Origin = tuple[str, str, int]


class _Watched:
    # The socket is watched itself too: http.client drops it from the connection once a
    # "Connection: close" answer starts, while the body is still being read from it.
    def connect(self) -> None:
        Watchdog.watch(self)
        _cap_connect_timeout(self)
        super().connect()  # type: ignore[misc]
        Watchdog.watch(self.sock)  # type: ignore[attr-defined]

    def request(self, *args: Any, **kwargs: Any) -> None:
        Watchdog.watch(self)
        Watchdog.watch(self.sock)  # type: ignore[attr-defined]
        super().request(*args, **kwargs)  # type: ignore[misc]


def _cap_connect_timeout(connection: Any) -> None:
    """A connect() the watchdog cannot see yet (its socket does not exist until it returns)
    gets only what is left of the request's budget: name resolution may have spent some."""
    watchdog = Watchdog.current()
    if watchdog is None:
        return
    left = watchdog.remaining()
    if left <= MIN_BUDGET:
        raise Timeout("no time left after resolving the name")
    current = connection.timeout
    connection.timeout = left if not isinstance(current, (int, float)) else min(current, left)


class WatchedHTTPConnection(_Watched, HTTPConnection):
    """A plain connection the active watchdog can shut."""


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    """A TLS connection the active watchdog can shut."""


WATCHED = {"http": WatchedHTTPConnection, "https": WatchedHTTPSConnection}


class PinnedAdapter(HTTPAdapter):
    """Connects each host at the one address ``address_of(name)`` gives (TLS name, certificate
    check and Host keep the name), with watched connections and no retries; ``address_of``
    raises a TransportError for a host it does not allow."""

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
        pool.ConnectionCls = WATCHED[host_params["scheme"]]
        return pool


def quiet_session() -> requests.Session:
    """A Session with no proxies or .netrc credentials from the environment, asking for
    uncompressed answers."""
    session = requests.Session()
    session.trust_env = False
    session.headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Accept": "*/*"}
    return session


USER_AGENT = "registry-broker"


class BoundedSession(requests.Session):
    """See :func:`broker.transport.bounded.bounded_session`."""

    def __init__(self, deadline: Deadline | None, origins: Collection[Origin],
                 max_body: int) -> None:
        super().__init__()
        self.deadline, self.origins, self.max_body = deadline, frozenset(origins), max_body
        self.trust_env = False
        self.headers.update({"Accept-Encoding": "identity"})
        for prefix in ("https://", "http://"):
            self.mount(prefix, PinnedAdapter(first_address))

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        target = self.allowed(str(url))
        seconds = budget(kwargs.get("timeout"), self.deadline or current())
        kwargs.update(timeout=seconds, stream=True, allow_redirects=False)
        with Watchdog(seconds) as watchdog:
            try:
                response = super().request(method, url, *args, **kwargs)
                body = response.raw.read(self.max_body + 1, decode_content=False)
            except Exception as exc:  # noqa: BLE001 - every client error becomes a TransportError
                raise translate(exc, watchdog.fired, f"{method} {target.safe}", target.host,
                                seconds) from None
        return self._checked(response, body, watchdog.fired, seconds)

    def send(self, request: Any, **kwargs: Any) -> Any:
        """Every request a library sends, even one that calls send() itself, is vetted."""
        self.allowed(str(request.url))
        return super().send(request, **kwargs)

    def allowed(self, url: str) -> netguard.Target:
        """The vetted URL when its origin is one the session was made for; else Refused,
        before anything is sent (a discovery document or an answer may name any host)."""
        try:
            target = netguard.parse_url(url, {"http", "https"})
        except netguard.Refused as exc:
            raise Refused(f"refused {exc}") from None
        if target.origin not in self.origins:
            raise Refused(f"refused {target.scheme}://{target.netloc}: not an origin this "
                          "backend may send to; nothing was sent")
        return target

    def _checked(self, response: Any, body: bytes, fired: bool, seconds: float) -> Any:
        response.close()
        if fired:
            raise Timeout(f"no answer within {seconds:.1f} s")
        if response.is_redirect:
            raise Redirected(response.status_code)
        if len(body) > self.max_body:
            raise TooLarge(f"an answer larger than {self.max_body} bytes")
        response._content, response._content_consumed = body, True
        return response


def first_address(name: str) -> str:
    """Where a bounded session connects ``name``: the first address it resolves to now (not
    cached: a load balancer's addresses change), within the current request's budget (the
    request resolved it already: that answer)."""
    if netguard.is_ip(name):
        return name
    watchdog = Watchdog.current()
    if watchdog is not None and watchdog.resolved == name and watchdog.address:
        return watchdog.address
    address = resolve.within(name, watchdog.remaining() if watchdog else 5.0)[0]
    if watchdog is not None:
        watchdog.address, watchdog.resolved = address, name
    return address


def translate(exc: Exception, fired: bool, where: str, address: str,
              seconds: float) -> TransportError:
    """The most specific TransportError for a client exception, by type only (never its text).
    One of ours stays as it is, unless the watchdog cut the request meanwhile (then it is the
    timeout, not what the cut left behind)."""
    if isinstance(exc, TransportError) and (not fired or isinstance(exc, Timeout)):
        return exc
    if fired or isinstance(exc, (requests.Timeout, u3.TimeoutError, socket.timeout)):
        return Timeout(f"{where} timed out (budget {seconds:.1f} s)")
    if isinstance(exc, requests.exceptions.SSLError):
        if _not_tls(exc):
            return TlsError(f"{where}: the server does not speak TLS (it answered plain HTTP): "
                            "for a test registry on http, set insecure: true")
        return TlsError(f"{where}: TLS failed: the certificate does not verify for this host "
                        "(set ca_bundle for a private CA)")
    if _caused_by(exc, ConnectionRefusedError):
        return ConnectError(f"{where}: connection refused by {address}")
    if isinstance(exc, requests.ConnectionError) and not _caused_by(exc, u3.ProtocolError):
        return ConnectError(f"{where}: could not connect to {address}")
    if isinstance(exc, UnicodeError):
        return ProtocolError(f"{where}: a header value the HTTP client cannot send")
    return ProtocolError(f"{where}: the answer broke off or is not HTTP ({type(exc).__name__})")


_PLAIN_HTTP = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST",
               "PACKET_LENGTH_TOO_LONG"}
"""OpenSSL's reasons (an attribute, not the message) when a TLS client meets a plain server."""


def _not_tls(exc: BaseException) -> bool:
    """True when the handshake failed because the other side answered something not TLS."""
    return any(getattr(link, "reason", None) in _PLAIN_HTTP for link in _chain(exc))


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(link, kind) for link in _chain(exc))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the exceptions among its args, and so on down its causes and contexts (and
    urllib3's ``reason``), each once."""
    seen: set[int] = set()
    current: Any = exc
    while isinstance(current, BaseException) and id(current) not in seen:
        seen.add(id(current))
        yield current
        yield from (a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        current = current.__cause__ or current.__context__ or getattr(current, "reason", None)
