"""Fixtures for fault injection: HTTP fault proxies and black holes, closed after each test."""

from __future__ import annotations

import pytest

from tests.support.faults import BlackHole, FaultProxy


@pytest.fixture
def fault_proxy():
    """``fault_proxy(server)``: a FaultProxy in front of a stand-in (anything with ``.port``)."""
    made = []

    def make(server) -> FaultProxy:
        made.append(FaultProxy(("127.0.0.1", server.port)))
        return made[-1]
    yield make
    for proxy in made:
        proxy.stop()


@pytest.fixture
def black_hole():
    hole = BlackHole()
    yield hole
    hole.close()
