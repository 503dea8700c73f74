"""The hub's MCP server: one low-level SDK ``Server`` whose handlers call the dispatcher.

Both protocol eras are served by the same handlers; the SDK picks the era per connection. Which
caller a request belongs to comes from the transport: HTTP-like faces attach the authenticated
``Caller`` to the request scope, stdio uses the process's local identity.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any

import anyio
import mcp.types as types
import orjson
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from hub import __version__
from hub.app import App
from hub.dispatch import CallOutcome
from hub.errors import AuthError, HubError, NotFound, PermissionDenied
from hub.identity import Caller
from hub.proxy import UpstreamRPCError
from hub.proxy.errors import RequestStateError
from hub.server.forwarding import (
    LOG_LEVEL_STATE_KEY,
    connection_state,
    deferred_sampler_for,
    forwarder_for,
    sampler_for,
)
from hub.server.listing import ToolListCache, input_schema_lookup, listed_now
from hub.server.subscribers import ChangeStreams, ListChangedNotifier, ResourceSubscribers
from hub.tools.base import ToolSpec
from hub.upstreams import LiveServer, hop_meta

__all__ = ["CALLER_SCOPE_KEY", "build_server", "caller_of", "to_mcp_error"]

log = logging.getLogger(__name__)

# Where HTTP-like faces leave the authenticated caller in the ASGI scope's "state".
CALLER_SCOPE_KEY = "hub.caller"

# How long ``logging/setLevel`` waits for the upstreams to take the new level before answering anyway.
SET_LEVEL_SECONDS = 10.0

INSTRUCTIONS = (
    "One MCP endpoint for manufacturing judgments, rules, workflows, data connectors and every "
    "registered upstream MCP server. Upstream tools appear as <prefix>__<tool>."
)


def _require(caller: Caller, permission: str) -> None:
    if not caller.can(permission):
        raise to_mcp_error(
            PermissionDenied(
                f"role '{caller.role}' of user '{caller.username}' lacks permission '{permission}'"
            )
        )


def to_mcp_error(exc: HubError) -> MCPError:
    """The JSON-RPC error a hub error becomes at the server face.

    An upstream's refusal of the request passes as it came: its code and data mean something to the
    caller (-32602 with ``data.uri`` for an unknown resource, -32021 naming the capability the call
    needs). Other upstream errors are the upstream failing, reported like any hub error.
    """
    if isinstance(exc, UpstreamRPCError) and exc.refusal:
        return MCPError.from_error_data(exc.error)
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


def _not_found(exc: NotFound, message: str, **data: str) -> MCPError:
    """SEP-2164: a resource, prompt or tool nobody offers is -32602 naming it, not a hub-specific code."""
    return MCPError(types.INVALID_PARAMS, message, {**data, "kind": "NotFound", "detail": str(exc)})


def build_server(app: App) -> Server[Any]:
    """The MCP server of one hub."""
    notifier = ListChangedNotifier()
    app.list_changed_listeners.append(notifier.notify)
    streams = ChangeStreams()
    app.list_changed_listeners.append(streams.notify)
    subscribers = ResourceSubscribers(streams.publish)
    app.upstreams.resource_listeners.append(subscribers.deliver)

    def listed(caller: Caller) -> list[object]:
        # Own tools and routed hub tools as ToolSpec, upstream tools as ready descriptions; the
        # objects themselves are what the list cache compares, so nothing is converted here.
        items: list[object] = list(app.dispatcher.visible_own_tools(caller))
        for router in app.dispatcher.routers:
            for item in router.listed(caller):
                if isinstance(item, ToolSpec):
                    if caller.can(item.permission):
                        items.append(item)
                elif isinstance(item, types.Tool):
                    items.append(item)
        return items

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        caller = await caller_of(app, ctx)
        notifier.track(caller.tenant_id, ctx)
        items = listed_now()
        if items is None:
            items = listed(caller)
        tools = [
            tool_of(i) if isinstance(i, ToolSpec) else i
            for i in items
            if isinstance(i, ToolSpec | types.Tool)
        ]
        return types.ListToolsResult(tools=tools)

    async def list_resources(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        caller = await caller_of(app, ctx)
        _require(caller, "mcp:read")
        return types.ListResourcesResult(resources=app.upstreams.resources_for(caller))

    async def list_templates(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        caller = await caller_of(app, ctx)
        _require(caller, "mcp:read")
        return types.ListResourceTemplatesResult(resource_templates=app.upstreams.templates_for(caller))

    async def read_resource(
        ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        caller = await caller_of(app, ctx)
        _require(caller, "mcp:read")
        forwarder = forwarder_for(ctx, caller, params)
        try:
            live, uri = app.upstreams.route_uri(caller, str(params.uri))
        except NotFound as exc:
            raise _not_found(exc, "Resource not found", uri=str(params.uri)) from exc
        try:
            return await live.upstream.read_resource(
                uri,
                meta=hop_meta(params.meta),
                forwarder=forwarder,
                input_responses=params.input_responses,
                request_state=params.request_state,
                resolve_input_required=not forwarder.modern,
            )
        except HubError as exc:
            raise to_mcp_error(exc) from exc

    async def list_prompts(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        caller = await caller_of(app, ctx)
        notifier.track(caller.tenant_id, ctx)
        prompts = list(await app.own_prompts(caller)) if caller.can("mcp:read") else []
        if caller.can("mcp:read"):
            prompts.extend(app.upstreams.prompts_for(caller))
        return types.ListPromptsResult(prompts=prompts)

    async def get_prompt(
        ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        caller = await caller_of(app, ctx)
        _require(caller, "mcp:read")
        forwarder = forwarder_for(ctx, caller, params)
        try:
            own = await app.get_own_prompt(caller, params.name, dict(params.arguments or {}))
            if own is not None:
                return own
            try:
                live, name = app.upstreams.route_prompt(caller, params.name)
            except NotFound as exc:
                raise _not_found(exc, f"Unknown prompt: {params.name}", name=params.name) from exc
            return await live.upstream.get_prompt(
                name,
                params.arguments,
                meta=hop_meta(params.meta),
                forwarder=forwarder,
                input_responses=params.input_responses,
                request_state=params.request_state,
                resolve_input_required=not forwarder.modern,
            )
        except HubError as exc:
            raise to_mcp_error(exc) from exc

    async def complete(
        ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        caller = await caller_of(app, ctx)
        _require(caller, "mcp:read")
        ref = params.ref
        try:
            if isinstance(ref, types.PromptReference):
                live, name = app.upstreams.route_prompt(caller, ref.name)
                ref = ref.model_copy(update={"name": name})
            else:
                live, uri = app.upstreams.route_uri(caller, ref.uri)
                ref = ref.model_copy(update={"uri": uri})
        except NotFound as exc:
            named = ref.name if isinstance(ref, types.PromptReference) else ref.uri
            raise _not_found(exc, f"Nothing to complete: no upstream offers {named!r}") from exc
        try:
            return await live.upstream.complete(ref, params.argument, params.context)
        except HubError as exc:
            raise to_mcp_error(exc) from exc

    async def subscription(ctx: ServerRequestContext[Any, Any], uri: str, *, on: bool) -> types.EmptyResult:
        caller = await caller_of(app, ctx)
        _require(caller, "mcp:read")
        try:
            live, own_uri = app.upstreams.route_uri(caller, uri)
            # One upstream subscription per tenant and URI, made by the first caller, ended by the last.
            if on and subscribers.add(caller.tenant_id, uri, ctx):
                try:
                    await live.upstream.subscribe(own_uri)
                except BaseException:
                    subscribers.remove(caller.tenant_id, uri, ctx)
                    raise
            elif not on and subscribers.remove(caller.tenant_id, uri, ctx):
                await live.upstream.unsubscribe(own_uri)
        except HubError as exc:
            raise to_mcp_error(exc) from exc
        return types.EmptyResult()

    async def subscribe(
        ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        return await subscription(ctx, str(params.uri), on=True)

    async def unsubscribe(
        ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        return await subscription(ctx, str(params.uri), on=False)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        caller = await caller_of(app, ctx)
        meta = dict(params.meta) if params.meta else None

        async def progress(done: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(done, total, message)

        try:
            outcome = await app.dispatcher.call(
                caller,
                params.name,
                params.arguments,
                meta=meta,
                progress=progress,
                sample=sampler_for(ctx) or deferred_sampler_for(ctx, params),
                forwarder=forwarder_for(ctx, caller, params),
            )
        except NotFound as exc:
            raise _not_found(exc, f"Unknown tool: {params.name}", name=params.name) from exc
        except HubError as exc:
            raise to_mcp_error(exc) from exc
        error = outcome.error
        if isinstance(error, RequestStateError) or (isinstance(error, UpstreamRPCError) and error.refusal):
            # Not the tool failing but the request: the upstream refused it with a JSON-RPC error (a
            # capability the caller lacks, bad input responses), or its request_state is not valid.
            # The caller needs the protocol error, code and data, not a tool result describing one.
            raise to_mcp_error(error)
        if outcome.passthrough is not None:
            payload = outcome.passthrough.payload
            assert isinstance(payload, types.CallToolResult | types.InputRequiredResult)
            return payload
        if isinstance(outcome.value, types.InputRequiredResult):
            # A judgment asked the caller's model through the input-required flow (2026-07-28).
            return outcome.value
        return result_of(outcome)

    async def set_logging_level(
        ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        """2025-11-25: this connection's level, and a level every upstream of the tenant sends at least."""
        caller = await caller_of(app, ctx)
        state = connection_state(ctx)
        if state is not None:
            state[LOG_LEVEL_STATE_KEY] = params.level

        async def tell(live: LiveServer) -> None:
            try:
                await live.upstream.set_logging_level(params.level, timeout_seconds=SET_LEVEL_SECONDS)
            except HubError as exc:
                # The caller's own level holds regardless: the hub filters what reaches it.
                log.warning("upstream %s did not take log level %s: %s", live.record.name, params.level, exc)

        async with anyio.create_task_group() as tg:
            for live in app.upstreams.servers_of(caller.tenant_id):
                tg.start_soon(tell, live)
        return types.EmptyResult()

    async def listen(
        ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        caller = await caller_of(app, ctx)
        return await streams.handler(caller.tenant_id)(ctx, params)

    with warnings.catch_warnings():
        # Logging is deprecated at 2026-07-28 (the SDK warns for the handler); 2025-11-25 callers need it.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        server: Server[Any] = Server(
            "mcp-hub",
            version=__version__,
            instructions=INSTRUCTIONS,
            on_list_tools=list_tools,
            on_call_tool=call_tool,
            on_list_resources=list_resources,
            on_list_resource_templates=list_templates,
            on_read_resource=read_resource,
            on_subscribe_resource=subscribe,
            on_unsubscribe_resource=unsubscribe,
            on_subscriptions_listen=listen,
            on_list_prompts=list_prompts,
            on_get_prompt=get_prompt,
            on_completion=complete,
            on_set_logging_level=set_logging_level,
        )
    if not app.settings.otel:
        # The SDK wraps every request in an OpenTelemetry span by default; the hub keeps its own
        # trace ids in the call log, and the span costs time on every proxied call.
        server.middleware.clear()
    server.middleware.append(
        ToolListCache(
            functools.partial(caller_of, app),
            listed,
            lambda caller, ctx: notifier.track(caller.tenant_id, ctx),
        )
    )
    server.get_tool_input_schema = input_schema_lookup(app.dispatcher)
    # Callers are told when the tool list changes (upstreams come and go, rule sets deploy).
    server.create_initialization_options = functools.partial(  # type: ignore[method-assign]
        server.create_initialization_options,
        NotificationOptions(tools_changed=True, resources_changed=True, prompts_changed=True),
    )
    return server
