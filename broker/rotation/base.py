"""The contract every rotator keeps, and the one way it reaches its registry's API.

A rotator declares facts: its ``type``, its ``Settings`` (``url`` first: the only origin its
admin credential and the logins it makes ever go to), how the admin credential is read
(``admin_format``) and what it must be allowed (``admin_needs``), and which settings key
names the two logins it alternates (``ids_key``). It implements one method, :meth:`renew`.

The framework (:mod:`broker.rotation.steps`) decides everything else: when to renew, where
the result is stored, how it is proven, and it hands the rotator an :class:`Api` bound to
``url``'s origin, so a rotator, built in or a plugin, cannot send anywhere else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from broker.errors import RotationFailed
from broker.login import Login
from broker.model import Registry

HTTPS_URL = {"pattern": (r"https://[^\s/?#@]+(/[^\s?#@]*)?",
                         "must be an https:// URL of the registry's API, without query or user")}
MAX_ANSWER = 1 << 20


@dataclass(frozen=True, kw_only=True)
class RotatorSettings:
    """``url``: the registry's API (the admin credential and new logins go there only);
    ``ca_bundle``: a PEM file to verify it by, for a private CA."""

    url: str = field(metadata=HTTPS_URL)
    ca_bundle: str | None = None

    def check(self) -> list[tuple[str, str]]:
        from broker import schema

        return schema.ca_bundle_problems(self.ca_bundle)


class Slot(NamedTuple):
    """One of the two logins a rotation alternates: its index (0 or 1) and the id the
    registry knows it by (a robot id, a token id; None before the first rotation made one)."""

    index: int
    id: Any


class Renewed(NamedTuple):
    """What :meth:`Rotator.renew` made: the new login (its repr masks the password), the id
    the registry now knows that slot by, and when the login expires (ISO 8601), if it does."""

    login: Login
    id: Any
    expires: str | None = None


class Rotator:
    """Renews one of a registry's two logins through the registry's API."""

    type: ClassVar[str] = ""
    Settings: ClassVar[type] = RotatorSettings
    admin_format: ClassVar[str] = "token"
    """``token``: the admin reference holds one token; ``login``: a JSON object with
    ``username`` and ``password``."""
    admin_needs: ClassVar[str] = ""
    """What the admin credential must be allowed to do, in the registry's words."""
    ids_key: ClassVar[str] = ""
    """The settings key naming the two logins (``robots``, ``tokens``); empty: the first
    rotation of each slot makes its login."""
    ids_required: ClassVar[bool] = True
    id_pattern: ClassVar[str] = r"[1-9][0-9]{0,18}"
    """What an id of the registry's looks like: an id that does not (in the stored record, or
    an answer) is refused before it reaches a URL, a log line or the secret."""
    ids_change: ClassVar[bool] = False
    """True when a renewal gives the login a new id (GitLab, Artifactory, Docker Hub): the
    stored record's ids are used, each checked by :meth:`owns` before it is acted on. False:
    the configured ids only, whatever the secret records."""
    calls: ClassVar[int] = 2
    """The most API calls one renewal makes: it starts only when they all fit the step's time."""

    def __init__(self, settings: Any, admin: Any, api: Api, registry: Registry,
                 wall: Callable[[], float] = time.time) -> None:
        self.settings, self.admin, self.api, self.registry = settings, admin, api, registry
        self.wall = wall

    def lifetime(self) -> float:
        """Seconds a new login must live, for a registry that makes logins expire: current for
        one rotation period, then the previous login for another, and a day to spare."""
        return 2 * self.registry.rotation.period + 86400.0

    @classmethod
    def origins(cls, settings: Any) -> list[str]:
        """Where this rotator may send anything: ``url``'s origin."""
        return [settings.url]

    @classmethod
    def first_ids(cls, settings: Any) -> tuple[Any, Any]:
        """The ids of the two logins before the first rotation records its own."""
        ids = tuple(getattr(settings, cls.ids_key, None) or ()) if cls.ids_key else ()
        return (ids + (None, None))[:2]  # type: ignore[return-value]

    @classmethod
    def ids_for(cls, settings: Any, recorded: tuple[Any, Any]) -> tuple[Any, Any]:
        """The ids a rotation works from: the ``recorded`` ones where renewals change them
        (each checked by :meth:`owns`), else the configured ones, whatever the secret says."""
        return recorded if cls.ids_change else cls.first_ids(settings)

    @classmethod
    def check_settings(cls, settings: Any, registry: Registry) -> list[tuple[str, str]]:
        """Rules across keys, as ``(key, message)``; the ids must name two different logins."""
        ids = getattr(settings, cls.ids_key, None) if cls.ids_key else None
        if cls.ids_key and (ids is not None or cls.ids_required) and \
                (ids is None or len(ids) != 2 or ids[0] == ids[1]):
            return [(cls.ids_key, "must name exactly two different logins: the rotation "
                                  "alternates them (docs/rotation.md)")]
        return [(f"{cls.ids_key}[{i}]", f"is not an id {cls.type} knows (it must match "
                                        f"{cls.id_pattern})")
                for i, value in enumerate(ids or ()) if not cls.valid_id(value)]

    @classmethod
    def valid_id(cls, value: Any) -> bool:
        """Whether ``value`` looks like one of the registry's ids (never ``.`` or ``..``)."""
        import re

        return isinstance(value, (str, int)) and not isinstance(value, bool) and \
            re.fullmatch(cls.id_pattern, str(value)) is not None

    def owns(self, slot: Slot) -> bool:
        """Whether ``slot.id`` (from the stored record) names a login this rotation may renew:
        a rotator whose ids change asks the registry (a pull-only token of the configured
        user); a configured id is always one."""
        return slot.id in self.first_ids(self.settings)

    def headers(self) -> dict[str, str]:
        """How the admin credential is presented (default: a bearer token)."""
        return {"Authorization": f"Bearer {self.admin}"}

    def renew(self, slot: Slot) -> Renewed:
        """Make a new login for ``slot`` (the one not current) and return it; the other
        slot's login must keep working. Raise with :meth:`Api.fail` when it cannot."""
        raise NotImplementedError


