"""Faults of real upstream processes, seen through a running hub: what the caller gets, what the database shows."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from tests.resilience.support import echo_entry, error_of, guarded, hub, rows, wait_for_tool

pytestmark = pytest.mark.anyio


async def test_an_upstream_crashing_mid_call_fails_the_call_at_once_with_its_exit_code(
    tmp_path: Path,
) -> None:
    async with hub(tmp_path, {"echo": echo_entry(timeout_seconds=60)}) as (app, client):
        await wait_for_tool(client, "echo__crash")
        started = time.monotonic()
        result = await client.call_tool("echo__crash", {"code": 9})
        assert time.monotonic() - started < 5  # noticed at once, not after the 60 s timeout
        assert error_of(result)["kind"] == "UpstreamUnavailable"
        health = (await client.call_tool("mcp_health", {"server": "echo"})).structured_content
        assert health is not None
        (state,) = health["servers"]
        assert state["exit_code"] == 9 or state["connected"]  # reported, or already restarted
        _, guard = guarded(app, "echo")
        assert guard.breaker.fail_count == 1


async def test_a_hanging_tool_times_out_by_its_own_timeout_and_the_failure_counts(tmp_path: Path) -> None:
    entry = echo_entry(timeout_seconds=60, tool_timeouts={"hang": 0.3})
    async with hub(tmp_path, {"echo": entry}) as (_, client):
        await wait_for_tool(client, "echo__hang")
        started = time.monotonic()
        result = await client.call_tool("echo__hang", {})
        assert 0.25 < time.monotonic() - started < 5
        assert error_of(result)["kind"] == "UpstreamTimeout"
        servers = (await client.call_tool("mcp_list_servers", {})).structured_content
        assert servers is not None
        # The upstream itself is fine: the next call is served.
        assert not (await client.call_tool("echo__echo", {"text": "after"})).is_error


async def test_slow_responses_within_the_timeout_succeed_and_past_it_fail(tmp_path: Path) -> None:
    entry = echo_entry(tool_timeouts={"slow": 30})
    async with hub(tmp_path, {"echo": entry}) as (_, client):
        await wait_for_tool(client, "echo__slow")
        assert not (await client.call_tool("echo__slow", {"steps": 50})).is_error
    entry = echo_entry(tool_timeouts={"hang": 0.2})
    async with hub(tmp_path / "b", {"echo": entry}) as (_, client):
        await wait_for_tool(client, "echo__hang")
        assert error_of(await client.call_tool("echo__hang", {}))["kind"] == "UpstreamTimeout"


async def test_garbage_on_stdout_fails_the_call_as_a_protocol_error_and_counts(tmp_path: Path) -> None:
    async with hub(tmp_path, {"echo": echo_entry(tool_timeouts={"corrupt": 10})}) as (app, client):
        await wait_for_tool(client, "echo__corrupt")
        started = time.monotonic()
        result = await client.call_tool("echo__corrupt", {})
        assert time.monotonic() - started < 5
        assert error_of(result)["kind"] == "UpstreamProtocolError"
        _, guard = guarded(app, "echo")
        assert guard.breaker.fail_count == 1


async def test_the_breaker_opens_fails_fast_is_mirrored_and_audited_and_closes_after_a_good_trial(
    tmp_path: Path,
) -> None:
    entry = echo_entry(breaker={"fail_max": 2, "reset_timeout_seconds": 3600})
    async with hub(tmp_path, {"echo": entry}) as (app, client):
        await wait_for_tool(client, "echo__crash")
        live, guard = guarded(app, "echo")
        for _ in range(2):
            await live.upstream.wait_ready(30)
            assert error_of(await client.call_tool("echo__crash", {}))["kind"] == "UpstreamUnavailable"
        assert guard.breaker.state == "open"
        await live.upstream.wait_ready(30)
        pid = live.upstream.status.pid
        started = time.monotonic()
        refused = await client.call_tool("echo__echo", {"text": "x"})
        assert time.monotonic() - started < 0.5
        error = error_of(refused)
        assert error["kind"] == "BreakerOpen"
        assert live.upstream.status.pid == pid  # no restart, no traffic
        assert await guard.mirror.flush()
        listed = (await client.call_tool("mcp_list_servers", {})).structured_content
        assert listed is not None
        (row,) = listed["servers"]
        assert row["circuit_breaker_state"] == "open"
        assert row["fail_count"] == 2
        assert row["status"] == "error"
        # A trial after the reset timeout (moved forward on the breaker's storage) closes it again.
        assert guard.breaker.storage.opened_clock is not None
        guard.breaker.storage.opened_clock -= 3600
        assert not (await client.call_tool("echo__echo", {"text": "trial"})).is_error
        assert guard.breaker.state == "closed"
        assert await guard.mirror.flush()
    db = tmp_path / "hub.sqlite3"
    assert rows(
        db, "SELECT circuit_breaker_state, fail_count, status FROM mcp_servers WHERE name='echo'"
    ) == [("closed", 0, "active")]
    audits = rows(
        db,
        "SELECT action, actor_type FROM audit_logs WHERE resource_type='mcp_server' AND action LIKE 'breaker_%'"
        " ORDER BY created_at",
    )
    assert audits == [
        ("breaker_open", "system"),
        ("breaker_half_open", "system"),
        ("breaker_closed", "system"),
    ]


async def test_a_down_server_is_reported_by_mcp_health_at_once_and_the_others_stay_healthy(
    tmp_path: Path,
) -> None:
    servers = {
        "echo": echo_entry(),
        "ghost": {"command": str(tmp_path / "no-such-program")},
        "refused": {"url": "http://127.0.0.1:9/mcp", "transport": "streamable_http"},
    }
    async with hub(tmp_path, servers) as (_, client):
        await wait_for_tool(client, "echo__echo")
        started = time.monotonic()
        health = (await client.call_tool("mcp_health", {})).structured_content
        assert time.monotonic() - started < 2
        assert health is not None
        by_name = {s["server"]: s for s in health["servers"]}
        assert by_name["echo"]["status"] == "up"
        assert by_name["echo"]["latency_ms"] is not None
        assert by_name["ghost"]["status"] == "down"
        assert by_name["ghost"]["last_error"]
        assert by_name["refused"]["status"] == "down"
        with anyio.fail_after(5):
            assert not (await client.call_tool("echo__echo", {"text": "still here"})).is_error
