"""Periodic health checks of one upstream, and the same check on demand.

A check is one round trip on the upstream's shared session: ``ping`` for handshake-era sessions,
a discovery refresh for 2026-07-28 sessions (that era has no ping). An upstream that is not connected
is reported down at once, from what its transport knows (exit code, last error), without waiting
for a reconnect; a connected one that does not answer within ``timeout`` is down too. Each upstream
has its own loop and checks run under a limiter shared by the registry, so a hung server costs its
own loop at most ``timeout`` and never delays the others' checks past their turn.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from hub.errors import HubError
from hub.proxy import Upstream
from hub.resilience.clock import Sleep, system_sleep

__all__ = ["HealthCheck", "HealthReport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The outcome of one check."""

    server: str
    healthy: bool
    checked_at: datetime
    latency_ms: float | None = None
    error: str | None = None
    exit_code: int | None = None


class HealthCheck:
    """Checks one upstream every ``interval`` (plus up to ``jitter``) seconds and on demand."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        interval: float,
        timeout: float,
        jitter: float,
        limiter: anyio.CapacityLimiter,
        on_report: Callable[[HealthReport], None] | None = None,
        sleep: Sleep = system_sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.upstream = upstream
        self.interval = interval
        self.timeout = timeout
        self.jitter = jitter
        self.limiter = limiter
        self._on_report = on_report
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.last: HealthReport | None = None

    async def run(self) -> None:
        """Check periodically until cancelled."""
        # Jitter keeps upstreams started together from being checked in lockstep.
        await self._sleep(self._rng.uniform(0, self.jitter))
        while True:
            await self._sleep(self.interval + self._rng.uniform(0, self.jitter))
            await self.check()

    async def check(self) -> HealthReport:
        """Check now and report."""
        up = self.upstream
        if not up.connected:
            error = up.last_error
            report = HealthReport(
                up.name,
                False,
                datetime.now(UTC),
                error=str(error) if error is not None else "not connected",
                exit_code=up.exit_code,
            )
        else:
            report = await self._round_trip()
        if report.healthy != (self.last.healthy if self.last is not None else True):
            log.warning("upstream %s is %s", up.name, "healthy again" if report.healthy else "down")
        self.last = report
        if self._on_report is not None:
            self._on_report(report)
        return report

    async def _round_trip(self) -> HealthReport:
        up = self.upstream
        error: str | None = None
        async with self.limiter:
            started = time.perf_counter()
            try:
                with anyio.fail_after(self.timeout):
                    if up.protocol_version in MODERN_PROTOCOL_VERSIONS:
                        await up.refresh()
                    else:
                        await up.ping(timeout_seconds=self.timeout)
            except TimeoutError:
                error = f"no answer within {self.timeout:g} s"
            except HubError as exc:
                error = str(exc)
            latency = (time.perf_counter() - started) * 1000
        return HealthReport(
            up.name,
            error is None,
            datetime.now(UTC),
            latency_ms=round(latency, 3),
            error=error,
            exit_code=up.exit_code,
        )
