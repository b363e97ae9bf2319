"""``broker check``: fetch each registry's login and run the preflight, several at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

from broker import preflight
from broker.deadline import Deadline, ms_since
from broker.errors import BrokerError, UnknownRegistry, echo
from broker.service import Broker

MAX_WORKERS = 8


def run_all(broker: Broker, names: list[str] | None = None,
            deadline: Deadline | None = None) -> list[preflight.Result]:
    """Check the named registries (default: all, whatever their ``preflight`` mode), each
    within its own budget and all before ``deadline``; results in the order of ``names``."""
    names = _known(broker, names)
    found = {r.registry: r for r in iter_results(broker, names, deadline)}
    return [found[name] for name in names]


def iter_results(broker: Broker, names: list[str] | None = None,
                 deadline: Deadline | None = None) -> Iterator[preflight.Result]:
    """Each registry's result as soon as its check ends (up to 8 at once). At ``deadline``,
    the checks still running are given up and reported as failed: a caller (the canary)
    always hears about every registry before its own time runs out."""
    names = _known(broker, names)
    pool = ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(names)))
    futures = {pool.submit(check_one, broker, name, deadline): name for name in names}
    seen: set[Future] = set()
    try:
        left = deadline.left() if deadline is not None else None
        for future in as_completed(futures, timeout=None if left is None else max(left, 0)):
            seen.add(future)
            yield future.result()
    except TimeoutError:
        for future, name in futures.items():
            if future not in seen:
                yield future.result() if future.done() else _not_finished(name)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _known(broker: Broker, names: list[str] | None) -> list[str]:
    names = names or broker.config.names
    unknown = [n for n in names if n not in broker.config.registries]
    if unknown:
        raise UnknownRegistry(f"not configured: {', '.join(unknown)}; configured: "
                              f"{', '.join(broker.config.names)}", hint="Use configured names")
    return names


def _not_finished(name: str) -> preflight.Result:
    return preflight.Result(name, False, "none", "not checked: no time left in the invocation "
                                                 "(the check was still running)", "ping")


def check_one(broker: Broker, name: str, deadline: Deadline | None = None) -> preflight.Result:
    """Fetch one registry's login from its backend (no cache) and check it."""
    registry = broker.config.registries[name]
    started = time.perf_counter()
    try:
        login = broker.backends[name].fetch(deadline)
    except BrokerError as exc:
        return preflight.Result(name, False, "none", f"login: {type(exc).__name__}: {exc}",
                                "login", duration_ms=ms_since(started))
    return preflight.check(registry, login, deadline=deadline)


def table(results: list[preflight.Result]) -> str:
    """A plain-text table: registry, scheme, result, ms, detail. A registry's answers can reach
    the detail, so every cell is escaped: no terminal control sequence gets through."""
    rows = [("REGISTRY", "SCHEME", "RESULT", "MS", "DETAIL")]
    rows += [(echo(r.registry), r.scheme, "pass" if r.ok else "FAIL", f"{r.duration_ms:.0f}",
              echo(r.summary, 4000)) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True))
                     + "  " + row[4]
                     for row in rows)
