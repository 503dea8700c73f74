"""Everything fixture: a real MCP server offering what the official conformance suite's server scenarios call.

    python tests/servers/everything_server.py --port 3001        # streamable HTTP, http://127.0.0.1:3001/mcp
    python tests/servers/everything_server.py --transport stdio  # how the hub fronts it

Names and payloads follow the scenario descriptions of `@modelcontextprotocol/conformance` 0.2.0-alpha.12.
One server speaks both protocol eras: a question for the client (elicitation, sampling, roots) is pushed as a
server-to-client request on 2025-11-25 and becomes an `InputRequiredResult` round trip on 2026-07-28.

Written on the low-level `Server` because a conformance fixture must control every wire byte: raw input
schemas (`$defs`, `x-mcp-header`, elicitation enums with `enumNames`), the input-request keys the scenarios
look for, `logging/setLevel` and `resources/subscribe`, which `MCPServer` does not serve.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import struct
import warnings
import wave
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
import uvicorn
from mcp.server import NotificationOptions, Server, ServerRequestContext
from mcp.server.models import InitializationOptions
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

NAME = "everything-fixture"

Ctx = ServerRequestContext[Any, Any]
ToolResult = types.CallToolResult | types.InputRequiredResult
Answers = Mapping[str, types.InputResponse]
ToolFn = Callable[[Ctx, types.CallToolRequestParams], Awaitable[ToolResult]]

# Severity order of `logging/setLevel`; a message goes out when it is at least as severe as the set level.
LOG_LEVELS: tuple[types.LoggingLevel, ...] = (
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency",
)  # fmt: skip

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}

JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def red_pixel_png() -> bytes:
    """A 1x1 red PNG, built rather than pasted so the bytes explain themselves."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # width, height, 8-bit depth, RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # scanline filter 0, then one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def silent_wav() -> bytes:
    """Ten milliseconds of 8 kHz mono silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * 80)
    return buffer.getvalue()


PNG = base64.b64encode(red_pixel_png()).decode()
WAV = base64.b64encode(silent_wav()).decode()


def text(value: str) -> types.TextContent:
    """A text content block."""
    return types.TextContent(type="text", text=value)


def image() -> types.ImageContent:
    """The red pixel as an image content block."""
    return types.ImageContent(type="image", data=PNG, mime_type="image/png")


def embedded(uri: str, body: str, mime_type: str = "text/plain") -> types.EmbeddedResource:
    """A text resource embedded in a content block."""
    return types.EmbeddedResource(
        type="resource", resource=types.TextResourceContents(uri=uri, mime_type=mime_type, text=body)
    )


def elicit(message: str, schema: dict[str, Any]) -> types.ElicitRequest:
    """A form-mode elicitation request."""
    return types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=schema))


def sample(prompt: str, max_tokens: int) -> types.CreateMessageRequest:
    """A one-message sampling request."""
    message = types.SamplingMessage(role="user", content=text(prompt))
    return types.CreateMessageRequest(
        params=types.CreateMessageRequestParams(messages=[message], max_tokens=max_tokens)
    )


def ask_name(message: str = "What is your name?") -> types.ElicitRequest:
    """The elicitation several input-required scenarios share."""
    return elicit(
        message, {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    )


@contextmanager
def deprecated_on_purpose() -> Iterator[None]:
    """Silence the SDK's MCPDeprecationWarning for a feature the 2025-11-25 scenarios exist to test.

    SEP-2577 deprecates logging (among others) as of 2026-07-28; the fixture must still serve it. The SDK
    warns synchronously when the deprecated callable is called, so the block must hold no `await`:
    `catch_warnings` swaps process-wide state that other tasks would otherwise see.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        yield


def is_modern(ctx: Ctx) -> bool:
    """Whether the request speaks the 2026-07-28 era, where questions ride an `InputRequiredResult`."""
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def capability_for(request: types.InputRequest) -> types.ClientCapabilities:
    """The client capability a server-to-client request needs."""
    if isinstance(request, types.ElicitRequest):
        return types.ClientCapabilities(elicitation=types.ElicitationCapability())
    if isinstance(request, types.CreateMessageRequest):
        return types.ClientCapabilities(sampling=types.SamplingCapability())
    return types.ClientCapabilities(roots=types.RootsCapability())


