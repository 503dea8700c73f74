"""The breaker around a real upstream: what counts, what it refuses, and its states on a controlled clock."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import mcp.types as types
import pytest

from hub.errors import UpstreamTimeout, UpstreamUnavailable
from hub.proxy import Upstream, UpstreamRPCError, UpstreamSpec
from hub.resilience import Breaker, BreakerOpen, ManualClock, Transition
from tests.proxy.support import EchoServer
from tests.resilience.support import FLAKY_SERVER

pytestmark = pytest.mark.anyio


@pytest.fixture
async def echo() -> AsyncIterator[Upstream]:
    """The echo server over stdio, connected, restarting quickly after a crash."""
    upstream = Upstream.from_spec(EchoServer("stdio", many=0).spec(), backoff_initial=0.01, backoff_max=0.05)
    async with upstream:
        await upstream.wait_ready(30)
        yield upstream


def breaker(clock: ManualClock, transitions: list[Transition] | None = None, fail_max: int = 3) -> Breaker:
    return Breaker(
        "echo",
        fail_max=fail_max,
        reset_timeout=10,
        clock=clock,
        on_transition=transitions.append if transitions is not None else None,
    )


async def test_failures_of_awaited_requests_are_counted_and_the_third_opens_the_breaker(
    echo: Upstream,
) -> None:
    b = breaker(ManualClock())
    for expected in (1, 2):
        await echo.wait_ready(30)
        with pytest.raises(UpstreamUnavailable) as caught:
            await b.guard(lambda: echo.call_tool("crash", {"code": 7}))
        # The caller learns why: the child's exit, not a breaker message or a timeout.
        assert not isinstance(caught.value, BreakerOpen)
        assert b.fail_count == expected
        assert b.state == "closed"
    await echo.wait_ready(30)
    with pytest.raises(UpstreamUnavailable) as caught:
        await b.guard(lambda: echo.call_tool("crash", {"code": 7}))
    assert not isinstance(caught.value, BreakerOpen)
    assert b.state == "open"


async def test_an_open_breaker_answers_at_once_without_touching_the_upstream(echo: Upstream) -> None:
    clock = ManualClock()
    b = breaker(clock)
    for _ in range(3):
        await echo.wait_ready(30)
        with pytest.raises(UpstreamUnavailable):
            await b.guard(lambda: echo.call_tool("crash"))
    await echo.wait_ready(30)
    pid = echo.status.pid
    reached = 0

    async def request() -> types.CallToolResult | types.InputRequiredResult:
        nonlocal reached
        reached += 1
        return await echo.call_tool("echo", {"text": "x"})

    clock.advance(4)
    took = []
    for _ in range(1000):
        started = time.perf_counter()
        with pytest.raises(BreakerOpen) as caught:
            await b.guard(request)
        took.append(time.perf_counter() - started)
    assert reached == 0
    assert echo.status.pid == pid
    assert caught.value.where == "echo"
    assert caught.value.retry_in == pytest.approx(6)
    assert sorted(took)[989] < 0.001  # p99 under 1 ms


async def test_the_breaker_goes_closed_open_half_open_closed_as_the_clock_advances(echo: Upstream) -> None:
    clock = ManualClock()
    transitions: list[Transition] = []
    b = breaker(clock, transitions, fail_max=1)
    with pytest.raises(UpstreamUnavailable):
        await b.guard(lambda: echo.call_tool("crash"))
    assert b.state == "open"
    clock.advance(9.9)
    with pytest.raises(BreakerOpen):
        await b.guard(lambda: echo.call_tool("echo", {"text": "x"}))
    clock.advance(0.1)
    await echo.wait_ready(30)
    result = await b.guard(lambda: echo.call_tool("echo", {"text": "trial"}))
    assert isinstance(result, types.CallToolResult)
    assert not result.is_error
    assert b.state == "closed"
    assert b.fail_count == 0
    assert [(t.before, t.after) for t in transitions] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


async def test_a_failed_trial_opens_the_breaker_again_for_another_reset_timeout(echo: Upstream) -> None:
    clock = ManualClock()
    b = breaker(clock, fail_max=1)
    with pytest.raises(UpstreamUnavailable):
        await b.guard(lambda: echo.call_tool("crash"))
    clock.advance(10)
    await echo.wait_ready(30)
    with pytest.raises(UpstreamUnavailable):
        await b.guard(lambda: echo.call_tool("crash"))
    assert b.state == "open"
    assert b.retry_in() == pytest.approx(10)


async def test_half_open_lets_exactly_one_trial_call_through() -> None:
    clock = ManualClock()
    b = breaker(clock, fail_max=1)

    async def fail() -> None:
        raise UpstreamUnavailable("down", where="echo")

    with pytest.raises(UpstreamUnavailable):
        await b.guard(fail)
    clock.advance(10)
    release = anyio.Event()
    entered = 0

    async def trial() -> str:
        nonlocal entered
        entered += 1
        await release.wait()
        return "ok"

    refused = 0

    async def other() -> None:
        nonlocal refused
        try:
            await b.guard(trial)
        except BreakerOpen:
            refused += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        await anyio.wait_all_tasks_blocked()
        for _ in range(5):
            tg.start_soon(other)
        await anyio.wait_all_tasks_blocked()
        assert entered == 1
        assert refused == 5
        assert b.state == "half_open"
        release.set()
    assert b.state == "closed"


async def test_a_tools_own_error_result_or_json_rpc_error_does_not_count(
    echo: Upstream, tmp_path: Path
) -> None:
    b = breaker(ManualClock(), fail_max=1)
    for _ in range(3):
        with pytest.raises(UpstreamRPCError):  # the tool raised: the server answered with an error
            await b.guard(lambda: echo.call_tool("add", {"a": 1}))
    flaky = Upstream.from_spec(
        UpstreamSpec(
            name="flaky", transport="stdio", command=sys.executable, args=(str(FLAKY_SERVER), str(tmp_path))
        )
    )
    async with flaky:
        await flaky.wait_ready(30)
        for _ in range(3):
            result = await b.guard(lambda: flaky.call_tool("refuse"))
            assert isinstance(result, types.CallToolResult)
            assert result.is_error
    assert b.state == "closed"
    assert b.fail_count == 0


async def test_a_call_the_caller_cancels_does_not_count(echo: Upstream) -> None:
    b = breaker(ManualClock(), fail_max=1)
    with anyio.move_on_after(0.2):
        await b.guard(lambda: echo.call_tool("hang"))
    assert b.state == "closed"
    assert b.fail_count == 0
    assert not (await b.guard(lambda: echo.call_tool("echo", {"text": "x"}))).is_error  # type: ignore[union-attr]


async def test_a_timeout_counts_as_a_failure(echo: Upstream) -> None:
    b = breaker(ManualClock(), fail_max=2)
    with pytest.raises(UpstreamTimeout):
        await b.guard(lambda: echo.call_tool("hang", timeout_seconds=0.2))
    assert b.fail_count == 1
