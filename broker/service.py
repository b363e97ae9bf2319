"""The broker proper: configured backends behind a per-registry cache."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import backends
from backends.base import Backend
from broker import aws
from broker.cache import TtlCache
from broker.deadline import Deadline
from broker.deps import Deps
from broker.errors import ConfigError, PreflightFailed
from broker.login import Login
from broker.model import Config, Registry


class Served(NamedTuple):
    """A login with its preflight outcome (cached together), and where this serving came from:
    ``backend`` (just fetched), ``cache`` or ``stale``."""

    login: Login
    preflight: str = "skipped"  # skipped | passed | warned
    problem: str | None = None
    source: str = "backend"

    @property
    def expires_at(self) -> float | None:
        """The login's own expiry, which the cache honours."""
        return self.login.expires_at


class Broker:
    """Builds every registry's backend at init; serves logins through the cache.

    Built from a ``previous`` broker (a reloaded configuration), it keeps the backends and
    cached logins of every registry whose settings did not change.
    """

    def __init__(self, config: Config, deps: Deps, clock: Callable[[], float] = time.monotonic,
                 previous: Broker | None = None, preflight: bool = True):
        self.config = config
        self.deps = deps
        self.preflight = preflight  # False: `broker invoke --no-preflight`
        kept = _unchanged(config, previous)
        self.backends = _build_backends(config, deps, {n: previous.backends[n] for n in kept}
                                        if previous else {})
        self.cache: TtlCache[Served] = TtlCache(clock)
        if previous is not None:
            self.cache.keep(previous.cache, kept)
        if preflight and any(r.preflight != "off" for r in config.registries.values()):
            from broker import preflight as _  # noqa: F401  (pay for requests at init, not on a call)

    def login(self, registry: Registry, refresh: bool = False,
              deadline: Deadline | None = None) -> Served:
        """The login for ``registry``, from cache when fresh (unless ``refresh``); checked
        against the registry on every fresh fetch when its ``preflight`` is on; nothing sent
        past ``deadline`` (the invocation's)."""
        deadline = deadline or Deadline()
        served, source = self.cache.get(registry.name, lambda: self._fetch(registry, deadline),
                                        registry.cache_ttl, registry.stale_if_error, refresh,
                                        registry.expiry_skew, registry.refresh_fraction)
        return served._replace(source=source)

    def forget_secrets(self) -> None:
        """Drop every cached login and backend token (SnapStart: none may be in a snapshot)."""
        self.cache.clear()
        for backend in self.backends.values():
            backend.forget()

    def _fetch(self, registry: Registry, deadline: Deadline) -> Served:
        backend = self.backends[registry.name]
        login = backend.fetch(deadline)
        if registry.preflight == "off" or not self.preflight:
            return Served(login)
        from broker import preflight

        result = preflight.check(registry, login, deadline=deadline)
        if not result.ok and self.cache.holds(registry.name):
            # A refresh: the secret may have been caught mid-rotation; read it once more.
            login = backend.fetch(deadline)
            result = preflight.check(registry, login, deadline=deadline)
        if result.ok:
            return Served(login, "passed", "; ".join(result.warnings) or None)
        if registry.preflight == "enforce":
            raise backend.error(PreflightFailed, f"the preflight failed at step {result.summary}",
                                preflight.HINTS[result.step])
        return Served(login, "warned", result.summary)


def _unchanged(config: Config, previous: Broker | None) -> set[str]:
    if previous is None:
        return set()
    return {name for name, registry in config.registries.items()
            if previous.config.registries.get(name) == registry}


def _build_backends(config: Config, deps: Deps, reused: dict[str, Backend]) -> dict[str, Backend]:
    built, problems = dict(reused), []
    for name, registry in config.registries.items():
        if name in built:
            continue
        cls = backends.backend_class(registry.backend_type)
        try:
            built[name] = cls(registry, deps)
        except Exception as exc:  # a client that cannot be built is a setup problem
            problems.append((f"registries.{name}.backend", _describe(exc)))
    if problems:
        raise ConfigError.from_problems(config.source, problems)
    return built


def _describe(exc: Exception) -> str:
    error = aws.translate(exc, lambda cls, problem, hint: cls(problem, hint=hint))
    return str(error) if error else f"cannot set up the backend ({type(exc).__name__}: {exc})"
