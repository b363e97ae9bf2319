"""Loopback TLS stand-ins of registry vendors' APIs, for the rotators (broker.rotation).

Each stand-in holds two logins (robots, tokens) and answers only the documented calls: a
request whose method, path, headers or body does not have the vendor's documented shape gets
a 400 and is recorded in ``wrong``. ``accepts(login)`` says whether the registry would take a
login now; ``listeners`` hear every change (a token server's accounts follow them, for the
end-to-end tests); ``fault`` (a function of the request) answers instead while set.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from broker.login import Login
from broker.testing import secret
from tests.support.scripted import Request, ScriptedServer, json_body, response
from tests.support.tls import TestCA

Route = tuple[str, "re.Pattern[str]", Callable[..., bytes]]


class Wrong(Exception):
    """A request that does not have the documented shape."""


class VendorStandIn:
    """The shared machinery: TLS server, routing, admin check, shape checks, logins."""

    rotator = ""
    admin_variable = "ROTATION_ADMIN"

    def __init__(self, tmp_path: Any) -> None:
        self.ca = TestCA.create(tmp_path)
        self.server = ScriptedServer(tls=self.ca.server_context("127.0.0.1", tmp_path))
        self.server.fallback = self._answer
        self.wrong: list[str] = []
        self.fault: Callable[[Request], Any] | None = None
        self.logins: dict[Any, Login] = {}  # id -> the login the registry accepts for it
        self.revoked: list[Login] = []
        self.listeners: list[Callable[[], None]] = []
        self.routes: list[Route] = []
        self._first: list[Any] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def environ(self) -> dict[str, str]:
        """The function's environment, holding the admin credential the block refers to."""
        return {self.admin_variable: self.admin_value()}

    def admin_value(self) -> str:
        raise NotImplementedError

    def block(self, **extra: Any) -> dict:
        """The registry's ``rotation`` block (without ``schedule``'s default changed)."""
        return {"type": self.rotator, "schedule": "rate(30 days)", "url": self.url,
                "ca_bundle": str(self.ca.bundle), "admin": {"env": self.admin_variable}, **extra}

    def ids(self) -> list[Any]:
        """The ids of the two logins, in slot order, as they were first asked for (what the
        configuration names)."""
        if self._first is None:
            self._first = list(self.logins)
        return list(self._first)

    def accepts(self, login: Login) -> bool:
        """Whether the registry would take ``login`` now."""
        return any(login == held for held in self.logins.values())

    def delete(self, login_id: Any) -> None:
        """Delete a login by hand, as an administrator would in the vendor's UI."""
        self.logins.pop(login_id)
        self.changed()

    def replace(self, old_id: Any, new_id: Any, login: Login) -> None:
        """Record that ``old_id``'s login was replaced by ``login`` under ``new_id``."""
        old = self.logins.pop(old_id, None)
        if old is not None:
            self.revoked.append(old)
        self.logins[new_id] = login
        self.changed()

    def changed(self) -> None:
        for listener in self.listeners:
            listener()

    def stop(self) -> None:
        self.server.stop()

    # --- answering ---------------------------------------------------------------------

    def _answer(self, request: Request) -> Any:
        if self.fault is not None:
            return self.fault(request)
        for method, pattern, handler in self.routes:
            found = pattern.fullmatch(request.path)
            if found and request.method == method:
                return self._checked(handler, request, found)
        self.wrong.append(f"{request.method} {request.path}: no such call")
        return json_body('{"errors": [{"code": "NOT_FOUND"}]}', 404)

    def _checked(self, handler: Callable[..., bytes], request: Request, found: Any) -> bytes:
        if not self.admitted(request):
            return json_body('{"errors": [{"code": "UNAUTHORIZED"}]}', 401)
        try:
            return handler(request, *found.groups())
        except Wrong as exc:
            self.wrong.append(f"{request.method} {request.path}: {exc}")
            return json_body('{"errors": [{"code": "BAD_REQUEST"}]}', 400)

    def admitted(self, request: Request) -> bool:
        raise NotImplementedError


def json_of(request: Request, required: set[str], optional: set[str] = frozenset()) -> dict:
    """The request's JSON object body, with exactly the documented keys."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise Wrong("not a JSON body")
    try:
        body = json.loads(request.body)
    except ValueError:
        raise Wrong("a body that is not JSON") from None
    if not isinstance(body, dict) or not required <= set(body) <= required | set(optional):
        raise Wrong(f"keys {sorted(body) if isinstance(body, dict) else body!r}")
    return body


def form_of(request: Request, required: set[str], optional: set[str] = frozenset()) -> dict:
    """The request's form body (application/x-www-form-urlencoded), with documented keys."""
    from urllib.parse import parse_qs

    if request.headers.get("content-type") != "application/x-www-form-urlencoded":
        raise Wrong("not a form body")
    fields = {k: v[0] for k, v in parse_qs(request.body.decode(), strict_parsing=True).items()}
    if not required <= set(fields) <= required | set(optional):
        raise Wrong(f"form keys {sorted(fields)}")
    return fields


def no_body(request: Request) -> None:
    if request.body:
        raise Wrong("a body where the call takes none")


def basic_of(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme != "Basic":
        return None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


def bearer_of(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value if scheme == "Bearer" else None


def route(method: str, pattern: str, handler: Callable[..., bytes]) -> Route:
    return method, re.compile(pattern), handler


def answer(body: dict, status: int = 200) -> bytes:
    return json_body(json.dumps(body), status)


def empty(status: int) -> bytes:
    return response(status)


def new_secret(label: str) -> str:
    return secret(label)
