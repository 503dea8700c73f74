"""Faults on the wire to network upstreams: a closed socket, an HTTP 500 storm."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from hub.proxy import TransportKind
from tests.proxy.support import EchoServer
from tests.resilience.support import StormServer, error_of, guarded, hub, wait_for_tool

pytestmark = pytest.mark.anyio


@pytest.fixture
def storm() -> Iterator[StormServer]:
    server = StormServer()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "transport",
    [
        "streamable_http",
        pytest.param(
            "websocket",
            marks=pytest.mark.xfail(
                reason="known defect: after the websocket server is killed the next call takes ~10 s to fail"
                " (hub/proxy/websocket.py; streamable HTTP fails in well under a second)",
                strict=False,
            ),
        ),
    ],
)
async def test_a_closed_socket_fails_calls_at_once_and_the_upstream_comes_back_after_a_restart(
    tmp_path: Path, transport: TransportKind
) -> None:
    server = EchoServer(transport, many=0)
    server.start()
    try:
        spec = server.spec()
        entry = {
            "url": spec.url,
            "transport": transport,
            "timeout_seconds": 60,
            "connect_timeout_seconds": 2,
            "breaker": {"fail_max": 50},
        }
        async with hub(tmp_path, {"echo": entry}) as (app, client):
            await wait_for_tool(client, "echo__echo")
            live, guard = guarded(app, "echo")
            server.stop()
            started = time.monotonic()
            error = error_of(await client.call_tool("echo__echo", {"text": "x"}))
            assert time.monotonic() - started < 5  # not the 60 s call timeout (at most a reconnect attempt)
            assert error["kind"] in ("UpstreamUnavailable", "UpstreamTimeout")
            assert guard.breaker.fail_count >= 1
            assert not (await guard.health.check()).healthy
            await server.restart()
            await live.upstream.wait_ready(30)
            assert not (await client.call_tool("echo__echo", {"text": "back"})).is_error
            assert guard.breaker.fail_count == 0
            assert (await guard.health.check()).healthy
    finally:
        server.stop()


async def test_an_http_500_storm_opens_the_breaker_which_then_spares_the_upstream(
    tmp_path: Path, storm: StormServer
) -> None:
    entry = {**storm.entry(), "breaker": {"fail_max": 3, "reset_timeout_seconds": 3600}}
    async with hub(tmp_path, {"storm": entry}) as (app, client):
        await wait_for_tool(client, "storm__echo")
        _, guard = guarded(app, "storm")
        await anyio.to_thread.run_sync(storm.storm, True)
        kinds = [error_of(await client.call_tool("storm__echo", {"text": "x"}))["kind"] for _ in range(3)]
        assert all(kind.startswith("Upstream") for kind in kinds)
        assert guard.breaker.state == "open"
        refused_before = await anyio.to_thread.run_sync(storm.storm, True)
        for _ in range(20):
            assert error_of(await client.call_tool("storm__echo", {"text": "x"}))["kind"] == "BreakerOpen"
        # Not one more request reached the server while the breaker was open.
        assert await anyio.to_thread.run_sync(storm.storm, False) == refused_before
        assert guard.breaker.storage.opened_clock is not None
        guard.breaker.storage.opened_clock -= 3600
        assert not (await client.call_tool("storm__echo", {"text": "calm"})).is_error
        assert guard.breaker.state == "closed"
