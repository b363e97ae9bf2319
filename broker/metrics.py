"""Per-registry metrics from the broker itself, in the Embedded Metric Format: the same JSON log
line that says a login was served or refused carries an ``_aws`` block CloudWatch turns into
metrics (no CloudWatch API call, nothing to grant). Namespace ``SageMakerRegistryBroker``:

- ``Served`` (1) and ``Duration`` (ms), by ``Registry``, and by ``Registry`` and ``Source``
  (``cache``, ``backend``, ``stale``);
- ``Failed`` (1) and ``Duration``, by ``Registry``, and by ``Registry`` and ``ErrorType``.

- ``RotationFailed`` (0 or 1, one per rotation step) and ``RotationDuration`` (ms), by
  ``Registry``, from the rotation function (broker/rotation/handler.py): its alarm fires on 1.

The dashboard the stack ships (deploy/template.py) graphs them per registry.
"""

from __future__ import annotations

import time
from typing import Any

NAMESPACE = "SageMakerRegistryBroker"


def served(registry: str, source: str, duration_ms: float) -> dict[str, Any]:
    """The fields that make a served line a metric."""
    return _document({"Registry": registry, "Source": source}, "Source", "Served", duration_ms)


def failed(registry: str | None, error_type: str, duration_ms: float) -> dict[str, Any]:
    """The fields that make a failed line a metric (``(none)`` before a registry was picked)."""
    return _document({"Registry": registry or "(none)", "ErrorType": error_type}, "ErrorType",
                     "Failed", duration_ms)


def _document(dimensions: dict[str, str], second: str, count: str,
              duration_ms: float) -> dict[str, Any]:
    return {"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": NAMESPACE, "Dimensions": [["Registry"], ["Registry", second]],
        "Metrics": [{"Name": count, "Unit": "Count"},
                    {"Name": "Duration", "Unit": "Milliseconds"}]}]},
        **dimensions, count: 1, "Duration": duration_ms}


def rotation(registry: str | None, failed: bool, duration_ms: float) -> dict[str, Any]:
    """The fields that make a rotation step's line a metric."""
    return {"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": NAMESPACE, "Dimensions": [["Registry"]],
        "Metrics": [{"Name": "RotationFailed", "Unit": "Count"},
                    {"Name": "RotationDuration", "Unit": "Milliseconds"}]}]},
        "Registry": registry or "(none)", "RotationFailed": int(failed),
        "RotationDuration": duration_ms}
