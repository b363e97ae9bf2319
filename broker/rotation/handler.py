"""The rotation function's Lambda handler (``broker.rotation.handler.handler``): Secrets
Manager invokes it once per step with ``{"Step", "SecretId", "ClientRequestToken"}``.

The configuration is the packaged one (``BROKER_ROTATION_CONFIG``, set by the deployment to
the zip's broker.json): a runtime configuration never decides where an admin credential is
sent. The registry is the one whose ``secret_id`` names the secret. Each step logs one JSON
line (registry, rotator, step, outcome, duration) carrying the ``RotationFailed`` metric.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from broker import log, metrics
from broker.aws import AwsClients
from broker.deadline import Deadline, for_invocation, ms_since, scope
from broker.deps import Deps
from broker.errors import BrokerError, ConfigError, RotationFailed
from broker.model import Config, Registry

_TOKEN = re.compile(r"[A-Za-z0-9-]{32,64}\Z")
CONFIG_VARIABLE = "BROKER_ROTATION_CONFIG"


class RotationApp:
    """One execution environment of the rotation function: configuration and clients built
    once, one step per invocation."""

    def __init__(self, source: str | None = None, environ: Mapping[str, str] | None = None, *,
                 aws: AwsClients | None = None, wall: Callable[[], float] = time.time) -> None:
        self.environ = os.environ if environ is None else environ
        self.source = source or self.environ.get(CONFIG_VARIABLE)
        self.aws, self.wall = aws or AwsClients(), wall
        self._config: Config | None = None
        log.setup(self.environ.get("BROKER_LOG_LEVEL"))

    def config(self) -> Config:
        """The configuration, loaded on first use."""
        from broker.config import load_config

        if self._config is None:
            self._config = load_config(self.source, self.environ, self.aws)
        return self._config

    def run(self, event: Any, context: Any, *, local: bool = False) -> dict[str, str]:
        """Run one step; log it; raise a BrokerError when it fails (Secrets Manager retries)."""
        started, fields = time.perf_counter(), {"request_id": getattr(context, "aws_request_id",
                                                                      None)}
        try:
            step, secret_id, token = _event(event)
            fields.update(step=step, version=token)
            with scope(for_invocation(context)) as deadline:
                outcome = self._step(step, secret_id, token, deadline, fields, local)
        except Exception as exc:
            _failed(exc, fields, started)
            if isinstance(exc, BrokerError):
                raise
            raise RotationFailed(f"unexpected {type(exc).__name__} (the function's log has the "
                                 "step)", registry=fields.get("registry"), backend="rotation",
                                 hint="Retry; report it if it persists") from None
        took = ms_since(started, 3)
        log.emit("rotation_step", logging.INFO, **fields, outcome=outcome, duration_ms=took,
                 **metrics.rotation(fields["registry"], False, took))
        return {"step": step, "outcome": outcome}

    def _step(self, step: str, secret_id: str, token: str, deadline: Deadline,
              fields: dict, local: bool) -> str:
        from broker.rotation import steps

        client, described = self._described(secret_id, steps.STORE_TIMEOUT)
        registry = registry_for(self.config(), described)
        fields.update(registry=registry.name, rotator=registry.rotation.type,
                      secret=described["ARN"])
        return steps.run(step, described, token, self.context(registry, client, deadline, local))

    def _described(self, secret_id: str, timeout: float) -> tuple[Any, dict]:
        """A Secrets Manager client and the secret's DescribeSecret (no region, no
        credentials: a BrokerError saying so)."""
        from broker.aws import arn_region

        try:  # Secrets Manager names the secret by ARN: its region
            client = self.aws.client("secretsmanager", region=arn_region(secret_id),
                                     timeout=timeout)
        except Exception as exc:
            raise _aws_error(exc, secret_id) from None
        return client, describe(client, secret_id)

    def context(self, registry: Registry, client: Any, deadline: Deadline,
                local: bool = False) -> Any:
        """The steps' context for ``registry``: its rotator, the preflight, the clock."""
        from broker import preflight
        from broker.rotation import connect, steps

        deps = Deps(self.environ, self.aws, wall=self.wall)
        return steps.Context(
            registry, client, lambda: connect.rotator(registry, deps, deadline),
            lambda reg, login: preflight.check(reg, login, deadline=deadline),
            lambda: datetime.fromtimestamp(self.wall(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            local)


def _event(event: Any) -> tuple[str, str, str]:
    from broker.rotation.steps import STEPS

    if not isinstance(event, dict):
        raise RotationFailed("the event is not a Secrets Manager rotation request",
                             hint="Only Secrets Manager invokes the rotation function")
    step, secret_id, token = (event.get(k) for k in ("Step", "SecretId", "ClientRequestToken"))
    if step not in STEPS or not isinstance(secret_id, str) or not 0 < len(secret_id) <= 2048 \
            or not isinstance(token, str) or not _TOKEN.match(token):
        raise RotationFailed("the event is not a Secrets Manager rotation request (Step one of "
                             f"{', '.join(STEPS)}, a SecretId, a ClientRequestToken)",
                             hint="Only Secrets Manager invokes the rotation function")
    return step, secret_id, token


def describe(client: Any, secret_id: str) -> dict:
    """DescribeSecret's answer; AWS errors as BrokerErrors naming the secret."""
    try:
        return client.describe_secret(SecretId=secret_id)
    except Exception as exc:
        raise _aws_error(exc, secret_id) from None


def _aws_error(exc: Exception, secret_id: str) -> Exception:
    from broker import aws as aws_errors

    error = aws_errors.translate(exc, lambda cls, problem, hint: cls(
        problem, backend="rotation secretsmanager", reference=secret_id[:2048], hint=hint))
    return error or exc


def registry_for(config: Config, described: dict) -> Registry:
    """The registry whose rotated ``secret_id`` is this secret (by name or ARN)."""
    names = {described.get("ARN"), described.get("Name")}
    for registry in config.rotated():
        if registry.backend.secret_id in names:
            return registry
    raise ConfigError(f"no registry in {config.source} rotates the secret "
                      f"{described.get('Name')!s}", hint="Add a `rotation` block to the registry "
                      "that reads it, and redeploy; or remove the secret's rotation schedule")


def _failed(exc: Exception, fields: dict, started: float) -> None:
    took = ms_since(started, 3)
    error = str(exc) if isinstance(exc, BrokerError) else \
        f"unexpected {type(exc).__name__} (not shown: it could quote a value)"
    log.emit("rotation_step", logging.ERROR, **fields, outcome="failed",
             error_type=type(exc).__name__, error=error, duration_ms=took,
             **metrics.rotation(fields.get("registry"), True, took))


_app: RotationApp | None = None


def handler(event: Any, context: Any) -> dict[str, str]:
    """The Lambda entry point."""
    global _app
    if _app is None:
        _app = RotationApp()
    return _app.run(event, context)
