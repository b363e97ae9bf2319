"""``gitlab-token``: rotate one of two GitLab project or group access tokens.

``POST /api/v4/projects/{id}/access_tokens/{token_id}/rotate`` (``/groups/...`` for a group
token) with ``expires_at`` revokes the token and answers a new one with a **new id**, which
the stored secret records for the next rotation (:mod:`broker.rotation.state`). GitLab
revokes a whole token family when a rotated-away token is used again; the broker never
presents one: it serves only ``AWSCURRENT``, the token it replaced stays in use for at most
``cache_ttl + stale_if_error`` (validation keeps that under a rotation period), and the token
this rotation revokes has not been current for a whole period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from broker.login import Login
from broker.rotation.base import Renewed, Rotator, RotatorSettings, Slot, text

MAX_DAYS = 365  # GitLab refuses an access token that lives longer


@dataclass(frozen=True, kw_only=True)
class GitLabSettings(RotatorSettings):
    """``url`` (https://gitlab.com or your GitLab), ``project`` or ``group`` (an id or a full
    path), ``tokens``: the ids of two access tokens with ``read_registry`` only (a token with
    any other scope is never rotated); ``username``: what the login presents (GitLab reads the
    token, not the name)."""

    project: int | str | None = None
    group: int | str | None = None
    tokens: tuple[int, ...] = field(metadata={"min": 1})
    username: str = "gitlab-access-token"

    def check(self) -> list[tuple[str, str]]:
        if (self.project is None) == (self.group is None):
            return [("project", "set exactly one of project and group: whose access tokens "
                                "these are")]
        return []


class GitLabToken(Rotator):
    """Alternates two GitLab access tokens."""

    type = "gitlab-token"
    Settings = GitLabSettings
    admin_needs = ("a token with the api scope of a user who is an Owner or Maintainer of the "
                   "project or group (a group token cannot rotate itself)")
    ids_key = "tokens"
    ids_change = True

    def headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self.admin}

    def owns(self, slot: Slot) -> bool:
        """Only an active token that can do nothing but read the registry is ever rotated (a
        token edited into the record could otherwise be a push or api token)."""
        found = self.api.call("GET", self._path(slot), ok=(200, 404),
                              what=f"access token {slot.id}")
        return not found or found.get("scopes") == ["read_registry"]  # gone: rotate says so

    def _path(self, slot: Slot) -> str:
        s = self.settings
        owner = f"projects/{quote(str(s.project), safe='')}" if s.project is not None else \
            f"groups/{quote(str(s.group), safe='')}"
        return f"/api/v4/{owner}/access_tokens/{int(slot.id)}"

    def renew(self, slot: Slot) -> Renewed:
        s = self.settings
        path = f"{self._path(slot)}/rotate"
        expires = self._expires_at()
        answer = self.api.call("POST", path, body={"expires_at": expires}, missing=(400, 404),
                               what=f"access token {slot.id}")
        token = text(answer.get("token"), "token", self.api, f"POST {path}")
        new_id = answer.get("id")
        if not isinstance(new_id, int) or isinstance(new_id, bool) or new_id < 1:
            raise self.api.fail(f"POST {path}", "the answer has no usable token id",
                                "The old token is revoked: store the new one by hand "
                                "(docs/rotation.md#recovery)")
        return Renewed(Login(s.username, token), new_id, expires)

    def _expires_at(self) -> str:
        days = min(MAX_DAYS, -(-self.lifetime() // 86400))
        return datetime.fromtimestamp(self.wall() + days * 86400, UTC).strftime("%Y-%m-%d")
