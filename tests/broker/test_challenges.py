"""WWW-Authenticate parsing: real registries' headers, awkward syntax, and arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.challenges import Challenge, ChallengeError, parse, pick


@pytest.mark.parametrize("header, expected", [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
     [Challenge("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io"})]),
    ('BASIC realm="Sonatype Nexus Repository Manager"',
     [Challenge("basic", {"realm": "Sonatype Nexus Repository Manager"})]),
    ('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/i:pull"',
     [Challenge("bearer", {"realm": "https://ghcr.io/token", "service": "ghcr.io",
                           "scope": "repository:o/i:pull"})]),
    # two challenges joined by requests, Basic first
    ('Basic realm="r", Bearer realm="https://h/token", service="s"',
     [Challenge("basic", {"realm": "r"}), Challenge("bearer", {"realm": "https://h/token", "service": "s"})]),
    # commas and escapes inside quotes; case-insensitive keys; spaces around "="
    ('Bearer REALM = "https://h/t?a=1,b=2", Scope="repository:a:pull,push", error="say \\"hi\\""',
     [Challenge("bearer", {"realm": "https://h/t?a=1,b=2", "scope": "repository:a:pull,push",
                           "error": 'say "hi"'})]),
    ("Bearer realm=https://h/token,service=reg", [Challenge("bearer", {"realm": "https://h/token",
                                                                         "service": "reg"})]),
    ("Negotiate abc==, Basic realm=x", [Challenge("negotiate"), Challenge("basic", {"realm": "x"})]),
    (", Basic ,", [Challenge("basic")]),
])
def test_parse(header, expected):
    assert parse(header) == expected


@pytest.mark.parametrize("header", ["", "   ", 'Bearer realm="unterminated', "Bearer realm=",
                                    '"quoted"', "Bearer realm=a=b=c realm"])
def test_parse_errors(header):
    with pytest.raises(ChallengeError):
        parse(header)


def test_pick_prefers_bearer():
    both = parse('Basic realm="r", Bearer realm="https://h/token"')
    assert pick(both).scheme == "bearer"
    assert pick(parse("Basic realm=r")).scheme == "basic"
    assert pick(parse("Negotiate abc")) is None


@settings(max_examples=500)
@given(st.text())
def test_arbitrary_text_never_raises_anything_else(text):
    try:
        result = parse(text)
    except ChallengeError:
        return
    assert result and all(isinstance(c, Challenge) for c in result)


TOKEN = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True)


@settings(max_examples=300)
@given(st.lists(st.tuples(TOKEN, st.dictionaries(TOKEN, st.text(max_size=20), max_size=4)),
                min_size=1, max_size=3))
def test_rendered_challenges_parse_back(challenges):
    def quote(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    header = ", ".join(
        scheme + (" " + ", ".join(f"{k}={quote(v)}" for k, v in params.items()) if params else "")
        for scheme, params in challenges)
    expected = [Challenge(s.lower(), {k.lower(): v for k, v in p.items()}) for s, p in challenges]
    assert parse(header) == expected
