"""Retries of upstream requests, only where repeating cannot do harm, counted for the call log.

Safe means: the request never reached the upstream (it was not connected when the call began, so
the failure was the connection's), or the tool says repeating it is harmless (``idempotentHint:
true``). Anything else fails at once, since a tool that already ran must not run twice behind its
caller's back. Waits grow exponentially with jitter, so callers that failed together do not return
together. ``counting_retries`` lets the dispatcher read how many retries a call took, for
``mcp_call_logs.retry_count``, without the count travelling through every return value.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

import mcp.types as types

from hub.errors import UpstreamError
from hub.resilience.breaker import BreakerOpen
from hub.resilience.clock import Sleep, system_sleep

__all__ = ["RetryCounter", "RetryPolicy", "counting_retries", "is_idempotent", "with_retries"]

T = TypeVar("T")


@dataclass(slots=True)
class RetryCounter:
    """How many retries the calls inside one ``counting_retries`` block took."""

    count: int = 0


_counter: ContextVar[RetryCounter | None] = ContextVar("hub_retry_counter", default=None)


@contextmanager
def counting_retries(counter: RetryCounter | None = None) -> Iterator[RetryCounter]:
    """Count the retries of the upstream requests made inside the block (in this task), into ``counter``."""
    counter = counter if counter is not None else RetryCounter()
    token = _counter.set(counter)
    try:
        yield counter
    finally:
        _counter.reset(token)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times and how patiently to retry."""

    attempts: int = 3  # in all, the first one included
    initial: float = 0.1
    ceiling: float = 2.0
    jitter: float = 0.5  # each wait is scaled by a random factor in [1 - jitter, 1 + jitter]
    # Before a retry, how long to wait for a dropped upstream to be connected again.
    reconnect_wait: float = 10.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 is the first)."""
        base: float = min(self.ceiling, self.initial * 2.0 ** (retry - 1))
        return base * self.rng.uniform(1 - self.jitter, 1 + self.jitter)


# Built once: a new random.Random per call would cost ~40 µs of seeding from os.urandom.
_DEFAULT_POLICY = RetryPolicy()


def is_idempotent(tool: types.Tool) -> bool:
    """Whether the tool declares that calling it again with the same arguments does no more harm."""
    return tool.annotations is not None and tool.annotations.idempotent_hint is True


async def with_retries(
    request: Callable[[], Awaitable[T]],
    *,
    idempotent: bool,
    connected: Callable[[], bool],
    policy: RetryPolicy | None = None,
    sleep: Sleep = system_sleep,
    reconnected: Callable[[float], Awaitable[object]] | None = None,
) -> T:
    """Await ``request()``, retrying a retriable upstream failure when that is safe.

    ``reconnected(seconds)`` waits (at most ``policy.reconnect_wait``) for a dropped upstream to be
    back before a retry; it raises when the upstream does not return, which ends the retries.
    """
    policy = policy or _DEFAULT_POLICY
    retry = 0
    while True:
        was_connected = connected()
        try:
            return await request()
        except UpstreamError as exc:
            retry += 1
            safe = idempotent or not was_connected
            if retry >= policy.attempts or not exc.retriable or isinstance(exc, BreakerOpen) or not safe:
                raise
        counter = _counter.get()
        if counter is not None:
            counter.count += 1
        await sleep(policy.delay(retry))
        if reconnected is not None and not connected():
            await reconnected(policy.reconnect_wait)
