"""Docker Hub's organization access tokens: ``POST /v2/auth/token`` (``identifier``,
``secret``) answers a bearer ``access_token``; ``POST /v2/orgs/{org}/access-tokens`` (label,
description, resources of ``TYPE_REPO`` with scopes, expires_at) answers 201 with ``id`` and
``token``; ``DELETE /v2/orgs/{org}/access-tokens/{id}`` answers 204."""

from __future__ import annotations

import datetime
import json
import uuid

from broker.login import Login
from tests.support.vendors import (
    VendorStandIn,
    Wrong,
    answer,
    bearer_of,
    empty,
    json_of,
    new_secret,
    no_body,
    route,
)

ORG = "team"
SCOPES = {"scope-image-pull", "scope-image-push", "scope-image-delete", "scope-repository-read"}


class DockerHubStandIn(VendorStandIn):
    rotator = "dockerhub-token"

    def __init__(self, tmp_path) -> None:
        super().__init__(tmp_path)
        self.owner = Login("owner", new_secret("dockerhub-pat"))
        self.bearers: set[str] = set()
        self.logins = {str(uuid.uuid4()): Login(ORG, new_secret("dockerhub-oat")) for _ in "ab"}
        self.created: list[dict] = []
        self.routes = [route("POST", r"/v2/auth/token", self._sign_in),
                       route("POST", rf"/v2/orgs/{ORG}/access-tokens", self._create),
                       route("GET", rf"/v2/orgs/{ORG}/access-tokens/([\w-]+)", self._get),
                       route("DELETE", rf"/v2/orgs/{ORG}/access-tokens/([\w-]+)", self._delete)]
        self.resources: dict[str, list] = {}

    def admin_value(self) -> str:
        return json.dumps({"username": self.owner.username, "password": self.owner.password})

    def block(self, **extra):
        return super().block(organization=ORG, tokens=self.ids(), **extra)

    def foreign_id(self):
        """A token that may push."""
        token_id = str(uuid.uuid4())
        self.logins[token_id] = Login(ORG, new_secret("dockerhub-push-oat"))
        self.resources[token_id] = [{"type": "TYPE_REPO", "path": f"{ORG}/trainer",
                                     "scopes": ["scope-image-pull", "scope-image-push"]}]
        return token_id

    def _get(self, request, token_id):
        no_body(request)
        if token_id not in self.logins:
            return answer({"detail": "Not found"}, 404)
        resources = self.resources.get(token_id, [{"type": "TYPE_REPO", "path": f"{ORG}/trainer",
                                                   "scopes": ["scope-image-pull"]}])
        return answer({"id": token_id, "label": "x", "created_by": "owner", "is_active": True,
                       "created_at": "2026-12-01T10:00:00Z", "expires_at": None,
                       "last_used_at": None, "resources": resources})

    def admitted(self, request) -> bool:
        return request.path == "/v2/auth/token" or bearer_of(request) in self.bearers

    def _sign_in(self, request):
        body = json_of(request, {"identifier", "secret"})
        if (body["identifier"], body["secret"]) != (self.owner.username, self.owner.password):
            return answer({"detail": "Incorrect authentication credentials"}, 401)
        bearer = new_secret("dockerhub-bearer")
        self.bearers.add(bearer)
        return answer({"access_token": bearer})

    def _create(self, request):
        body = json_of(request, {"label", "resources"}, {"description", "expires_at"})
        for resource in body["resources"]:
            if set(resource) != {"type", "path", "scopes"} or resource["type"] != "TYPE_REPO" \
                    or not set(resource["scopes"]) <= SCOPES or "/" not in resource["path"]:
                raise Wrong(f"resource {resource!r}")
        if "expires_at" in body:
            datetime.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        self.created.append(body)
        token_id, fresh = str(uuid.uuid4()), Login(ORG, new_secret("dockerhub-oat"))
        self.replace(None, token_id, fresh)
        return answer({"id": token_id, "label": body["label"], "token": fresh.password,
                       "resources": body["resources"], "expires_at": body.get("expires_at"),
                       "is_active": True, "created_at": "2026-12-01T10:00:00Z"}, 201)

    def _delete(self, request, token_id):
        no_body(request)
        if token_id not in self.logins:
            return answer({"detail": "Not found"}, 404)
        self.revoked.append(self.logins.pop(token_id))
        self.changed()
        return empty(204)
