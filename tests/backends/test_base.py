"""Deps.expiring: a minted login's expiry, read off the wall clock, moved onto the cache's."""

from __future__ import annotations

import pytest

from backends.base import Deps
from broker.login import Login


def deps() -> Deps:
    return Deps(clock=lambda: 100.0, wall=lambda: 1_700_000_000.0)


def test_the_expiry_moves_onto_the_monotonic_clock():
    login = deps().expiring(Login("u", "p"), 1_700_000_000.0 + 3600)
    assert (login.username, login.password, login.expires_at) == ("u", "p", 3700.0)


@pytest.mark.parametrize("hostile", [float("nan"), float("inf"), float("-inf")])
def test_an_expiry_that_is_not_a_number_is_none_so_the_ttl_bounds_the_login(hostile):
    # a registry's token claiming exp NaN must not make the cache's comparisons meaningless
    assert deps().expiring(Login("u", "p"), hostile).expires_at is None
