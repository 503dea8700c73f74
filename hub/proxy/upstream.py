"""One upstream MCP server, reached through one long-lived session that every caller shares.

``Upstream`` connects (and reconnects, with backoff), discovers everything the server offers into an
immutable ``Snapshot`` on connect and on every ``list_changed``, and forwards requests with everything
that rides along: progress, cancellation, logging, and the server's own requests (sampling, elicitation,
roots) raised during a call, which go back to that call's ``Forwarder`` (matched in ``calls.py``).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable, Set
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import anyio
import anyio.abc
import mcp_types as types
from mcp.client._probe import negotiate_auto
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost
from mcp.client.subscriptions import listen as listen_for_changes
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ToolsListChanged,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, TypeAdapter

from hub.errors import HubError, UpstreamProtocolError, UpstreamUnavailable
from hub.proxy.calls import CallRegistry
from hub.proxy.errors import map_errors, translate
from hub.proxy.forwarder import Forwarder, LogForward, outbound_meta
from hub.proxy.forwarder import resolve_input_required as resolve_input
from hub.proxy.link import WatchedReadStream
from hub.proxy.snapshot import ALL_KINDS, Snapshot, discover
from hub.proxy.transport import Connect, LinkStatus, UpstreamSpec, connect_for

__all__ = ["Forwarder", "LogForward", "Mode", "Upstream"]

logger = logging.getLogger(__name__)

Mode = Literal["legacy", "auto"]
R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")

_CALL_RESULT: TypeAdapter[types.CallToolResult | types.InputRequiredResult] = TypeAdapter(
    types.CallToolResult | types.InputRequiredResult
)
_PROMPT_RESULT: TypeAdapter[types.GetPromptResult | types.InputRequiredResult] = TypeAdapter(
    types.GetPromptResult | types.InputRequiredResult
)
_READ_RESULT: TypeAdapter[types.ReadResourceResult | types.InputRequiredResult] = TypeAdapter(
    types.ReadResourceResult | types.InputRequiredResult
)

# A link that stayed up this long was healthy; the next failure starts the backoff from the bottom again.
_STABLE_AFTER = 10.0
# How long closing waits for the link to end cleanly before cancelling it.
_CLOSE_GRACE = 5.0


@dataclass(slots=True, eq=False)
class _Link:
    """One connection's session and what became of it."""

    session: ClientSession
    opened_at: float
    closed: bool = False


