"""The session-wide leak guard itself: a test that prints a sentinel secret must fail."""

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

def test_clean():
    assert leaks.secret("password")
'''


def test_guard_fails_tests_that_leak(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    pytester.makepyfile(test_child=CHILD)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["*secret sentinel(s) leaked into captured output: password*",
                                 "*leaked into captured output: vault-token*",
                                 "*leaked into captured output: approle-secret-id*"])
