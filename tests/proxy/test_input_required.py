"""A server's questions to a caller, across the two protocol eras, against the real everything fixture.

The fixture asks its questions the way its caller's era wants: pushed mid-call to a 2025-11-25 session,
as an ``InputRequiredResult`` to a 2026-07-28 one. The hub's link to it speaks one era, its callers
either; these tests drive every pairing through ``Upstream`` and check what each caller sees, that a
``request_state`` works only for the caller it was issued to, and that calls held open for a caller who
never comes back are let go.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from hub.errors import UpstreamUnavailable
from hub.proxy import Forwarder, Upstream, UpstreamRPCError, UpstreamSpec
from hub.proxy.errors import RequestStateError
from tests.conformance.run import serve_fixture

pytestmark = pytest.mark.anyio

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "servers" / "everything_server.py"
EVERYTHING = types.ClientCapabilities(
    sampling=types.SamplingCapability(),
    elicitation=types.ElicitationCapability(form=types.FormElicitationCapability()),
    roots=types.RootsCapability(),
)


def fixture_spec(mode: str, name: str = "fx") -> UpstreamSpec:
    """The fixture as a stdio upstream, linked in ``mode`` (legacy: 2025-11-25; auto: 2026-07-28)."""
    return UpstreamSpec(
        name=name,
        transport="stdio",
        command=sys.executable,
        args=(str(FIXTURE), "--transport", "stdio"),
        mode=mode,  # type: ignore[arg-type]
    )


@pytest.fixture
def fixture_url() -> Iterator[str]:
    """The fixture serving streamable HTTP."""
    with serve_fixture() as url:
        yield url


def modern(audience: str = "tenant-a/ann", capabilities: types.ClientCapabilities = EVERYTHING) -> Forwarder:
    """A 2026-era caller: takes questions as InputRequiredResult, answers on its retry."""
    return Forwarder(owner=object(), modern=True, audience=audience, capabilities=capabilities)


def name_answer(name: str) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": name})


def text_of(result: types.CallToolResult | types.GetPromptResult | types.InputRequiredResult) -> str:
    if isinstance(result, types.GetPromptResult):
        content: Any = result.messages[0].content
    else:
        assert isinstance(result, types.CallToolResult), result
        content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


def asked(
    result: types.CallToolResult | types.GetPromptResult | types.InputRequiredResult,
) -> types.InputRequiredResult:
    assert isinstance(result, types.InputRequiredResult), result
    assert result.input_requests, result
    assert result.request_state is not None
    return result


# --- a 2026-era caller on a handshake-era link: the call is parked -----------------------------------------


async def test_a_2026_caller_on_a_handshake_link_answers_the_parked_calls_questions_round_by_round() -> None:
    caller = modern()
    async with Upstream.from_spec(fixture_spec("legacy")) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            assert up.protocol_version == "2025-11-25"
            tool = "test_input_required_result_multi_round"
            first = asked(await up.call_tool(tool, {}, forwarder=caller))
            # A pushed question carries no key; the hub names it.
            assert list(first.input_requests or {}) == ["elicitation_1"]
            assert up.parked_calls == 1
            second = asked(
                await up.call_tool(
                    tool,
                    {},
                    forwarder=caller,
                    input_responses={"elicitation_1": name_answer("Ann")},
                    request_state=first.request_state,
                )
            )
            assert list(second.input_requests or {}) == ["elicitation_2"]
            done = await up.call_tool(
                tool,
                {},
                forwarder=caller,
                input_responses={
                    "elicitation_2": types.ElicitResult(action="accept", content={"color": "teal"})
                },
                request_state=second.request_state,
            )
    assert text_of(done) == "Ann likes teal"
    assert up.parked_calls == 0


async def test_a_parked_prompt_and_three_questions_at_once_are_answered_alike() -> None:
    caller = modern()
    async with Upstream.from_spec(fixture_spec("legacy")) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            prompt = asked(await up.get_prompt("test_input_required_result_prompt", forwarder=caller))
            done = await up.get_prompt(
                "test_input_required_result_prompt",
                forwarder=caller,
                input_responses={
                    "elicitation_1": types.ElicitResult(action="accept", content={"context": "QA"})
                },
                request_state=prompt.request_state,
            )
            assert text_of(done) == "Use this context: QA"
            # The fixture asks name, greeting and roots one after another; each leg brings the next.
            answers: dict[str, types.InputResponse] = {
                "elicitation_1": name_answer("Ann"),
                "sampling_1": types.CreateMessageResult(
                    role="assistant", content=types.TextContent(type="text", text="Hi"), model="m"
                ),
                "roots_1": types.ListRootsResult(roots=[types.Root(uri="file:///work")]),
            }
            result = await up.call_tool("test_input_required_result_multiple_inputs", {}, forwarder=caller)
            legs = 0
            while isinstance(result, types.InputRequiredResult):
                legs += 1
                result = await up.call_tool(
                    "test_input_required_result_multiple_inputs",
                    {},
                    forwarder=caller,
                    input_responses={key: answers[key] for key in result.input_requests or {}},
                    request_state=result.request_state,
                )
    assert legs == 3
    assert "user_name: action=accept" in text_of(result)
    assert "file:///work" in text_of(result)


async def test_a_question_left_unanswered_is_asked_again_and_a_wrong_answer_is_named() -> None:
    caller = modern()
    tool = "test_input_required_result_elicitation"
    async with Upstream.from_spec(fixture_spec("legacy")) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            first = asked(await up.call_tool(tool, {}, forwarder=caller))
            again = asked(
                await up.call_tool(
                    tool,
                    {},
                    forwarder=caller,
                    input_responses={"other": name_answer("x")},
                    request_state=first.request_state,
                )
            )
            assert list(again.input_requests or {}) == ["elicitation_1"]
            with pytest.raises(
                RequestStateError,
                match=r"input_responses\['elicitation_1'\] must answer elicitation/create with a ElicitResult, not a ListRootsResult",
            ):
                await up.call_tool(
                    tool,
                    {},
                    forwarder=caller,
                    input_responses={"elicitation_1": types.ListRootsResult(roots=[])},
                    request_state=again.request_state,
                )
            with pytest.raises(RequestStateError, match="must repeat the request that asked"):
                await up.call_tool(
                    tool,
                    {"extra": 1},
                    forwarder=caller,
                    input_responses={"elicitation_1": name_answer("Ann")},
                    request_state=again.request_state,
                )
            done = await up.call_tool(
                tool,
                {},
                forwarder=caller,
                input_responses={"elicitation_1": name_answer("Ann")},
                request_state=again.request_state,
            )
    assert text_of(done) == "Hello, Ann!"


async def test_a_question_the_caller_did_not_declare_it_can_answer_is_refused_for_it() -> None:
    # The handshake session declared the hub's capabilities, so the fixture asks; the hub refuses on
    # behalf of a caller that declared only elicitation, and the fixture's tool fails on the refusal.
    caller = modern(capabilities=types.ClientCapabilities(elicitation=types.ElicitationCapability()))
    async with Upstream.from_spec(fixture_spec("legacy")) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            with pytest.raises(UpstreamRPCError, match="does not support it"):
                await up.call_tool("test_input_required_result_sampling", {}, forwarder=caller)
            assert up.parked_calls == 0


async def test_a_parked_call_is_cancelled_and_forgotten_when_its_caller_does_not_come_back() -> None:
    caller = modern()
    tool = "test_input_required_result_elicitation"
    async with Upstream.from_spec(fixture_spec("legacy"), park_ttl=0.5) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            first = asked(await up.call_tool(tool, {}, forwarder=caller))
            assert up.parked_calls == 1
            while up.parked_calls:
                await anyio.sleep(0.05)  # the poll interval; the ttl is what ends the call
            with pytest.raises(RequestStateError, match="no longer waiting"):
                await up.call_tool(
                    tool,
                    {},
                    forwarder=caller,
                    input_responses={"elicitation_1": name_answer("late")},
                    request_state=first.request_state,
                )
            # The link is unharmed: the upstream request was cancelled, not left hanging.
            simple = await up.call_tool("test_simple_text", {}, forwarder=caller)
    assert text_of(simple) == "This is a simple text response for testing."


async def test_parked_calls_are_bounded_per_upstream() -> None:
    async with Upstream.from_spec(fixture_spec("legacy"), park_limit=1) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            asked(await up.call_tool("test_input_required_result_elicitation", {}, forwarder=modern()))
            with pytest.raises(UpstreamUnavailable, match="already waiting"):
                await up.call_tool("test_input_required_result_elicitation", {}, forwarder=modern())


async def test_over_stdio_a_question_is_refused_rather_than_guessed_when_two_callers_are_in_flight() -> None:
    # stdio carries nothing that ties a pushed question to one of several calls; the first caller's
    # call waits parked, so the second caller's question cannot be placed and is refused.
    async with Upstream.from_spec(fixture_spec("legacy")) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            asked(await up.call_tool("test_input_required_result_elicitation", {}, forwarder=modern("t/ann")))
            with pytest.raises(UpstreamRPCError, match="cannot tell which caller"):
                await up.call_tool("test_input_required_result_elicitation", {}, forwarder=modern("t/bob"))


async def test_over_streamable_http_concurrent_parked_calls_each_get_their_own_questions(
    fixture_url: str,
) -> None:
    # Streamable HTTP answers a call on its own response stream, so each question finds its call.
    spec = UpstreamSpec(name="fx", transport="streamable_http", url=fixture_url, mode="legacy")
    tool = "test_input_required_result_elicitation"
    callers = {"Ann": modern("t/ann"), "Bob": modern("t/bob")}
    firsts: dict[str, types.InputRequiredResult] = {}
    results: dict[str, str] = {}
    async with Upstream.from_spec(spec) as up:
        with anyio.fail_after(30):
            await up.wait_ready()

            async def first(name: str) -> None:
                firsts[name] = asked(await up.call_tool(tool, {}, forwarder=callers[name]))

            async with anyio.create_task_group() as tg:
                for name in callers:
                    tg.start_soon(first, name)
            assert up.parked_calls == 2

            async def answer(name: str) -> None:
                state = firsts[name].request_state
                done = await up.call_tool(
                    tool,
                    {},
                    forwarder=callers[name],
                    input_responses={"elicitation_1": name_answer(name)},
                    request_state=state,
                )
                results[name] = text_of(done)

            async with anyio.create_task_group() as tg:
                for name in callers:
                    tg.start_soon(answer, name)
    assert results == {"Ann": "Hello, Ann!", "Bob": "Hello, Bob!"}


# --- a 2026-era caller on a 2026-era link: relayed, the state sealed --------------------------------------


async def test_a_2026_link_relays_the_upstreams_questions_and_seals_its_state_for_the_caller() -> None:
    caller = modern()
    tool = "test_input_required_result_request_state"
    async with Upstream.from_spec(fixture_spec("auto")) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            assert up.protocol_version == "2026-07-28"
            first = asked(await up.call_tool(tool, {}, forwarder=caller))
            # The upstream's own key, and the upstream's state inside the hub's seal.
            assert list(first.input_requests or {}) == ["confirm"]
            assert first.request_state is not None
            assert first.request_state.startswith("hub1.")
            done = await up.call_tool(
                tool,
                {},
                forwarder=caller,
                input_responses={"confirm": types.ElicitResult(action="accept", content={"ok": True})},
                request_state=first.request_state,
            )
    assert text_of(done) == "state-ok: confirmed=True"
    assert up.parked_calls == 0


async def test_a_2026_link_declares_the_callers_capabilities_not_the_hubs() -> None:
    sampling_only = modern(capabilities=types.ClientCapabilities(sampling=types.SamplingCapability()))
    async with Upstream.from_spec(fixture_spec("auto")) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            result = await up.call_tool(
                "test_input_required_result_capabilities", {}, forwarder=sampling_only
            )
            # Asked of the caller as it declared itself: sampling only (no state: the fixture keeps none).
            assert isinstance(result, types.InputRequiredResult)
            assert list(result.input_requests or {}) == ["capital_question"]
            with pytest.raises(UpstreamRPCError) as refused:
                await up.call_tool(
                    "test_missing_capability", {}, forwarder=modern(capabilities=types.ClientCapabilities())
                )
    assert refused.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY


# --- a request_state works only for its own caller and request -------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_request_state_is_refused_to_another_tenant_another_user_and_when_altered(mode: str) -> None:
    tool = "test_input_required_result_tampered_state"  # keeps a state in both eras
    ann = modern("tenant-a/ann")
    async with (
        Upstream.from_spec(fixture_spec(mode, "fx-a")) as tenant_a,
        Upstream.from_spec(fixture_spec(mode, "fx-b")) as tenant_b,
    ):
        with anyio.fail_after(30):
            await tenant_a.wait_ready()
            await tenant_b.wait_ready()
            first = asked(await tenant_a.call_tool(tool, {}, forwarder=ann))
            state = first.request_state
            assert state is not None
            key = next(iter(first.input_requests or {}))
            answers = {key: name_answer("Mallory")}

            async def retry(up: Upstream, caller: Forwarder, request_state: str, name: str = tool) -> object:
                return await up.call_tool(
                    name, {}, forwarder=caller, input_responses=answers, request_state=request_state
                )

            # Each tenant's upstream is its own link with its own seal.
            with pytest.raises(RequestStateError, match="integrity check"):
                await retry(tenant_b, modern("tenant-b/mallory"), state)
            with pytest.raises(RequestStateError, match="integrity check"):
                await retry(tenant_b, modern("tenant-a/ann"), state)
            # Same upstream, another user; the state altered; another request.
            with pytest.raises(RequestStateError, match="integrity check"):
                await retry(tenant_a, modern("tenant-a/mallory"), state)
            with pytest.raises(RequestStateError, match="integrity check"):
                await retry(tenant_a, ann, state + "-TAMPERED")
            with pytest.raises(RequestStateError, match="not one the hub issued"):
                await retry(tenant_a, ann, "opaque-upstream-state")
            with pytest.raises(
                RequestStateError, match="belongs to 'tools/call test_input_required_result_tampered_state'"
            ):
                await retry(tenant_a, ann, state, "test_input_required_result_request_state")
            # None of that disturbed the call: its own caller finishes it.
            done = await tenant_a.call_tool(
                tool, {}, forwarder=ann, input_responses={key: name_answer("Ann")}, request_state=state
            )
    assert text_of(done) == "state verified for Ann"


# --- a 2025-era caller on a 2026-era link: answered through it --------------------------------------------


async def test_a_handshake_caller_on_a_2026_link_is_asked_mid_call_and_gets_logs_at_its_level() -> None:
    logs: list[tuple[str, Any]] = []

    async def elicitation(params: types.ElicitRequestParams) -> types.ElicitResult:
        return name_answer("Ann")

    async def log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append((params.level, params.data))

    def caller(level: types.LoggingLevel) -> Forwarder:
        return Forwarder(
            owner="conn", elicitation=elicitation, log=log, capabilities=EVERYTHING, log_level=level
        )

    async with Upstream.from_spec(fixture_spec("auto")) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            done = await up.call_tool(
                "test_input_required_result_elicitation",
                {},
                forwarder=caller("info"),
                resolve_input_required=True,
            )
            assert text_of(done) == "Hello, Ann!"
            await up.call_tool("test_tool_with_logging", {}, forwarder=caller("info"))
            await up.ping()  # notifications land apart from results; a round trip lets them arrive first
            assert [level for level, _ in logs] == ["info", "info", "info"]
            logs.clear()
            await up.call_tool("test_tool_with_logging", {}, forwarder=caller("error"))
            await up.ping()
    assert logs == []


async def test_a_handshake_link_logs_at_the_most_verbose_level_any_caller_asked_for() -> None:
    logs: list[Any] = []

    async def log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    caller = Forwarder(owner="conn", log=log)

    async def logged() -> int:
        logs.clear()
        await up.call_tool("test_tool_with_logging", {}, forwarder=caller)
        await up.ping()  # notifications land apart from results; a round trip lets them arrive first
        return len(logs)

    async with Upstream.from_spec(fixture_spec("legacy")) as up:
        with anyio.fail_after(30):
            await up.wait_ready()
            await up.set_logging_level("error")
            assert await logged() == 0  # the fixture's info messages are below "error"
            await up.set_logging_level("info")
            assert await logged() == 3
            # Someone else asking for less does not take it away from the caller who asked for more.
            await up.set_logging_level("critical")
            assert await logged() == 3
            with pytest.raises(ValueError, match="unknown log level 'loud'"):
                await up.set_logging_level("loud")  # type: ignore[arg-type]