def declares(ctx: Ctx, request: types.InputRequest) -> bool:
    """Whether the client declared the capability `request` needs."""
    return ctx.session.check_client_capability(capability_for(request))


def require(ctx: Ctx, *requests: types.InputRequest) -> None:
    """Refuse with -32021 (both eras) when the client lacks a capability the call cannot do without."""
    for request in requests:
        if not declares(ctx, request):
            data = types.MissingRequiredClientCapabilityErrorData(
                required_capabilities=capability_for(request)
            )
            raise MCPError(
                code=types.MISSING_REQUIRED_CLIENT_CAPABILITY,
                message=f"Client does not support {request.method}",
                data=data.model_dump(by_alias=True, mode="json", exclude_none=True),
            )


async def push(ctx: Ctx, request: types.InputRequest) -> types.InputResponse:
    """Send one server-to-client request on the calling request's own stream (2025-11-25)."""
    related = ServerMessageMetadata(related_request_id=ctx.request_id)
    if isinstance(request, types.ElicitRequest):
        return await ctx.session.send_request(request, types.ElicitResult, metadata=related)
    if isinstance(request, types.CreateMessageRequest):
        return await ctx.session.send_request(request, types.CreateMessageResult, metadata=related)
    return await ctx.session.send_request(request, types.ListRootsResult, metadata=related)


async def ask(
    ctx: Ctx,
    params: types.InputResponseRequestParams,
    requests: Mapping[str, types.InputRequest],
    state: str | None = None,
) -> Answers | types.InputRequiredResult:
    """The client's answers to `requests`, or the `InputRequiredResult` that asks for the missing ones.

    On 2026-07-28 answers arrive on the retry's `inputResponses`; keys the client left out are asked again
    (never an error), keys nobody asked for are ignored. On 2025-11-25 each question is pushed mid-call.
    """
    if not is_modern(ctx):
        return {key: await push(ctx, request) for key, request in requests.items()}
    given = params.input_responses or {}
    missing = {key: request for key, request in requests.items() if key not in given}
    if missing:
        return types.InputRequiredResult(input_requests=missing, request_state=state)
    return {key: given[key] for key in requests}


def describe(answer: types.InputResponse) -> str:
    """A one-line account of an answer for the tool's text result."""
    if isinstance(answer, types.ElicitResult):
        return f"action={answer.action}, content={json.dumps(answer.content, sort_keys=True)}"
    if isinstance(answer, types.CreateMessageResult):
        content = answer.content
        return content.text if isinstance(content, types.TextContent) else f"<{content.type}>"
    if isinstance(answer, types.ListRootsResult):
        return ", ".join(str(root.uri) for root in answer.roots) or "no roots"
    return answer.model_dump_json(by_alias=True, exclude_none=True)


def elicited(answer: types.InputResponse, field: str) -> str:
    """One field of an accepted elicitation, or a marker when the user did not accept."""
    if isinstance(answer, types.ElicitResult) and answer.action == "accept" and answer.content:
        return str(answer.content.get(field, ""))
    return "<not provided>"


@dataclass(frozen=True, slots=True)
class FixtureTool:
    """A tool's advertised definition and the coroutine that runs it."""

    definition: types.Tool
    run: ToolFn


class MemoryEventStore(EventStore):
    """Keeps recent SSE events so a client cut off mid-call can resume with `Last-Event-ID` (SEP-1699)."""

    def __init__(self, capacity: int = 10_000) -> None:
        # Bounded: a long benchmark run must not grow the fixture without limit.
        self._events: deque[tuple[EventId, StreamId, types.JSONRPCMessage | None]] = deque(maxlen=capacity)
        self._counter = 0

    async def store_event(self, stream_id: StreamId, message: types.JSONRPCMessage | None) -> EventId:
        """Record one event (None is a priming event) and return its id."""
        self._counter += 1
        event_id = str(self._counter)
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        """Resend the events of `last_event_id`'s stream that followed it."""
        events = list(self._events)
        start = next((i for i, (event_id, _, _) in enumerate(events) if event_id == last_event_id), None)
        if start is None:
            return None
        stream_id = events[start][1]
        for event_id, stream, message in events[start + 1 :]:
            if stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


