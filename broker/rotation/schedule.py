"""A rotation ``schedule`` as Secrets Manager reads it, and the shortest gap it allows between
two rotations: ``rate(N hours)``, ``rate(N days)`` or a six-field ``cron(...)``."""

from __future__ import annotations

import re

HOUR, DAY = 3600.0, 86400.0
MINIMUM = 4 * HOUR
"""Secrets Manager never rotates a secret more often than every four hours."""
USAGE = "must be rate(N days), rate(N hours) (N >= 4) or cron(minutes hours day month weekday year)"
_RATE = re.compile(r"rate\((\d{1,4}) (hour|hours|day|days)\)\Z")
_CRON = re.compile(r"cron\(([^()]+)\)\Z")
_SINGLE = re.compile(r"\d{1,2}\Z")


def period(expression: str) -> float | None:
    """The shortest time, in seconds, between two rotations ``expression`` can start; None
    when Secrets Manager would not accept it."""
    rate = _RATE.match(expression)
    if rate:
        seconds = int(rate.group(1)) * (HOUR if rate.group(2).startswith("hour") else DAY)
        return seconds if MINIMUM <= seconds <= 1000 * DAY else None
    cron = _CRON.match(expression)
    fields = cron.group(1).split() if cron else []
    if len(fields) != 6:
        return None
    return max(MINIMUM, _cron_gap(*fields[:5]))


def _cron_gap(minutes: str, hours: str, day: str, month: str, weekday: str) -> float:
    """A lower bound of the gap: once a day at most when the minute and hour are single
    values; once a week for one weekday; once a month (28 days) for one day of the month.
    Anything else may run as often as Secrets Manager allows."""
    if not (_SINGLE.match(minutes) and _SINGLE.match(hours)):
        return MINIMUM
    if month in ("*", "?") and _SINGLE.match(day) and weekday in ("*", "?"):
        return 28 * DAY
    if day in ("*", "?") and re.fullmatch(r"[A-Za-z]{3}|\d", weekday):
        return 7 * DAY
    return DAY


def describe(seconds: float) -> str:
    """``seconds`` in days or hours, for messages."""
    return f"{seconds / DAY:.3g} days" if seconds >= DAY else f"{seconds / HOUR:.3g} hours"
