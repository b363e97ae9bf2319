"""The session-wide leak guard itself: a test that prints, raises or catches a sentinel must fail."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CHILD = '''
import logging
from tests.support import leaks

def test_prints_a_secret():
    print("oops", leaks.secret("password"))

def test_raises_with_a_secret():
    raise ValueError(leaks.secret("vault-token"))

def test_logs_a_secret_to_stderr():
    import sys
    sys.stderr.write(leaks.secret("approle-secret-id"))

def test_prints_a_basic_header():
    import base64
    print(base64.b64encode(("robot:" + leaks.secret("password")).encode()).decode())

def test_clean():
    assert leaks.secret("password")
'''

CAUGHT = '''
import pytest
from tests.support import leaks

def test_caught_with_a_secret_in_its_cause():
    with pytest.raises(RuntimeError, match="clean"):
        try:
            raise ValueError(leaks.secret("vault-token"))
        except ValueError as exc:
            raise RuntimeError("clean message") from exc

def test_caught_with_a_secret_in_its_context():
    def fail():
        try:
            raise KeyError(leaks.secret("password"))
        except KeyError:
            raise RuntimeError("clean message")
    with pytest.raises(RuntimeError):
        fail()

def test_caught_clean():
    with pytest.raises(RuntimeError):
        raise RuntimeError("nothing secret")
'''


def run_child(pytester: pytest.Pytester, monkeypatch, source: str) -> pytest.RunResult:
    """Run ``source`` as a test module under this suite's conftest (and so its guard)."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))
    pytester.makeconftest("from tests.conftest import *  # noqa: F401,F403\n"
                          "from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    pytester.makepyfile(test_child=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider")


def test_guard_fails_tests_that_leak(pytester: pytest.Pytester, monkeypatch):
    result = run_child(pytester, monkeypatch, CHILD)
    result.assert_outcomes(passed=1, failed=4)
    result.stdout.fnmatch_lines(["*secret sentinel(s) leaked into captured output: password*",
                                 "*leaked into captured output: vault-token*",
                                 "*leaked into captured output: approle-secret-id*",
                                 "*leaked into captured output: password (base64)*"])


def test_guard_reads_the_causes_of_exceptions_a_test_catches(pytester: pytest.Pytester,
                                                             monkeypatch):
    result = run_child(pytester, monkeypatch, CAUGHT)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*leaked into a caught exception's traceback: vault-token*",
                                 "*leaked into a caught exception's traceback: password*"])
