"""Fixtures of the rotation tests: a Harbor stand-in whose robots a real registry's token
server follows, and a registry rotated with it."""

from __future__ import annotations

import pytest

from tests.support.rotation import follow, rotated_registry
from tests.support.vendors.harbor import HarborStandIn


@pytest.fixture
def harbor(tmp_path, registries):
    stand_in = HarborStandIn(tmp_path)
    follow(stand_in, registries.token_server)
    yield stand_in
    stand_in.stop()
    for login in stand_in.logins.values():
        registries.token_server.users.pop(login.username, None)


@pytest.fixture
def rotated(aws, moto, harbor, registries):
    return rotated_registry(aws, moto, harbor, registries.token, harbor.logins[7])
