"""The session handed to client libraries (hvac for Vault, google-auth, msal): the one way a
backend's library reaches a server outside AWS."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from broker import netguard
from broker.deadline import Deadline
from broker.transport.adapters import BoundedSession, Origin
from broker.transport.guarded import MAX_BODY


def bounded_session(deadline: Deadline | None, urls: Iterable[str],
                    max_body: int = MAX_BODY) -> Any:
    """A requests Session that sends only to the origins (scheme, host, port) of ``urls``.

    A request to any other origin is refused before anything is sent (a secret or token goes
    only where the backend was configured to send it, whatever a discovery document or an
    answer names); no proxies or .netrc from the environment; no redirects (a redirect answer
    raises :class:`~broker.transport.errors.Redirected`); each host resolved, within the
    request's budget, and connected at one address; every request cut to ``deadline``'s time
    left (None: the deadline of the fetch sending it, :func:`broker.deadline.current`, for a
    client built once and used by many fetches) and held to it by the watchdog; answers read
    up to ``max_body`` bytes, undecoded.
    Every failure is a :class:`~broker.transport.errors.TransportError`.
    """
    return BoundedSession(deadline, [origin(url) for url in urls], max_body)


def origin(url: str) -> Origin:
    """``(scheme, host, port)`` of a configured URL (already validated)."""
    return netguard.parse_url(url, {"http", "https"}).origin
