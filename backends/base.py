"""The backend base class: public ``fetch()`` owns error translation, backends implement ``_fetch()``."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any, ClassVar

from broker import aws
from broker.deadline import Deadline, current, scope
from broker.deps import Deps
from broker.errors import (
    AccessDenied,
    BackendUnavailable,
    BrokerError,
    ConfigError,
    MalformedSecret,
    SecretNotFound,
)
from broker.login import FormatProblem, Login
from broker.transport import errors as transport

if TYPE_CHECKING:
    from broker.identity import Minting
    from broker.model import Registry


TRANSPORT_ERRORS: tuple[tuple[type[Exception], type[BrokerError], str, str], ...] = (
    # (raised by broker.transport, the broker's error, problem, hint): the first that fits.
    (transport.Redirected, ConfigError, "the store answered with a redirect, which is never "
     "followed: what was sent (a token, a secret) would go along",
     "Point the backend at the server itself (the active node, the load balancer), not at a "
     "redirect"),
    (transport.Refused, ConfigError, "{detail}", "Send only to the hosts the backend's settings "
     "name; check them, and what the server's answers name"),
    (transport.TooLarge, MalformedSecret, "the store's answer is not a login: {detail}",
     "Store only the login there, and check what answers at the configured URL"),
    (transport.TlsError, BackendUnavailable, "{detail}", "Check the server's certificate "
     "(ca_bundle for a private CA), or its scheme (insecure: true for a plain-HTTP test server)"),
    (transport.TransportError, BackendUnavailable, "the store did not answer: {detail}",
     "Retry; if it persists, check the function's network access to it (VPC, DNS, security "
     "groups)"),
)
"""Every transport failure, mapped once for every backend and plugin (most specific first):
a request refused or redirected is a setup mistake (not retried, no stale login); an answer
too large is not a login; the rest are outages (retried, stale-if-error)."""

RETRY_BASE_DELAY = 0.2
"""Seconds; retry n sleeps a random time up to RETRY_BASE_DELAY * 2**(n-1) ("full jitter")."""


class Backend:
    """One registry's secret store. Subclasses set ``type`` and ``Settings`` and implement ``_fetch``."""

    type: ClassVar[str]
    Settings: ClassVar[type]
    remote: ClassVar[bool] = True  # False: no network, so no attempt budget to respect
    deployable: ClassVar[bool] = True  # False: deploy/build.py refuses it unless told otherwise
    loggers: ClassVar[tuple[str, ...]] = ()
    """Its client libraries' loggers, held at WARNING like botocore's (their DEBUG output
    carries tokens)."""

    def __init__(self, registry: Registry, deps: Deps) -> None:
        self.registry = registry
        self.settings: Any = registry.backend
        self.deps = deps
        if self.loggers:
            from broker import log

            log.quiet_libraries(self.loggers)

    @property
    def reference(self) -> str:
        """Where the login lives, for messages (secret id, parameter names, Vault path)."""
        return self.describe(self.settings)

    @classmethod
    def describe(cls, settings: Any) -> str:
        """Where the login lives, from the settings alone (also offline, for `broker plan`)."""
        raise NotImplementedError

    # What a backend implies for a deployment, read by deploy/build.py from the settings alone.

    distributions: ClassVar[tuple[str, ...]] = ()
    """Distributions (on PyPI, pinned in deploy/vendor.lock.json) the zip needs for it."""

    @classmethod
    def iam_grants(cls, settings: Any) -> list[Any]:
        """The IAM grants (:class:`broker.grants.Grant`, :class:`broker.grants.Decrypt`) the
        backend itself needs for these settings; what reading their secret references needs,
        the deployment model adds for every backend (:mod:`broker.deployment`)."""
        return []

    @classmethod
    def environment_variables(cls, settings: Any) -> list[str]:
        """Variables the function must have for these settings, besides ``{env: VAR}``
        references (which the deployment model adds for every backend)."""
        return []

    @classmethod
    def network_hosts(cls, settings: Any) -> list[tuple[str, str]]:
        """``(key, host)`` for every server these settings name, besides AWS's own endpoints."""
        return []

    @classmethod
    def region_of(cls, settings: Any) -> str | None:
        """The AWS region the backend reads its store in, when the settings say (``region``, or
        the region its ARNs name); None for the function's own, or a store outside AWS."""
        return None

    @classmethod
    def check_settings(cls, settings: Any) -> list[tuple[str, str]]:
        """``(key, problem)`` for rules the framework keeps for a kind of backend (every AWS
        backend: one region per store); a backend's own rules live in its Settings' check()."""
        return []

    mints: ClassVar[bool] = False
    """True for a backend that mints logins from an identity instead of reading a stored one:
    it must declare :meth:`minting`, and the framework keeps registries' identities apart."""

    @classmethod
    def minting(cls, settings: Any, host: str) -> Minting | None:
        """The identities a login for these settings (and the registry's ``host``) is minted
        through, root first, the served one last (:mod:`broker.identity`); None for a store."""
        return None

    @classmethod
    def signed_identities(cls, settings: Any) -> list[tuple[str, str]]:
        """``(AWS identity, receiver host)`` for each signed ``sts:GetCallerIdentity`` these
        settings send (it proves that identity for 15 minutes to whoever holds it): the
        framework refuses one identity's proof going to two receivers, since either could
        replay it to the other (:mod:`broker.identity`)."""
        return []

    @classmethod
    def scoping(cls, settings: Any) -> str | None:
        """For a backend that mints: what its logins are limited to, or why they cannot be
        (``broker plan`` says it); None for a stored login, which has its own rights."""
        return None

    @classmethod
    def deploy_notes(cls, settings: Any) -> list[str]:
        """What a deployment needs besides the derived IAM statements (said by plan, iam-policy)."""
        return []

    def fetch(self, deadline: Deadline | None = None) -> Login:
        """Read the login from the store before ``deadline`` (the invocation's; none: no
        bound but each call's ``timeout``), raising only BrokerError subclasses.

        An unavailable store (down, throttling, 5xx, timing out) is retried ``retries``
        times with jittered backoff, but only while a whole attempt still fits in the
        invocation's remaining time. While it runs, ``deadline`` is :attr:`deadline`, and
        what the backend's libraries send through a bounded session is cut to it.
        """
        with scope(deadline or Deadline()):
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
    def deadline(self) -> Deadline:
        """The deadline of the fetch in progress (in this thread)."""
        return current()

    @property
    def first_call_seconds(self) -> float:
        """How long the first call of an attempt may take at worst (one ``timeout``)."""
        return self.registry.timeout

    def _time_for_attempt(self, after: float) -> bool:
        """An attempt starts when its first call fits whole (a botocore call cannot be cut
        short). Every later call is cut to the time left (an HTTP request, by its budget) or
        checked before it starts (an AWS call, as reading a reference is), so an attempt of
        several calls shrinks to fit and still ends before the deadline."""
        return not self.remote or self.deadline.allows(after + self.first_call_seconds)

    def _check_time_for_attempt(self) -> None:
        if not self._time_for_attempt(0.0):
            raise self.error(BackendUnavailable, f"only {max(self.deadline.left() or 0.0, 0):.1f}"
                                                 f" s of the invocation remain, less than one "
                                                 f"{self.first_call_seconds:g} s call",
                             "Raise the function's timeout, or lower `timeout` for this registry")

    def _fetch_once(self) -> Login:
        try:
            return self._unexpired(self._fetch())
        except BrokerError:
            raise
        except FormatProblem as exc:
            raise self.error(MalformedSecret, f"the stored value is not a usable login: {exc}",
                             exc.hint or self.format_hint) from None
        except Exception as exc:
            # Never chained: a client's exception may quote the document it choked on or a
            # header value (a token); the translation names its type instead.
            raise self.translate(exc) from None

    def _fetch(self) -> Login:
        raise NotImplementedError

    def _unexpired(self, login: Login) -> Login:
        """A minted login, checked: from a backend that declares what it mints through (else
        the identity rule could not have kept registries apart), its expiry a finite time still
        ahead (one already past, from a skewed clock or a hostile answer, is useless to a
        client; NaN would defeat the cache)."""
        at, now = login.expires_at, self.deps.clock()
        if at is None:
            return login
        if type(self).minting(self.settings, self.registry.host) is None:
            raise self.error(ConfigError, "the backend minted a login but declares no identity "
                                          "it mints through, so nothing keeps another registry "
                                          "from minting the same login; it was not served",
                             "The backend must set `mints = True` and implement `minting()` "
                             "(docs/plugins.md)")
        if not math.isfinite(at):
            raise self.error(MalformedSecret, "the store answered a login whose expiry is not a "
                                              "number", "Check what answers for the store")
        if at <= now:
            raise self.error(MalformedSecret, f"the store answered a login that expired "
                                              f"{now - at:.0f} s ago", "Check the function's "
                                              "clock and the store's")
        return login

    def forget(self) -> None:
        """Drop any secret the backend holds between calls (a Vault token); see SnapStart."""

    @property
    def format_hint(self) -> str:
        """What to store, for the format this registry reads."""
        if getattr(self.settings, "format", "json") == "dockerconfigjson":
            return ("Store a Docker config.json with an 'auths' entry for the registry, or set "
                    "`format: json` for a username/password object")
        return ("Store a JSON object with the username and password keys (or set username_key/"
                "password_key), or set `format: dockerconfigjson` for a Docker config.json")

    def translate(self, exc: Exception) -> BrokerError:
        """Map a client library exception to a BrokerError; subclasses refine this for their
        library's own errors and call it for the rest. A transport failure is mapped here, for
        every backend, by :data:`TRANSPORT_ERRORS`."""
        for kind, cls, problem, hint in TRANSPORT_ERRORS:
            if isinstance(exc, kind):
                return self.error(cls, problem.format(detail=exc), hint)
        return self.error(BackendUnavailable, f"unexpected {type(exc).__name__} from the store",
                          "Retry; if it persists, check the store's health")

    def signing_identity(self, role_arn: str | None, region: str | None) -> tuple[Any, str]:
        """The frozen AWS credentials to sign with (the function's, or ``role_arn``'s) and the
        region to sign for (``region``, else the function's)."""
        assert self.deps.aws is not None, "signing needs the function's AWS clients"
        credentials = self.deps.aws.session(role_arn).get_credentials()
        region = region or self.deps.aws.region()
        if credentials is None or not region:
            missing = "AWS credentials" if credentials is None else "an AWS region"
            raise self.error(ConfigError, f"the function has no {missing} to sign with",
                             "Set `region` in the backend block, or run where AWS_REGION is set")
        return credentials.get_frozen_credentials(), region

    def error(self, cls: type[BrokerError], problem: str, hint: str,
              reference: str | None = None) -> BrokerError:
        """An error of ``cls`` naming this registry, backend type and reference."""
        return cls(problem, registry=self.registry.name, backend=self.type,
                   reference=reference or self.reference, hint=hint)


