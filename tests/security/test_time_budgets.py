"""Name resolution is inside every time budget (third review, finding 4).

``getaddrinfo`` takes no timeout: a slow resolver (or a hostile DNS server) held a check with
``timeout: 0.5`` and 1.5 s left for 4.6 s. Each request's budget now covers its resolution,
for the preflight's transport and for the session client libraries use (Vault here).
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from broker import preflight
from broker.app import App
from broker.cli import LocalContext
from broker.deadline import Deadline
from broker.errors import BackendUnavailable
from tests.support import leaks
from tests.support.configs import registry

SLOW = 4.0


def slow_resolver(name: str) -> list[str]:
    time.sleep(SLOW)
    return ["127.0.0.1"]


def seconds_left(seconds: float) -> Deadline:
    deadline = Deadline()
    deadline.start(seconds * 1000, margin=0.0)
    return deadline


def test_a_slow_resolver_cannot_hold_a_check_past_its_budget(login):
    started = time.monotonic()
    result = preflight.check(registry("registry.test:5000", timeout=0.5), login,
                             resolver=slow_resolver, deadline=seconds_left(1.5))
    took = time.monotonic() - started
    assert took < 1.0, f"the check waited {took:.1f} s for the resolver"
    assert (result.ok, result.step) == (False, "ping")
    assert "took longer than" in result.detail


def test_a_slow_resolver_cannot_hold_a_vault_read(monkeypatch, clock):
    def slow_getaddrinfo(*args, **kwargs):
        time.sleep(SLOW)
        raise socket.gaierror("too late")
    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    config = {"registries": {"v": {"host": "v.example", "timeout": 0.5, "retries": 0, "backend": {
        "type": "vault", "address": "https://vault.test:8200", "path": "reg",
        "auth": {"method": "token", "token": {"env": "VT"}}}}}}
    app = App(json.dumps(config), environ={"VT": leaks.secret("vault-token")}, clock=clock)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        app.invoke({}, LocalContext("v", timeout_ms=2000))
    took = time.monotonic() - started
    assert took < 1.0, f"the Vault read waited {took:.1f} s for the resolver"
    assert "resolving 'vault.test' took longer than" in str(caught.value)


def test_a_checks_fetch_is_held_to_the_deadline_it_is_given(scripted, clock):
    """The deadline is passed to each fetch, not planted in a shared object the app starts
    and clears: a canary's (or `broker check`'s) fetch, in a worker thread, is held to the
    canary's deadline, not only to the 5 s timeout."""
    from broker import checks

    stalled = scripted().on("/v1/secret/data/reg", [(b"", 10.0)])
    config = {"registries": {"v": {"host": "v.example", "timeout": 5, "retries": 0, "backend": {
        "type": "vault", "address": f"http://{stalled.netloc}", "insecure": True, "path": "reg",
        "auth": {"method": "token", "token": {"env": "VT"}}}}}}
    app = App(json.dumps(config), environ={"VT": leaks.secret("vault-token")}, clock=clock)
    started = time.monotonic()
    result = checks.check_one(app.broker(), "v", deadline=seconds_left(1.0))
    took = time.monotonic() - started
    assert took < 1.5, f"the fetch ran {took:.1f} s past a 1 s deadline"
    assert (result.ok, result.step) == (False, "login")


def test_resolution_and_a_hanging_connect_share_one_budget(monkeypatch):
    """Attacker's read of this change: a bounded session gave the connection the whole budget
    after resolution had spent most of it, and the watchdog cannot see a socket that is still
    connecting (3.8 s against a 2 s budget)."""
    from broker.transport.bounded import bounded_session
    from broker.transport.errors import Timeout
    from tests.support.faults import unanswered_listener

    server, port, fillers = unanswered_listener("127.0.0.1")
    real = socket.getaddrinfo

    def slow(host, *args, **kwargs):
        if host == "slow.test":
            time.sleep(1.5)
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", slow)
    session = bounded_session(None, [f"http://slow.test:{port}"])
    started = time.monotonic()
    try:
        with pytest.raises(Timeout):
            session.get(f"http://slow.test:{port}/", timeout=2.0)
        took = time.monotonic() - started
        assert took < 2.4, f"the request took {took:.1f} s against a 2 s budget"
    finally:
        for sock in (server, *fillers):
            sock.close()


def test_a_library_that_calls_send_itself_is_held_to_the_origins_too():
    import requests

    from broker.transport.bounded import bounded_session
    from broker.transport.errors import Refused

    session = bounded_session(None, ["https://vault.example:8200"])
    prepared = requests.Request("GET", "https://elsewhere.example/").prepare()
    with pytest.raises(Refused, match="not an origin this backend may send to"):
        session.send(prepared)
