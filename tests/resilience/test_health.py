"""Health checks: periodic on a controlled clock, mirrored to the server row, and never held up by a hung server."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from hub.proxy import Upstream
from hub.resilience import HealthCheck, HealthReport, ManualClock
from tests.proxy.support import EchoServer
from tests.resilience.support import echo_entry, guarded, hub, rows, wait_for_tool

pytestmark = pytest.mark.anyio


@pytest.fixture
async def echo() -> AsyncIterator[Upstream]:
    upstream = Upstream.from_spec(EchoServer("stdio", many=0).spec())
    async with upstream:
        await upstream.wait_ready(30)
        yield upstream


async def test_checks_run_every_interval_plus_jitter_on_the_clock_they_are_given(echo: Upstream) -> None:
    clock = ManualClock()
    reports: list[HealthReport] = []
    arrived = anyio.Event()

    def on_report(report: HealthReport) -> None:
        nonlocal arrived
        reports.append(report)
        arrived.set()

    check = HealthCheck(
        echo,
        interval=60,
        timeout=5,
        jitter=5,
        limiter=anyio.CapacityLimiter(4),
        on_report=on_report,
        sleep=clock.sleep,
        rng=random.Random(3),
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(check.run)
        await anyio.wait_all_tasks_blocked()
        clock.advance(5)  # past the start-up jitter
        await anyio.wait_all_tasks_blocked()
        assert reports == []
        for n in (1, 2):
            clock.advance(65)  # interval + the most jitter
            with anyio.fail_after(10):
                await arrived.wait()
            arrived = anyio.Event()
            assert len(reports) == n
            assert reports[-1].healthy
            assert reports[-1].latency_ms is not None
        tg.cancel_scope.cancel()


async def test_a_hung_server_costs_its_check_the_timeout_and_others_are_checked_meanwhile(
    tmp_path: Path,
) -> None:
    servers = {"echo": echo_entry(), "stuck": echo_entry()}
    async with hub(tmp_path, servers, health_timeout_seconds=0.5) as (app, client):
        await wait_for_tool(client, "stuck__hang")
        await wait_for_tool(client, "echo__echo")
        stuck, stuck_guard = guarded(app, "stuck")
        _, echo_guard = guarded(app, "echo")
        # Freeze the stuck server's process: it stays connected but answers nothing.
        pid = stuck.upstream.status.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            async with anyio.create_task_group() as tg:
                started = time.monotonic()
                tg.start_soon(stuck_guard.health.check)
                report = await echo_guard.health.check()
                assert report.healthy
                assert time.monotonic() - started < 0.4  # not behind the stuck one
            stuck_report = stuck_guard.health.last
            assert stuck_report is not None
            assert not stuck_report.healthy
            assert time.monotonic() - started < 2
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await stuck_guard.mirror.flush()
        assert await echo_guard.mirror.flush()
    found = {
        name: (status, checked is not None)
        for name, status, checked in rows(
            tmp_path / "hub.sqlite3",
            "SELECT name, status, last_health_check_at FROM mcp_servers WHERE name != 'hub'",
        )
    }
    assert found == {"echo": ("active", True), "stuck": ("error", True)}
