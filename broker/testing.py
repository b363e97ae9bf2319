"""What a backend plugin's tests need: the contract every backend passes, and the leak checks.

A plugin's test module subclasses the contracts that apply to it and defines a ``store``
fixture returning a :class:`Store` for a real (or loopback stand-in) secret store; its
conftest.py loads this module as a pytest plugin for the ``clock`` and ``log_lines``
fixtures (``pytest_plugins = ["broker.testing"]``):

- :class:`BackendContract`: serves a login, missing secret, cache hit, refetch after TTL;
- :class:`DocumentContract`: stored documents (JSON and dockerconfigjson), malformed ones;
- :class:`TextDocumentContract`: a store of text that may not be JSON at all;
- :class:`RemoteContract`: denied access, stale-if-error while the store is down;
- :class:`MintedContract`: for a backend that mints (a :class:`MintingStore`): the login and
  its expiry, the cache honouring it, denial, outage;
- :class:`RotatorContract`: for a rotator (``broker.rotators``), against a stand-in of the
  registry's API (a ``vendor`` fixture, see the class): alternation, retries, the admin
  credential refused, a login deleted by hand, the API failing, nothing leaked.

Every password or token a test stores should come from :func:`secret`, which registers it:
:func:`assert_clean` (and broker's own session-wide guard) then fail on any sign of it in a
message, a repr or a full traceback, in clear or base64. Needs pytest (the ``test`` extra);
never imported by the function.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import secrets as _random
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from broker.app import App
from broker.cli import LocalContext
from broker.errors import AccessDenied, BackendUnavailable, BrokerError, MalformedSecret, SecretNotFound

SENTINELS: dict[str, str] = {}


def secret(label: str) -> str:
    """A fresh, unguessable secret value registered with the leak guard."""
    value = f"{label}-SENTINEL-{_random.token_hex(8)}"
    SENTINELS[value] = label
    for encoded in base64_forms(value):
        SENTINELS[encoded] = f"{label} (base64)"
    return value


def base64_forms(value: str) -> list[str]:
    """What ``value`` looks like inside any base64 text (a Basic header's ``user:password``):
    its encoding at each of the three alignments, without the characters the neighbours share."""
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value.encode()).decode().rstrip("=")
        start = (offset * 8 + 5) // 6 + (1 if offset else 0)
        forms.append(encoded[start:-2])
    return forms


def leaks_in(text: str) -> list[str]:
    """Labels of the sentinels found in ``text``."""
    return [label for value, label in SENTINELS.items() if value in text]


def assert_clean(exc: BaseException) -> None:
    """No sentinel in the exception's message, repr, or full traceback with its causes."""
    rendered = "".join(traceback.format_exception(exc))
    for text in (str(exc), repr(exc), rendered):
        assert not leaks_in(text), f"secret leaked into {type(exc).__name__}: {leaks_in(text)}"


class FakeClock:
    """Callable like ``time.monotonic``; ``advance`` moves it forward."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves by hand (``clock.advance(seconds)``)."""
    return FakeClock()


@pytest.fixture
def log_lines(capsys):
    """``log_lines()``: the broker's JSON log lines written so far in this test."""
    seen: list[dict] = []

    def read() -> list[dict]:
        out = capsys.readouterr().out
        seen.extend(json.loads(line) for line in out.splitlines() if line.startswith("{"))
        return list(seen)
    return read


REGISTRY = "acme"
HOST = "registry.test:5000"
TTL, STALE = 60, 600


class Store:
    """A real secret store seen through a proxy the test can stop."""

    backend_type = ""

    def __init__(self) -> None:
        self.ref = f"t{_random.token_hex(6)}"
        self.environ: dict[str, str] = {}
        self.aws: Any = None

    def backend(self) -> dict[str, Any]:
        """The registry's ``backend`` block pointing at this store's reference."""
        raise NotImplementedError

    def identity(self) -> list[str]:
        """What a not-found message must name besides the reference: which store it asked."""
        return []

    def put_login(self, username: str, password: str) -> None:
        raise NotImplementedError

    def put_document(self, document: str | dict) -> None:
        """Store a whole document (JSON text, or a mapping for stores that keep mappings)."""
        raise NotImplementedError

    def down(self) -> None:
        raise NotImplementedError

    def up(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def denied(self) -> Iterator[dict[str, Any]]:
        """App keyword arguments for an identity the store refuses."""
        raise NotImplementedError
        yield {}


def login() -> tuple[str, str]:
    return secret("username"), secret("password")


class MintingStore(Store):
    """A store that mints short-lived logins (ECR, ACR, ...) rather than keeping one.

    ``mint(password)`` decides what the stand-in mints next (a store that cannot choose may
    ignore it) and ``expected(password)`` is the login then served; each login lasts
    ``lifetime`` seconds of the time of day, which starts at ``wall_start``.
    """

    lifetime = 3600.0
    wall_start = 1_800_000_000.0
    host = HOST

    def mint(self, password: str) -> None:
        raise NotImplementedError

    def expected(self, password: str) -> tuple[str, str]:
        raise NotImplementedError


def _document(store: Store, *names: str, **registry: Any) -> dict:
    """A configuration of ``names`` registries on the store's host, each with its backend."""
    return {"registries": {name: {"host": getattr(store, "host", HOST), "backend": store.backend(),
                                  "cache_ttl": TTL, "stale_if_error": STALE, **registry}
                           for name in names}}


def make_app(store: Store, clock: Any, overrides: dict | None = None, **registry: Any) -> App:
    config = _document(store, REGISTRY, **registry)
    parts = {"environ": store.environ, "aws": store.aws, **(overrides or {})}
    if isinstance(store, MintingStore):
        started = clock()
        parts.setdefault("wall", lambda: store.wall_start + clock() - started)
    return App(json.dumps(config), clock=clock, **parts)


@contextlib.contextmanager
def everything_logged_at_debug() -> Iterator[io.StringIO]:
    """What every logger writes while the root logger is at DEBUG, as Lambda's runtime sets
    it with AWS_LAMBDA_LOG_LEVEL=DEBUG (the broker's own lines included)."""
    root, output = logging.getLogger(), io.StringIO()
    handler, before = logging.StreamHandler(output), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield output
    finally:
        root.removeHandler(handler)
        root.setLevel(before)


def invoke_at_debug(store: Store, clock: Any) -> str:
    """Invoke with the broker and the root logger at DEBUG; everything logged, broker's too."""
    app = make_app(store, clock, {"environ": {**store.environ, "BROKER_LOG_LEVEL": "DEBUG"}})
    with everything_logged_at_debug() as output:
        logging.getLogger("broker").addHandler(logging.StreamHandler(output))
        try:
            invoke(app)
        finally:
            logging.getLogger("broker").handlers.pop()
    return output.getvalue()


def invoke(app: App) -> dict:
    return app.invoke({}, LocalContext())


def expect_error(app: App, cls: type[BrokerError], store: Store) -> BrokerError:
    """Invoke, expecting ``cls``; check the message names what a user must fix, and leaks nothing."""
    with pytest.raises(cls) as info:
        invoke(app)
    message = str(info.value)
    assert f"registry '{REGISTRY}'" in message
    assert store.backend_type in message
    assert store.ref in message, "the message must name the reference"
    assert_clean(info.value)
    return info.value


class BackendContract:
    def test_serves_exactly_the_stored_login(self, store, clock, log_lines):
        username, password = login()
        store.put_login(username, password)
        assert invoke(make_app(store, clock)) == {
            "Credentials": {"Username": username, "Password": password}}
        line = log_lines()[-1]
        assert line["event"] == "credentials_served"
        assert (line["registry"], line["backend"], line["source"]) == (
            REGISTRY, store.backend_type, "backend")

    def test_debug_logs_carry_no_secret(self, store, clock):
        store.put_login(*login())
        logged = invoke_at_debug(store, clock)
        assert "credentials_served" in logged
        assert not leaks_in(logged), f"DEBUG logs carry {leaks_in(logged)}"

    def test_missing_secret_is_secret_not_found(self, store, clock, log_lines):
        app = make_app(store, clock)
        error = expect_error(app, SecretNotFound, store)
        for text in store.identity():
            assert text in str(error), f"the message does not name {text}"
        assert log_lines()[-1]["error_type"] == "SecretNotFound"

    def test_cache_hit_needs_no_store(self, store, clock, log_lines):
        username, password = login()
        store.put_login(username, password)
        app = make_app(store, clock)
        first = invoke(app)
        store.down()
        clock.advance(TTL - 1)
        assert invoke(app) == first
        assert log_lines()[-1]["source"] == "cache"

    def test_rotated_login_is_served_after_ttl(self, store, clock, log_lines):
        store.put_login(*login())
        app = make_app(store, clock)
        invoke(app)
        username, password = login()
        store.put_login(username, password)
        clock.advance(TTL - 1)
        assert invoke(app)["Credentials"]["Password"] != password
        clock.advance(1)
        assert invoke(app)["Credentials"] == {"Username": username, "Password": password}
        assert log_lines()[-1]["source"] == "backend"

    def test_zero_ttl_fetches_every_time(self, store, clock, log_lines):
        store.put_login(*login())
        app = make_app(store, clock, cache_ttl=0)
        invoke(app)
        invoke(app)
        assert [line["source"] for line in log_lines()] == ["backend", "backend"]


class DocumentContract:
    def test_custom_keys(self, store, clock):
        username, password = login()
        store.put_document({"user": username, "token": password})
        app = make_app(store, clock, backend={**store.backend(), "username_key": "user",
                                              "password_key": "token"})
        assert invoke(app)["Credentials"] == {"Username": username, "Password": password}

    @pytest.mark.parametrize("key", ["auth", "fields"])
    def test_dockerconfigjson(self, store, clock, key):
        username, password = login()
        entry = ({"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
                 if key == "auth" else {"username": username, "password": password})
        store.put_document({"auths": {"other.example": {"auth": "eDp5"}, f"https://{HOST}": entry}})
        app = make_app(store, clock, backend={**store.backend(), "format": "dockerconfigjson"})
        assert invoke(app)["Credentials"] == {"Username": username, "Password": password}

    def test_dockerconfigjson_without_the_host(self, store, clock):
        store.put_document({"auths": {"other.example": {"auth": "eDp5"}}})
        app = make_app(store, clock, backend={**store.backend(), "format": "dockerconfigjson"})
        error = expect_error(app, MalformedSecret, store)
        assert HOST in str(error) and "other.example" in str(error)

    @pytest.mark.parametrize("case, problem", [
        ("missing key", "key 'password' is missing"),
        ("empty value", "key 'password' is empty"),
        ("number", "key 'password' is a number"),
    ])
    def test_malformed_login(self, store, clock, case, problem):
        username, password = login()
        bad = {"missing key": {"username": username},
               "empty value": {"username": username, "password": " "},
               "number": {"username": username, "password": 12345}}[case]
        store.put_document(bad)
        error = expect_error(make_app(store, clock), MalformedSecret, store)
        assert problem in str(error)


class TextDocumentContract:
    """Stores that keep text (Secrets Manager, SSM) can hold a value that is not JSON at all."""

    def test_not_json(self, store, clock):
        store.put_document("user:" + secret("password"))
        error = expect_error(make_app(store, clock), MalformedSecret, store)
        assert "not JSON" in str(error)

    def test_json_but_not_an_object(self, store, clock):
        store.put_document(json.dumps([secret("password")]))
        error = expect_error(make_app(store, clock), MalformedSecret, store)
        assert "not an object" in str(error)


class RemoteContract:
    def test_denied_access(self, store, clock):
        store.put_login(*login())
        with store.denied() as overrides:
            error = expect_error(make_app(store, clock, overrides), AccessDenied, store)
        assert "Grant" in str(error)

    def test_stale_login_served_while_store_is_down(self, store, clock, log_lines):
        username, password = login()
        store.put_login(username, password)
        app = make_app(store, clock)
        invoke(app)
        store.down()
        clock.advance(TTL + STALE - 1)
        assert invoke(app)["Credentials"] == {"Username": username, "Password": password}
        assert log_lines()[-1]["source"] == "stale"
        clock.advance(1)
        expect_error(app, BackendUnavailable, store)
        store.up()
        assert invoke(app)["Credentials"]["Password"] == password
        assert log_lines()[-1]["source"] == "backend"

    def test_store_down_without_cache_is_unavailable(self, store, clock):
        store.down()
        expect_error(make_app(store, clock), BackendUnavailable, store)


class MintedContract:
    """For backends that mint: the identity they declare, the login, its expiry honoured by
    the cache, denial, outage."""

    def test_declares_what_it_mints_through(self, store):
        import backends
        from broker.config import parse_config
        from broker.identity import Minting

        registry = parse_config(_document(store, REGISTRY), "test").registries[REGISTRY]
        cls = backends.backend_class(store.backend_type)
        chain = cls.minting(registry.backend, registry.host)
        assert cls.mints, "a minting backend sets `mints = True`"
        assert isinstance(chain, Minting) and chain.through, "minting() must name its identities"

    def test_two_registries_minting_as_one_are_refused(self, store):
        from broker.config import parse_config

        document = _document(store, REGISTRY, "twin")
        with pytest.raises(BrokerError, match="both mint through"):
            parse_config(document, "test")

    def test_serves_the_minted_login_and_its_expiry(self, store, clock, log_lines):
        password = secret("minted")
        store.mint(password)
        answer = invoke(make_app(store, clock, cache_ttl=86400))
        username, expected_password = store.expected(password)
        assert answer["Credentials"] == {"Username": username, "Password": expected_password}
        assert abs(log_lines()[-1]["expires_in_s"] - store.lifetime) <= 1

    def test_debug_logs_carry_no_token(self, store, clock):
        store.mint(secret("minted"))
        logged = invoke_at_debug(store, clock)
        assert "credentials_served" in logged
        assert not leaks_in(logged), f"DEBUG logs carry {leaks_in(logged)}"

    def test_refreshed_once_half_its_life_has_passed(self, store, clock, log_lines):
        _refreshed_at(store.lifetime / 2, store, clock, log_lines)

    def test_cached_until_a_skew_before_its_expiry(self, store, clock, log_lines):
        _refreshed_at(store.lifetime - 300, store, clock, log_lines, refresh_fraction=1)

    def test_never_served_past_its_expiry(self, store, clock, log_lines):
        store.mint(secret("minted"))
        app = make_app(store, clock, cache_ttl=86400, stale_if_error=86400)
        invoke(app)
        store.down()
        clock.advance(store.lifetime - 10)
        invoke(app)
        assert log_lines()[-1]["source"] == "stale"
        clock.advance(11)
        expect_error(app, BackendUnavailable, store)
        store.up()

    def test_denied(self, store, clock):
        store.mint(secret("minted"))
        with store.denied() as overrides:
            expect_error(make_app(store, clock, overrides), AccessDenied, store)

    def test_store_down_without_cache_is_unavailable(self, store, clock):
        store.down()
        expect_error(make_app(store, clock), BackendUnavailable, store)
        store.up()


def _refreshed_at(seconds: float, store: Store, clock: Any, log_lines: Any,
                  **registry: Any) -> None:
    """Served from the cache until ``seconds`` after it was minted, then minted again."""
    store.mint(secret("minted"))
    app = make_app(store, clock, cache_ttl=86400, expiry_skew=300, **registry)
    invoke(app)
    clock.advance(seconds - 1)
    invoke(app)
    assert log_lines()[-1]["source"] == "cache"
    store.mint(secret("minted"))
    clock.advance(2)
    invoke(app)
    assert log_lines()[-1]["source"] == "backend"


class RotatorContract:
    """What every rotator keeps, run against a stand-in of its registry's API.

    The test module defines a ``vendor`` fixture with: ``block(**keys)`` (the registry's
    ``rotation`` block), ``environ()`` (the admin credential its reference reads), ``ids()``
    (the two logins' ids), ``logins`` (id -> Login the registry takes), ``accepts(login)``,
    ``delete(id)`` (as an administrator would by hand), ``foreign_id()`` (makes a login the
    rotation must never touch: another team's, or one that may push), ``fault`` (a function
    of the request that answers instead, while set: raw HTTP bytes) and ``wrong`` (requests
    that did not have the documented shape).
    """

    host = "registry.example.com"

    def rotator_for(self, vendor: Any, environ: dict | None = None, **keys: Any) -> Any:
        """The rotator of a one-registry configuration, connected as the function would."""
        from broker.config import parse_config
        from broker.deadline import within
        from broker.deps import Deps
        from broker.rotation import connect

        environ = vendor.environ() if environ is None else environ
        config = parse_config({"registries": {"rotated": {
            "host": self.host, "repository": "team/trainer", "timeout": 1,
            "backend": {"type": "secretsmanager", "secret_id": "prod/rotated"},
            "rotation": vendor.block(**keys)}}}, "contract", environ)
        return connect.rotator(config.registries["rotated"], Deps(environ=environ),
                               within(None, 30))

    def test_renews_one_login_and_leaves_the_other_working(self, vendor):
        from broker.rotation.base import Slot

        ids, before = vendor.ids(), dict(vendor.logins)
        renewed = self.rotator_for(vendor).renew(Slot(1, ids[1]))
        assert vendor.accepts(renewed.login), "the registry does not take the renewed login"
        assert vendor.accepts(before[ids[0]]), "renewing one login broke the other"
        assert not vendor.accepts(before[ids[1]]), "the replaced login still works"
        assert vendor.wrong == []

    def test_alternates_by_the_ids_each_renewal_returns(self, vendor):
        from broker.rotation.base import Slot

        ids, served = vendor.ids(), []
        for turn in range(4):
            slot = 1 - turn % 2
            renewed = self.rotator_for(vendor).renew(Slot(slot, ids[slot]))
            ids[slot] = renewed.id
            served.append(renewed.login)
            assert vendor.accepts(renewed.login)
            assert turn == 0 or vendor.accepts(served[-2]), "the previous login stopped working"
        assert vendor.wrong == []

    def test_a_recorded_id_that_is_not_its_login_is_never_renewed(self, vendor):
        """An id edited into the secret's record may name another team's robot or a push
        token: the rotator must say it does not own it (``owns``), and own its own."""
        from broker.rotation.base import Slot

        rotator = self.rotator_for(vendor)
        assert rotator.owns(Slot(1, vendor.ids()[1])) is True
        assert rotator.owns(Slot(1, vendor.foreign_id())) is False

    @pytest.mark.parametrize("bad", ["..", ".", "1/../2", "a b", "", "x" * 300])
    def test_an_id_that_is_not_the_registrys_is_refused(self, vendor, bad):
        assert not self.rotator_for(vendor).valid_id(bad)

    def test_a_refused_admin_credential_says_so_and_leaks_nothing(self, vendor):
        from broker.errors import BrokerError
        from broker.rotation.base import Slot

        environ = {name: value.replace("SENTINEL", "WRONG") for name, value in
                   vendor.environ().items()}
        with pytest.raises(BrokerError) as info:
            self.rotator_for(vendor, environ).renew(Slot(1, vendor.ids()[1]))
        message = str(info.value)
        assert "registry 'rotated'" in message and vendor.rotator in message
        assert "admin credential was refused" in message or "401" in message
        assert_clean(info.value)

    def test_a_login_deleted_by_hand_is_named_or_replaced(self, vendor):
        from broker.errors import RotationFailed
        from broker.rotation.base import Slot

        ids = vendor.ids()
        vendor.delete(ids[1])
        try:
            renewed = self.rotator_for(vendor).renew(Slot(1, ids[1]))
        except RotationFailed as exc:
            assert "does not exist" in str(exc) and "rotation." in str(exc)
            assert_clean(exc)
        else:
            assert vendor.accepts(renewed.login)  # a rotator that makes a new login each time

    @pytest.mark.parametrize("fault", ["500", "not-json", "huge", "slow", "redirect"])
    def test_a_failing_api_is_a_rotation_failure(self, vendor, fault):
        import time as _time

        from broker.errors import RotationFailed
        from broker.rotation.base import Slot

        vendor.fault = lambda request: _FAULTS[fault]()
        started = _time.monotonic()
        with pytest.raises(RotationFailed) as info:
            self.rotator_for(vendor).renew(Slot(1, vendor.ids()[1]))
        assert _time.monotonic() - started < 5, "the API's slowness was not bounded"
        assert "registry 'rotated'" in str(info.value)
        assert_clean(info.value)

    def test_nothing_it_renews_is_logged(self, vendor):
        from broker.rotation.base import Slot

        with everything_logged_at_debug() as output:
            renewed = self.rotator_for(vendor).renew(Slot(1, vendor.ids()[1]))
        assert renewed.login.password not in output.getvalue()
        assert not leaks_in(output.getvalue())


def _raw(status: int, body: bytes, headers: str = "") -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


_FAULTS = {
    "500": lambda: _raw(500, b'{"message": "internal error"}'),
    "not-json": lambda: _raw(200, b"<html>maintenance</html>"),
    "huge": lambda: _raw(200, b'{"token": "' + b"x" * (2 << 20) + b'"}'),
    "slow": lambda: [(b"", 3.0), (_raw(200, b"{}"), 0.0)],
    "redirect": lambda: _raw(302, b"", "Location: https://127.0.0.2/elsewhere\r\n"),
}
