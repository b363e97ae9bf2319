"""``dockerhub-token``: replace one of two Docker Hub organization access tokens.

The admin login (an organization owner's username and personal access token) is exchanged
at ``POST /v2/auth/token`` for a bearer token; ``DELETE /v2/orgs/{org}/access-tokens/{id}``
removes the slot's old token (already gone is fine), and ``POST /v2/orgs/{org}/access-tokens``
creates one that may only pull the registry's repositories (``scope-image-pull``) and expires after
two rotation periods and a day. An organization access token logs in as the organization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from broker.login import Login
from broker.rotation.base import HTTPS_URL, Renewed, Rotator, RotatorSettings, Slot, text

ORG = {"pattern": (r"[a-z0-9][a-z0-9_-]{1,254}", "must be a Docker Hub organization name")}


@dataclass(frozen=True, kw_only=True)
class DockerHubSettings(RotatorSettings):
    """``url`` (https://hub.docker.com), ``organization``, ``repositories`` the tokens may pull
    (default: the registry's ``repository``), and optionally ``tokens``: two token ids made by
    hand (the first rotation deletes them)."""

    url: str = field(default="https://hub.docker.com", metadata=HTTPS_URL)
    organization: str = field(metadata=ORG)
    repositories: tuple[str, ...] | None = None
    tokens: tuple[str, ...] | None = None


class DockerHubToken(Rotator):
    """Alternates two Docker Hub organization access tokens, scoped to pulling."""

    type = "dockerhub-token"
    Settings = DockerHubSettings
    admin_format = "login"
    admin_needs = "an organization owner's username and personal access token"
    ids_key = "tokens"
    ids_required = False
    ids_change = True
    id_pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    calls = 4

    def headers(self) -> dict[str, str]:
        return {}  # a bearer token from the admin login, asked for when first needed

    def owns(self, slot: Slot) -> bool:
        """Only a token that may do nothing but pull is ever deleted."""
        self._sign_in()
        found = self.api.call("GET", self._token(slot), ok=(200, 404),
                              what=f"access token {slot.id}")
        resources = found.get("resources")
        return not found or (isinstance(resources, list) and bool(resources) and all(
            isinstance(r, dict) and r.get("scopes") == ["scope-image-pull"] for r in resources))

    def _tokens(self) -> str:
        return f"/v2/orgs/{quote(self.settings.organization, safe='')}/access-tokens"

    def _token(self, slot: Slot) -> str:
        return f"{self._tokens()}/{quote(str(slot.id), safe='')}"

    def renew(self, slot: Slot) -> Renewed:
        s = self.settings
        self._sign_in()
        tokens = self._tokens()
        if slot.id:
            self.api.call("DELETE", self._token(slot), ok=(200, 204, 404),
                          what=f"access token {slot.id}")
        expires = datetime.fromtimestamp(self.wall() + self.lifetime(), UTC)
        body = {"label": f"broker {self.registry.name} {slot.index}",
                "description": f"broker rotation of registry {self.registry.name}",
                "resources": [{"type": "TYPE_REPO", "path": path, "scopes": ["scope-image-pull"]}
                              for path in self._paths()],
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
        answer = self.api.call("POST", tokens, body=body, ok=(200, 201), what="access token")
        token = text(answer.get("token"), "token", self.api, f"POST {tokens}")
        token_id = text(answer.get("id"), "token id", self.api, f"POST {tokens}")
        return Renewed(Login(s.organization, token), token_id, body["expires_at"])

    def _sign_in(self) -> None:
        if self.api.headers:
            return
        answer = self.api.call("POST", "/v2/auth/token", body={
            "identifier": self.admin.username, "secret": self.admin.password}, what="sign-in")
        bearer = text(answer.get("access_token"), "access_token", self.api, "POST /v2/auth/token")
        self.api.headers = {"Authorization": f"Bearer {bearer}"}

    def _paths(self) -> list[str]:
        org = self.settings.organization
        repositories = self.settings.repositories or (self.registry.repository,)
        return [r if "/" in r else f"{org}/{r}" for r in repositories]
