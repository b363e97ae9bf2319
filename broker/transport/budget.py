"""How long one request may take: its timeout, cut to what is left of the invocation."""

from __future__ import annotations

from typing import Any

from broker.deadline import Deadline
from broker.transport.errors import Timeout

MIN_BUDGET = 0.05
"""Seconds; with less left, a request is not started."""
DEFAULT_TIMEOUT = 5.0


def budget(timeout: Any, deadline: Deadline | None) -> float:
    """Seconds for one request (name resolution, connection, TLS, headers and body): ``timeout``
    (a number, else DEFAULT_TIMEOUT) or the deadline's time left, whichever is shorter.
    Raises :class:`Timeout` when no useful time is left."""
    limit = timeout if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) \
        else DEFAULT_TIMEOUT
    left = deadline.left() if deadline is not None else None
    seconds = limit if left is None else min(limit, left)
    if seconds <= MIN_BUDGET:
        raise Timeout("no time left in the invocation for the request")
    return seconds
