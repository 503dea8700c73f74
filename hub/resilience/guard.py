"""``UpstreamGuard``: everything that stands between callers and one upstream, built per live server.

It bundles the upstream's breaker (with its Redis-shared storage when configured), the mirror of its
state in the database, its periodic health check and the retry policy, and runs their background
tasks for as long as the server is live. ``call`` is the one entry for a request: retries (when safe)
around the breaker around the awaited request.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.abc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.config import ServerEntry
from hub.errors import UpstreamUnavailable
from hub.proxy import Upstream
from hub.resilience.breaker import Breaker, BreakerStorage
from hub.resilience.clock import Clock, Sleep, system_clock, system_sleep
from hub.resilience.health import HealthCheck
from hub.resilience.mirror import ServerMirror
from hub.resilience.retry import RetryPolicy, with_retries
from hub.resilience.shared_state import SharedStorage, redis_key
from hub.settings import Settings

__all__ = ["UpstreamGuard"]

T = TypeVar("T")

# How often a retry waiting for a dropped upstream looks whether its reconnect attempt has failed.
_RECONNECT_POLL_SECONDS = 0.02


class UpstreamGuard:
    """Breaker, mirror, health check and retries of one live upstream."""

    def __init__(
        self,
        upstream: Upstream,
        breaker: Breaker,
        mirror: ServerMirror,
        health: HealthCheck,
        *,
        shared: SharedStorage | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = system_sleep,
    ) -> None:
        self.upstream = upstream
        self.breaker = breaker
        self.mirror = mirror
        self.health = health
        self.shared = shared
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    @classmethod
    def build(
        cls,
        *,
        server_id: uuid.UUID,
        tenant_id: uuid.UUID,
        name: str,
        entry: ServerEntry,
        upstream: Upstream,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        limiter: anyio.CapacityLimiter,
        clock: Clock = system_clock,
        sleep: Sleep = system_sleep,
    ) -> UpstreamGuard:
        """A guard configured from the server's entry, with the settings' defaults."""
        fail_max = entry.breaker.fail_max if entry.breaker else settings.breaker_fail_max
        reset = (
            entry.breaker.reset_timeout_seconds if entry.breaker else settings.breaker_reset_timeout_seconds
        )
        shared = (
            SharedStorage(name, redis_key(server_id), settings.redis_url, clock)
            if settings.redis_url
            else None
        )
        mirror = ServerMirror(sessions, server_id=server_id, tenant_id=tenant_id, name=name)
        storage: BreakerStorage = shared or BreakerStorage(name, clock)
        breaker = Breaker(
            name,
            fail_max=fail_max,
            reset_timeout=reset,
            clock=clock,
            storage=storage,
            on_transition=mirror.transition,
            on_count=mirror.count,
        )
        health = HealthCheck(
            upstream,
            interval=settings.health_interval_seconds,
            timeout=settings.health_timeout_seconds,
            jitter=settings.health_jitter_seconds,
            limiter=limiter,
            on_report=lambda report: mirror.health(report.healthy, report.checked_at),
            sleep=sleep,
        )
        return cls(upstream, breaker, mirror, health, shared=shared, sleep=sleep)

    async def call(self, request: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """Await ``request()`` under the breaker, retried where that is safe."""
        return await with_retries(
            lambda: self.breaker.guard(request),
            idempotent=idempotent,
            connected=lambda: self.upstream.connected,
            policy=self.retry,
            sleep=self._sleep,
            reconnected=self._reconnected,
        )

    async def _reconnected(self, seconds: float) -> None:
        """Wait up to ``seconds`` for a dropped upstream to be back; give up once a reconnect attempt fails.

        A server that is gone refuses each attempt within milliseconds, so sitting out the whole wait
        would only hold the caller's error back; the call asks for an attempt now and takes its outcome.
        """
        upstream = self.upstream
        # Only an attempt that fails after this call began says the server is down now: an older
        # failure may date from before the server came back, while the upstream sits in its backoff.
        before = upstream.failed_attempts
        with anyio.move_on_after(seconds):
            while not upstream.connected:
                if upstream.failed_attempts > before:
                    error = upstream.last_error
                    detail = error.message if error is not None else "the connect attempt failed"
                    raise UpstreamUnavailable(f"reconnecting failed: {detail}", where=upstream.name)
                # Rate-limited by the upstream, so many waiting calls make one attempt, not many.
                upstream.attempt_soon()
                # Polled: the upstream signals when it is ready, not when an attempt has failed.
                await anyio.sleep(_RECONNECT_POLL_SECONDS)
            return
        raise UpstreamUnavailable(f"not connected again within {seconds:g} s", where=upstream.name)

    async def run(
        self, stop: anyio.Event, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the mirror, the health loop and the Redis link until ``stop`` is set; then flush the mirror."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.mirror.run)
            tg.start_soon(self.health.run)
            if self.shared is not None:
                tg.start_soon(self.shared.run)
            task_status.started()
            await stop.wait()
            tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            await self.mirror.flush()

    def view(self) -> dict[str, Any]:
        """Breaker and health facts, JSON-safe, for ``mcp_health`` and ``mcp_list_servers``."""
        report = self.health.last
        return {
            "breaker": self.breaker.state,
            "fail_count": self.breaker.fail_count,
            "retry_in_seconds": self.breaker.retry_in(),
            "healthy": report.healthy if report is not None else None,
            "latency_ms": report.latency_ms if report is not None else None,
            "last_error": report.error if report is not None else None,
            "checked_at": report.checked_at.isoformat() if report is not None else None,
        }
