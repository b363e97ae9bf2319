"""``artifactory-token``: replace one of two scoped JFrog access tokens.

``DELETE /access/api/v1/tokens/{token_id}`` revokes the slot's old token (already gone is
fine: a retried step), then ``POST /access/api/v1/tokens`` creates a token for ``username``
with ``scope`` that lives two rotation periods and a day; its ``token_id`` is recorded for
the next rotation of that slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from broker.login import Login
from broker.rotation.base import Renewed, Rotator, RotatorSettings, Slot, text

_ONE_SCOPE = r"(applied-permissions/(user|groups:[\w.,-]+)|artifact:[\w.-]+(/[^\s:]*)?:r)"
SCOPE = {"pattern": (rf"{_ONE_SCOPE}( {_ONE_SCOPE})*",
                     "must be space-separated scopes a pulling token needs: "
                     "applied-permissions/user, applied-permissions/groups:NAMES, "
                     "artifact:REPO:r (read only)")}


@dataclass(frozen=True, kw_only=True)
class ArtifactorySettings(RotatorSettings):
    """``url`` (the JFrog platform, https://acme.jfrog.io), ``username`` (the user the tokens
    act as: give it read on the repository and nothing more), ``scope``, and optionally
    ``tokens``: the ids of two tokens made by hand (the first rotation revokes them)."""

    username: str
    scope: str = field(default="applied-permissions/user", metadata=SCOPE)
    tokens: tuple[str, ...] | None = None


class ArtifactoryToken(Rotator):
    """Alternates two JFrog access tokens."""

    type = "artifactory-token"
    Settings = ArtifactorySettings
    admin_needs = "a JFrog access token of an administrator (to create tokens for another user)"
    ids_key = "tokens"
    ids_required = False
    ids_change = True
    id_pattern = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
    calls = 3

    def owns(self, slot: Slot) -> bool:
        """Only a token of the configured user is ever revoked."""
        found = self.api.call("GET", self._path(slot), ok=(200, 404), what=f"token {slot.id}")
        subject = found.get("subject")
        return not found or (isinstance(subject, str)
                             and subject.endswith(f"/users/{self.settings.username}"))

    def _path(self, slot: Slot) -> str:
        return f"/access/api/v1/tokens/{quote(str(slot.id), safe='')}"

    def renew(self, slot: Slot) -> Renewed:
        s = self.settings
        if slot.id:
            self.api.call("DELETE", self._path(slot), ok=(200, 204, 404), what=f"token {slot.id}")
        form = {"username": s.username, "scope": s.scope, "refreshable": "false",
                "expires_in": str(int(self.lifetime())),
                "description": f"broker rotation of registry {self.registry.name}, login {slot.index}"}
        answer = self.api.call("POST", "/access/api/v1/tokens", form=form, what="token")
        where = "POST /access/api/v1/tokens"
        token = text(answer.get("access_token"), "access_token", self.api, where)
        token_id = text(answer.get("token_id"), "token_id", self.api, where)
        return Renewed(Login(s.username, token), token_id)
