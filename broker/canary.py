"""The scheduled canary: the preflight for every registry, one CloudWatch metric line each.

Metrics go out through the Embedded Metric Format: a JSON log line that
CloudWatch turns into metrics, so the canary makes no CloudWatch API call.
"""

from __future__ import annotations

import json
import time
from typing import Any

from broker import checks
from broker.app import App
from broker.deadline import Deadline, remaining_ms
from broker.preflight import Result

NAMESPACE = "SageMakerRegistryBroker"
app = App()


def handler(event: Any, context: Any) -> dict[str, int]:
    """Check every configured registry within the invocation; print one EMF line per registry."""
    deadline = Deadline()
    deadline.start(remaining_ms(context))
    results = checks.run_all(app.broker(), deadline=deadline)
    now_ms = int(time.time() * 1000)
    for result in results:
        print(json.dumps(emf(result, now_ms), separators=(",", ":")), flush=True)
    return {"checked": len(results), "failed": sum(not r.ok for r in results)}


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
