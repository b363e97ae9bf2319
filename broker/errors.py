"""Errors the broker raises. The class name becomes the Lambda ``errorType``.

Exception tree::

    BrokerError
    ├── ConfigError           the configuration is missing, unreadable or invalid
    ├── RegistryNotSelected   nothing says which registry this invocation is for
    ├── RegistryNotAllowed    the event asks for a registry other than the pinned one
    ├── UnknownRegistry       a name or image that no configured registry matches
    ├── SecretNotFound        the secret, parameter, path or variable does not exist
    ├── AccessDenied          the store refused the function's identity
    ├── MalformedSecret       the stored value is not a usable login
    ├── BackendUnavailable    the store did not answer (down, timing out, throttling)
    ├── PreflightFailed       the preflight against the registry failed (preflight: enforce)
    └── RotationFailed        a rotation step could not finish (AWSCURRENT is left as it was)

Messages name the registry, the backend type and the reference (secret id,
parameter name, Vault path) and end with what to do. They never carry a
password, token or AppRole secret_id: callers build them from configuration
references only, never from secret material.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Root of every error the broker raises on purpose."""

    def __init__(
        self,
        problem: str,
        *,
        registry: str | None = None,
        backend: str | None = None,
        reference: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.registry = registry
        self.backend = backend
        self.reference = reference
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.registry:
            where.append(f"registry '{self.registry}'")
        if self.backend:
            ref = f" {self.reference}" if self.reference else ""
            where.append(f"({self.backend}{ref})")
        prefix = " ".join(where)
        text = f"{prefix}: {self.problem}" if prefix else self.problem
        if not self.hint:
            return text
        return f"{text}\n{self.hint}" if "\n" in text else f"{text}. {self.hint}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


MAX_ECHO = 200
"""Characters of a caller's (or a registry's) text a message repeats."""


def echo(text: object, limit: int = MAX_ECHO) -> str:
    """Untrusted text fit for a message, a log line or a terminal: non-printable characters
    escaped (no terminal control sequence gets through), cut at ``limit`` with a marker."""
    value = str(text)
    cut = value[:limit]
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                    for c in cut)
    return shown + ("…[truncated]" if len(value) > limit else "")


class ConfigError(BrokerError):
    """The configuration is missing, unreadable or invalid.

    ``problems`` holds every ``(key path, message)`` found, not only the first.
    """

    problems: list[tuple[str, str]] = []

    HINT = "Fix these keys; `broker validate` lists every problem without touching the network"

    @classmethod
    def from_problems(cls, source: str, problems: list[tuple[str, str]],
                      hint: str = HINT) -> ConfigError:
        """One error listing every problem found in the configuration from ``source``."""
        count = len(problems)
        lines = [f"{count} problem{'s' if count != 1 else ''} in the broker configuration "
                 f"({echo(source, 300)})"]
        # Key paths hold the configuration's own names, messages can quote its values: both
        # are escaped and cut, since whoever writes the configuration may not be the reader.
        lines += [f"  {echo(path, 300)}: {echo(msg, 1000)}" for path, msg in problems]
        error = cls("\n".join(lines), hint=hint)
        error.problems = list(problems)
        return error


class RegistryNotSelected(BrokerError):
    """No selection rule picked a registry."""


class RegistryNotAllowed(BrokerError):
    """The invocation is pinned to one registry and the event asked for another."""


class UnknownRegistry(BrokerError):
    """A registry name or image reference that matches no configured registry."""


class SecretNotFound(BrokerError):
    """The secret, parameter, Vault path or variable does not exist."""


class AccessDenied(BrokerError):
    """The secret store refused the function's identity."""


class MalformedSecret(BrokerError):
    """The stored value exists but is not a usable login."""


class BackendUnavailable(BrokerError):
    """The secret store did not answer in time, or answered with a server error."""


class PreflightFailed(BrokerError):
    """The preflight against the registry failed (it refused the login, or could not be
    reached or understood), and the registry enforces it."""


class RotationFailed(BrokerError):
    """A rotation step (broker.rotation) could not finish: the registry's API refused or did
    not answer, the pending login failed its preflight, or the secret's stages say another
    rotation owns it. ``AWSCURRENT`` is never moved by a failed step."""
