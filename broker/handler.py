"""The Lambda entry point: ``broker.handler.handler``.

The configuration is loaded and every backend client built here, at import,
once per execution environment; each invocation only selects and serves.
"""

from __future__ import annotations

from typing import Any

from broker.app import App

app = App()


def handler(event: Any, context: Any) -> dict[str, dict[str, str]]:
    """Return ``{"Credentials": {"Username": ..., "Password": ...}}`` for SageMaker."""
    return app.invoke(event, context)
