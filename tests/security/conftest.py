"""Fixtures for the attacks: scripted loopback servers (hostile registries, token servers)."""

from __future__ import annotations

import pytest

from broker.login import Login
from tests.support import leaks
from tests.support.scripted import ScriptedServer


@pytest.fixture
def scripted():
    """``scripted(host="127.0.0.1", port=0, tls=None)``: a ScriptedServer, stopped after the test."""
    servers = []

    def make(host: str = "127.0.0.1", port: int = 0, tls=None) -> ScriptedServer:
        servers.append(ScriptedServer(host, port, tls))
        return servers[-1]
    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def login() -> Login:
    return Login("robot", leaks.secret("password"))
