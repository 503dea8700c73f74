"""Faults on the wire to network upstreams: a closed socket, a silent peer, an HTTP 500 storm."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from hub.errors import UpstreamUnavailable
from hub.proxy import TransportKind, Upstream
from hub.proxy.websocket import WebSocketConnector
from tests.proxy.support import EchoServer
from tests.resilience.support import StormServer, error_of, guarded, hub, wait_for_tool

pytestmark = pytest.mark.anyio


@pytest.fixture
def storm() -> Iterator[StormServer]:
    server = StormServer()
    yield server
    server.stop()


NETWORK: tuple[TransportKind, ...] = ("sse", "streamable_http", "websocket")


@pytest.mark.parametrize("transport", NETWORK)
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
            error = error_of(await client.call_tool("echo__echo", {"text": "x"}))
            assert error["kind"] == "UpstreamUnavailable"
            # Given up on what the hub saw (the close, a refused reconnect), not on a wait running out:
            # the call's 60 s timeout, or the retry's 10 s wait for the upstream to come back.
            assert "in time" not in error["message"]
            assert "within" not in error["message"]
            assert guard.breaker.fail_count >= 1
            assert not (await guard.health.check()).healthy
            await server.restart()
            await live.upstream.wait_ready(30)
            assert not (await client.call_tool("echo__echo", {"text": "back"})).is_error
            assert guard.breaker.fail_count == 0
            assert (await guard.health.check()).healthy
    finally:
        server.stop()


async def test_calls_right_after_a_server_is_back_succeed_although_the_last_attempt_had_failed(
    tmp_path: Path,
) -> None:
    # A failure of a connect attempt made while the server was down must not fail the calls made
    # once it is back (while the upstream still sits in its backoff): they would open the breaker
    # of a healthy server for its whole reset timeout.
    server = EchoServer("streamable_http", many=0)
    server.start()
    try:
        spec = server.spec()
        entry = {"url": spec.url, "transport": "streamable_http", "connect_timeout_seconds": 2}
        async with hub(tmp_path, {"echo": entry}) as (app, client):
            await wait_for_tool(client, "echo__echo")
            live, guard = guarded(app, "echo")
            server.stop()
            assert (
                error_of(await client.call_tool("echo__echo", {"text": "x"}))["kind"] == "UpstreamUnavailable"
            )
            with anyio.fail_after(30):
                while live.upstream.failed_attempts < 1:
                    await anyio.sleep(0.01)
            await server.restart()
            for i in range(guard.breaker.fail_max + 1):
                result = await client.call_tool("echo__echo", {"text": f"back{i}"})
                assert not result.is_error, result.content
            assert guard.breaker.state == "closed"
    finally:
        server.stop()


@pytest.mark.parametrize("transport", NETWORK)
async def test_a_call_in_flight_when_the_server_dies_fails_with_the_cause_and_tools_are_rediscovered(
    tmp_path: Path, transport: TransportKind
) -> None:
    server = EchoServer(transport, many=0)
    server.start()
    try:
        entry = {"url": server.spec().url, "transport": transport, "timeout_seconds": 60}
        async with hub(tmp_path, {"echo": entry}) as (app, client):
            await wait_for_tool(client, "echo__slow")
            live, _ = guarded(app, "echo")

            async def kill_on_first_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                # The tool is running upstream now: the call is in flight when the server dies.
                if server.process is not None:
                    server.process.kill()

            result = await client.call_tool(
                "echo__slow", {"steps": 1_000_000}, progress_callback=kill_on_first_progress
            )
            error = error_of(result)
            # Failed by the close, not by the 60 s timeout (that would be UpstreamTimeout).
            assert error["kind"] == "UpstreamUnavailable", error
            if transport == "websocket":
                assert "websocket connection lost" in error["message"]
            server.stop()
            await server.restart()
            await live.upstream.wait_ready(30)
            await wait_for_tool(client, "echo__slow")
            assert not (await client.call_tool("echo__echo", {"text": "back"})).is_error
    finally:
        server.stop()


async def test_a_websocket_server_that_stops_answering_is_dropped_by_keepalive_and_its_call_fails() -> None:
    server = EchoServer("websocket", many=0)
    server.start()
    assert server.process is not None
    frozen = False
    connector = WebSocketConnector(server.spec(connect_timeout=5), ping_interval=0.2, ping_timeout=0.5)
    upstream = Upstream("echo", connector, status=connector.status, backoff_initial=30)
    try:
        async with upstream:
            await upstream.wait_ready(10)

            async def freeze_on_first_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                # A frozen process keeps its socket open and sends nothing, as a vanished host would.
                nonlocal frozen
                if not frozen:
                    assert server.process is not None
                    os.kill(server.process.pid, signal.SIGSTOP)
                    frozen = True

            with pytest.raises(UpstreamUnavailable) as caught:
                await upstream.call_tool(
                    "slow",
                    {"steps": 1_000_000},
                    progress_callback=freeze_on_first_progress,
                    timeout_seconds=10,  # under websockets' default 20 s + 20 s keepalive
                )
            assert frozen
            assert "keepalive ping timeout" in caught.value.message
            assert not upstream.connected
    finally:
        if frozen:
            os.kill(server.process.pid, signal.SIGCONT)
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
