"""The Lambda entry point: ``broker.handler.handler``.

The configuration is loaded and every backend client built here, at import,
once per execution environment; each invocation only selects and serves.
"""

from __future__ import annotations

import os
from typing import Any

from broker.app import App

app = App()


def _register_snapstart_hooks() -> None:
    """Under SnapStart, make sure no login or token is in a snapshot or survives a restore.

    Init fetches no secret (Vault logs in and roles are assumed on the first call), so this
    only matters when a snapshot is taken after invocations (e.g. published versions).
    Lambda says so in AWS_LAMBDA_INITIALIZATION_TYPE; otherwise the import is not even tried.
    """
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # not running under SnapStart
        return
    register_before_snapshot(app.forget_secrets)
    register_after_restore(app.forget_secrets)


_register_snapstart_hooks()


def handler(event: Any, context: Any) -> dict[str, dict[str, str]]:
    """Return ``{"Credentials": {"Username": ..., "Password": ...}}`` for SageMaker."""
    return app.invoke(event, context)
