"""What backends may use: clients, environment and clocks, passed in, never read from globals
(the invocation's deadline is passed to each fetch: :mod:`broker.deadline`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from broker.login import Login

if TYPE_CHECKING:
    from broker.aws import AwsClients


class Deps:
    """What backends may use: they get clients and environment from here, never from globals.

    ``clock`` drives TTLs and token leases (tests move it); ``wall`` is the time of day, to
    read a minted token's expiry (tests move it too). (A plain class: a dataclass costs a
    millisecond of cold start to define.)
    """

    __slots__ = ("environ", "aws", "clock", "sleep", "wall")

    def __init__(self, environ: Mapping[str, str] | None = None, aws: AwsClients | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.time) -> None:
        self.environ = {} if environ is None else environ
        self.aws = aws
        self.clock = clock
        self.sleep = sleep
        self.wall = wall

    def expiring(self, login: Login, expires_at_epoch: float) -> Login:
        """``login`` with its expiry (seconds since the epoch) moved onto ``clock``."""
        left = expires_at_epoch - self.wall()
        return Login(login.username, login.password, expires_at=self.clock() + left)
