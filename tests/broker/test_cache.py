"""The TTL cache: hits, expiry, stale-if-error, and failures never cached."""

from __future__ import annotations

import pytest

from broker.cache import TtlCache
from broker.errors import AccessDenied, BackendUnavailable
from tests.support.clock import FakeClock


class Store:
    def __init__(self):
        self.calls = 0
        self.value = "v1"
        self.error: Exception | None = None

    def fetch(self):
        self.calls += 1
        if self.error:
            raise self.error
        return self.value


@pytest.fixture
def setup():
    clock = FakeClock()
    return TtlCache(clock), Store(), clock


def test_hit_within_ttl_costs_no_fetch(setup):
    cache, store, clock = setup
    assert cache.get("r", store.fetch, 10, 100) == ("v1", "backend")
    clock.advance(9.9)
    assert cache.get("r", store.fetch, 10, 100) == ("v1", "cache")
    assert store.calls == 1


def test_keys_are_independent(setup):
    cache, store, _ = setup
    cache.get("a", store.fetch, 10, 100)
    cache.get("b", store.fetch, 10, 100)
    assert store.calls == 2


def test_expired_entry_is_refetched(setup):
    cache, store, clock = setup
    cache.get("r", store.fetch, 10, 100)
    store.value = "v2"
    clock.advance(10)
    assert cache.get("r", store.fetch, 10, 100) == ("v2", "backend")


def test_stale_served_only_while_store_unavailable_and_within_window(setup):
    cache, store, clock = setup
    cache.get("r", store.fetch, 10, 100)
    store.error = BackendUnavailable("down")
    clock.advance(109)
    assert cache.get("r", store.fetch, 10, 100) == ("v1", "stale")
    clock.advance(1)
    with pytest.raises(BackendUnavailable):
        cache.get("r", store.fetch, 10, 100)


def test_denied_is_not_papered_over_with_stale(setup):
    cache, store, clock = setup
    cache.get("r", store.fetch, 10, 100)
    store.error = AccessDenied("revoked")
    clock.advance(11)
    with pytest.raises(AccessDenied):
        cache.get("r", store.fetch, 10, 100)


def test_failures_are_not_cached(setup):
    cache, store, _ = setup
    store.error = BackendUnavailable("down")
    with pytest.raises(BackendUnavailable):
        cache.get("r", store.fetch, 10, 100)
    store.error = None
    assert cache.get("r", store.fetch, 10, 100) == ("v1", "backend")


def test_zero_ttl_never_caches(setup):
    cache, store, _ = setup
    cache.get("r", store.fetch, 0, 100)
    assert cache.get("r", store.fetch, 0, 100) == ("v1", "backend")
    assert store.calls == 2


class Expiring:
    """A cached value that knows when it expires (as a login from a token-minting backend)."""

    def __init__(self, expires_at):
        self.expires_at = expires_at


@pytest.fixture
def minting():
    clock = FakeClock(start=1000.0)
    store = Store()
    store.value = None

    def fetch_lasting(seconds):
        def fetch():
            store.calls += 1
            if store.error:
                raise store.error
            return Expiring(clock() + seconds)
        return fetch
    return TtlCache(clock), store, clock, fetch_lasting


def test_a_login_is_refetched_a_skew_before_it_expires_whatever_the_ttl(minting):
    cache, store, clock, lasting = minting
    fetch = lasting(3600)  # a one-hour token, cache_ttl one day, skew five minutes
    assert cache.get("r", fetch, 86400, 0, skew=300)[1] == "backend"
    clock.advance(3599 - 300)
    assert cache.get("r", fetch, 86400, 0, skew=300)[1] == "cache"
    clock.advance(1)
    assert cache.get("r", fetch, 86400, 0, skew=300)[1] == "backend"
    assert store.calls == 2


def test_the_ttl_still_applies_when_it_is_shorter(minting):
    cache, store, clock, lasting = minting
    fetch = lasting(3600)
    cache.get("r", fetch, 60, 0, skew=300)
    clock.advance(61)
    assert cache.get("r", fetch, 60, 0, skew=300)[1] == "backend"


def test_stale_if_error_never_serves_an_expired_login(minting):
    cache, store, clock, lasting = minting
    fetch = lasting(600)
    first, _ = cache.get("r", fetch, 86400, 86400, skew=60)
    store.error = BackendUnavailable("down")
    clock.advance(550)  # within the skew: refetch, the store is down, still valid: stale
    assert cache.get("r", fetch, 86400, 86400, skew=60) == (first, "stale")
    clock.advance(50)  # now past its expiry: never served, whatever stale_if_error says
    with pytest.raises(BackendUnavailable):
        cache.get("r", fetch, 86400, 86400, skew=60)


def test_a_login_expiring_within_the_skew_is_not_cached(minting):
    cache, store, clock, lasting = minting
    fetch = lasting(100)
    cache.get("r", fetch, 86400, 0, skew=300)
    assert cache.get("r", fetch, 86400, 0, skew=300)[1] == "backend"
    assert store.calls == 2


def test_a_login_with_an_expiry_is_refreshed_once_its_share_of_life_has_passed():
    from broker.login import Login

    clock = FakeClock(start=0.0)
    cache = TtlCache(clock)
    minted = iter(range(100))

    def fetch():
        return Login("u", f"p{next(minted)}", expires_at=clock() + 3600)
    assert cache.get("r", fetch, 86400, 0, skew=300, fraction=0.5)[1] == "backend"
    clock.advance(1799)
    assert cache.get("r", fetch, 86400, 0, skew=300, fraction=0.5)[1] == "cache"
    clock.advance(2)
    value, source = cache.get("r", fetch, 86400, 0, skew=300, fraction=0.5)
    assert source == "backend" and value.expires_at - clock() == 3600


@pytest.mark.parametrize("value", [0, -0.5, 1.5])
def test_refresh_fraction_is_a_share_of_the_life(value):
    from broker.config import parse_config
    from broker.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config({"defaults": {"refresh_fraction": value}, "registries": {"a": {
            "host": "a.example", "backend": {"type": "secretsmanager", "secret_id": "s"}}}}, "t")
    assert "more than 0 and at most 1" in dict(info.value.problems)["defaults.refresh_fraction"]
