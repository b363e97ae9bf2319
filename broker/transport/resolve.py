"""Name resolution inside a request's budget.

``getaddrinfo`` blocks, takes no timeout, and a slow resolver (or a hostile DNS server) can
hold it for many seconds: it runs in a daemon thread, and the request gives up on it when its
budget is spent. A resolver still running then finishes on its own and its answer is dropped.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from broker.transport.errors import DnsError, Timeout

Resolver = Callable[[str], list[str]]


def system(host: str) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, each once."""
    return list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, None)))


def within(host: str, seconds: float, resolver: Resolver = system) -> list[str]:
    """The addresses ``resolver`` finds for ``host`` in at most ``seconds``; :class:`DnsError`
    when it finds none, :class:`Timeout` when it takes longer."""
    found: list[list[str]] = []

    def run() -> None:
        try:
            found.append(list(resolver(host)))
        except (OSError, UnicodeError, ValueError):
            found.append([])
    thread = threading.Thread(target=run, name="broker-resolve", daemon=True)
    thread.start()
    thread.join(max(seconds, 0.0))
    if not found:
        raise Timeout(f"resolving '{host}' took longer than {seconds:.1f} s")
    if not found[0]:
        raise DnsError(f"the name '{host}' does not resolve")
    return found[0]
