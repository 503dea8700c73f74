"""Graceful shutdown: calls in flight finish or end with a clear error, every answered call has its row,
no upstream child outlives the hub."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from tests.resilience.support import echo_entry, error_of, hub, rows, sigterm_under_load, wait_for_tool

pytestmark = pytest.mark.anyio


async def test_sigterm_under_load_exits_0_with_a_row_for_every_answered_call_and_no_child_left(
    tmp_path: Path,
) -> None:
    # Slow calls (progress steps) are mid-way when the signal comes; they finish well within the grace.
    report = await sigterm_under_load(tmp_path, callers=4, warmup=80, slow_every=4, slow_steps=300)
    assert report.exit_code == 0, "the hub exited by itself, with status 0, before its deadline"
    assert report.lost == []
    # Nothing ran without its caller hearing how it ended: each logged call was answered.
    assert report.logged <= set(report.completed)
    assert report.children
    assert report.left == []
    # Each caller ended on a refusal: the hub's own error, or a connection it no longer accepts.
    assert len(report.failed) >= 4
    for failure in report.failed:
        assert "ShuttingDown" in failure or "Connect" in failure or "ReadError" in failure, failure


async def test_a_call_still_running_at_the_deadline_ends_with_shutting_down_and_later_calls_are_refused(
    tmp_path: Path,
) -> None:
    async with hub(tmp_path, {"echo": echo_entry(timeout_seconds=60)}) as (app, client):
        await wait_for_tool(client, "echo__hang")
        drain = app.dispatcher.drain
        results = []

        async def hang() -> None:
            results.append(await client.call_tool("echo__hang", {}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(hang)
            with anyio.fail_after(30):
                while drain.in_flight == 0:
                    await anyio.sleep(0.01)
            assert await drain.drain(0.1) == 1
        (cut,) = results
        assert error_of(cut)["kind"] == "ShuttingDown"
        assert "before the call finished" in error_of(cut)["message"]
        refused = error_of(await client.call_tool("echo__echo", {"text": "late"}))
        assert refused["kind"] == "ShuttingDown"
        assert refused["retriable"] is True
    logged = rows(
        tmp_path / "hub.sqlite3",
        "SELECT t.tool_name, l.success, l.output_data FROM mcp_call_logs l"
        " JOIN mcp_tools t ON t.id = l.mcp_tool_id ORDER BY l.created_at",
    )
    assert [(name, success) for name, success, _ in logged] == [("hang", 0), ("echo", 0)]
    assert all(json.loads(output)["error"]["kind"] == "ShuttingDown" for _, _, output in logged)
