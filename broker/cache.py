"""Per-registry login cache with a TTL and stale-if-error, on an injectable clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from broker.errors import BackendUnavailable

T = TypeVar("T")


class _Entry(NamedTuple):
    value: Any
    fetched_at: float


class TtlCache(Generic[T]):
    """Serves a value for ``ttl`` seconds, then refetches.

    When a refetch fails because the store is unavailable, the expired value
    is served for up to ``stale_if_error`` more seconds. Other failures (the
    secret was deleted, access was revoked) are raised at once, and no failure
    is ever cached.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def get(self, key: str, fetch: Callable[[], T], ttl: float, stale_if_error: float,
            refresh: bool = False) -> tuple[T, str]:
        """Return ``(value, source)`` where source is ``cache``, ``backend`` or ``stale``;
        ``refresh`` skips a fresh entry (the stale rules still apply if the fetch fails)."""
        now = self.clock()
        entry = self._entries.get(key)
        if entry and not refresh and now < entry.fetched_at + ttl:
            return entry.value, "cache"
        try:
            value = fetch()
        except BackendUnavailable:
            if entry and now < entry.fetched_at + ttl + stale_if_error:
                return entry.value, "stale"
            raise
        if ttl > 0:
            self._entries[key] = _Entry(value, now)
        return value, "backend"

    def keep(self, other: TtlCache[T], keys: set[str]) -> None:
        """Take over ``other``'s entries for ``keys`` (a configuration reload kept them)."""
        self._entries.update({k: v for k, v in other._entries.items() if k in keys})

    def clear(self) -> None:
        """Forget every cached value."""
        self._entries.clear()
