"""A wall-clock bound on one request: when its budget is spent, every socket it used is shut,
so a server dripping bytes (or never answering) cannot hold the broker past it."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


class Watchdog:
    """Shuts every connection used in its ``with`` block once ``budget`` seconds have passed."""

    local = threading.local()

    def __init__(self, budget: float) -> None:
        self.fired = False
        self.address: str | None = None  # what the request's host resolved to, once it has
        self.resolved: str | None = None  # ...and that host
        self._ends = time.monotonic() + budget
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(budget, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        Watchdog.local.active = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._timer.cancel()
        Watchdog.local.active = None

    def remaining(self) -> float:
        """Seconds of the budget still left."""
        return self._ends - time.monotonic()

    @classmethod
    def current(cls) -> Watchdog | None:
        """The watchdog of the request this thread is sending, if any."""
        return getattr(cls.local, "active", None)

    @classmethod
    def watch(cls, connection: Any) -> None:
        """Called by the watched connections as they connect or send (with themselves and
        their socket)."""
        active = cls.current()
        if active is not None and connection is not None:
            with active._lock:
                active._connections.append(connection)
                if active.fired:
                    shut(connection)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for connection in self._connections:
                shut(connection)


def shut(connection: Any) -> None:
    """Shut a connection's socket (or a socket) for both directions, ignoring one already gone."""
    sock = connection if isinstance(connection, socket.socket) else getattr(connection, "sock", None)
    if sock is not None:
        try:  # the plain socket's shutdown, also for a TLS socket: a blocked read returns at once
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass
