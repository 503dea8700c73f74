"""stdio children under crash loops and many crash/restart cycles: noticed at once, never leaked."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from hub.errors import UpstreamUnavailable
from hub.proxy import Upstream, UpstreamSpec
from hub.resilience import Breaker, BreakerOpen, ManualClock
from tests.resilience.support import HERE, descendants, echo_entry, guarded, hub, wait_for_tool, zombies_of

pytestmark = pytest.mark.anyio

TINY = HERE / "tiny_server.py"
CYCLES = 100  # bench/faults.py runs 1,000


def tiny(*args: str) -> UpstreamSpec:
    return UpstreamSpec(name="tiny", transport="stdio", command=sys.executable, args=(str(TINY), *args))


async def test_many_crash_restart_cycles_leave_one_child_and_no_zombie() -> None:
    before = set(descendants())
    upstream = Upstream.from_spec(tiny(), backoff_initial=0.005, backoff_max=0.01)
    pids = set()
    async with upstream:
        for _ in range(CYCLES):
            await upstream.wait_ready(10)
            pids.add(upstream.status.pid)
            with pytest.raises(UpstreamUnavailable):
                await upstream.call_tool("crash", {"code": 3})
        await upstream.wait_ready(10)
        assert len(pids) == CYCLES  # each cycle really was a new process
        alive = set(descendants()) - before
        assert alive == {upstream.status.pid}
        assert zombies_of() == []
    assert set(descendants()) - before == set()
    assert zombies_of() == []


async def test_a_crash_looping_server_is_reported_down_with_its_exit_code_and_the_others_answer(
    tmp_path: Path,
) -> None:
    servers = {
        "looping": {
            "command": sys.executable,
            "args": [str(TINY), "--exit", "4"],
            "breaker": {"fail_max": 2},
        },
        "echo": echo_entry(),
    }
    before = set(descendants())
    async with hub(tmp_path, servers) as (app, client):
        await wait_for_tool(client, "echo__echo")
        live, guard = guarded(app, "looping")
        report = await guard.health.check()
        assert not report.healthy
        # Down and reported with its exit code, while the healthy server answers as ever.
        with anyio.fail_after(10):
            while live.upstream.exit_code != 4:
                await anyio.sleep(0.01)
        assert not (await client.call_tool("echo__echo", {"text": "fine"})).is_error
    assert set(descendants()) - before == set()
    assert zombies_of() == []


async def test_calls_to_a_crash_looping_upstream_trip_the_breaker_and_then_fail_fast() -> None:
    clock = ManualClock()
    breaker = Breaker("tiny", fail_max=3, reset_timeout=60, clock=clock)
    upstream = Upstream.from_spec(
        tiny("--exit", "4"), backoff_initial=0.005, backoff_max=0.01, connect_timeout=2
    )
    async with upstream:
        for _ in range(3):
            with pytest.raises(UpstreamUnavailable) as caught:
                await breaker.guard(lambda: upstream.call_tool("echo", {"text": "x"}))
            assert not isinstance(caught.value, BreakerOpen)
        assert breaker.state == "open"
        with anyio.fail_after(0.05), pytest.raises(BreakerOpen):
            await breaker.guard(lambda: upstream.call_tool("echo", {"text": "x"}))
