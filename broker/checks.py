"""``broker check``: fetch each registry's login and run the preflight, several at once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from broker import preflight
from broker.deadline import Deadline
from broker.errors import BrokerError, UnknownRegistry
from broker.service import Broker

MAX_WORKERS = 8


def run_all(broker: Broker, names: list[str] | None = None,
            deadline: Deadline | None = None) -> list[preflight.Result]:
    """Check the named registries (default: all, whatever their ``preflight`` mode), each
    within its own budget and all before ``deadline`` (the canary's invocation)."""
    names = names or broker.config.names
    unknown = [n for n in names if n not in broker.config.registries]
    if unknown:
        raise UnknownRegistry(f"not configured: {', '.join(unknown)}; configured: "
                              f"{', '.join(broker.config.names)}", hint="Use configured names")
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(names))) as pool:
        return list(pool.map(lambda name: check_one(broker, name, deadline), names))


def check_one(broker: Broker, name: str, deadline: Deadline | None = None) -> preflight.Result:
    """Fetch one registry's login from its backend (no cache) and check it."""
    registry = broker.config.registries[name]
    started = time.perf_counter()
    try:
        login = broker.backends[name].fetch()
    except BrokerError as exc:
        return preflight.Result(name, False, "none", f"login: {type(exc).__name__}: {exc}",
                                "login", duration_ms=round((time.perf_counter() - started) * 1000, 1))
    return preflight.check(registry, login, deadline=deadline)


def table(results: list[preflight.Result]) -> str:
    """A plain-text table: registry, scheme, result, ms, detail."""
    rows = [("REGISTRY", "SCHEME", "RESULT", "MS", "DETAIL")]
    rows += [(r.registry, r.scheme, "pass" if r.ok else "FAIL", f"{r.duration_ms:.0f}", r.summary)
             for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True))
                     + "  " + row[4]
                     for row in rows)
