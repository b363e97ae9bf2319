"""Sentinel secrets and the checks that they never leak (they live in broker.testing, for
plugins' tests too)."""

from broker.testing import SENTINELS, assert_clean, base64_forms, leaks_in, secret

__all__ = ["SENTINELS", "assert_clean", "base64_forms", "leaks_in", "secret"]