class EverythingServer(Server[Any]):
    """The fixture: tools, resources, prompts and utilities named after the conformance scenarios."""

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        # Process-wide on purpose: the hub shares one upstream session among its callers anyway.
        self.log_level: types.LoggingLevel = "debug"
        self.subscriptions: set[str] = set()
        self.extra_tool = False
        self.extra_prompt = False
        with deprecated_on_purpose():  # `on_set_logging_level` warns at construction
            super().__init__(
                NAME,
                version="1.0.0",
                instructions="Conformance fixture for the MCP hub.",
                get_tool_input_schema=self.input_schema,
                on_list_tools=self.list_tools,
                on_call_tool=self.call_tool,
                on_list_resources=self.list_resources,
                on_list_resource_templates=self.list_resource_templates,
                on_read_resource=self.read_resource,
                on_subscribe_resource=self.subscribe,
                on_unsubscribe_resource=self.unsubscribe,
                on_subscriptions_listen=ListenHandler(self.bus),
                on_list_prompts=self.list_prompts,
                on_get_prompt=self.get_prompt,
                on_completion=self.complete,
                on_set_logging_level=self.set_logging_level,
            )
        # requestState leaves sealed and comes back verified, so a tampered state is refused with -32602.
        self.middleware.append(RequestStateBoundary(RequestStateSecurity.ephemeral(), default_audience=NAME))
        self.tools = {tool.definition.name: tool for tool in self.build_tools()}

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        """Advertise the list changes the trigger tools cause; HTTP sessions call this without options."""
        notify = notification_options or NotificationOptions(prompts_changed=True, tools_changed=True)
        return super().create_initialization_options(notify, experimental_capabilities, extensions)

    # --- tools ---------------------------------------------------------------------------------------------

    def build_tools(self) -> list[FixtureTool]:
        """The tool table: each scenario's tool under the exact name the suite calls."""

        def tool(
            name: str, description: str, run: ToolFn, schema: dict[str, Any] | None = None
        ) -> FixtureTool:
            definition = types.Tool(name=name, description=description, input_schema=schema or NO_ARGUMENTS)
            return FixtureTool(definition, run)

        message_schema = {
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        }
        prompt_schema = {
            "type": "object",
            "properties": {"prompt": {"type": "string"}},
            "required": ["prompt"],
        }
        header_schema = {
            "type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
            "required": ["region"],
        }
        return [
            tool("test_simple_text", "Returns simple text", self.simple_text),
            tool("test_image_content", "Returns a PNG image", self.image_content),
            tool("test_audio_content", "Returns a WAV clip", self.audio_content),
            tool("test_embedded_resource", "Returns an embedded resource", self.embedded_resource),
            tool("test_multiple_content_types", "Returns text, image and resource", self.multiple_content),
            tool("test_tool_with_logging", "Logs three messages while running", self.with_logging),
            tool("test_tool_with_progress", "Reports progress 0, 50, 100", self.with_progress),
            tool("test_sampling", "Asks the client's LLM", self.sampling, prompt_schema),
            tool("test_elicitation", "Asks the user for name and email", self.elicitation, message_schema),
            tool("test_elicitation_sep1034_defaults", "Elicits with defaults (SEP-1034)", self.elicit_defaults),
            tool("test_elicitation_sep1330_enums", "Elicits every enum form (SEP-1330)", self.elicit_enums),
            tool("test_error_handling", "Always fails", self.error_handling),
            tool("test_x_mcp_header", "Echoes a header-mirrored argument (SEP-2243)", self.x_mcp_header, header_schema),
            tool("test_missing_capability", "Needs the sampling capability", self.missing_capability),
            tool("test_reconnection", "Closes its SSE stream mid-call (SEP-1699)", self.reconnection),
            tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", self.schema_2020_12, JSON_SCHEMA_2020_12),
            tool("test_trigger_tool_change", "Adds or removes a tool", self.trigger_tool_change),
            tool("test_trigger_prompt_change", "Adds or removes a prompt", self.trigger_prompt_change),
            # Diagnostics of the 2026-07-28 stateless scenario: questions must ride the result, never a
            # standalone request on the stream, and logs stay silent unless the request opted in.
            tool("test_streaming_elicitation", "Asks the user mid-call", self.streaming_elicitation),
            tool("test_logging_tool", "Logs while running", self.with_logging),
            tool("test_input_required_result_elicitation", "Input required: elicitation", self.irr_elicitation),
            tool("test_input_required_result_sampling", "Input required: sampling", self.irr_sampling),
            tool("test_input_required_result_list_roots", "Input required: roots", self.irr_list_roots),
            tool("test_input_required_result_request_state", "Input required with state", self.irr_request_state),
            tool("test_input_required_result_multiple_inputs", "Three questions at once", self.irr_multiple),
            tool("test_input_required_result_multi_round", "Two rounds of questions", self.irr_multi_round),
            tool("test_input_required_result_tampered_state", "State is integrity-protected", self.irr_tampered),
            tool("test_input_required_result_capabilities", "Asks only what the client can answer", self.irr_caps),
        ]  # fmt: skip

    def visible_tools(self) -> list[FixtureTool]:
        """The tools listed right now, including the one `test_trigger_tool_change` toggles."""
        tools = list(self.tools.values())
        if self.extra_tool:
            tools.append(FixtureTool(types.Tool(name="test_added_tool", description="Added by a trigger", input_schema=NO_ARGUMENTS), self.simple_text))  # fmt: skip
        return tools

    def input_schema(self, name: str) -> dict[str, Any] | None:
        """A tool's input schema, for the SDK's `Mcp-Param-*` header validation (SEP-2243)."""
        tool = self.tools.get(name)
        return None if tool is None else tool.definition.input_schema

    async def list_tools(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        """Serve `tools/list`."""
        return types.ListToolsResult(tools=[tool.definition for tool in self.visible_tools()])

    async def call_tool(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Serve `tools/call`; an unknown tool is -32602."""
        tool = next((t for t in self.visible_tools() if t.definition.name == params.name), None)
        if tool is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {params.name}")
        return await tool.run(ctx, params)

    async def simple_text(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Return one fixed text block."""
        return types.CallToolResult(content=[text("This is a simple text response for testing.")])

    async def image_content(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Return the red pixel."""
        return types.CallToolResult(content=[image()])

    async def audio_content(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Return the silent clip."""
        return types.CallToolResult(
            content=[types.AudioContent(type="audio", data=WAV, mime_type="audio/wav")]
        )

    async def embedded_resource(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Return a text resource embedded in the result."""
        body = "This is an embedded resource content."
        return types.CallToolResult(content=[embedded("test://embedded-resource", body)])

    async def multiple_content(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Return text, image and an embedded JSON resource together."""
        data = embedded("test://mixed-content-resource", '{"test":"data","value":123}', "application/json")
        return types.CallToolResult(content=[text("Multiple content types test:"), image(), data])

    async def with_logging(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Log three info messages spread over the call."""
        messages = ("Tool execution started", "Tool processing data", "Tool execution completed")
        for step, message in enumerate(messages):
            if step:
                await anyio.sleep(0.05)  # the scenario wants the messages spread over the call
            await self.log(ctx, "info", message)
        return types.CallToolResult(content=[text("Tool with logging executed successfully")])

    async def with_progress(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Report progress 0, 50 and 100 of 100 against the caller's token."""
        for step, progress in enumerate((0.0, 50.0, 100.0)):
            if step:
                await anyio.sleep(0.05)  # the scenario wants the notifications spread over the call
            await ctx.session.report_progress(progress, 100.0, f"Completed step {step + 1} of 3")
        return types.CallToolResult(content=[text("Tool with progress executed successfully")])

    async def sampling(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask the client's LLM the caller's prompt."""
        request = sample(str((params.arguments or {}).get("prompt", "")), 100)
        require(ctx, request)
        answers = await ask(ctx, params, {"sampling": request})
        if isinstance(answers, types.InputRequiredResult):
            return answers
        return types.CallToolResult(content=[text(f"LLM response: {describe(answers['sampling'])}")])

    async def elicitation(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask the user for a username and an email."""
        schema = {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        }
        request = elicit(str((params.arguments or {}).get("message", "")), schema)
        return await self.elicit_and_report(ctx, params, request, "User response: ")

    async def elicit_defaults(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Elicit a form whose every primitive field carries a default (SEP-1034)."""
        schema = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "default": "John Doe"},
                "age": {"type": "integer", "default": 30},
                "score": {"type": "number", "default": 95.5},
                "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "default": True},
            },
        }
        request = elicit("Please review and update the form fields with defaults", schema)
        return await self.elicit_and_report(ctx, params, request, "Elicitation completed: ")

    async def elicit_enums(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Elicit a form with all five enum shapes (SEP-1330)."""
        options = ["option1", "option2", "option3"]
        titled = [
            {"const": f"value{i}", "title": title} for i, title in enumerate(("First", "Second", "Third"), 1)
        ]
        schema = {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "enum": options},
                "titledSingle": {"type": "string", "oneOf": [{**t, "title": f"{t['title']} Option"} for t in titled]},
                "legacyEnum": {
                    "type": "string",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {"type": "array", "items": {"type": "string", "enum": options}},
                "titledMulti": {"type": "array", "items": {"anyOf": [{**t, "title": f"{t['title']} Choice"} for t in titled]}},
            },
        }  # fmt: skip
        request = elicit("Please select options from the enum fields", schema)
        return await self.elicit_and_report(ctx, params, request, "Elicitation completed: ")

    async def elicit_and_report(
        self, ctx: Ctx, params: types.CallToolRequestParams, request: types.ElicitRequest, prefix: str
    ) -> ToolResult:
        """Ask one elicitation and report the user's action and content as text."""
        require(ctx, request)
        answers = await ask(ctx, params, {"elicitation": request})
        if isinstance(answers, types.InputRequiredResult):
            return answers
        return types.CallToolResult(content=[text(prefix + describe(answers["elicitation"]))])

    async def streaming_elicitation(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask the user mid-call; on 2026-07-28 the question must ride the result."""
        return await self.elicit_and_report(ctx, params, ask_name(), "Elicited: ")

    async def error_handling(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Fail as a tool (isError), not as a protocol error."""
        failure = text("This tool intentionally returns an error for testing")
        return types.CallToolResult(content=[failure], is_error=True)

    async def x_mcp_header(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Echo the argument the client also mirrors into the `Mcp-Param-Region` header."""
        return types.CallToolResult(content=[text(f"region={(params.arguments or {}).get('region', '')}")])

    async def missing_capability(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Sample the client's LLM, refusing with -32021 when the client cannot."""
        request = sample("Say hello", 20)
        require(ctx, request)
        answers = await ask(ctx, params, {"greeting": request})
        if isinstance(answers, types.InputRequiredResult):
            return answers
        return types.CallToolResult(content=[text(f"Sampled: {describe(answers['greeting'])}")])

    async def reconnection(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Cut the SSE stream mid-call so the client must resume it (SEP-1699)."""
        if ctx.close_sse_stream is not None:
            await ctx.close_sse_stream()
            # Still "working" after the cut, so the result reaches the client only through its resumed stream.
            await anyio.sleep(0.1)
        return types.CallToolResult(content=[text("Reconnection test completed")])

    async def schema_2020_12(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Echo the arguments; the point is the advertised JSON Schema 2020-12 input schema."""
        return types.CallToolResult(content=[text(json.dumps(params.arguments or {}, sort_keys=True))])

    async def trigger_tool_change(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Toggle `test_added_tool` and announce the changed tool list."""
        self.extra_tool = not self.extra_tool
        await self.bus.publish(ToolsListChanged())
        if not is_modern(ctx):
            await ctx.session.send_tool_list_changed()
        return types.CallToolResult(content=[text(f"test_added_tool listed: {self.extra_tool}")])

    async def trigger_prompt_change(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Toggle `test_added_prompt` and announce the changed prompt list."""
        self.extra_prompt = not self.extra_prompt
        await self.bus.publish(PromptsListChanged())
        if not is_modern(ctx):
            await ctx.session.send_prompt_list_changed()
        return types.CallToolResult(content=[text(f"test_added_prompt listed: {self.extra_prompt}")])

    # --- the 2026-07-28 multi-round-trip scenarios (SEP-2322) ------------------------------------------------

    async def irr_elicitation(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask for a name under the key `user_name`."""
        answers = await ask(ctx, params, {"user_name": ask_name()})
        if isinstance(answers, types.InputRequiredResult):
            return answers
        return types.CallToolResult(content=[text(f"Hello, {elicited(answers['user_name'], 'name')}!")])

    async def irr_sampling(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask the LLM under the key `capital_question`."""
        answers = await ask(ctx, params, {"capital_question": sample("What is the capital of France?", 100)})
        if isinstance(answers, types.InputRequiredResult):
            return answers
        return types.CallToolResult(
            content=[text(f"The model said: {describe(answers['capital_question'])}")]
        )

    async def irr_list_roots(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask for the client's roots under the key `client_roots`."""
        answers = await ask(ctx, params, {"client_roots": types.ListRootsRequest()})
        if isinstance(answers, types.InputRequiredResult):
            return answers
        return types.CallToolResult(content=[text(f"Client roots: {describe(answers['client_roots'])}")])

    async def irr_request_state(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask for confirmation and insist the retry echoes the state."""
        confirm = elicit(
            "Please confirm",
            {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
        )
        answers = await ask(ctx, params, {"confirm": confirm}, state="awaiting-confirmation")
        if isinstance(answers, types.InputRequiredResult):
            return answers
        # On 2025-11-25 the question was pushed mid-call, so there was no state to round-trip.
        if is_modern(ctx) and params.request_state != "awaiting-confirmation":
            raise MCPError(code=types.INVALID_PARAMS, message="requestState missing or unexpected")
        return types.CallToolResult(
            content=[text(f"state-ok: confirmed={elicited(answers['confirm'], 'ok')}")]
        )

    async def irr_multiple(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask for elicitation, sampling and roots in one round."""
        questions: dict[str, types.InputRequest] = {
            "user_name": ask_name(),
            "greeting": sample("Generate a greeting", 50),
            "client_roots": types.ListRootsRequest(),
        }
        answers = await ask(ctx, params, questions, state="awaiting-three-answers")
        if isinstance(answers, types.InputRequiredResult):
            return answers
        summary = "; ".join(f"{key}: {describe(answer)}" for key, answer in answers.items())
        return types.CallToolResult(content=[text(f"All inputs received. {summary}")])

    async def irr_multi_round(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask a name, then a colour in a second round, carrying the name in the state."""
        if params.request_state is None or not params.request_state.startswith("round-2:"):
            first = await ask(ctx, params, {"step1": ask_name("Step 1: What is your name?")}, state="round-1")
            if isinstance(first, types.InputRequiredResult):
                return first
            name = elicited(first["step1"], "name")
            if is_modern(ctx):
                # Round two asks afresh: the step-1 answer is carried forward in the (sealed) state.
                params = params.model_copy(
                    update={"input_responses": None, "request_state": f"round-2:{name}"}
                )
        else:
            name = params.request_state.removeprefix("round-2:")
        color_schema = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
        step2 = elicit("Step 2: What is your favorite color?", color_schema)
        second = await ask(ctx, params, {"step2": step2}, state=params.request_state)
        if isinstance(second, types.InputRequiredResult):
            return second
        return types.CallToolResult(content=[text(f"{name} likes {elicited(second['step2'], 'color')}")])

    async def irr_tampered(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask with integrity-protected state; a tampered echo never reaches this body."""
        # The RequestStateBoundary middleware has already refused a tampered state before this runs.
        answers = await ask(ctx, params, {"user_name": ask_name()}, state="integrity-protected")
        if isinstance(answers, types.InputRequiredResult):
            return answers
        return types.CallToolResult(
            content=[text(f"state verified for {elicited(answers['user_name'], 'name')}")]
        )

    async def irr_caps(self, ctx: Ctx, params: types.CallToolRequestParams) -> ToolResult:
        """Ask only what the client's declared capabilities let it answer."""
        wanted: dict[str, types.InputRequest] = {
            "user_name": ask_name(),
            "capital_question": sample("What is the capital of France?", 100),
        }
        possible = {key: request for key, request in wanted.items() if declares(ctx, request)}
        if not possible:
            require(ctx, *wanted.values())
        answers = await ask(ctx, params, possible)
        if isinstance(answers, types.InputRequiredResult):
            return answers
        summary = "; ".join(f"{key}: {describe(answer)}" for key, answer in answers.items())
        return types.CallToolResult(content=[text(f"Answered: {summary}")])

    # --- logging ---------------------------------------------------------------------------------------------

    async def set_logging_level(self, ctx: Ctx, params: types.SetLevelRequestParams) -> types.EmptyResult:
        """Serve `logging/setLevel` (2025-11-25)."""
        self.log_level = params.level
        return types.EmptyResult()

    async def log(self, ctx: Ctx, level: types.LoggingLevel, message: str) -> None:
        """Send a log message on the calling request's stream when `level` passes the set level."""
        if LOG_LEVELS.index(level) >= LOG_LEVELS.index(self.log_level):
            with deprecated_on_purpose():
                sending = ctx.session.send_log_message(
                    level, message, logger=NAME, related_request_id=ctx.request_id
                )
            await sending

    # --- resources -------------------------------------------------------------------------------------------

    STATIC_RESOURCES: tuple[tuple[str, str, str, str], ...] = (
        ("test://static-text", "static-text", "text/plain", "A static text resource"),
        ("test://static-binary", "static-binary", "image/png", "A static binary resource (a PNG)"),
        ("test://watched-resource", "watched-resource", "text/plain", "A resource clients can subscribe to"),
    )
    TEMPLATE = re.compile(r"test://template/(?P<id>[^/]+)/data")

    async def list_resources(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        """Serve `resources/list`: the static resources."""
        resources = [
            types.Resource(uri=uri, name=name, mime_type=mime_type, description=description)
            for uri, name, mime_type, description in self.STATIC_RESOURCES
        ]
        return types.ListResourcesResult(resources=resources)

    async def list_resource_templates(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        """Serve `resources/templates/list`."""
        template = types.ResourceTemplate(
            uri_template="test://template/{id}/data",
            name="template-data",
            description="Data for an id, substituted from the URI",
            mime_type="application/json",
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(
        self, ctx: Ctx, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        """Serve `resources/read` for the static resources and the template."""
        uri = str(params.uri)
        contents: types.TextResourceContents | types.BlobResourceContents
        if uri == "test://static-text":
            body = "This is the content of the static text resource."
            contents = types.TextResourceContents(uri=uri, mime_type="text/plain", text=body)
        elif uri == "test://static-binary":
            contents = types.BlobResourceContents(uri=uri, mime_type="image/png", blob=PNG)
        elif uri == "test://watched-resource":
            contents = types.TextResourceContents(
                uri=uri, mime_type="text/plain", text="Watched resource content."
            )
        elif match := self.TEMPLATE.fullmatch(uri):
            data = {"id": match["id"], "templateTest": True, "data": f"Data for ID: {match['id']}"}
            body = json.dumps(data, separators=(",", ":"))
            contents = types.TextResourceContents(uri=uri, mime_type="application/json", text=body)
        else:
            # SEP-2164: an unknown URI is -32602 naming the URI, never an empty `contents`.
            raise MCPError(code=types.INVALID_PARAMS, message="Resource not found", data={"uri": uri})
        return types.ReadResourceResult(contents=[contents])

    async def subscribe(self, ctx: Ctx, params: types.SubscribeRequestParams) -> types.EmptyResult:
        """Serve `resources/subscribe` (2025-11-25)."""
        self.subscriptions.add(str(params.uri))
        return types.EmptyResult()

    async def unsubscribe(self, ctx: Ctx, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        """Serve `resources/unsubscribe` (2025-11-25)."""
        self.subscriptions.discard(str(params.uri))
        return types.EmptyResult()

    # --- prompts ---------------------------------------------------------------------------------------------

    async def list_prompts(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        """Serve `prompts/list`."""

        def argument(name: str, description: str) -> types.PromptArgument:
            return types.PromptArgument(name=name, description=description, required=True)

        prompts = [
            types.Prompt(name="test_simple_prompt", description="A simple prompt without arguments"),
            types.Prompt(
                name="test_prompt_with_arguments",
                description="A prompt with two required arguments",
                arguments=[argument("arg1", "First test argument"), argument("arg2", "Second test argument")],
            ),
            types.Prompt(
                name="test_prompt_with_embedded_resource",
                description="A prompt embedding a resource",
                arguments=[argument("resourceUri", "URI of the resource to embed")],
            ),
            types.Prompt(name="test_prompt_with_image", description="A prompt with an image"),
            types.Prompt(
                name="test_input_required_result_prompt", description="A prompt that asks the user first"
            ),
        ]
        if self.extra_prompt:
            prompts.append(types.Prompt(name="test_added_prompt", description="Added by a trigger"))
        return types.ListPromptsResult(prompts=prompts)

    async def get_prompt(
        self, ctx: Ctx, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        """Serve `prompts/get`; one prompt asks the user first."""
        args = params.arguments or {}

        def user(*blocks: types.ContentBlock) -> list[types.PromptMessage]:
            return [types.PromptMessage(role="user", content=block) for block in blocks]

        match params.name:
            case "test_simple_prompt" | "test_added_prompt":
                messages = user(text("This is a simple prompt for testing."))
            case "test_prompt_with_arguments":
                arg1, arg2 = args.get("arg1", ""), args.get("arg2", "")
                messages = user(text(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"))
            case "test_prompt_with_embedded_resource":
                resource = embedded(args.get("resourceUri", ""), "Embedded resource content for testing.")
                messages = user(resource, text("Please process the embedded resource above."))
            case "test_prompt_with_image":
                messages = user(image(), text("Please analyze the image above."))
            case "test_input_required_result_prompt":
                question = elicit(
                    "What context should the prompt use?",
                    {
                        "type": "object",
                        "properties": {"context": {"type": "string"}},
                        "required": ["context"],
                    },
                )
                answers = await ask(ctx, params, {"user_context": question})
                if isinstance(answers, types.InputRequiredResult):
                    return answers
                messages = user(text(f"Use this context: {elicited(answers['user_context'], 'context')}"))
            case _:
                raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {params.name}")
        return types.GetPromptResult(description=f"The {params.name} prompt", messages=messages)

    # --- completion ------------------------------------------------------------------------------------------

    async def complete(self, ctx: Ctx, params: types.CompleteRequestParams) -> types.CompleteResult:
        """Serve `completion/complete` with prefix matches for the prompt and template arguments."""
        candidates = {"arg1": ["paris", "park", "party"], "arg2": ["world", "wonder"], "id": ["1", "2", "3"]}
        prefix = params.argument.value
        values = [value for value in candidates.get(params.argument.name, []) if value.startswith(prefix)]
        return types.CompleteResult(
            completion=types.Completion(values=values, total=len(values), has_more=False)
        )


async def serve_stdio(server: EverythingServer) -> None:
    """Serve one client over stdin/stdout."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def serve_http(server: EverythingServer, host: str, port: int) -> None:
    """Serve streamable HTTP at /mcp, resumable so the SSE polling scenario can reconnect."""
    app = server.streamable_http_app(event_store=MemoryEventStore(), retry_interval=100, host=host)
    # h11, not httptools: h11 trims the whitespace around header values as RFC 9110 asks, and the
    # suite sends a padded Mcp-Param header to check exactly that.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", http="h11")
    await uvicorn.Server(config).serve()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=("streamable-http", "stdio"), default="streamable-http")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    args = parser.parse_args(argv)
    server = EverythingServer()
    if args.transport == "stdio":
        anyio.run(serve_stdio, server)
    else:
        anyio.run(serve_http, server, args.host, args.port)


if __name__ == "__main__":
    main()
