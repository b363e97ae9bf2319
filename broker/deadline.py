"""How long the current invocation may still spend on secret stores.

Lambda kills an invocation at its timeout, with no error of the broker's own.
Each invocation makes its own :class:`Deadline` from
``context.get_remaining_time_in_millis()`` minus a margin for answering
(:func:`for_invocation`) and passes it down: ``Broker.login``, ``Backend.fetch`` and
the preflight take it as an argument. For the length of one ``fetch``, the deadline
is also :func:`current` in that thread (a context variable, never a shared object), so
the sessions client libraries send through are cut to it without every library call
carrying it. Backends start an attempt only when a whole ``timeout`` still fits, and
sleep between retries only as long as one more attempt still fits after the sleep.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

ANSWER_MARGIN = 0.5
"""Seconds kept back to log and return the broker's own error before Lambda's timeout."""


class Deadline:
    """The end of the current invocation's budget, on the real monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._until: float | None = None

    def start(self, remaining_ms: object, margin: float = ANSWER_MARGIN) -> None:
        """Begin an invocation with ``remaining_ms`` left (None or junk: no deadline)."""
        if isinstance(remaining_ms, (int, float)) and not isinstance(remaining_ms, bool):
            self._until = self.clock() + remaining_ms / 1000 - margin
        else:
            self._until = None

    def left(self) -> float | None:
        """Seconds left, or None when there is no deadline."""
        return None if self._until is None else self._until - self.clock()

    def allows(self, seconds: float) -> bool:
        """True when ``seconds`` more still end before the deadline."""
        left = self.left()
        return left is None or left >= seconds


def for_invocation(context: Any, margin: float = ANSWER_MARGIN) -> Deadline:
    """A new deadline for one invocation: its time left, less ``margin`` (none without a
    Lambda context)."""
    deadline = Deadline()
    deadline.start(remaining_ms(context), margin)
    return deadline


_CURRENT: ContextVar[Deadline | None] = ContextVar("broker_deadline", default=None)


def current() -> Deadline:
    """The deadline of the fetch this thread is running (no deadline outside one)."""
    return _CURRENT.get() or Deadline()


@contextlib.contextmanager
def scope(deadline: Deadline) -> Iterator[Deadline]:
    """Make ``deadline`` :func:`current` in this thread for the ``with`` block."""
    token = _CURRENT.set(deadline)
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)


def ms_since(started: float, digits: int = 1) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading), rounded."""
    return round((time.perf_counter() - started) * 1000, digits)


def remaining_ms(context: Any) -> Any:
    """``context.get_remaining_time_in_millis()``, or None without a Lambda context."""
    try:
        return context.get_remaining_time_in_millis()
    except Exception:  # no Lambda context (CLI, tests): no deadline
        return None


def within(outer: Deadline | None, seconds: float) -> Deadline:
    """A deadline ``seconds`` from now, or ``outer``'s if that comes first."""
    left = outer.left() if outer is not None else None
    deadline = Deadline()
    deadline.start((seconds if left is None else min(seconds, left)) * 1000, margin=0.0)
    return deadline
