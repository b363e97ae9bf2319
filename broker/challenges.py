"""Parse ``WWW-Authenticate`` headers (RFC 9110 section 11) into challenges.

One header value may hold several challenges (requests joins repeated headers
with ", "), quoted values may contain commas and backslash escapes, and the
scheme and parameter names are case-insensitive (Nexus sends ``BASIC realm=``).
Anything that does not parse raises :class:`ChallengeError`, and nothing else.
Parsing is linear in the header's length, and a header longer than
``MAX_HEADER_BYTES`` is refused before parsing: a registry may send many.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_SPACE = re.compile(r"[ \t]*")
# Unquoted parameter values seen in the wild include URLs (realm=https://host/token).
_BARE_VALUE = re.compile(r"[^\s,\"]+")
_PARAM_AHEAD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]*=(?!=)")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)

MAX_HEADER_BYTES = 16_384
"""Longest WWW-Authenticate text parsed (all headers joined); real challenges are < 1 KiB."""


class ChallengeError(ValueError):
    """The header is not a list of authentication challenges."""


@dataclass(frozen=True)
class Challenge:
    """One challenge: a lower-cased scheme and its parameters (lower-cased names)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse(header: str, max_bytes: int | None = MAX_HEADER_BYTES) -> list[Challenge]:
    """All challenges in a header value, in order (``max_bytes=None``: no length cap)."""
    if max_bytes is not None and isinstance(header, str) and len(header) > max_bytes:
        raise ChallengeError(f"the header is longer than {max_bytes} characters")
    parser = _Parser(header)
    challenges = []
    while parser.skip_separators():
        challenges.append(parser.challenge())
        parser.expect_comma_or_end()
    if not challenges:
        raise ChallengeError("no challenge in the header")
    return challenges


def pick(challenges: list[Challenge]) -> Challenge | None:
    """The challenge to answer: Bearer over Basic; None when neither is offered."""
    by_scheme = {c.scheme: c for c in reversed(challenges)}
    return by_scheme.get("bearer") or by_scheme.get("basic")


class _Parser:
    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ChallengeError("the header is not text")
        self.text, self.pos = text, 0

    def skip_separators(self) -> bool:
        """Skip blanks and empty list elements; False at the end of the text."""
        while self.pos < len(self.text) and self.text[self.pos] in " \t,":
            self.pos += 1
        return self.pos < len(self.text)

    def expect_comma_or_end(self) -> None:
        self._spaces()
        if self.pos < len(self.text) and self.text[self.pos] != ",":
            raise ChallengeError(f"expected ',' between challenges at position {self.pos}")

    def challenge(self) -> Challenge:
        scheme = self._token("an authentication scheme").lower()
        self._spaces()
        params: dict[str, str] = {}
        token68 = _TOKEN68.match(self.text, self.pos)
        if token68 and not self._param_ahead() and token68.end() > self.pos:
            self.pos = token68.end()  # e.g. "Negotiate abc==": no parameters to read
            return Challenge(scheme, params)
        while self._param_ahead():
            name = self._token("a parameter name").lower()
            self._spaces()
            self.pos += 1  # the "="
            self._spaces()
            params[name] = self._value()
            self._spaces()
            if not self._comma_then_param():
                break
        return Challenge(scheme, params)

    def _param_ahead(self) -> bool:
        return _PARAM_AHEAD.match(self.text, self.pos) is not None

    def _comma_then_param(self) -> bool:
        """Consume ", " when a parameter follows; leave it when a new challenge does."""
        save = self.pos
        self.skip_separators()
        if self._param_ahead():
            return True
        self.pos = save
        return False

    def _token(self, what: str) -> str:
        match = _TOKEN.match(self.text, self.pos)
        if not match:
            raise ChallengeError(f"expected {what} at position {self.pos}")
        self.pos = match.end()
        return match.group()

    def _spaces(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def _value(self) -> str:
        if self.text.startswith('"', self.pos):
            return self._quoted()
        match = _BARE_VALUE.match(self.text, self.pos)
        if not match:
            raise ChallengeError(f"expected a parameter value at position {self.pos}")
        self.pos = match.end()
        return match.group()

    def _quoted(self) -> str:
        match = _QUOTED.match(self.text, self.pos)
        if not match:
            raise ChallengeError("unterminated quoted string")
        self.pos = match.end()
        return _ESCAPE.sub(r"\1", match.group(1))
