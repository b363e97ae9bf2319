"""The ``broker`` logger: one JSON object per line, never a username, password or token.

The clients' own loggers are held at WARNING whatever level the broker or Lambda's runtime
asks for: at DEBUG, botocore logs every response body (a fetched secret among them),
urllib3 and requests their headers; a backend adds its own client's (``Backend.loggers``).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

LOGGER_NAME = "broker"
logger = logging.getLogger(LOGGER_NAME)
QUIET_LIBRARIES = ("botocore", "boto3", "s3transfer", "urllib3", "requests")
_quiet = set(QUIET_LIBRARIES)


class JsonFormatter(logging.Formatter):
    """Renders ``logger.info(event, extra={"fields": {...}})`` as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"level": record.levelname, "logger": record.name, "event": record.getMessage()}
        line.update(getattr(record, "fields", {}))
        return json.dumps(line, default=str, separators=(",", ":"))


class _StreamHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout``/``sys.stderr`` is at emit time (test capture, CLI)."""

    def __init__(self, stream_name: str) -> None:
        super().__init__()
        self.stream_name = stream_name

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return getattr(sys, self.stream_name)

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def setup(level: str | None = None, stream_name: str = "stdout",
          without: tuple[str, ...] = ()) -> logging.Logger:
    """Give the ``broker`` logger its one JSON handler; ``level`` defaults to INFO.
    Events named in ``without`` are not written (the CLI prints its errors itself)."""
    logger.handlers[:] = [_StreamHandler(stream_name)]
    logger.handlers[0].setFormatter(JsonFormatter())
    if without:
        logger.handlers[0].addFilter(lambda record: record.getMessage() not in without)
    logger.setLevel(_level(level))
    logger.propagate = False
    quiet_libraries()
    return logger


def quiet_libraries(more: tuple[str, ...] = ()) -> None:
    """Hold every client library logger (and any child given its own level) at WARNING+;
    ``more`` adds a backend's libraries (Backend.loggers), kept for later calls."""
    _quiet.update(more)
    names = [n for n in logging.root.manager.loggerDict
             if any(n == q or n.startswith(f"{q}.") for q in _quiet)]
    for name in {*_quiet, *names}:
        library = logging.getLogger(name)
        if library.level < logging.WARNING and (library.level or name in _quiet):
            library.setLevel(logging.WARNING)


def _level(name: str | None) -> int:
    value = logging.getLevelName((name or "INFO").upper())
    return value if isinstance(value, int) else logging.INFO


def emit(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured line."""
    logger.log(level, event, extra={"fields": fields})
