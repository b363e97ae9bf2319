"""Quay's robot API: ``POST /api/v1/organization/{org}/robots/{name}/regenerate`` answers the
robot with a new ``token`` (bearer OAuth token with org:admin)."""

from __future__ import annotations

from broker.login import Login
from tests.support.vendors import VendorStandIn, answer, bearer_of, new_secret, no_body, route


class QuayStandIn(VendorStandIn):
    rotator = "quay-robot"

    def __init__(self, tmp_path, org: str = "team") -> None:
        super().__init__(tmp_path)
        self.org, self.token = org, new_secret("quay-oauth")
        self.logins = {name: Login(f"{org}+{name}", new_secret(f"quay-{name}"))
                       for name in ("puller_a", "puller_b")}
        self.routes = [route("POST", rf"/api/v1/organization/{org}/robots/([a-z0-9_]+)/regenerate",
                             self._regenerate)]

    def admin_value(self) -> str:
        return self.token

    def block(self, **extra):
        return super().block(organization=self.org, robots=["puller_a", "puller_b"], **extra)

    def foreign_id(self):
        self.logins["pusher"] = Login(f"{self.org}+pusher", new_secret("quay-pusher"))
        return "pusher"

    def admitted(self, request) -> bool:
        return bearer_of(request) == self.token

    def _regenerate(self, request, name):
        no_body(request)
        if name not in self.logins:
            return answer({"error_message": "Could not find robot with specified username",
                           "status": 400}, 400)
        fresh = Login(f"{self.org}+{name}", new_secret(f"quay-{name}"))
        self.replace(name, name, fresh)
        return answer({"name": fresh.username, "created": "Tue, 01 Dec 2026 10:00:00 -0000",
                       "last_accessed": None, "description": "", "token": fresh.password,
                       "unstructured_metadata": {}})
