"""``harbor-robot``: refresh the secret of one of two Harbor robot accounts.

``GET /api/v2.0/robots/{id}`` reads the robot's name (its login's username); ``PATCH
/api/v2.0/robots/{id}`` with ``{"secret": ""}`` has Harbor generate a new secret and answer
it (``RobotSec``). The robot's old secret stops working at once, which is why it is the robot
that is not current.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.login import Login
from broker.rotation.base import Renewed, Rotator, RotatorSettings, Slot, text


@dataclass(frozen=True, kw_only=True)
class HarborSettings(RotatorSettings):
    """``url`` (Harbor, e.g. https://harbor.example.com), ``robots``: the ids of two robots with
    the same pull rights."""

    robots: tuple[int, ...] = field(metadata={"min": 1})


class HarborRobot(Rotator):
    """Alternates two Harbor robot accounts."""

    type = "harbor-robot"
    Settings = HarborSettings
    admin_format = "login"
    admin_needs = ("a Harbor user or robot allowed to read and update robot accounts (Harbor "
                   "admin, or a project admin for project robots)")
    ids_key = "robots"

    def headers(self) -> dict[str, str]:
        import base64

        pair = f"{self.admin.username}:{self.admin.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def renew(self, slot: Slot) -> Renewed:
        path = f"/api/v2.0/robots/{int(slot.id)}"
        robot = self.api.call("GET", path, what=f"robot {slot.id}")
        if robot.get("disable") is True:
            raise self.api.fail(f"GET {path}", f"robot {slot.id} is disabled",
                                "Enable it in Harbor; a disabled robot cannot pull")
        name = text(robot.get("name"), "robot name", self.api, f"GET {path}")
        answer = self.api.call("PATCH", path, body={"secret": ""}, what=f"robot {slot.id}")
        secret = text(answer.get("secret"), "secret", self.api, f"PATCH {path}")
        return Renewed(Login(name, secret), slot.id)