class Upstream:
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

        self._link: _Link | None = None
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
        self._task_group: anyio.abc.TaskGroup | None = None
        self._stopped = anyio.Event()

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

    async def wait_ready(self, timeout_seconds: float | None = None) -> Snapshot:
        """Wait until connected and discovered; ``UpstreamUnavailable`` naming the last error otherwise."""
        with anyio.move_on_after(self._connect_timeout if timeout_seconds is None else timeout_seconds):
            while self._snapshot is None or self._link is None or self._link.closed:
                await self._ready.wait()
            return self._snapshot
        raise self._unavailable("not connected in time")

    def reconnect(self) -> None:
        """Drop the current link (if any) and connect again at once, skipping any backoff wait."""
        if self._link is not None:
            self._close_link(self._link)
        self._retry_now.set()

    # --- health ----------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a session is up now."""
        return self._link is not None and not self._link.closed

    @property
    def last_error(self) -> HubError | None:
        """The most recent connection-level failure (kept after recovery, for diagnostics)."""
        return self._last_error

    @property
    def snapshot(self) -> Snapshot | None:
        """What the upstream offered at the last discovery."""
        return self._snapshot

    @property
    def status(self) -> LinkStatus:
        """The transport's facts: pid, exit code, stderr tail, why the link closed."""
        return self._status

    @property
    def exit_code(self) -> int | None:
        """The stdio child's exit status once it has exited."""
        return self._status.exit_code

    def stderr_tail(self) -> str:
        """The stdio child's recent stderr output ("" for other transports)."""
        return self._status.stderr() if self._status.stderr is not None else ""

    @property
    def protocol_version(self) -> str | None:
        """The protocol version the current session speaks."""
        return self._link.session.protocol_version if self._link is not None else None

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

        A 2026-era upstream may answer ``InputRequiredResult``: returned as is for a 2026-era caller to
        fulfil, or, with ``resolve_input_required``, fulfilled here through ``forwarder`` and retried
        (what a handshake-era caller needs).
        """

        async def send(
            responses: types.InputResponses | None, state: str | None
        ) -> types.CallToolResult | types.InputRequiredResult:
            params = types.CallToolRequestParams(
                name=name,
                arguments=arguments,
                input_responses=responses,
                request_state=state,
                _meta=outbound_meta(meta),
            )
            return await self._request(
                types.CallToolRequest(params=params),
                _CALL_RESULT,
                tool=name,
                timeout_seconds=timeout_seconds,
                progress_callback=progress_callback,
                forwarder=forwarder,
            )

        result = await send(input_responses, request_state)
        if resolve_input_required and isinstance(result, types.InputRequiredResult):
            with map_errors(upstream=self.name, tool=name, status=self._status):
                return await resolve_input(result, send, forwarder, where=f"{self.name}/{name}")
        return result

    async def read_resource(
        self,
        uri: str,
        *,
        meta: dict[str, Any] | None = None,
        timeout_seconds: float | None = None,
        forwarder: Forwarder | None = None,
        input_responses: types.InputResponses | None = None,
        request_state: str | None = None,
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        """Read ``uri`` upstream."""
        params = types.ReadResourceRequestParams(
            uri=uri, input_responses=input_responses, request_state=request_state, _meta=outbound_meta(meta)
        )
        return await self._request(
            types.ReadResourceRequest(params=params),
            _READ_RESULT,
            tool=uri,
            timeout_seconds=timeout_seconds,
            forwarder=forwarder,
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
    ) -> types.GetPromptResult | types.InputRequiredResult:
        """Get prompt ``name`` upstream."""
        params = types.GetPromptRequestParams(
            name=name,
            arguments=arguments,
            input_responses=input_responses,
            request_state=request_state,
            _meta=outbound_meta(meta),
        )
        return await self._request(
            types.GetPromptRequest(params=params),
            _PROMPT_RESULT,
            tool=name,
            timeout_seconds=timeout_seconds,
            forwarder=forwarder,
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
        """Ask for ``notifications/resources/updated`` about ``uri`` (handshake-era servers)."""
        params = types.SubscribeRequestParams(uri=uri)
        await self._request(
            types.SubscribeRequest(params=params),
            types.EmptyResult,
            tool=uri,
            timeout_seconds=timeout_seconds,
        )

    async def unsubscribe(self, uri: str, *, timeout_seconds: float | None = None) -> None:
        """Stop updates about ``uri``."""
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
        """Set the level of log messages the upstream sends (handshake-era servers)."""
        params = types.SetLevelRequestParams(level=level)
        await self._request(
            types.SetLevelRequest(params=params), types.EmptyResult, timeout_seconds=timeout_seconds
        )

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

    # --- the request path ---------------------------------------------------------------------------------

    async def _request(
        self,
        request: types.ClientRequest,
        result_type: type[R] | TypeAdapter[R],
        *,
        tool: str | None = None,
        timeout_seconds: float | None = None,
        progress_callback: ProgressFnT | None = None,
        forwarder: Forwarder | None = None,
    ) -> R:
        timeout = self._call_timeout if timeout_seconds is None else timeout_seconds
        with map_errors(upstream=self.name, tool=tool, status=self._status):
            for attempt in range(2):
                link = await self._require_link()
                try:
                    with self._calls.track(link, forwarder) as call:
                        with call.scope:
                            return await link.session.send_request(
                                request,
                                result_type,
                                request_read_timeout_seconds=timeout,
                                progress_callback=progress_callback,
                            )
                        # Only our own abort cancels call.scope; outer cancellation propagates past it.
                        assert call.abort is not None
                        raise call.abort
                except MCPError as exc:
                    if attempt == 0 and self._expired(link, exc):
                        # The server forgot the session (it restarted, or expired it): a new session
                        # and one retry, invisible to the caller.
                        self._close_link(link, reconnect_now=True)
                        continue
                    raise
        raise AssertionError("unreachable")

    def _expired(self, link: _Link, exc: MCPError) -> bool:
        return self._status.session_expired and exc.error.code == types.INVALID_REQUEST and link is self._link

    async def _require_link(self) -> _Link:
        link = self._link
        if link is not None and not link.closed:
            return link
        if self._closing or self._task_group is None:
            raise self._unavailable("upstream is closed")
        if not self._connecting and not self._retry_now.is_set():
            raise self._unavailable("not connected")
        # A connection attempt is under way: worth waiting for rather than failing a call at startup.
        with anyio.move_on_after(self._connect_timeout):
            while self._link is None or self._link.closed:
                await self._ready.wait()
            return self._link
        raise self._unavailable("not connected in time")

    def _unavailable(self, message: str) -> UpstreamUnavailable:
        if self._last_error is not None:
            message = f"{message}: {self._last_error.message}"
        return UpstreamUnavailable(message, where=self.name)

    # --- connection lifecycle ------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            await self._keep_connected()
        finally:
            self._stopped.set()

    async def _keep_connected(self) -> None:
        initial, ceiling = self._backoff
        delay = initial
        while not self._closing:
            self._retry_now = anyio.Event()
            opened_at = anyio.current_time()
            try:
                await self._serve_one_link()
            except Exception as exc:
                mapped = translate(exc, where=self.name, status=self._status)
                if mapped is None:
                    logger.exception("upstream %s: unexpected failure", self.name)
                    mapped = UpstreamUnavailable(f"{type(exc).__name__}: {exc}", where=self.name)
                self._last_error = mapped
                logger.warning("upstream %s: %s", self.name, mapped)
            finally:
                self._connecting = False
                self._set_down()
            await self._notify_status()
            if self._closing:
                return
            if anyio.current_time() - opened_at >= _STABLE_AFTER:
                delay = initial
            if not self._retry_now.is_set():
                # Jitter keeps many upstreams that failed together from reconnecting in lockstep.
                await self._back_off(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, ceiling)

    async def _back_off(self, seconds: float) -> None:
        """Wait ``seconds`` on the injected sleep, or less if someone asks for a reconnect now."""
        retry_now = self._retry_now
        async with anyio.create_task_group() as tg:

            async def nap() -> None:
                await self._sleep(seconds)
                tg.cancel_scope.cancel()

            async def woken() -> None:
                await retry_now.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(nap)
            tg.start_soon(woken)

    async def _pass_gate(self, stack: AsyncExitStack) -> Callable[[], None]:
        """Wait for a place at the connect gate; the returned callable gives it back (once)."""
        gate = self._connect_gate
        if gate is None:
            return lambda: None
        await gate.acquire()
        held = [True]

        def release() -> None:
            if held[0]:
                held[0] = False
                gate.release()

        stack.callback(release)
        return release

    async def _serve_one_link(self) -> None:
        self._connecting = True
        self._wake = anyio.Event()
        self._dirty = set()
        async with AsyncExitStack() as stack:
            # A hundred upstreams started at once on a small machine would each take so long to start
            # that all miss their connect deadline; the gate lets a few start at a time, and the
            # deadline runs from when this one may start.
            ungate = await self._pass_gate(stack)
            # One deadline for opening the transport and the handshake, lifted once connected; a plain
            # fail_after could not enclose a transport that stays open past it.
            deadline = stack.enter_context(
                anyio.CancelScope(deadline=anyio.current_time() + self._connect_timeout)
            )
            read_stream, write_stream = await stack.enter_async_context(self._connect())
            watched = WatchedReadStream(
                read_stream, on_error=self._on_stream_error, on_close=self._on_stream_closed
            )
            sampling, elicitation, roots = self._forward
            session = ClientSession(
                watched,
                write_stream,
                sampling_callback=self._calls.sampling if sampling else None,
                elicitation_callback=self._calls.elicitation if elicitation else None,
                list_roots_callback=self._calls.list_roots if roots else None,
                logging_callback=self._on_logging,
                message_handler=self._on_message,
                client_info=self._client_info,
            )
            await stack.enter_async_context(session)
            if self._mode == "auto":
                await negotiate_auto(session)
            else:
                await session.initialize()
            link = _Link(session, opened_at=anyio.current_time())
            await self._discover(link, ALL_KINDS, fresh=True)
            ungate()
            deadline.deadline = math.inf
            if deadline.cancel_called:
                raise TimeoutError("connect timed out")
            self._link = link
            self._connecting = False
            self._last_error = None
            if session.protocol_version in MODERN_PROTOCOL_VERSIONS:
                # 2026-07-28 has no unsolicited notifications: changes arrive on a listen stream, open
                # (acknowledged) before the link counts as ready so no change can slip in between.
                listener = await stack.enter_async_context(anyio.create_task_group())
                stack.callback(listener.cancel_scope.cancel)
                await listener.start(self._listen, link)
            self._ready.set()
            await self._notify_status()
            await self._publish()
            while not link.closed:
                await self._wake.wait()
                self._wake = anyio.Event()
                if link.closed or not self._dirty:
                    continue
                kinds, self._dirty = self._dirty, set()
                try:
                    await self._discover(link, kinds)
                except (MCPError, HubError, ValueError) as exc:
                    logger.warning("upstream %s: rediscovery failed: %s", self.name, exc)
                    continue
                await self._publish()
        if deadline.cancelled_caught:
            raise TimeoutError(f"connect timed out after {self._connect_timeout}s")

    async def _listen(
        self, link: _Link, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Turn a 2026-era ``subscriptions/listen`` stream into rediscovery, as list_changed does."""
        kinds: dict[type[object], tuple[str, ...]] = {
            ToolsListChanged: ("tools",),
            PromptsListChanged: ("prompts",),
            ResourcesListChanged: ("resources", "resource_templates"),
        }
        started = False
        try:
            async with listen_for_changes(
                link.session, tools_list_changed=True, prompts_list_changed=True, resources_list_changed=True
            ) as subscription:
                task_status.started()
                started = True
                async for event in subscription:
                    if isinstance(event, ResourceUpdated):
                        if self._on_resource_updated is not None:
                            await self._on_resource_updated(self.name, event.uri)
                        continue
                    self._dirty.update(kinds.get(type(event), ()))
                    self._wake.set()
        except (MCPError, SubscriptionLost, ListenNotSupportedError, TimeoutError) as exc:
            # Calls still work without it; only change tracking is lost until the next connect.
            logger.warning("upstream %s: change subscription ended: %s", self.name, exc)
            if not started:
                task_status.started()

    def _close_link(self, link: _Link, *, reconnect_now: bool = False) -> None:
        if link.closed:
            return
        link.closed = True
        if link is self._link and self._ready.is_set():
            # Callers arriving now must wait for the next link, not spin on the old one's event.
            self._ready = anyio.Event()
        self._wake.set()
        if reconnect_now:
            self._retry_now.set()

    def _set_down(self) -> None:
        if self._link is not None:
            self._link.closed = True
        self._link = None
        if self._ready.is_set():
            self._ready = anyio.Event()
        # Calls still waiting on the old link end with the transport's own account of why.
        self._calls.abort_all(
            UpstreamUnavailable(self._status.closed_reason or "connection closed", where=self.name)
        )

    def _on_stream_closed(self) -> None:
        link = self._link
        if link is not None:
            self._close_link(link)
        else:
            self._wake.set()

    def _on_stream_error(self, exc: Exception) -> None:
        """The transport read something that is not JSON-RPC: calls in flight cannot trust this link."""
        error = UpstreamProtocolError(f"upstream sent invalid JSON-RPC: {_first_line(exc)}", where=self.name)
        self._last_error = error
        logger.warning("%s", error)
        self._calls.abort_all(error)

    async def _notify_status(self) -> None:
        if self._on_status is not None:
            try:
                await self._on_status(self)
            except Exception:
                logger.exception("upstream %s: on_status callback failed", self.name)

    # --- discovery -----------------------------------------------------------------------------------------

    async def _discover(self, link: _Link, kinds: Set[str], *, fresh: bool = False) -> None:
        with anyio.fail_after(self._call_timeout):
            snapshot = await discover(
                link.session,
                server=self.name,
                generation=self._generation + 1,
                kinds=kinds,
                previous=None if fresh else self._snapshot,
            )
        self._generation = snapshot.generation
        self._snapshot = snapshot

    async def _publish(self) -> None:
        if self._on_change is not None and self._snapshot is not None:
            try:
                await self._on_change(self._snapshot)
            except Exception:
                logger.exception("upstream %s: on_change callback failed", self.name)

    # --- what the upstream sends us ------------------------------------------------------------------------

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            return  # already handled, in order, by the watched read stream
        match message:
            case types.ToolListChangedNotification():
                self._dirty.add("tools")
            case types.ResourceListChangedNotification():
                self._dirty.update(("resources", "resource_templates"))
            case types.PromptListChangedNotification():
                self._dirty.add("prompts")
            case types.ResourceUpdatedNotification(params=params):
                if self._on_resource_updated is not None:
                    await self._on_resource_updated(self.name, str(params.uri))
                return
            case _:
                return
        self._wake.set()

    async def _on_logging(self, params: types.LoggingMessageNotificationParams) -> None:
        await self._calls.log(params)
        if self._on_log is not None:
            await self._on_log(self.name, params)


def _first_line(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0][:200]
