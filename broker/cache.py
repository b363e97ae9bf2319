"""Per-registry login cache with a TTL, expiry and stale-if-error, on an injectable clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from broker.errors import BackendUnavailable

T = TypeVar("T")


class _Entry(NamedTuple):
    value: Any
    fetched_at: float


def expires_at(value: Any) -> float | None:
    """When a cached value stops being valid (a short-lived token's expiry), if it says."""
    return getattr(value, "expires_at", None)


class TtlCache(Generic[T]):
    """Serves a value for ``ttl`` seconds; one with its own expiry (a minted token) only until
    ``fraction`` of the life it had when fetched has passed, or ``skew`` seconds before it
    expires, whichever comes first (so whoever gets it has at least the rest of that share
    of its life to use it, as Kubernetes' credential providers do); then refetches.

    When a refetch fails because the store is unavailable, the previous value is served for
    up to ``stale_if_error`` more seconds, but never past its expiry. Other failures (the
    secret was deleted, access was revoked) are raised at once, and no failure is ever cached.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def get(self, key: str, fetch: Callable[[], T], ttl: float, stale_if_error: float,
            refresh: bool = False, skew: float = 0.0,
            fraction: float = 1.0) -> tuple[T, str]:
        """Return ``(value, source)`` where source is ``cache``, ``backend`` or ``stale``;
        ``refresh`` skips a fresh entry (the stale rules still apply if the fetch fails)."""
        now = self.clock()
        entry = self._entries.get(key)
        if entry and not refresh and now < self._fresh_until(entry, ttl, skew, fraction):
            return entry.value, "cache"
        try:
            value = fetch()
        except BackendUnavailable:
            if entry and now < self._stale_until(entry, ttl, stale_if_error):
                return entry.value, "stale"
            raise
        fresh = _Entry(value, now)
        if ttl > 0 and now < self._fresh_until(fresh, ttl, skew, fraction):
            self._entries[key] = fresh
        return value, "backend"

    def holds(self, key: str) -> bool:
        """True when a value for ``key`` was cached (even an expired one)."""
        return key in self._entries

    def keep(self, other: TtlCache[T], keys: set[str]) -> None:
        """Take over ``other``'s entries for ``keys`` (a configuration reload kept them)."""
        self._entries.update({k: v for k, v in other._entries.items() if k in keys})

    def clear(self) -> None:
        """Forget every cached value."""
        self._entries.clear()

    @staticmethod
    def _fresh_until(entry: _Entry, ttl: float, skew: float, fraction: float) -> float:
        until = entry.fetched_at + ttl
        expiry = expires_at(entry.value)
        if expiry is None:
            return until
        share = entry.fetched_at + fraction * (expiry - entry.fetched_at)
        return min(until, expiry - skew, share)

    @staticmethod
    def _stale_until(entry: _Entry, ttl: float, stale_if_error: float) -> float:
        until = entry.fetched_at + ttl + stale_if_error
        expiry = expires_at(entry.value)
        return until if expiry is None else min(until, expiry)
