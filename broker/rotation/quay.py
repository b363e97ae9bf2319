"""``quay-robot``: regenerate the token of one of two Quay robot accounts.

``POST /api/v1/organization/{org}/robots/{name}/regenerate`` (or ``/api/v1/user/robots/...``
for a user's robots) answers the robot with its new ``token``; the old one stops working.
The login's username is the robot's full name (``org+name``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from broker.login import Login
from broker.rotation.base import Renewed, Rotator, RotatorSettings, Slot, text

SHORT_NAME = {"pattern": (r"[a-z][a-z0-9_]{1,254}", "must be a robot's short name (lower-case "
                                                      "letters, digits, _), without the org+ prefix")}


@dataclass(frozen=True, kw_only=True)
class QuaySettings(RotatorSettings):
    """``url`` (https://quay.io or your Quay), ``organization`` (leave out for a user's own
    robots), ``robots``: the short names of two robots with the same read rights."""

    organization: str | None = None
    robots: tuple[str, ...] = field(metadata=SHORT_NAME)


class QuayRobot(Rotator):
    """Alternates two Quay robot accounts."""

    type = "quay-robot"
    Settings = QuaySettings
    admin_needs = ("an OAuth access token of a Quay application with the org:admin scope "
                   "(user:admin for a user's robots)")
    ids_key = "robots"
    id_pattern = r"[a-z][a-z0-9_]{1,254}"
    calls = 1

    def renew(self, slot: Slot) -> Renewed:
        org = self.settings.organization
        owner = f"/api/v1/organization/{quote(org, safe='')}" if org else "/api/v1/user"
        path = f"{owner}/robots/{quote(slot.id, safe='')}/regenerate"
        answer = self.api.call("POST", path, ok=(200, 201), missing=(400, 404),
                               what=f"robot {slot.id}")
        name = text(answer.get("name"), "robot name", self.api, f"POST {path}")
        token = text(answer.get("token"), "token", self.api, f"POST {path}")
        return Renewed(Login(name, token), slot.id)
