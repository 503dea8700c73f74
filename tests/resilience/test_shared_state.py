"""Breaker state shared through Redis by two hubs serving one database."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hub.errors import UpstreamUnavailable
from hub.resilience import Breaker, BreakerOpen, ManualClock, SharedStorage, redis_key
from tests.resilience.support import (
    REDIS_URL,
    echo_entry,
    error_of,
    guarded,
    hub,
    rows,
    unavailable,
    wait_for_tool,
)

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
async def redis_url() -> str:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


async def test_a_breaker_opened_by_one_hub_is_seen_open_by_a_second_hub_on_the_same_database(
    tmp_path: Path, redis_url: str
) -> None:
    servers = {"echo": echo_entry(breaker={"fail_max": 1, "reset_timeout_seconds": 3600})}
    async with (
        hub(tmp_path, servers, redis_url=redis_url) as (app_a, client_a),
        hub(tmp_path, servers, redis_url=redis_url) as (app_b, client_b),
    ):
        await wait_for_tool(client_a, "echo__crash")
        await wait_for_tool(client_b, "echo__echo")
        _, guard_a = guarded(app_a, "echo")
        live_b, guard_b = guarded(app_b, "echo")
        assert guard_a.shared is not None
        assert guard_b.shared is not None
        with anyio.fail_after(10):
            await guard_a.shared.connected.wait()
            await guard_b.shared.connected.wait()
        assert error_of(await client_a.call_tool("echo__crash", {}))["kind"] == "UpstreamUnavailable"
        assert guard_a.breaker.state == "open"
        with anyio.fail_after(5):
            await guard_b.breaker.wait_for("open")
        pid_b = live_b.upstream.status.pid
        refused = error_of(await client_b.call_tool("echo__echo", {"text": "x"}))
        assert refused["kind"] == "BreakerOpen"
        assert live_b.upstream.status.pid == pid_b
        # Hub B noticed, and mirrors it, but the audit row is hub A's alone.
        assert await guard_a.mirror.flush()
        assert await guard_b.mirror.flush()
        client = aioredis.Redis.from_url(redis_url)
        try:
            key = redis_key(live_b.record.id)
            assert await client.hget(key, "state") == b"open"
            await client.delete(key)
        finally:
            await client.aclose()
    audits = rows(tmp_path / "hub.sqlite3", "SELECT action FROM audit_logs WHERE action = 'breaker_open'")
    assert audits == [("breaker_open",)]


async def test_shared_state_reaches_a_breaker_started_later_and_a_closing_trial_is_broadcast(
    redis_url: str,
) -> None:
    clock = ManualClock()
    key = f"hub:breaker:test-{uuid.uuid4()}"
    first = Breaker(
        "s", fail_max=2, reset_timeout=10, clock=clock, storage=SharedStorage("s", key, redis_url, clock)
    )

    async def fail() -> None:
        raise UpstreamUnavailable("down", where="s")

    async def succeed() -> str:
        return "ok"

    assert isinstance(first.storage, SharedStorage)
    async with anyio.create_task_group() as tg:
        tg.start_soon(first.storage.run)
        with anyio.fail_after(5):
            await first.storage.connected.wait()
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable):
                await first.guard(fail)
        assert first.state == "open"
        late_storage = SharedStorage("s", key, redis_url, clock)
        late = Breaker("s", fail_max=2, reset_timeout=10, clock=clock, storage=late_storage)
        tg.start_soon(late_storage.run)
        with anyio.fail_after(5):
            await late.wait_for("open")  # loaded from the hash, published before it started
        reached = 0

        async def counted() -> str:
            nonlocal reached
            reached += 1
            return "ok"

        with pytest.raises(BreakerOpen):
            await late.guard(counted)
        assert reached == 0
        clock.advance(10)
        assert await first.guard(succeed) == "ok"
        assert first.state == "closed"
        with anyio.fail_after(5):
            await late.wait_for("closed")
        assert late.fail_count == 0
        tg.cancel_scope.cancel()
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.delete(key)
    finally:
        await client.aclose()
