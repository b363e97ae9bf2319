"""Fixtures for the attacks (the scripted hostile servers are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from broker.login import Login
from tests.support import leaks


@pytest.fixture
def login() -> Login:
    return Login("robot", leaks.secret("password"))
