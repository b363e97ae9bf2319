"""The backend base class: public ``fetch()`` owns error translation, backends implement ``_fetch()``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from broker import aws
from broker.errors import BackendUnavailable, BrokerError, MalformedSecret
from broker.login import FormatProblem, Login

if TYPE_CHECKING:
    from broker.aws import AwsClients
    from broker.config import Registry


@dataclass(frozen=True)
class Deps:
    """What backends may use: they get clients and environment from here, never from globals."""

    environ: Mapping[str, str] = field(default_factory=dict)
    aws: AwsClients | None = None
    clock: Callable[[], float] = time.monotonic


class Backend:
    """One registry's secret store. Subclasses set ``type`` and ``Settings`` and implement ``_fetch``."""

    type: ClassVar[str]
    Settings: ClassVar[type]

    def __init__(self, registry: Registry, deps: Deps) -> None:
        self.registry = registry
        self.settings: Any = registry.backend
        self.deps = deps

    @property
    def reference(self) -> str:
        """Where the login lives, for messages (secret id, parameter names, Vault path)."""
        raise NotImplementedError

    def fetch(self) -> Login:
        """Read the login from the store, raising only BrokerError subclasses."""
        try:
            return self._fetch()
        except BrokerError:
            raise
        except FormatProblem as exc:
            # No `from exc`: a parser's exception may carry the document it choked on.
            raise self.error(MalformedSecret, f"the stored value is not a usable login: {exc}",
                             self.format_hint) from None
        except Exception as exc:
            raise self.translate(exc) from exc

    def _fetch(self) -> Login:
        raise NotImplementedError

    format_hint = ("Store a JSON object with the username and password keys, or set "
                   "`format: dockerconfigjson` for a Docker config.json")

    def translate(self, exc: Exception) -> BrokerError:
        """Map a client library exception to a BrokerError; subclasses refine this."""
        return self.error(BackendUnavailable, f"unexpected {type(exc).__name__} from the store",
                          "Retry; if it persists, check the store's health")

    def error(self, cls: type[BrokerError], problem: str, hint: str,
              reference: str | None = None) -> BrokerError:
        """An error of ``cls`` naming this registry, backend type and reference."""
        return cls(problem, registry=self.registry.name, backend=self.type,
                   reference=reference or self.reference, hint=hint)


class AwsBackend(Backend):
    """A backend that reads through one boto3 client of ``service``, built at init."""

    service: ClassVar[str]

    def __init__(self, registry: Registry, deps: Deps) -> None:
        super().__init__(registry, deps)
        assert deps.aws is not None, "AWS backends need AwsClients"
        self.client = deps.aws.client(self.service, region=self.settings.region,
                                      role_arn=self.settings.role_arn, timeout=registry.timeout)

    def translate(self, exc: Exception) -> BrokerError:
        return aws.translate(exc, self.error) or super().translate(exc)
