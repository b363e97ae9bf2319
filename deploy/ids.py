"""CloudFormation logical ids for what the template makes per registry."""

from __future__ import annotations

import hashlib
import re


def logical_id(prefix: str, name: str) -> str:
    """A CloudFormation logical id for a registry: its letters and digits, readable, then 8 hex
    digits of the name's SHA-256, so names that differ only in '-', '_' or case stay apart."""
    readable = re.sub(r"[^A-Za-z0-9]", "", name)
    digest = hashlib.sha256(name.encode()).hexdigest()[:8].upper()
    return f"{prefix}{readable[:1].upper()}{readable[1:]}{digest}"
