"""GitLab's access token API: ``POST /api/v4/projects/{id}/access_tokens/{token_id}/rotate``
(``PRIVATE-TOKEN`` header; optional JSON ``expires_at`` as YYYY-MM-DD) revokes the token and
answers a new one with a new ``id``. Reuse detection as GitLab documents it: presenting, or
rotating, a token that was already rotated revokes every token of its family."""

from __future__ import annotations

import datetime
import itertools

from broker.login import Login
from tests.support.vendors import VendorStandIn, Wrong, answer, json_of, new_secret, route

PROJECT = 42


class GitLabStandIn(VendorStandIn):
    rotator = "gitlab-token"

    def __init__(self, tmp_path) -> None:
        super().__init__(tmp_path)
        self.token = new_secret("gitlab-admin")
        self._ids = itertools.count(101)
        self.logins = {next(self._ids): Login("any", new_secret("gitlab-token")) for _ in range(2)}
        self.family = {i: i for i in self.logins}  # token id -> the family's first id
        self.rotated_away: dict[str, int] = {}  # password -> family
        self.families_revoked: list[int] = []
        self.expiries: list[str] = []
        self.by_hand: set[int] = set()
        self.scopes: dict[int, list[str]] = {}
        self.routes = [route("POST", rf"/api/v4/projects/{PROJECT}/access_tokens/(\d+)/rotate",
                             self._rotate),
                       route("GET", rf"/api/v4/projects/{PROJECT}/access_tokens/(\d+)", self._get)]

    def admin_value(self) -> str:
        return self.token

    def block(self, **extra):
        return super().block(project=PROJECT, tokens=self.ids(), **extra)

    def foreign_id(self):
        """A project token that may push and call the API."""
        token_id = next(self._ids)
        self.logins[token_id] = Login("any", new_secret("gitlab-push-token"))
        self.family[token_id] = token_id
        self.scopes[token_id] = ["api", "write_registry"]
        return token_id

    def _get(self, request, token_id):
        known = int(token_id)
        if known not in self.family:
            return answer({"message": "404 Not Found"}, 404)
        return answer({"id": known, "name": "broker-puller", "revoked": known not in self.logins,
                       "active": known in self.logins, "created_at": "2026-12-01T10:00:00.000Z",
                       "scopes": self.scopes.get(known, ["read_registry"]), "user_id": 900,
                       "last_used_at": None, "expires_at": None, "access_level": 20})

    def admitted(self, request) -> bool:
        return request.headers.get("private-token") == self.token

    def accepts(self, login: Login) -> bool:
        """GitLab reads the token, not the username; a rotated-away token revokes its family."""
        if login.password in self.rotated_away:
            self._revoke_family(self.rotated_away[login.password])
            return False
        return any(login.password == held.password for held in self.logins.values())

    def delete(self, login_id) -> None:
        """Revoked by hand in GitLab's UI: rotating it is refused (400), no family revoked."""
        self.by_hand.add(login_id)
        super().delete(login_id)

    def _revoke_family(self, family: int) -> None:
        self.families_revoked.append(family)
        for token_id in [i for i, f in self.family.items() if f == family and i in self.logins]:
            self.logins.pop(token_id)
        self.changed()

    def _rotate(self, request, token_id):
        body = json_of(request, set(), {"expires_at"})
        expires = body.get("expires_at")
        if expires is not None:
            try:
                day = datetime.date.fromisoformat(expires)
            except (TypeError, ValueError):
                raise Wrong("expires_at is not YYYY-MM-DD") from None
            if (day - datetime.date.today()).days > 365:
                return answer({"message": "400 Bad request - expires_at is invalid"}, 400)
            self.expiries.append(expires)
        old = int(token_id)
        if old not in self.logins:
            if old in self.by_hand:
                return answer({"message": "400 Bad request - Token already revoked"}, 400)
            if old in self.family:  # rotated before: reuse
                self._revoke_family(self.family[old])
                return answer({"message": "400 Bad request - Token already revoked"}, 400)
            return answer({"message": "404 Not Found"}, 404)
        new = next(self._ids)
        self.family[new] = self.family[old]
        self.rotated_away[self.logins[old].password] = self.family[old]
        fresh = Login("any", new_secret("gitlab-token"))
        self.replace(old, new, fresh)
        return answer({"id": new, "name": "broker-puller", "revoked": False,
                       "created_at": "2026-12-01T10:00:00.000Z", "scopes": ["read_registry"],
                       "user_id": 900, "last_used_at": None, "active": True,
                       "expires_at": expires, "access_level": 20, "token": fresh.password})
