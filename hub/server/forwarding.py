"""What the MCP face hands the dispatcher so that an upstream's questions reach the calling client.

Sampling, elicitation and roots raised by an upstream during a call, and its log messages, go back to
the client that made the call: pushed requests for 2025-11-25 callers, input-required results for
2026-07-28 callers. The caller's capabilities and log level decide what the upstream may ask and send.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, get_args

import mcp.types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import LOG_LEVEL_META_KEY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from hub.identity import Caller
from hub.proxy import Forwarder
from hub.tools.base import SampledText, SampleFn
from hub.tools.judgments import deferred_sampler

# Where a handshake-era connection's ``logging/setLevel`` choice is kept (the SDK's per-connection state).
LOG_LEVEL_STATE_KEY = "hub.log_level"
# Least severe first, the spec's order.
LOG_LEVELS: tuple[types.LoggingLevel, ...] = get_args(types.LoggingLevel)


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


def deferred_sampler_for(
    ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
) -> SampleFn | None:
    """Sampling for 2026-07-28 callers, which cannot be sent a request mid-call: the question goes
    back as an input-required result and the answer arrives on the retry (``hub.tools.judgments``)."""
    caps = ctx.session.client_capabilities
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS or caps is None or caps.sampling is None:
        return None
    return deferred_sampler(params.input_responses, params.request_state)


def audience_of(caller: Caller) -> str:
    """Whom a ``request_state`` the hub issues is bound to: the caller's tenant and user."""
    return f"{caller.tenant_id}/{caller.user_id or caller.username}"


def connection_state(ctx: ServerRequestContext[Any, Any]) -> dict[str, Any] | None:
    """The SDK's per-connection state dict, where one connection's settings live between its requests."""
    state = getattr(getattr(ctx.session, "_connection", None), "state", None)
    return state if isinstance(state, dict) else None


def _log_level_of(
    ctx: ServerRequestContext[Any, Any], meta: Mapping[str, Any] | None
) -> types.LoggingLevel | None:
    """The least severe log level this request's caller takes, or None for no logs.

    2026-07-28 makes logs a per-request opt-in (``_meta`` logLevel); at 2025-11-25 a connection gets every
    level until it calls ``logging/setLevel``.
    """
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        requested = (meta or {}).get(LOG_LEVEL_META_KEY)
        return requested if requested in LOG_LEVELS else None
    state = connection_state(ctx)
    chosen = state.get(LOG_LEVEL_STATE_KEY) if state is not None else None
    return chosen if chosen in LOG_LEVELS else "debug"


def forwarder_for(
    ctx: ServerRequestContext[Any, Any],
    caller: Caller,
    params: types.InputResponseRequestParams | None = None,
) -> Forwarder:
    """How an upstream's requests during this call reach the calling client, as far as it can take them.

    A handshake-era client is sent them mid-call where its channel allows; a 2026-era client takes them
    as an ``InputRequiredResult`` and answers on the retry, whose answers ``params`` carries.
    """
    session = ctx.session
    modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
    caps = session.client_capabilities
    push = not modern and session.can_send_request
    related = ServerMessageMetadata(related_request_id=ctx.request_id)

    async def sampling(
        params: types.CreateMessageRequestParams,
    ) -> types.CreateMessageResult | types.ErrorData:
        try:
            return await session.send_request(
                types.CreateMessageRequest(params=params), types.CreateMessageResult, metadata=related
            )
        except MCPError as exc:
            return exc.error

    async def elicitation(params: types.ElicitRequestParams) -> types.ElicitResult | types.ErrorData:
        try:
            return await session.send_request(
                types.ElicitRequest(params=params), types.ElicitResult, metadata=related
            )
        except MCPError as exc:
            return exc.error

    async def roots() -> types.ListRootsResult | types.ErrorData:
        try:
            return await session.send_request(
                types.ListRootsRequest(), types.ListRootsResult, metadata=related
            )
        except MCPError as exc:
            return exc.error

    meta = params.meta if params is not None else None
    level = _log_level_of(ctx, meta)

    async def log(params: types.LoggingMessageNotificationParams) -> None:
        # The upstream's session is shared and set to the most verbose level anyone asked for; this
        # caller gets only what it asked for.
        if level is not None and LOG_LEVELS.index(params.level) >= LOG_LEVELS.index(level):
            await session.send_notification(types.LoggingMessageNotification(params=params), ctx.request_id)

    return Forwarder(
        # One connection is one client: the SDK makes a session object per request but keeps the
        # connection, so the connection identifies the owner of in-flight calls.
        owner=getattr(session, "_connection", session),
        sampling=sampling if push and caps is not None and caps.sampling is not None else None,
        elicitation=elicitation if push and caps is not None and caps.elicitation is not None else None,
        roots=roots if push and caps is not None and caps.roots is not None else None,
        log=log if level is not None else None,
        modern=modern,
        audience=audience_of(caller),
        capabilities=caps or types.ClientCapabilities(),
        log_level=level,
        input_responses=params.input_responses if params is not None else None,
        request_state=params.request_state if params is not None else None,
    )
