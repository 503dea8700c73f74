"""Time as the resilience code sees it: a callable giving seconds, which tests replace with ``ManualClock``.

Breakers measure their reset timeout on it and health checks and retries sleep on it. The default is
the wall clock (``time.time``), not a monotonic one, because a breaker's opening time is shared with
other hub processes through Redis, and only wall-clock seconds mean the same thing in every process.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["Clock", "ManualClock", "Sleep", "system_clock", "system_sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

system_clock: Clock = time.time
system_sleep: Sleep = anyio.sleep


class ManualClock:
    """A clock that moves only when told to; ``sleep`` returns once the clock has been advanced enough."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self._moved = anyio.Event()
        self.sleepers = 0

    def __call__(self) -> float:
        """The current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose time has come."""
        self.now += seconds
        moved, self._moved = self._moved, anyio.Event()
        moved.set()

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has advanced by ``seconds``."""
        until = self.now + seconds
        self.sleepers += 1
        try:
            while self.now < until:
                await self._moved.wait()
        finally:
            self.sleepers -= 1
