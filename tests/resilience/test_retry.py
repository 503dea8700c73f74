"""Retries: only where repeating is safe, with backoff, and counted for the call log."""

from __future__ import annotations

import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import mcp.types as types
import pytest

from hub.errors import UpstreamUnavailable
from hub.proxy import Upstream, UpstreamSpec
from hub.resilience import (
    Breaker,
    HealthCheck,
    ManualClock,
    RetryPolicy,
    ServerMirror,
    UpstreamGuard,
    counting_retries,
    is_idempotent,
    with_retries,
)
from tests.resilience.support import FLAKY_SERVER

pytestmark = pytest.mark.anyio


@pytest.fixture
async def flaky(tmp_path: Path) -> AsyncIterator[UpstreamGuard]:
    """The flaky server behind a guard (no database: the mirror is never flushed here)."""
    spec = UpstreamSpec(
        name="flaky", transport="stdio", command=sys.executable, args=(str(FLAKY_SERVER), str(tmp_path))
    )
    upstream = Upstream.from_spec(spec, backoff_initial=0.01, backoff_max=0.05)
    clock = ManualClock()
    mirror = ServerMirror(None, server_id=None, tenant_id=None, name="flaky")  # type: ignore[arg-type]
    breaker = Breaker("flaky", fail_max=5, reset_timeout=30, clock=clock, on_transition=mirror.transition)
    health = HealthCheck(upstream, interval=60, timeout=1, jitter=0, limiter=anyio.CapacityLimiter(1))
    async with upstream:
        await upstream.wait_ready(30)
        yield UpstreamGuard(upstream, breaker, mirror, health, retry=RetryPolicy(initial=0.01, ceiling=0.05))


def tool(guard: UpstreamGuard, name: str) -> types.Tool:
    snapshot = guard.upstream.snapshot
    assert snapshot is not None
    return next(t for t in snapshot.tools if t.name == name)


async def test_a_tool_annotated_idempotent_is_retried_after_its_server_died_and_the_retry_is_counted(
    flaky: UpstreamGuard,
) -> None:
    safe = tool(flaky, "safe_once")
    assert is_idempotent(safe)
    with counting_retries() as retries:
        result = await flaky.call(
            lambda: flaky.upstream.call_tool("safe_once"), idempotent=is_idempotent(safe)
        )
    assert isinstance(result, types.CallToolResult)
    assert result.content == [types.TextContent(type="text", text="ok 2")]
    assert retries.count == 1
    assert flaky.breaker.fail_count == 0  # the retry's success reset the count


async def test_a_tool_without_the_hint_is_not_retried_and_runs_once(
    flaky: UpstreamGuard, tmp_path: Path
) -> None:
    unsafe = tool(flaky, "unsafe_once")
    assert not is_idempotent(unsafe)
    with counting_retries() as retries, pytest.raises(UpstreamUnavailable):
        await flaky.call(lambda: flaky.upstream.call_tool("unsafe_once"), idempotent=False)
    assert retries.count == 0
    assert (tmp_path / "unsafe_once.count").read_text() == "1"
    assert flaky.breaker.fail_count == 1


async def test_a_request_that_failed_while_not_connected_is_retried_even_when_not_idempotent() -> None:
    connected = False
    attempts = 0

    async def request() -> str:
        nonlocal attempts, connected
        attempts += 1
        if attempts < 3:
            raise UpstreamUnavailable("not connected", where="x")
        return "sent"

    async def reconnected(seconds: float) -> None:
        nonlocal connected
        connected = attempts >= 2

    clock = ManualClock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    with counting_retries() as retries:
        assert (
            await with_retries(
                request,
                idempotent=False,
                connected=lambda: connected,
                policy=RetryPolicy(attempts=5, initial=0.1, ceiling=1, jitter=0.5, rng=random.Random(1)),
                sleep=sleep,
                reconnected=reconnected,
            )
            == "sent"
        )
    assert retries.count == 2
    # Exponential with jitter: the second wait is about twice the first, each within ±50 %.
    assert 0.05 <= waits[0] <= 0.15
    assert 0.1 <= waits[1] <= 0.3


def test_backoff_grows_exponentially_up_to_the_ceiling_with_jitter() -> None:
    policy = RetryPolicy(initial=0.1, ceiling=1.0, jitter=0.2, rng=random.Random(7))
    delays = [policy.delay(n) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        base = min(1.0, 0.1 * 2 ** (n - 1))
        assert base * 0.8 <= d <= base * 1.2
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not lockstep
