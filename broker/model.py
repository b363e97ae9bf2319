"""The validated configuration as frozen records: what every other module reads.

A leaf: the backends and the framework read these records without importing how a
configuration is found, read or validated (:mod:`broker.sources`, :mod:`broker.config`).
NamedTuples, not dataclasses: immutable and compared by value all the same, and defining
them costs a tenth of a frozen dataclass's time on every cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit


class Registry(NamedTuple):
    """One registry: where it is, which images it serves, where its login lives."""

    name: str
    host: str
    match: tuple[str, ...]
    backend_type: str
    backend: Any
    cache_ttl: float
    stale_if_error: float
    timeout: float
    retries: int = 2
    expiry_skew: float = 300.0
    refresh_fraction: float = 0.5
    allow_refresh: bool = False
    preflight: str = "off"
    repository: str | None = None
    reference: str = "latest"
    invokers: tuple[str, ...] = ()
    trusted_realms: tuple[str, ...] = ()
    insecure: bool = False
    ca_bundle: str | None = None
    rotation: Rotation | None = None

    @property
    def hostname(self) -> str:
        """``host`` without its port (and without IPv6 brackets)."""
        return urlsplit(f"//{self.host}").hostname or self.host


class Rotation(NamedTuple):
    """A registry's ``rotation`` block: the rotator, how often it runs (``period`` in seconds,
    the shortest gap its ``schedule`` allows), the admin credential's reference and the
    rotator's own settings."""

    type: str
    schedule: str
    period: float
    admin: Any
    settings: Any


class Config(NamedTuple):
    """The whole, validated configuration. Registries keep the file's order."""

    source: str
    registries: Mapping[str, Registry]
    event_selection: bool = False

    @property
    def names(self) -> list[str]:
        """Configured registry names, in file order."""
        return list(self.registries)

    def backend_types(self) -> set[str]:
        """The backend types in use."""
        return {r.backend_type for r in self.registries.values()}

    def rotated(self) -> list[Registry]:
        """The registries with a ``rotation`` block, in file order."""
        return [r for r in self.registries.values() if r.rotation is not None]
