"""The hub's MCP server: one low-level SDK ``Server`` whose handlers call the dispatcher.

Both protocol eras are served by the same handlers; the SDK picks the era per connection. Which
caller a request belongs to comes from the transport: HTTP-like faces attach the authenticated
``Caller`` to the request scope, stdio uses the process's local identity.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import mcp.types as types
import orjson
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from hub import __version__
from hub.app import App
from hub.dispatch import CallOutcome
from hub.errors import AuthError, HubError, NotFound
from hub.identity import Caller
from hub.tools.base import SampledText, SampleFn, ToolSpec

__all__ = ["CALLER_SCOPE_KEY", "build_server", "caller_of", "to_mcp_error"]

# Where HTTP-like faces leave the authenticated caller in the ASGI scope's "state".
CALLER_SCOPE_KEY = "hub.caller"

INSTRUCTIONS = (
    "One MCP endpoint for manufacturing judgments, rules, workflows, data connectors and every "
    "registered upstream MCP server. Upstream tools appear as <prefix>__<tool>."
)


def to_mcp_error(exc: HubError) -> MCPError:
    """The JSON-RPC error a hub error becomes at the server face."""
    data: dict[str, Any] = {"kind": type(exc).__name__, "retriable": exc.retriable}
    if exc.where:
        data["where"] = exc.where
    return MCPError(exc.code, str(exc), data)


async def caller_of(app: App, ctx: ServerRequestContext[Any, Any]) -> Caller:
    """The authenticated caller of a request."""
    request = ctx.request
    if request is not None:
        state = request.scope.get("state") or {}
        caller = state.get(CALLER_SCOPE_KEY)
        if isinstance(caller, Caller):
            return caller
        raise to_mcp_error(AuthError("the request carries no authenticated caller"))
    try:
        return await app.local_caller()
    except HubError as exc:
        raise to_mcp_error(exc) from exc


def tool_of(spec: ToolSpec) -> types.Tool:
    """The MCP description of an own tool."""
    annotations = None
    if spec.annotations:
        annotations = types.ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.annotations.get("readOnlyHint"),
            destructive_hint=spec.annotations.get("destructiveHint"),
            idempotent_hint=spec.annotations.get("idempotentHint"),
            open_world_hint=spec.annotations.get("openWorldHint"),
        )
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema,
        output_schema=spec.output_schema,
        annotations=annotations,
    )


def result_of(outcome: CallOutcome) -> types.CallToolResult:
    """The MCP result of an own tool's outcome (upstream passthroughs are returned as they came)."""
    if outcome.error is not None:
        err = outcome.error
        body: dict[str, Any] = {
            "error": {
                "kind": type(err).__name__,
                "code": err.code,
                "message": str(err),
                "retriable": err.retriable,
            }
        }
        if err.where:
            body["error"]["where"] = err.where
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=orjson.dumps(body).decode())], is_error=True
        )
    value = outcome.value
    text = orjson.dumps(value, default=str).decode()
    structured = value if isinstance(value, dict) else None
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=structured, is_error=False
    )


def sampler_for(ctx: ServerRequestContext[Any, Any]) -> SampleFn | None:
    """An LLM through the calling client, when it declared sampling and the channel allows it."""
    caps = ctx.session.client_capabilities
    if caps is None or caps.sampling is None or not ctx.session.can_send_request:
        return None

    async def sample(system: str, user: str, max_tokens: int, temperature: float | None) -> SampledText:
        with warnings.catch_warnings():
            # Sampling is deprecated at 2026-07-28, yet it is the only way to reach the caller's LLM.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            result = await ctx.session.create_message(
                [types.SamplingMessage(role="user", content=types.TextContent(type="text", text=user))],
                max_tokens=max_tokens,
                system_prompt=system,
                temperature=temperature,
                related_request_id=ctx.request_id,
            )
        content = result.content
        text = content.text if isinstance(content, types.TextContent) else ""
        return SampledText(text=text, model=result.model, stop_reason=result.stop_reason)

    return sample


def build_server(app: App) -> Server[Any]:
    """The MCP server of one hub."""

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        caller = await caller_of(app, ctx)
        tools = [tool_of(s) for s in app.dispatcher.visible_own_tools(caller)]
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        caller = await caller_of(app, ctx)
        meta = dict(params.meta) if params.meta else None

        async def progress(done: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(done, total, message)

        try:
            outcome = await app.dispatcher.call(
                caller, params.name, params.arguments, meta=meta, progress=progress, sample=sampler_for(ctx)
            )
        except NotFound as exc:
            raise MCPError(-32602, f"Unknown tool: {params.name}", {"kind": "NotFound"}) from exc
        except HubError as exc:
            raise to_mcp_error(exc) from exc
        if outcome.passthrough is not None:
            payload = outcome.passthrough.payload
            assert isinstance(payload, types.CallToolResult)
            return payload
        return result_of(outcome)

    server: Server[Any] = Server(
        "mcp-hub",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    # Callers are told when the tool list changes (upstreams come and go, rule sets deploy).
    server.create_initialization_options = functools.partial(  # type: ignore[method-assign]
        server.create_initialization_options,
        NotificationOptions(tools_changed=True, resources_changed=True, prompts_changed=True),
    )
    return server
