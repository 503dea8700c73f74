"""One upstream MCP server, reached through one long-lived session that every caller shares.

``Upstream`` connects (and reconnects, with backoff), discovers everything the server offers into an
immutable ``Snapshot`` on connect and on every ``list_changed``, and forwards requests with everything
that rides along: progress, cancellation, logging, and the server's own requests (sampling, elicitation,
roots) raised during a call, which go back to that call's ``Forwarder`` (matched in ``calls.py``).

Callers of both protocol eras share the one session, whatever era it speaks. Where the eras differ in
how a server asks its caller something, the upstream bridges them:

| link, caller | 2025-11-25 (takes pushed requests) | 2026-07-28 (takes ``InputRequiredResult``) |
|---|---|---|
| handshake era | pushes routed to the caller (``calls.py``) | the call is parked (``parking.py``) |
| 2026-07-28 | the hub answers the result through the caller | relayed, its ``request_state`` sealed |

Every ``request_state`` a caller receives is sealed for that caller (``state.py``); on a 2026-era link each
request declares the caller's capabilities and log level rather than the hub's (``link.py``).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import anyio.abc
import mcp_types as types
from mcp.shared.dispatcher import ProgressFnT
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import TypeAdapter

from hub.errors import HubError
from hub.proxy.calls import CallRegistry
from hub.proxy.errors import map_errors
from hub.proxy.forwarder import Forwarder, LogForward, outbound_meta
from hub.proxy.lifecycle import Link
from hub.proxy.parking import ParkingLot
from hub.proxy.requests import Requests
from hub.proxy.snapshot import ALL_KINDS, Snapshot
from hub.proxy.state import StateSeal
from hub.proxy.transport import Connect, LinkStatus, UpstreamSpec, connect_for

__all__ = ["Forwarder", "LogForward", "Mode", "Upstream"]

Mode = Literal["legacy", "auto"]

_CALL_RESULT: TypeAdapter[types.CallToolResult | types.InputRequiredResult] = TypeAdapter(
    types.CallToolResult | types.InputRequiredResult
)
_PROMPT_RESULT: TypeAdapter[types.GetPromptResult | types.InputRequiredResult] = TypeAdapter(
    types.GetPromptResult | types.InputRequiredResult
)
_READ_RESULT: TypeAdapter[types.ReadResourceResult | types.InputRequiredResult] = TypeAdapter(
    types.ReadResourceResult | types.InputRequiredResult
)
# Severity order of log levels, least severe first (the order of the spec's LoggingLevel).
_LOG_LEVELS: tuple[types.LoggingLevel, ...] = (
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency",
)  # fmt: skip

# How long closing waits for the link to end cleanly before cancelling it.
_CLOSE_GRACE = 5.0


class Upstream(Requests):
    """One upstream server behind one shared session; ``async with`` keeps it connected."""

    def __init__(
        self,
        name: str,
        connect: Connect,
        *,
        status: LinkStatus | None = None,
        mode: Mode = "legacy",
        connect_timeout: float = 30.0,
        call_timeout: float = 60.0,
        on_change: Callable[[Snapshot], Awaitable[None]] | None = None,
        on_log: Callable[[str, types.LoggingMessageNotificationParams], Awaitable[None]] | None = None,
        on_status: Callable[[Upstream], Awaitable[None]] | None = None,
        on_resource_updated: Callable[[str, str], Awaitable[None]] | None = None,
        client_info: types.Implementation | None = None,
        forward_sampling: bool = True,
        forward_elicitation: bool = True,
        forward_roots: bool = True,
        backoff_initial: float = 0.25,
        backoff_max: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        park_ttl: float = 300.0,
        park_limit: int = 256,
        state_seal: StateSeal | None = None,
        connect_gate: anyio.Semaphore | None = None,
    ) -> None:
        self.name = name
        # Shared by the upstreams of one hub: how many may be starting and handshaking at once.
        self._connect_gate = connect_gate
        self._connect = connect
        self._status = status or LinkStatus()
        self._mode: Mode = mode
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._on_change = on_change
        self._on_log = on_log
        self._on_status = on_status
        self._on_resource_updated = on_resource_updated
        self._client_info = client_info or types.Implementation(name="mcp-hub", version="0.1.0")
        self._forward = (forward_sampling, forward_elicitation, forward_roots)
        self._backoff = (backoff_initial, backoff_max)
        self._sleep = sleep  # reconnect backoff waits on it, so tests can drive it with their own clock

        self._link: Link | None = None
        self._snapshot: Snapshot | None = None
        self._generation = 0
        self._last_error: HubError | None = None
        self._calls = CallRegistry()
        self._connecting = False
        self._closing = False
        self._ready = anyio.Event()  # replaced each time the link drops
        self._wake = anyio.Event()  # rediscovery wanted or the link is over
        self._dirty: set[str] = set()
        self._retry_now = anyio.Event()
        self._attempt_started = -math.inf
        self._failed_attempts = 0
        self._task_group: anyio.abc.TaskGroup | None = None
        self._stopped = anyio.Event()
        # Calls held open for 2026-era callers of a handshake-era link, and the seal of their states.
        self._parking = ParkingLot(ttl=park_ttl, limit=park_limit)
        self._seal = state_seal or StateSeal()
        # The most verbose log level any caller asked for; the shared session is set to it.
        self._log_floor: types.LoggingLevel | None = None

    @classmethod
    def from_spec(cls, spec: UpstreamSpec, **options: Any) -> Upstream:
        """An upstream for ``spec``, its transport chosen by name; ``options`` as for the constructor."""
        connector = connect_for(spec)
        options.setdefault("mode", spec.mode)
        options.setdefault("connect_timeout", spec.connect_timeout)
        options.setdefault("call_timeout", spec.call_timeout)
        return cls(spec.name, connector, status=connector.status, **options)

    # --- lifetime -------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._supervise)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None

    async def aclose(self) -> None:
        """Close the session and stop the transport (for stdio: the child's whole process group)."""
        self._closing = True
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return
        link = self._link
        if link is not None and not link.closed:
            # Leave the link the ordinary way first, so the transport ends its session (HTTP DELETE,
            # websocket close) instead of being torn down by cancellation.
            self._close_link(link)
            with anyio.move_on_after(_CLOSE_GRACE):
                await self._stopped.wait()
        task_group.cancel_scope.cancel()
        await task_group.__aexit__(None, None, None)

    # --- health ----------------------------------------------------------------------------------------

    @property
    def parked_calls(self) -> int:
        """Calls held open for 2026-era callers' answers right now (handshake-era links only)."""
        return len(self._parking)

    # --- forwarding --------------------------------------------------------------------------------------

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        meta: dict[str, Any] | None = None,
        progress_callback: ProgressFnT | None = None,
        timeout_seconds: float | None = None,
        forwarder: Forwarder | None = None,
        input_responses: types.InputResponses | None = None,
        request_state: str | None = None,
        resolve_input_required: bool = False,
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Call ``name`` upstream; a tool's own failure comes back as ``isError``, the link's as ``UpstreamError``.

        When the upstream needs input from the caller, what the caller gets depends on both eras (see the
        module's table). With ``resolve_input_required`` the caller cannot take an ``InputRequiredResult``
        (a handshake-era caller): the hub fulfils it through ``forwarder`` and returns the final result.
        Otherwise a ``forwarder`` marked ``modern`` gets the questions as an ``InputRequiredResult`` on
        either link, and answers them by calling again with ``input_responses`` and the sealed
        ``request_state`` it was given.

        Raises:
            RequestStateError: ``request_state`` is not one issued to this caller for this call, or its
                call is gone.
        """

        def build(responses: types.InputResponses | None, state: str | None) -> types.ClientRequest:
            params = types.CallToolRequestParams(
                name=name,
                arguments=arguments,
                input_responses=responses,
                request_state=state,
                _meta=outbound_meta(meta),
            )
            return types.CallToolRequest(params=params)

        return await self._interactive(
            build,
            _CALL_RESULT,
            target=f"tools/call {name}",
            arguments=arguments,
            tool=name,
            timeout_seconds=timeout_seconds,
            progress_callback=progress_callback,
            forwarder=forwarder,
            input_responses=input_responses,
            request_state=request_state,
            resolve=resolve_input_required,
        )

    async def read_resource(
        self,
        uri: str,
        *,
        meta: dict[str, Any] | None = None,
        timeout_seconds: float | None = None,
        forwarder: Forwarder | None = None,
        input_responses: types.InputResponses | None = None,
        request_state: str | None = None,
        resolve_input_required: bool = False,
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        """Read ``uri`` upstream; input the upstream asks for is handled as by ``call_tool``."""

        def build(responses: types.InputResponses | None, state: str | None) -> types.ClientRequest:
            params = types.ReadResourceRequestParams(
                uri=uri, input_responses=responses, request_state=state, _meta=outbound_meta(meta)
            )
            return types.ReadResourceRequest(params=params)

        return await self._interactive(
            build,
            _READ_RESULT,
            target=f"resources/read {uri}",
            arguments=None,
            tool=uri,
            timeout_seconds=timeout_seconds,
            forwarder=forwarder,
            input_responses=input_responses,
            request_state=request_state,
            resolve=resolve_input_required,
        )

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, str] | None = None,
        *,
        meta: dict[str, Any] | None = None,
        timeout_seconds: float | None = None,
        forwarder: Forwarder | None = None,
        input_responses: types.InputResponses | None = None,
        request_state: str | None = None,
        resolve_input_required: bool = False,
    ) -> types.GetPromptResult | types.InputRequiredResult:
        """Get prompt ``name`` upstream; input the upstream asks for is handled as by ``call_tool``."""

        def build(responses: types.InputResponses | None, state: str | None) -> types.ClientRequest:
            params = types.GetPromptRequestParams(
                name=name,
                arguments=arguments,
                input_responses=responses,
                request_state=state,
                _meta=outbound_meta(meta),
            )
            return types.GetPromptRequest(params=params)

        return await self._interactive(
            build,
            _PROMPT_RESULT,
            target=f"prompts/get {name}",
            arguments=arguments,
            tool=name,
            timeout_seconds=timeout_seconds,
            forwarder=forwarder,
            input_responses=input_responses,
            request_state=request_state,
            resolve=resolve_input_required,
        )

    async def complete(
        self,
        ref: types.ResourceTemplateReference | types.PromptReference,
        argument: types.CompletionArgument,
        context: types.CompletionContext | None = None,
        *,
        timeout_seconds: float | None = None,
    ) -> types.CompleteResult:
        """Ask upstream to complete ``argument`` of a prompt or resource template."""
        params = types.CompleteRequestParams(ref=ref, argument=argument, context=context)
        return await self._request(
            types.CompleteRequest(params=params), types.CompleteResult, timeout_seconds=timeout_seconds
        )

    async def subscribe(self, uri: str, *, timeout_seconds: float | None = None) -> None:
        """Ask for updates about ``uri``: ``resources/subscribe`` on a handshake-era link, a listen stream
        naming it on a 2026-era one (where ``resources/subscribe`` no longer exists)."""
        link = await self._require_link()
        if link.modern:
            await self._watch(link, uri, timeout_seconds)
            return
        params = types.SubscribeRequestParams(uri=uri)
        await self._request(
            types.SubscribeRequest(params=params),
            types.EmptyResult,
            tool=uri,
            timeout_seconds=timeout_seconds,
        )

    async def unsubscribe(self, uri: str, *, timeout_seconds: float | None = None) -> None:
        """Stop updates about ``uri``."""
        link = await self._require_link()
        if link.modern:
            scope = (link.watched or {}).pop(uri, None)
            if scope is not None:
                scope.cancel()
            return
        params = types.UnsubscribeRequestParams(uri=uri)
        await self._request(
            types.UnsubscribeRequest(params=params),
            types.EmptyResult,
            tool=uri,
            timeout_seconds=timeout_seconds,
        )

    async def set_logging_level(
        self, level: types.LoggingLevel, *, timeout_seconds: float | None = None
    ) -> None:
        """Make sure log messages at ``level`` and above are sent; callers filter their own share.

        The upstream's session is shared, so it is set to the most verbose level any caller has asked
        for (and set again on every reconnect): one caller asking for errors only must not silence
        another's info messages. A 2026-era link has no ``logging/setLevel``; each request there
        declares its caller's level itself. An upstream that offers no logging is not asked.
        """
        if level not in _LOG_LEVELS:
            raise ValueError(f"unknown log level {level!r}; one of {', '.join(_LOG_LEVELS)}")
        floor = self._log_floor
        if floor is not None and _LOG_LEVELS.index(floor) <= _LOG_LEVELS.index(level):
            return
        self._log_floor = level
        link = self._link
        if link is not None and not link.closed:
            await self._apply_log_floor(link, timeout_seconds)

    async def ping(self, *, timeout_seconds: float | None = None) -> float:
        """Round-trip once (``ping``, or ``server/discover`` at 2026-07-28, which has no ping); seconds taken."""
        started = anyio.current_time()
        link = await self._require_link()
        version = link.session.protocol_version
        with map_errors(upstream=self.name, status=self._status):
            with anyio.fail_after(self._call_timeout if timeout_seconds is None else timeout_seconds):
                if version in MODERN_PROTOCOL_VERSIONS:
                    await link.session.send_discover(version)
                else:
                    await link.session.send_ping()
        return anyio.current_time() - started

    async def refresh(self) -> Snapshot:
        """Discover everything again now and return the new snapshot."""
        link = await self._require_link()
        with map_errors(upstream=self.name, status=self._status):
            await self._discover(link, ALL_KINDS)
        assert self._snapshot is not None
        return self._snapshot

    # --- requests that may need the caller's input (tools/call, resources/read, prompts/get) ----------------
