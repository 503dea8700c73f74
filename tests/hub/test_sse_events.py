"""The streamable HTTP face's store of recent SSE events (SEP-1699 resumption)."""

from __future__ import annotations

import mcp_types as types
import pytest
from mcp.server.streamable_http import EventMessage

from hub.server.events import RecentEvents

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def note(n: int, padding: str = "") -> types.JSONRPCMessage:
    return types.JSONRPCNotification(
        jsonrpc="2.0", method="notifications/message", params={"n": n, "p": padding}
    )


async def replayed(store: RecentEvents, after: str) -> list[int] | None:
    sent: list[EventMessage] = []

    async def send(event: EventMessage) -> None:
        sent.append(event)

    stream = await store.replay_events_after(after, send)
    if stream is None:
        return None
    return [
        event.message.params["n"] for event in sent if isinstance(event.message, types.JSONRPCNotification)
    ]  # type: ignore[index]


async def test_a_resume_gets_what_came_after_on_the_same_stream_only() -> None:
    store = RecentEvents()
    priming = await store.store_event("a", None)
    await store.store_event("a", note(1))
    await store.store_event("b", note(100))
    await store.store_event("a", note(2))
    assert await replayed(store, priming) == [1, 2]
    assert await replayed(store, "not-an-id") is None


async def test_event_ids_are_unguessable_and_distinct() -> None:
    store = RecentEvents()
    ids = [await store.store_event("a", note(n)) for n in range(200)]
    assert len(set(ids)) == 200
    assert all(len(event_id) >= 20 for event_id in ids)  # 128 random bits, not a counter


async def test_old_events_go_first_when_bytes_or_age_run_out() -> None:
    clock = Clock()
    store = RecentEvents(max_bytes=600, max_age=10, clock=clock)
    first = await store.store_event("a", note(1, "x" * 200))
    second = await store.store_event("a", note(2, "x" * 200))
    await store.store_event("a", note(3, "x" * 200))  # over 600 bytes: the oldest goes
    assert await replayed(store, first) is None
    assert await replayed(store, second) == [3]
    clock.now = 11
    assert await replayed(store, second) is None
    assert store.kept == 0


async def test_an_event_too_large_to_keep_makes_its_stream_unresumable_rather_than_gapped() -> None:
    store = RecentEvents(max_bytes=300)
    priming = await store.store_event("a", None)
    other = await store.store_event("b", note(7))
    await store.store_event("a", note(1, "x" * 400))
    assert await replayed(store, priming) is None  # not a resume that silently skips the large event
    assert await replayed(store, other) == []


async def test_a_large_result_served_again_is_accounted_its_real_size_both_times() -> None:
    tools = [{"name": f"t{i}", "inputSchema": {"type": "object", "properties": {}}} for i in range(2000)]
    wire_size = len(
        types.JSONRPCResponse(jsonrpc="2.0", id=1, result={"tools": tools}).model_dump_json(
            by_alias=True, exclude_none=True
        )
    )
    # Room for two copies and a little: a third must push the first out, whichever way sizes are known.
    store = RecentEvents(max_bytes=int(wire_size * 2.5))
    for n in range(3):
        # As the list cache answers: a fresh top level around the same list of tools.
        await store.store_event(f"s{n}", types.JSONRPCResponse(jsonrpc="2.0", id=n, result={"tools": tools}))
        assert abs(store.kept_bytes - wire_size * min(n + 1, 2)) < 0.01 * wire_size
    assert store.kept == 2
    # Another list is measured afresh, not mistaken for the remembered one.
    other = [dict(t) for t in tools[:10]]
    await store.store_event("x", types.JSONRPCResponse(jsonrpc="2.0", id=9, result={"tools": other}))
    assert store.kept == 3
