"""The backend base class: public ``fetch()`` owns error translation, backends implement ``_fetch()``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from broker import aws
from broker.deadline import Deadline
from broker.errors import BackendUnavailable, BrokerError, MalformedSecret
from broker.login import FormatProblem, Login

if TYPE_CHECKING:
    from broker.aws import AwsClients
    from broker.config import Registry


class Deps:
    """What backends may use: they get clients and environment from here, never from globals.

    ``clock`` drives TTLs and token leases (tests move it); ``deadline`` is the real time
    left in the current invocation. (A plain class: a dataclass costs a millisecond of
    cold start to define.)
    """

    __slots__ = ("environ", "aws", "clock", "deadline", "sleep")

    def __init__(self, environ: Mapping[str, str] | None = None, aws: AwsClients | None = None,
                 clock: Callable[[], float] = time.monotonic, deadline: Deadline | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.environ = {} if environ is None else environ
        self.aws = aws
        self.clock = clock
        self.deadline = deadline or Deadline()
        self.sleep = sleep

RETRY_BASE_DELAY = 0.2
"""Seconds; retry n sleeps a random time up to RETRY_BASE_DELAY * 2**(n-1) ("full jitter")."""


class Backend:
    """One registry's secret store. Subclasses set ``type`` and ``Settings`` and implement ``_fetch``."""

    type: ClassVar[str]
    Settings: ClassVar[type]
    remote: ClassVar[bool] = True  # False: no network, so no attempt budget to respect
    deployable: ClassVar[bool] = True  # False: deploy/build.py refuses it unless told otherwise

    def __init__(self, registry: Registry, deps: Deps) -> None:
        self.registry = registry
        self.settings: Any = registry.backend
        self.deps = deps

    @property
    def reference(self) -> str:
        """Where the login lives, for messages (secret id, parameter names, Vault path)."""
        raise NotImplementedError

    def fetch(self) -> Login:
        """Read the login from the store, raising only BrokerError subclasses.

        An unavailable store (down, throttling, 5xx, timing out) is retried ``retries``
        times with jittered backoff, but only while a whole attempt still fits in the
        invocation's remaining time.
        """
        attempt = 0
        while True:
            attempt += 1
            self._check_time_for_attempt()
            try:
                return self._fetch_once()
            except BackendUnavailable:
                delay = random.uniform(0, RETRY_BASE_DELAY * 2 ** (attempt - 1))
                if attempt > self.registry.retries or not self._time_for_attempt(delay):
                    raise
                self.deps.sleep(delay)

    @property
    def attempt_cost(self) -> int:
        """How many store calls of ``timeout`` one attempt may make, in sequence."""
        return 1

    def _time_for_attempt(self, after: float) -> bool:
        needed = self.registry.timeout * self.attempt_cost
        return not self.remote or self.deps.deadline.allows(after + needed)

    def _check_time_for_attempt(self) -> None:
        if not self._time_for_attempt(0.0):
            left, timeout, cost = self.deps.deadline.left() or 0.0, self.registry.timeout, \
                self.attempt_cost
            attempt = (f"one {timeout:g} s attempt" if cost == 1 else
                       f"one attempt ({cost} calls of up to {timeout:g} s each)")
            raise self.error(BackendUnavailable, f"only {max(left, 0):.1f} s of the invocation "
                                                 f"remain, less than {attempt}",
                             "Raise the function's timeout, or lower `timeout` for this registry")

    def _fetch_once(self) -> Login:
        try:
            return self._fetch()
        except BrokerError:
            raise
        except FormatProblem as exc:
            raise self.error(MalformedSecret, f"the stored value is not a usable login: {exc}",
                             self.format_hint) from None
        except Exception as exc:
            # Never chained: a client's exception may quote the document it choked on or a
            # header value (a token); the translation names its type instead.
            raise self.translate(exc) from None

    def _fetch(self) -> Login:
        raise NotImplementedError

    def forget(self) -> None:
        """Drop any secret the backend holds between calls (a Vault token); see SnapStart."""

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
    """A backend that reads through one botocore client of ``service``, built at init."""

    service: ClassVar[str]

    def __init__(self, registry: Registry, deps: Deps) -> None:
        super().__init__(registry, deps)
        assert deps.aws is not None, "AWS backends need AwsClients"
        self.client = deps.aws.client(self.service, region=self.settings.region,
                                      role_arn=self.settings.role_arn, timeout=registry.timeout)

    def translate(self, exc: Exception) -> BrokerError:
        return aws.translate(exc, self.error) or super().translate(exc)