class AwsBackend(Backend):
    """A backend that reads through one botocore client of ``service``, built at init."""

    service: ClassVar[str]

    @classmethod
    def iam_grants(cls, settings: Any) -> list[Any]:
        """Reading the store (or assuming ``role_arn``, which reads it), and ``kms:Decrypt``
        through the store's service when ``kms_key`` is a customer-managed key."""
        from broker import grants

        if settings.role_arn:  # the assumed role reads the secret, not the function's role
            return [grants.Grant(grants.ASSUME, settings.role_arn)]
        found = list(cls.store_grants(settings))
        if getattr(settings, "kms_key", None):
            found.append(grants.Decrypt(settings.kms_key,
                                        grants.via(cls.service, cls.region_of(settings))))
        return found

    @classmethod
    def store_grants(cls, settings: Any) -> list[Any]:
        """What reading the store itself needs."""
        raise NotImplementedError

    @classmethod
    def region_of(cls, settings: Any) -> str | None:
        """``region``, else the region the store's ARNs name (a secret or parameter ARN in
        another region is read there), else None (the function's own)."""
        return settings.region or next((region for _, region in _arn_regions(settings)), None)

    @classmethod
    def check_settings(cls, settings: Any) -> list[tuple[str, str]]:
        """One client reads one region: every ARN among the settings (the store's, a KMS key,
        which must be the secret's region) names the region the store is read in."""
        found = _arn_regions(settings)
        region, source = (settings.region, "`region`") if settings.region else \
            (found[0][1], found[0][0]) if found else (None, None)
        return [(key, f"names region {other}, but {source} is {region}: the store is read in "
                      f"one region; fix the ARN, or drop `region`")
                for key, other in found if other != region]

    def __init__(self, registry: Registry, deps: Deps) -> None:
        super().__init__(registry, deps)
        assert deps.aws is not None, "AWS backends need AwsClients"
        self.client = deps.aws.client(self.service, region=self.region_of(self.settings),
                                      role_arn=self.settings.role_arn, timeout=registry.timeout)
        self._account: str | None = None

    @property
    def first_call_seconds(self) -> float:
        """A botocore call: a connect, then a read (``broker.aws.call_seconds``)."""
        return aws.call_seconds(self.registry.timeout)

    def translate(self, exc: Exception) -> BrokerError:
        return aws.translate(exc, self.error) or super().translate(exc)

    def error(self, cls: type[BrokerError], problem: str, hint: str,
              reference: str | None = None) -> BrokerError:
        """As Backend.error; a not-found or denied error also names the region and account
        asked, since the usual mistake is the right name in the wrong one."""
        if cls in (SecretNotFound, AccessDenied) and reference is None:
            reference = f"{self.reference} in {self._where()}"
        return super().error(cls, problem, hint, reference)

    def _where(self) -> str:
        return f"region {self.client.meta.region_name}, account {self._account_id() or 'unknown'}"

    def _account_id(self) -> str | None:
        """The account the store was asked in (one STS call, on an error path only)."""
        if self._account is None and self.deadline.allows(aws.call_seconds(self.registry.timeout)):
            try:
                sts = self.deps.aws.client("sts", region=self.settings.region,  # type: ignore[union-attr]
                                           role_arn=self.settings.role_arn,
                                           timeout=self.registry.timeout)
                self._account = sts.get_caller_identity()["Account"]
            except Exception:  # noqa: BLE001 - a message detail; the error itself stands
                return None
        return self._account


def _arn_regions(settings: Any) -> list[tuple[str, str]]:
    """``(key, region)`` of every ARN among the settings that names a region (a role's names
    none: IAM is global)."""
    import dataclasses

    found = [(f.name, aws.arn_region(getattr(settings, f.name)))
             for f in dataclasses.fields(settings)]
    return [(name, region) for name, region in found if region]


def signer_grants(role_arn: str | None) -> list[Any]:
    """What signing ``sts:GetCallerIdentity`` needs: nothing as the function's own identity,
    ``sts:AssumeRole`` on ``role_arn`` to sign as that role (``gar``, ``artifactory``)."""
    from broker import grants

    return [grants.Grant(grants.ASSUME, role_arn)] if role_arn else []
