"""The set of registries the preflight tests run against, with their users."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.support import leaks
from tests.support.registry import ISSUER, SERVICE, DockerRegistry, TokenServer

REPOSITORY, TAG = "team/trainer", "v1"


@dataclass
class User:
    username: str
    password: str


@dataclass
class Registries:
    basic: DockerRegistry
    token: DockerRegistry
    open: DockerRegistry
    elsewhere: DockerRegistry  # its realm is on 127.0.0.2
    token_server: TokenServer
    far_token_server: TokenServer
    users: dict[str, User] = field(default_factory=dict)

    def stop(self) -> None:
        for item in (self.basic, self.token, self.open, self.elsewhere, self.token_server,
                     self.far_token_server):
            item.stop()


def _users() -> dict[str, User]:
    return {role: User(leaks.secret(f"{role}-username"), leaks.secret(f"{role}-password"))
            for role in ("admin", "reader", "stranger")}


def _token_auth(server: TokenServer) -> dict:
    return {"token": {"realm": server.realm, "service": SERVICE, "issuer": ISSUER,
                      "rootcertbundle": str(server.bundle)}}


def start_registries(binary: str, workdir: Path) -> Registries:
    import bcrypt

    users = _users()
    access = {"admin": {REPOSITORY: {"pull", "push"}}, "reader": {REPOSITORY: {"pull"}},
              "stranger": {}}
    table = {u.username: (u.password, access[role]) for role, u in users.items()}
    token_server = TokenServer(table, workdir=workdir).start()
    far_token_server = TokenServer(table, host="127.0.0.2", workdir=workdir).start()
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text("".join(
        f"{u.username}:{bcrypt.hashpw(u.password.encode(), bcrypt.gensalt(4)).decode()}\n"
        for u in users.values()))
    running = Registries(
        basic=DockerRegistry(binary, {"htpasswd": {"realm": "basic-realm", "path": str(htpasswd)}}),
        token=DockerRegistry(binary, _token_auth(token_server)),
        open=DockerRegistry(binary),
        elsewhere=DockerRegistry(binary, _token_auth(far_token_server)),
        token_server=token_server, far_token_server=far_token_server, users=users)
    for registry in (running.basic, running.token, running.open, running.elsewhere):
        registry.start()
    _push(running)
    return running


def _push(running: Registries) -> None:
    import base64

    admin = running.users["admin"]
    basic = "Basic " + base64.b64encode(f"{admin.username}:{admin.password}".encode()).decode()
    running.basic.push_image(REPOSITORY, TAG, basic)
    running.open.push_image(REPOSITORY, TAG, None)
    push = [{"type": "repository", "name": REPOSITORY, "actions": ["pull", "push"]}]
    for registry, server in ((running.token, running.token_server),
                             (running.elsewhere, running.far_token_server)):
        registry.push_image(REPOSITORY, TAG, f"Bearer {server.token(admin.username, push)}")
    running.far_token_server.requests.clear()
    running.token_server.requests.clear()
