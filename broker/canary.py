"""The scheduled canary: the preflight for every registry, one CloudWatch metric line each.

Metrics go out through the Embedded Metric Format: a JSON log line that
CloudWatch turns into metrics, so the canary makes no CloudWatch API call.
Each line is printed as its registry's check ends; a check still running when the
invocation's time is up is reported failed; a broken configuration, or a reload the
function refused (while it serves the last good one), prints a failed line for the
pseudo-registry ``(configuration)`` and fails the invocation (the canary's ``Errors``
metric), so the alarms hear of it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from broker import checks
from broker.app import App
from broker.deadline import for_invocation
from broker.errors import BrokerError
from broker.metrics import NAMESPACE  # one namespace for the broker and the canary
from broker.preflight import Result

MIN_INTERVAL = 60.0
"""Seconds. Invoked again sooner (by whoever may invoke it), the canary replays its last
results instead of fetching every login and calling every registry again: invocations cannot
be turned into a flood of store, mint and registry calls. The schedule runs far less often."""
app = App()
_last: dict[str, Any] = {}  # the app, when its last run ended, and what it found


def handler(event: Any, context: Any) -> dict[str, int]:
    """Check every configured registry within the invocation; print one EMF line per registry."""
    deadline = for_invocation(context)
    try:
        broker = app.broker()
    except BrokerError as exc:
        _print(_configuration_failed(exc))
        raise
    refused = app.reload_error  # a refused reload: the last good configuration still serves
    if refused is not None:
        _print(_configuration_failed(refused))
    replay = _replayable()
    fresh, results = replay is None, []
    for result in checks.iter_results(broker, deadline=deadline) if fresh else replay:
        _print(result)
        results.append(result)
    if fresh:
        _last.update(app=app, at=app.clock(), results=results)
    if refused is not None:
        raise refused
    summary = {"checked": len(results), "failed": sum(not r.ok for r in results)}
    return summary if fresh else {**summary, "replayed": True}


def _replayable() -> list[Result] | None:
    """This app's last results when its last run ended less than MIN_INTERVAL ago."""
    if _last.get("app") is not app or app.clock() - _last["at"] >= MIN_INTERVAL:
        return None
    return list(_last["results"])


def _configuration_failed(exc: BrokerError) -> Result:
    return Result(CONFIGURATION, False, "none", f"{type(exc).__name__}: {exc}", "config")


CONFIGURATION = "(configuration)"
"""The Registry dimension of the line a broken configuration prints."""


def _print(result: Result) -> None:
    line = json.dumps(emf(result, int(time.time() * 1000)), separators=(",", ":"))
    print(line, flush=True)


def emf(result: Result, timestamp_ms: int) -> dict[str, Any]:
    """One EMF document: ``PreflightFailed`` (0/1) and ``PreflightDuration`` per registry, and
    the same metrics without dimensions, which the failure alarm watches."""
    return {
        "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
            "Namespace": NAMESPACE, "Dimensions": [["Registry"], []],
            "Metrics": [{"Name": "PreflightFailed", "Unit": "Count"},
                        {"Name": "PreflightDuration", "Unit": "Milliseconds"}]}]},
        "Registry": result.registry,
        "PreflightFailed": 0 if result.ok else 1,
        "PreflightDuration": result.duration_ms,
        "scheme": result.scheme,
        "detail": result.summary,
    }
