"""``Drain``: the calls in flight, so a shutdown can let them finish and cut the rest at its deadline.

The dispatcher runs every call inside ``Drain.track``. Once ``drain`` has begun, a new call is refused
with ``ShuttingDown``; the calls already running get until the deadline, and those still running then
are cancelled and end as ``ShuttingDown`` too, so each caller gets a clear error (and the call log a
row) instead of a connection that drops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from hub.errors import HubError

__all__ = ["Drain", "ShuttingDown"]

# How long cut calls get to log their row and return their error once cancelled; the dispatcher's
# logging is shielded and quick, so this only bounds a misbehaving tool that ignores cancellation.
_CUT_GRACE_SECONDS = 2.0


class ShuttingDown(HubError):
    """The hub is stopping: the call was refused, or cut off at the shutdown deadline."""

    code = -32060
    retriable = True  # another hub instance, or this one restarted, will take it


class Drain:
    """Counts the calls in flight; ``drain`` refuses new ones and waits for the rest up to a deadline."""

    def __init__(self) -> None:
        self._running: set[anyio.CancelScope] = set()
        self._draining = False
        self._idle = anyio.Event()
        self._waiting = anyio.CancelScope()

    @property
    def in_flight(self) -> int:
        """Calls running now."""
        return len(self._running)

    @property
    def draining(self) -> bool:
        """Whether a shutdown has begun (new calls are refused)."""
        return self._draining

    @contextmanager
    def track(self) -> Iterator[None]:
        """Run one call; ``ShuttingDown`` when the hub is stopping or stops before the call ends."""
        if self._draining:
            raise ShuttingDown("the hub is shutting down; call again once it is back")
        scope = anyio.CancelScope()
        self._running.add(scope)
        try:
            with scope:
                yield
        finally:
            self._running.discard(scope)
            if self._draining and not self._running:
                self._idle.set()
        if scope.cancelled_caught:
            # Only ``drain`` cancels this scope; the caller's own cancellation propagates past it.
            raise ShuttingDown("the hub shut down before the call finished")

    async def drain(self, deadline_seconds: float) -> int:
        """Refuse new calls, wait up to ``deadline_seconds`` for those running, cut the rest; how many were cut."""
        self._draining = True
        if not self._running:
            return 0
        with self._waiting:
            self._waiting.deadline = anyio.current_time() + deadline_seconds
            await self._idle.wait()
        cut = len(self._running)
        for scope in list(self._running):
            scope.cancel()
        with anyio.move_on_after(_CUT_GRACE_SECONDS):
            await self._idle.wait()
        return cut

    def hurry(self) -> None:
        """Stop waiting: cut the calls still running now (an operator's second SIGTERM)."""
        self._waiting.cancel()
