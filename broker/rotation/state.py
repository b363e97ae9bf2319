"""What a rotated secret holds: the login the broker serves, and beside it, under
``rotation``, what the next rotation needs: which of the two logins this is (``slot``), the
id the registry knows each by (``ids``: GitLab gives a rotated token a new id) and when this
one was made. The broker's backend reads the login keys only."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from broker.login import FormatProblem, Login

KEY = "rotation"


class State(NamedTuple):
    """Which slot a stored login fills, both slots' ids, and when it was made (or None)."""

    slot: int
    ids: tuple[Any, Any]
    made: str | None = None


def read(document: Any, first_ids: tuple[Any, Any]) -> State:
    """The state a stored value records; a value stored by hand records none: it is slot 0,
    and the ids are the configured ones."""
    found = document.get(KEY) if isinstance(document, dict) else None
    if found is None:
        return State(0, first_ids)
    slot, ids = (found.get("slot"), found.get("ids")) if isinstance(found, dict) else (None, None)
    if slot not in (0, 1) or not isinstance(ids, list) or len(ids) != 2:
        raise FormatProblem(f"the secret's '{KEY}' key is not what a rotation wrote (slot 0 or "
                            "1, two ids)", "Store the login without it: the next rotation "
                            "starts from the configured ids")
    return State(slot, (ids[0], ids[1]), found.get("made"))


def document(text: str) -> dict:
    """A stored value as a JSON object (a value that is not one cannot be rotated)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise FormatProblem("the secret is not a JSON object with the login's keys")
    return value


def write(settings: Any, login: Login, state: State, rotator: str, expires: str | None) -> str:
    """The value to store for ``login``, filling ``state.slot``, in the backend's keys."""
    recorded = {"slot": state.slot, "ids": list(state.ids), "made": state.made,
                "rotator": rotator}
    if expires:
        recorded["expires"] = expires
    return json.dumps({settings.username_key: login.username,
                       settings.password_key: login.password, KEY: recorded})
