"""The login a backend hands back, and the parsers for stored secret formats.

Parsers raise :class:`FormatProblem` with a message that describes the shape
of the document, never its content; the backend turns it into a
``MalformedSecret`` that names the registry and the reference.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Literal

MAX_FIELD_CHARS = 16_384
"""Longest username or password accepted (ECR and GCR JSON-key logins are a few KiB)."""

MAX_DOCUMENT_BYTES = 65_536
"""Largest stored document parsed (Secrets Manager's own limit)."""


class FormatProblem(ValueError):
    """A stored value does not have the expected shape; ``hint`` says what to do, when the
    problem calls for more than the backend's usual hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
"""One registry, as Docker itself treats it: `docker login` keeps its login under
``https://index.docker.io/v1/``, pulls go to registry-1.docker.io."""


class Login:
    """A registry username and password, immutable. The repr never shows the password, and it
    is no tuple or mapping a serializer could spill.

    ``expires_at`` (on the broker's monotonic clock) is set for a minted, short-lived
    login: the cache never serves it past that. (A plain class: a frozen dataclass costs a
    millisecond of every cold start to define.)
    """

    __slots__ = ("username", "password", "expires_at")
    username: str
    password: str
    expires_at: float | None

    def __init__(self, username: str, password: str, expires_at: float | None = None) -> None:
        for name, value in (("username", username), ("password", password),
                            ("expires_at", expires_at)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Login is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a Login is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Login):
            return NotImplemented
        return (self.username, self.password, self.expires_at) == \
            (other.username, other.password, other.expires_at)

    def __hash__(self) -> int:
        return hash((self.username, self.password, self.expires_at))

    def __repr__(self) -> str:
        return f"Login(username={self.username!r}, password='********')"

    __str__ = __repr__

    def response(self) -> dict[str, dict[str, str]]:
        """The exact payload SageMaker expects from the credentials Lambda."""
        return {"Credentials": {"Username": self.username, "Password": self.password}}


@dataclass(frozen=True, kw_only=True)
class SecretFormat:
    """How a stored document holds the login (shared by every document backend)."""

    format: Literal["json", "dockerconfigjson"] = "json"
    username_key: str = "username"
    password_key: str = "password"

    def parse(self, document: str | bytes | dict[str, Any], host: str) -> Login:
        """Extract the login for ``host`` from a stored document."""
        data = _as_mapping(document)
        if self.format == "dockerconfigjson":
            return _from_dockerconfig(data, host)
        if "auths" in data and self.username_key not in data:
            raise FormatProblem("the stored value is a Docker config.json (it has an 'auths' "
                                "key), read as a username/password object",
                                "Set `format: dockerconfigjson` in the backend block")
        return checked_login(data.get(self.username_key), data.get(self.password_key),
                             f"key '{self.username_key}'", f"key '{self.password_key}'")


def checked_login(username: Any, password: Any, user_label: str = "key 'username'",
                  pass_label: str = "key 'password'") -> Login:
    """Build a Login after checking both values are usable strings; labels name them in messages."""
    _check_field(username, user_label)
    _check_field(password, pass_label)
    return Login(username, password)


def _check_field(value: Any, label: str) -> None:
    if value is None:
        raise FormatProblem(f"{label} is missing")
    if not isinstance(value, str):
        raise FormatProblem(f"{label} is a {_kind(value)}, not a string")
    if not value.strip():
        raise FormatProblem(f"{label} is empty")
    if "\x00" in value:
        raise FormatProblem(f"{label} contains a NUL byte")
    if len(value) > MAX_FIELD_CHARS:
        raise FormatProblem(f"{label} is longer than {MAX_FIELD_CHARS} characters")


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", list: "list", dict: "object"}.get(
        type(value), type(value).__name__)


def _as_mapping(document: str | bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(document, dict):
        return _unwrap_pull_secret(document)
    if isinstance(document, bytes):
        document = _decode(document)
    if len(document.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise FormatProblem(f"the value is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        data = json.loads(document)
    except ValueError:
        raise FormatProblem("the value is not JSON") from None
    if not isinstance(data, dict):
        raise FormatProblem(f"the value is a JSON {_kind(data)}, not an object")
    return _unwrap_pull_secret(data)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatProblem("the value is not UTF-8 text") from None


def _unwrap_pull_secret(data: dict[str, Any]) -> dict[str, Any]:
    # A Kubernetes pull secret copied whole keeps the document under ".dockerconfigjson".
    inner = data.get(".dockerconfigjson")
    return _as_mapping(inner) if isinstance(inner, str) and len(data) == 1 else data


def _from_dockerconfig(data: dict[str, Any], host: str) -> Login:
    auths = data.get("auths")
    if not isinstance(auths, dict):
        raise FormatProblem("the document has no 'auths' object (expected a Docker config.json)",
                            hint="Store a Docker config.json ({\"auths\": {HOST: {\"auth\": "
                                 "...}}}), or set `format: json` for a username/password object")
    entry = _entry_for(auths, host)
    if not isinstance(entry, dict):
        raise FormatProblem(f"the 'auths' entry for '{host}' is not an object")
    if entry.get("auth") is not None:
        return _split_auth(entry["auth"])
    return checked_login(entry.get("username"), entry.get("password"))


def _entry_for(auths: dict[str, Any], host: str) -> Any:
    wanted = _registry_of(host.lower())
    for key, entry in auths.items():
        if _registry_of(_auth_key_host(key)) == wanted:
            return entry
    listed = ", ".join(sorted(map(str, auths))) or "none"
    raise FormatProblem(
        f"the 'auths' object has no entry for '{host}' (entries: {listed})",
        hint=f"Add an 'auths' entry for {host} to the stored config.json (`docker login {host}` "
             "writes one), or set `host` to the registry one of the entries is for")


def _registry_of(host: str) -> str:
    return "docker.io" if host in DOCKER_HUB else host


def _auth_key_host(key: str) -> str:
    """'https://host:5000/v1/' -> 'host:5000', as Docker itself normalises config keys."""
    key = key.split("://", 1)[-1]
    return key.split("/", 1)[0].lower()


def _split_auth(auth: Any) -> Login:
    if not isinstance(auth, str):
        raise FormatProblem(f"the 'auth' value is a {_kind(auth)}, not a string")
    try:
        text = base64.b64decode(auth, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise FormatProblem("the 'auth' value is not base64 of UTF-8 'username:password'") from None
    username, sep, password = text.partition(":")
    if not sep:
        raise FormatProblem("the decoded 'auth' value has no ':' between username and password")
    return checked_login(username, password)
