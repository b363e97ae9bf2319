"""A registry's rotator, ready to renew: its admin credential read from the reference, and
its :class:`~broker.rotation.base.Api` on a session bound to the rotator's declared origins
(the one place a rotator's requests can go), cut to the step's deadline."""

from __future__ import annotations

import json
from typing import Any

from broker import refs
from broker.deadline import Deadline
from broker.deps import Deps
from broker.errors import BrokerError, MalformedSecret
from broker.login import FormatProblem, checked_login
from broker.model import Registry
from broker.rotation import rotator_class
from broker.rotation.base import MAX_ANSWER, Api, Rotator


def rotator(registry: Registry, deps: Deps, deadline: Deadline | None) -> Rotator:
    """The rotator of ``registry`` (which has a ``rotation`` block), with its admin login."""
    from broker.transport.bounded import bounded_session

    rotation = registry.rotation
    cls = rotator_class(rotation.type)
    made = cls(rotation.settings, admin(registry, cls, deps), None, registry,  # type: ignore[arg-type]
               deps.wall)
    session = bounded_session(deadline, cls.origins(rotation.settings), MAX_ANSWER)
    session.verify = rotation.settings.ca_bundle or True
    made.api = Api(session, rotation.settings.url, cls, registry, made.headers())
    return made


def admin(registry: Registry, cls: type[Rotator], deps: Deps) -> Any:
    """The admin credential behind the rotation's ``admin`` reference: one token, or a
    :class:`~broker.login.Login` for ``admin_format = "login"``."""
    ref = registry.rotation.admin

    def make(kind: type[BrokerError], problem: str, hint: str, reference: str) -> BrokerError:
        return kind(problem, registry=registry.name, backend="rotation admin",
                    reference=reference, hint=hint)

    value = refs.resolve(ref, deps, make, timeout=registry.timeout,
                         word=cls.admin_format == "token")
    if cls.admin_format == "token":
        return value
    try:
        document = json.loads(value)
        return checked_login(document.get("username"), document.get("password"))
    except (ValueError, AttributeError, FormatProblem):
        raise make(MalformedSecret, "the admin credential is not a JSON object with a username "
                   "and a password", f"Store it as {{\"username\": ..., \"password\": ...}} "
                   f"({cls.admin_needs})", str(ref)) from None