class Api:
    """Calls to one registry's API: only to the configured origin (a bounded session), each
    within the step's deadline and the registry's ``timeout``, answers read as JSON up to
    1 MiB. Every failure is a :class:`RotationFailed` naming the registry, the rotator and
    the call, never a value sent or answered."""

    def __init__(self, session: Any, url: str, rotator: type[Rotator], registry: Registry,
                 headers: dict[str, str]) -> None:
        self.session, self.base = session, url.rstrip("/")
        self.rotator, self.registry, self.headers = rotator, registry, headers

    def call(self, method: str, path: str, *, body: Any = None, form: Any = None,
             ok: tuple[int, ...] = (200,), missing: tuple[int, ...] = (404,),
             what: str = "") -> dict:
        """``method`` ``path`` (under ``url``); the answer's JSON object ({} for no body).
        A status outside ``ok`` fails, with what the status means for a rotation; one in
        ``missing`` says the thing does not exist (Quay answers 400 for an unknown robot)."""
        from broker.transport.errors import TransportError

        if not path.startswith("/") or path.startswith("//"):
            raise self.fail(f"{method} {path}", "a rotator asked for a path outside the API",
                            "Fix the rotator: paths are relative to `url`")
        where = f"{method} {path.split('?', 1)[0]}"
        try:
            answer = self.session.request(method, self.base + path, json=body, data=form,
                                          headers=self.headers, timeout=self.registry.timeout)
        except TransportError as exc:
            raise self.fail(where, f"the API did not answer: {exc}", _RETRY) from None
        if answer.status_code not in ok:
            status = 404 if answer.status_code in missing else answer.status_code
            raise self.fail(where, *_refusal(status, what, self.rotator))
        return self._parsed(where, answer)

    def _parsed(self, where: str, answer: Any) -> dict:
        if not answer.content:
            return {}
        try:
            found = json.loads(answer.content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            found = None
        if not isinstance(found, dict):
            raise self.fail(where, f"the API answered HTTP {answer.status_code} with a body "
                                   "that is not a JSON object", _RETRY)
        return found

    def fail(self, where: str, problem: str, hint: str) -> RotationFailed:
        """A RotationFailed naming this registry, the rotator and the call."""
        return RotationFailed(f"{where}: {problem}", registry=self.registry.name,
                              backend=f"rotation {self.rotator.type}", reference=self.base,
                              hint=hint)


_RETRY = ("AWSCURRENT is unchanged; Secrets Manager retries the step, and the next rotation "
          "starts clean (docs/rotation.md#failures)")


def _refusal(status: int, what: str, rotator: type[Rotator]) -> tuple[str, str]:
    if status == 401:
        return ("the admin credential was refused (HTTP 401)",
                f"Store a valid one at the rotation's `admin` reference ({rotator.admin_needs})")
    if status == 403:
        return ("the admin credential may not do this (HTTP 403)",
                f"Give it the rights a rotation needs: {rotator.admin_needs}")
    if status == 404:
        return (f"{what or 'it'} does not exist or was revoked: deleted by hand, or a wrong id",
                f"Recreate it and set rotation.{rotator.ids_key or 'its keys'} to the new "
                "ids; AWSCURRENT is unchanged (docs/rotation.md#recovery)")
    return f"the API answered HTTP {status}", _RETRY


def text(value: Any, label: str, api: Api, where: str) -> str:
    """``value`` if it is a non-empty string (a token or name from an answer), else a failure
    that names ``label`` but never the value."""
    if isinstance(value, str) and value.strip() and len(value) <= 16_384:
        return value
    raise api.fail(where, f"the answer has no usable {label}", _RETRY)
