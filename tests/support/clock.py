"""A clock the tests move by hand (it lives in broker.testing, for plugins' tests too)."""

from broker.testing import FakeClock

__all__ = ["FakeClock"]
