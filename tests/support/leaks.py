"""Sentinel secrets and the checks that they never leak.

Every password, token and AppRole secret_id a test stores comes from
:func:`secret`, which registers it; the session-wide guard in conftest.py
fails any test whose captured output, logs or failure report contains one.
"""

from __future__ import annotations

import base64
import secrets
import traceback

SENTINELS: dict[str, str] = {}


def secret(label: str) -> str:
    """A fresh, unguessable secret value registered with the leak guard."""
    value = f"{label}-SENTINEL-{secrets.token_hex(8)}"
    SENTINELS[value] = label
    for encoded in base64_forms(value):
        SENTINELS[encoded] = f"{label} (base64)"
    return value


def base64_forms(value: str) -> list[str]:
    """What ``value`` looks like inside any base64 text (a Basic header's ``user:password``):
    its encoding at each of the three alignments, without the characters the neighbours share."""
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value.encode()).decode().rstrip("=")
        start = (offset * 8 + 5) // 6 + (1 if offset else 0)
        forms.append(encoded[start:-2])
    return forms


def leaks_in(text: str) -> list[str]:
    """Labels of the sentinels found in ``text``."""
    return [label for value, label in SENTINELS.items() if value in text]


def assert_clean(exc: BaseException) -> None:
    """No sentinel in the exception's message, repr, or full traceback with its causes."""
    rendered = "".join(traceback.format_exception(exc))
    for text in (str(exc), repr(exc), rendered):
        assert not leaks_in(text), f"secret leaked into {type(exc).__name__}: {leaks_in(text)}"
