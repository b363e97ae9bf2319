"""One Lambda execution environment: configuration loaded once, logins served per invocation."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from broker import log, metrics, pins
from broker.aws import AwsClients
from broker.config import DEFAULT_CONFIG_TTL, load_config
from broker.deadline import for_invocation, ms_since
from broker.deps import Deps
from broker.errors import BrokerError, ConfigError, PreflightFailed
from broker.model import Config
from broker.selection import alias_of, select
from broker.service import Broker
from broker.sources import resolve_source, source_label


class App:
    """Loads the configuration at init and never raises there: a broken config is
    reported, as a ConfigError, by every invocation until it is fixed.

    ``local`` (the CLI) lets an event pick the registry without ``event_selection``;
    ``preflight=False`` (``broker invoke --no-preflight``) skips every preflight.
    ``pin`` is the deployment's pin file (default: ``broker.pin.json`` in the task root);
    every configuration loaded must keep to it (see :mod:`broker.pins`).
    """

    def __init__(self, source: str | None = None, environ: Mapping[str, str] | None = None, *,
                 aws: AwsClients | None = None, clock: Callable[[], float] = time.monotonic,
                 local: bool = False, pin: str | None = None, preflight: bool = True,
                 wall: Callable[[], float] = time.time):
        self.environ = os.environ if environ is None else environ
        self.local = local
        self.preflight = preflight
        self.source = resolve_source(source, self.environ)
        self.label = source_label(self.source)
        self._pin = pins.read(pin or pins.default_path(self.environ))
        self._deployed = frozenset(self._pin["registries"]) if self._pin else frozenset()
        self.pinned = self.environ.get("BROKER_REGISTRY") or None
        self.config_ttl = _config_ttl(self.environ)
        self.aws = aws or AwsClients()
        self.clock, self.wall = clock, wall
        self._broker: Broker | None = None
        self.last_expires_in: int | None = None  # of the last login served, when it expires
        self._error: BrokerError | None = None
        self._loaded_at = 0.0
        log.setup(self.environ.get("BROKER_LOG_LEVEL"))
        self._load()

    def broker(self) -> Broker:
        """The current broker, reloading an ``ssm:`` configuration every BROKER_CONFIG_TTL."""
        if self._broker is None or self._reload_due():
            self._load()
        if self._broker is None:
            raise self._error  # type: ignore[misc]
        return self._broker

    def invoke(self, event: Any, context: Any) -> dict[str, dict[str, str]]:
        """Serve one invocation: select the registry, get its login, log one line."""
        started = time.perf_counter()
        fields: dict[str, Any] = {"request_id": getattr(context, "aws_request_id", None)}
        deadline = for_invocation(context)
        try:
            broker = self.broker()
            registry = select(broker.config, event,
                              alias_of(getattr(context, "invoked_function_arn", None)), self.pinned,
                              local=self.local, deployed=self._deployed)
            fields.update(registry=registry.name, backend=registry.backend_type)
            refresh = _refresh_asked(event)
            if refresh:
                fields["refresh"] = "honoured" if registry.allow_refresh else "ignored"
            served = broker.login(registry, refresh=refresh and registry.allow_refresh,
                                  deadline=deadline)
        except Exception as exc:
            _log_failure(exc, fields, started)
            raise
        if served.problem:
            fields["preflight_detail"] = served.problem
        self.last_expires_in = None
        if served.login.expires_at is not None:
            self.last_expires_in = fields["expires_in_s"] = round(served.login.expires_at -
                                                                  self.clock())
        # A failed check served under `warn`, or a passed one with a warning (the image is
        # missing: the pull will fail), is a warning, whatever `preflight` says.
        level = logging.WARNING if served.preflight == "warned" or served.problem else logging.INFO
        took = ms_since(started, 3)
        log.emit("credentials_served", level, **fields, source=served.source,
                 preflight=served.preflight, duration_ms=took,
                 **metrics.served(fields["registry"], served.source, took))
        return served.login.response()

    @property
    def reload_error(self) -> BrokerError | None:
        """Why the last reload was refused, while the last good configuration keeps serving."""
        return self._error if self._broker is not None else None

    def forget_secrets(self) -> None:
        """Drop every login and token held in memory (before a snapshot, after a restore)."""
        if self._broker is not None:
            self._broker.forget_secrets()

    def _reload_due(self) -> bool:
        return self.source.startswith("ssm:") and self.clock() - self._loaded_at >= self.config_ttl

    def _load(self) -> None:
        self._loaded_at = self.clock()
        try:
            config = load_config(self.source, self.environ, self.aws)
            self._check_pin(config)
            if self._broker is None or config != self._broker.config:
                deps = Deps(self.environ, self.aws, self.clock, wall=self.wall)
                self._broker = Broker(config, deps, self.clock, previous=self._broker,
                                      preflight=self.preflight)
            self._error = None
        except BrokerError as exc:
            self._error = exc if isinstance(exc, ConfigError) else ConfigError.from_problems(
                self.label, [("(backends)", str(exc))])
            if self._broker is not None:  # keep serving with the last good configuration
                log.emit("config_reload_failed", logging.WARNING, error=str(self._error))

    def _check_pin(self, config: Config) -> None:
        """Refuse a configuration that leaves what the deployment pinned."""
        if self._pin is None:
            if self.source.startswith("ssm:") and "LAMBDA_TASK_ROOT" in self.environ:
                raise ConfigError.from_problems(self.label, [("(source)", (
                    f"an ssm: configuration needs the deployment's {pins.PIN_FILE} beside the "
                    "code, and there is none"))], hint="Package with deploy/build.py "
                    "--config-source ssm:/NAME (make package CONFIG_SOURCE=ssm:/NAME)")
            return
        found = pins.problems(config, self._pin)
        if found:
            raise ConfigError.from_problems(self.label, found, hint=(
                "A configuration read at run time may tune registries or drop them, never add "
                "one or change where a login is read from or sent to; redeploy "
                "(make package, then make deploy) to change those"))


def _config_ttl(environ: Mapping[str, str]) -> float:
    """BROKER_CONFIG_TTL in seconds; unset or not a number: the default."""
    try:
        return float(environ.get("BROKER_CONFIG_TTL") or DEFAULT_CONFIG_TTL)
    except ValueError:
        return DEFAULT_CONFIG_TTL


def _refresh_asked(event: Any) -> bool:
    return isinstance(event, dict) and event.get("refresh") is True


def _log_failure(exc: Exception, fields: dict[str, Any], started: float) -> None:
    known = isinstance(exc, BrokerError)
    if isinstance(exc, PreflightFailed):
        fields["preflight"] = "failed"
    took, error_type = ms_since(started, 3), type(exc).__name__
    log.emit("credentials_failed", logging.ERROR, **fields, error_type=error_type,
             error=str(exc) if known else "unexpected error (see the function's traceback)",
             duration_ms=took, **metrics.failed(fields.get("registry"), error_type, took))
