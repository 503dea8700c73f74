"""One test body per behaviour, run over every upstream transport against a real server."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest

from hub.errors import UpstreamTimeout, UpstreamUnavailable
from hub.proxy import Forwarder, Snapshot, Upstream, UpstreamRPCError
from tests.proxy.support import EchoServer

pytestmark = pytest.mark.anyio

BASE_TOOL_COUNT = 14


def text_of(result: types.CallToolResult | types.InputRequiredResult) -> str:
    assert isinstance(result, types.CallToolResult)
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


async def test_discovery_walks_every_page_of_tools_resources_templates_and_prompts(
    paged_server: EchoServer,
) -> None:
    async with Upstream.from_spec(paged_server.spec()) as up:
        with anyio.fail_after(15):
            snapshot = await up.wait_ready()
    names = [tool.name for tool in snapshot.tools]
    assert len(names) == BASE_TOOL_COUNT + 250
    assert len(set(names)) == len(names)
    assert {"echo", "t000", "t249"} <= set(names)
    assert [r.uri for r in snapshot.resources] == ["test://static"]
    assert [t.uri_template for t in snapshot.resource_templates] == ["test://item/{id}"]
    assert [p.name for p in snapshot.prompts] == ["greet"]
    assert snapshot.server_info is not None
    assert snapshot.server_info.name == "echo"


async def test_calls_return_the_upstream_result_including_structured_content(echo_server: EchoServer) -> None:
    async with Upstream.from_spec(echo_server.spec()) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            assert text_of(await up.call_tool("echo", {"text": "hello"})) == "hello"
            added = await up.call_tool("add", {"a": 2, "b": 40})
            assert up.connected
    assert isinstance(added, types.CallToolResult)
    assert added.structured_content == {"result": 42}
    assert not up.connected


async def test_concurrent_callers_share_one_session_and_each_gets_its_own_answer(
    echo_server: EchoServer,
) -> None:
    answers: dict[int, str] = {}
    async with Upstream.from_spec(echo_server.spec()) as up:
        with anyio.fail_after(20):
            await up.wait_ready()
            session = up._link.session if up._link else None

            async def one(i: int) -> None:
                answers[i] = text_of(await up.call_tool("echo", {"text": f"caller {i}"}))

            async with anyio.create_task_group() as tg:
                for i in range(40):
                    tg.start_soon(one, i)
            assert (up._link.session if up._link else None) is session
    assert answers == {i: f"caller {i}" for i in range(40)}


async def test_resources_prompts_and_completion_are_forwarded(echo_server: EchoServer) -> None:
    async with Upstream.from_spec(echo_server.spec()) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            read = await up.read_resource("test://item/7")
            prompt = await up.get_prompt("greet", {"name": "Ada"})
            completion = await up.complete(
                types.PromptReference(type="ref/prompt", name="greet"),
                types.CompletionArgument(name="name", value="al"),
            )
            await up.subscribe("test://static")
            assert await up.ping() >= 0
    assert isinstance(read, types.ReadResourceResult)
    assert isinstance(read.contents[0], types.TextResourceContents)
    assert read.contents[0].text == "content of test://item/7"
    assert isinstance(prompt, types.GetPromptResult)
    assert completion.completion.values == ["alice", "albert"]


async def test_progress_notifications_reach_the_callers_callback(echo_server: EchoServer) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Upstream.from_spec(echo_server.spec()) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            result = await up.call_tool("slow", {"steps": 3}, progress_callback=on_progress)
    assert text_of(result) == "done 3"
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


async def test_a_call_timeout_cancels_the_request_upstream(echo_server: EchoServer) -> None:
    async with Upstream.from_spec(echo_server.spec()) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            with pytest.raises(UpstreamTimeout):
                await up.call_tool("hang", timeout_seconds=0.3)
            assert text_of(await up.call_tool("cancellations")) == "1"


async def test_cancelling_the_callers_task_cancels_the_request_upstream(echo_server: EchoServer) -> None:
    async with Upstream.from_spec(echo_server.spec()) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            async with anyio.create_task_group() as tg:
                started = anyio.Event()

                async def caller() -> None:
                    started.set()
                    await up.call_tool("hang")

                tg.start_soon(caller)
                await started.wait()
                # A round trip on the same session puts the hang request on the wire before the cancel.
                await up.call_tool("echo", {"text": "x"})
                tg.cancel_scope.cancel()
            assert text_of(await up.call_tool("cancellations")) == "1"


async def test_sampling_and_elicitation_raised_during_a_call_reach_that_callers_forwarder(
    echo_server: EchoServer,
) -> None:
    asked: list[Any] = []

    async def sampling(params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(params)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="forty-two"), model="test"
        )

    async def elicitation(params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept", content={"answer": "yes"})

    forwarder = Forwarder(owner="caller-1", sampling=sampling, elicitation=elicitation)
    async with Upstream.from_spec(echo_server.spec()) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            sampled = await up.call_tool("sample", {"prompt": "meaning?"}, forwarder=forwarder)
            elicited = await up.call_tool("ask", {"question": "ok?"}, forwarder=forwarder)
    assert text_of(sampled) == "model said: forty-two"
    assert text_of(elicited) == "accept: yes"
    assert isinstance(asked[0], types.CreateMessageRequestParams)


async def test_a_server_request_is_never_sent_to_a_caller_it_cannot_be_tied_to(
    echo_server: EchoServer,
) -> None:
    """Two callers in flight: routed exactly where the wire ties requests to calls, refused elsewhere."""
    answered_by: list[str] = []

    def forwarder(owner: str) -> Forwarder:
        async def sampling(params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
            answered_by.append(owner)
            return types.CreateMessageResult(
                role="assistant", content=types.TextContent(type="text", text=owner), model="test"
            )

        return Forwarder(owner=owner, sampling=sampling)

    async with Upstream.from_spec(echo_server.spec()) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            async with anyio.create_task_group() as tg:

                async def hang() -> None:
                    await up.call_tool("hang", forwarder=forwarder("other"))

                tg.start_soon(hang)
                # A round trip on the same session puts the hang request on the wire first.
                await up.ping()
                if echo_server.transport == "streamable_http":
                    result = await up.call_tool("sample", {"prompt": "p"}, forwarder=forwarder("mine"))
                    assert text_of(result) == "model said: mine"
                else:
                    # The server's tool fails on the refusal and says so with a JSON-RPC error.
                    with pytest.raises(UpstreamRPCError):
                        await up.call_tool("sample", {"prompt": "p"}, forwarder=forwarder("mine"))
                tg.cancel_scope.cancel()
    assert answered_by == (["mine"] if echo_server.transport == "streamable_http" else [])


async def test_log_messages_reach_the_call_and_the_upstream_callback(echo_server: EchoServer) -> None:
    logged: list[tuple[str, Any]] = []
    per_call: list[Any] = []

    async def on_log(server: str, params: types.LoggingMessageNotificationParams) -> None:
        logged.append((server, params.data))

    async def call_log(params: types.LoggingMessageNotificationParams) -> None:
        per_call.append(params.data)

    async with Upstream.from_spec(echo_server.spec(), on_log=on_log) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            await up.call_tool("shout", {"message": "careful"}, forwarder=Forwarder(owner=1, log=call_log))
            # Notifications are delivered apart from results; a second round trip lets them land first.
            await up.ping()
    assert logged == [("echo", "careful")]
    assert per_call == ["careful"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_list_changed_triggers_rediscovery_and_on_change(echo_server: EchoServer, mode: str) -> None:
    """Handshake era: a list_changed notification; 2026 era: an event on a subscriptions/listen stream."""
    snapshots: list[Snapshot] = []
    changed = anyio.Event()

    async def on_change(snapshot: Snapshot) -> None:
        snapshots.append(snapshot)
        if snapshot.tool("extra0") is not None:
            changed.set()

    async with Upstream.from_spec(echo_server.spec(mode=mode), on_change=on_change) as up:
        with anyio.fail_after(15):
            first = await up.wait_ready()
            assert first.tool("extra0") is None
            assert text_of(await up.call_tool("grow")) == "extra0"
            await changed.wait()
    assert snapshots[-1].generation > first.generation
    assert len(snapshots[-1].tools) == BASE_TOOL_COUNT + 1


async def test_the_upstream_reconnects_and_rediscovers_after_the_server_restarts(
    echo_server: EchoServer,
) -> None:
    async with Upstream.from_spec(echo_server.spec(), backoff_initial=0.05) as up:
        with anyio.fail_after(30):
            first = await up.wait_ready()
            if echo_server.transport == "stdio":
                # The hub's own child: its exit is the stdio server "restarting"; the hub starts a new one.
                with pytest.raises(UpstreamUnavailable):
                    await up.call_tool("crash", {"code": 0})
            else:
                await echo_server.restart()
            answer: str | None = None
            while answer is None:
                try:
                    answer = text_of(await up.call_tool("echo", {"text": "again"}))
                except UpstreamUnavailable:
                    await up.wait_ready()
            second = up.snapshot
    assert answer == "again"
    assert second is not None
    assert second.generation > first.generation


async def test_an_expired_streamable_http_session_is_reinitialised_transparently() -> None:
    server = EchoServer("streamable_http", many=0)
    server.start()
    try:
        async with Upstream.from_spec(server.spec(), backoff_initial=60) as up:
            with anyio.fail_after(20):
                await up.wait_ready()
                # The new process knows nothing of the old session id and answers it with HTTP 404.
                await server.restart()
                assert text_of(await up.call_tool("echo", {"text": "same caller"})) == "same caller"
    finally:
        server.stop()


async def test_auto_mode_speaks_the_2026_era_to_a_server_that_offers_it(echo_server: EchoServer) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Upstream.from_spec(echo_server.spec(mode="auto")) as up:
        with anyio.fail_after(15):
            snapshot = await up.wait_ready()
            assert up.protocol_version == "2026-07-28"
            assert text_of(await up.call_tool("echo", {"text": "modern"})) == "modern"
            await up.call_tool("slow", {"steps": 2}, progress_callback=on_progress)
            assert await up.ping() >= 0
    assert snapshot.tool("echo") is not None
    assert seen == [1, 2]


async def test_a_2026_upstream_asking_for_input_is_answered_through_the_callers_forwarder(
    echo_server: EchoServer,
) -> None:
    async def sampling(params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="42"), model="m"
        )

    forwarder = Forwarder(owner="caller", sampling=sampling)
    async with Upstream.from_spec(echo_server.spec(mode="auto")) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            # A 2026-era caller gets the request to fulfil itself ...
            pending = await up.call_tool("sample", {"prompt": "?"}, forwarder=forwarder)
            assert isinstance(pending, types.InputRequiredResult)
            # ... a handshake-era caller gets the final result, its forwarder having answered.
            resolved = await up.call_tool(
                "sample", {"prompt": "?"}, forwarder=forwarder, resolve_input_required=True
            )
    assert text_of(resolved) == "model said: 42"


async def test_a_multi_megabyte_payload_crosses_every_transport_intact(echo_server: EchoServer) -> None:
    payload = "x" * (3 * 1024 * 1024) + "end"
    async with Upstream.from_spec(echo_server.spec()) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            assert text_of(await up.call_tool("echo", {"text": payload})) == payload
