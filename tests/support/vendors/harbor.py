"""Harbor's robot API (v2.0): ``GET /api/v2.0/robots/{id}`` answers the robot (``Robot``);
``PATCH /api/v2.0/robots/{id}`` with a ``RobotSec`` body (``{"secret": ""}``: Harbor makes
one) refreshes its secret and answers the new one. Basic authentication, as an admin."""

from __future__ import annotations

import json

from broker.login import Login
from tests.support.vendors import (
    VendorStandIn,
    Wrong,
    answer,
    basic_of,
    json_of,
    new_secret,
    no_body,
    route,
)


class HarborStandIn(VendorStandIn):
    rotator = "harbor-robot"

    def __init__(self, tmp_path, project: str = "team") -> None:
        super().__init__(tmp_path)
        self.admin = Login("admin", new_secret("harbor-admin"))
        self.names = {7: f"robot${project}+puller-a", 8: f"robot${project}+puller-b"}
        self.logins = {i: Login(name, new_secret(f"harbor-robot-{i}"))
                       for i, name in self.names.items()}
        self.routes = [route("GET", r"/api/v2.0/robots/(\d+)", self._get),
                       route("PATCH", r"/api/v2.0/robots/(\d+)", self._refresh)]

    def admin_value(self) -> str:
        return json.dumps({"username": self.admin.username, "password": self.admin.password})

    def block(self, **extra):
        return super().block(robots=[7, 8], **extra)

    def foreign_id(self):
        """Another team's push robot, which the admin may also manage."""
        self.names[99] = "robot$otherteam+pusher"
        self.logins[99] = Login(self.names[99], new_secret("harbor-robot-99"))
        return 99

    def admitted(self, request) -> bool:
        return basic_of(request) == (self.admin.username, self.admin.password)

    def _get(self, request, robot_id):
        no_body(request)
        if int(robot_id) not in self.logins:
            return answer({"errors": [{"code": "NOT_FOUND", "message": "robot not found"}]}, 404)
        return answer({"id": int(robot_id), "name": self.names[int(robot_id)], "level": "project",
                       "disable": False, "editable": True, "duration": -1, "expires_at": -1,
                       "permissions": [{"kind": "project", "namespace": "team", "access": [
                           {"resource": "repository", "action": "pull"}]}]})

    def _refresh(self, request, robot_id):
        body = json_of(request, {"secret"})
        if body["secret"] != "":
            raise Wrong("the broker lets Harbor generate the secret")
        if int(robot_id) not in self.logins:
            return answer({"errors": [{"code": "NOT_FOUND", "message": "robot not found"}]}, 404)
        fresh = Login(self.names[int(robot_id)], new_secret(f"harbor-robot-{robot_id}"))
        self.replace(int(robot_id), int(robot_id), fresh)
        return answer({"secret": fresh.password})
