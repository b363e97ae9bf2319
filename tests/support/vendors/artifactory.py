"""JFrog Access tokens: ``POST /access/api/v1/tokens`` (form: username, scope, expires_in,
refreshable, description; bearer admin token) answers ``token_id`` and ``access_token``;
``DELETE /access/api/v1/tokens/{token_id}`` revokes one (404 if there is none)."""

from __future__ import annotations

import itertools

from broker.login import Login
from tests.support.vendors import (
    VendorStandIn,
    Wrong,
    answer,
    bearer_of,
    empty,
    form_of,
    new_secret,
    no_body,
    route,
)

USERNAME = "svc-puller"


class ArtifactoryStandIn(VendorStandIn):
    rotator = "artifactory-token"

    def __init__(self, tmp_path) -> None:
        super().__init__(tmp_path)
        self.token = new_secret("jfrog-admin")
        self._ids = (f"tok-{n:04d}" for n in itertools.count(1))
        self.logins = {next(self._ids): Login(USERNAME, new_secret("jfrog-token")) for _ in "ab"}
        self.created: list[dict] = []
        self.subjects: dict[str, str] = {}
        self.routes = [route("POST", r"/access/api/v1/tokens", self._create),
                       route("GET", r"/access/api/v1/tokens/([\w-]+)", self._get),
                       route("DELETE", r"/access/api/v1/tokens/([\w-]+)", self._revoke)]

    def admin_value(self) -> str:
        return self.token

    def block(self, **extra):
        return super().block(username=USERNAME, tokens=self.ids(), **extra)

    def foreign_id(self):
        """A token of another user (an admin's, say)."""
        token_id = next(self._ids)
        self.logins[token_id] = Login("admin", new_secret("jfrog-admin-token"))
        self.subjects[token_id] = "admin"
        return token_id

    def _get(self, request, token_id):
        no_body(request)
        if token_id not in self.logins:
            return answer({"errors": [{"code": "NOT_FOUND", "message": "Token not found"}]}, 404)
        user = self.subjects.get(token_id, USERNAME)
        return answer({"token_id": token_id, "subject": f"jfac@01abcdef/users/{user}",
                       "expiry": 1900000000, "issued_at": 1800000000, "issuer": "jfac@01abcdef",
                       "description": "", "refreshable": False})

    def admitted(self, request) -> bool:
        return bearer_of(request) == self.token

    def _create(self, request):
        form = form_of(request, {"username", "scope"},
                       {"expires_in", "refreshable", "description", "audience"})
        if not form["expires_in"].isdigit() or form.get("refreshable") not in (None, "true", "false"):
            raise Wrong("expires_in or refreshable")
        self.created.append(form)
        token_id, fresh = next(self._ids), Login(form["username"], new_secret("jfrog-token"))
        self.replace(None, token_id, fresh)
        return answer({"token_id": token_id, "access_token": fresh.password,
                       "expires_in": int(form["expires_in"]), "scope": form["scope"],
                       "token_type": "Bearer"})

    def _revoke(self, request, token_id):
        no_body(request)
        if token_id not in self.logins:
            return answer({"errors": [{"code": "NOT_FOUND", "message": "Token not found"}]}, 404)
        self.revoked.append(self.logins.pop(token_id))
        self.changed()
        return empty(200)
