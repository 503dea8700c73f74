"""Keeping an upstream connected: connect (a few at a time), hand-shake, discover, watch, reconnect.

``LinkKeeper`` is the connection half of ``Upstream`` (``upstream.py``), apart so that each half stays
readable: this one owns the link's lifetime, the other the requests that travel over it.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable, Set
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import anyio.abc
import mcp_types as types
from mcp.client._probe import negotiate_auto
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost
from mcp.client.subscriptions import listen as listen_for_changes
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ToolsListChanged,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from hub.errors import HubError, UpstreamProtocolError, UpstreamUnavailable
from hub.proxy.calls import CallRegistry
from hub.proxy.errors import map_errors, translate
from hub.proxy.link import DeclaringWriteStream, WatchedReadStream
from hub.proxy.parking import ParkingLot
from hub.proxy.snapshot import ALL_KINDS, Snapshot, discover
from hub.proxy.transport import Connect, LinkStatus

logger = logging.getLogger("hub.proxy.upstream")  # one logger for both halves of an upstream


def _first_line(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0][:200]


# A link that stayed up this long was healthy; the next failure starts the backoff from the bottom again.
_STABLE_AFTER = 10.0


@dataclass(slots=True, eq=False)
class Link:
    """One connection's session and what became of it."""

    session: ClientSession
    opened_at: float
    closed: bool = False
    # 2026-07-28: the task group of the link's listen streams, and one stream per subscribed resource.
    listeners: anyio.abc.TaskGroup | None = None
    watched: dict[str, anyio.CancelScope] | None = None

    @property
    def modern(self) -> bool:
        return self.session.protocol_version in MODERN_PROTOCOL_VERSIONS


class LinkKeeper:
    """The connection lifecycle of an ``Upstream``; the attributes are set by ``Upstream.__init__``."""

    name: str
    _connect: Connect
    _connect_gate: anyio.Semaphore | None
    _status: LinkStatus
    _mode: Literal["legacy", "auto"]
    _connect_timeout: float
    _call_timeout: float
    _on_change: Callable[[Snapshot], Awaitable[None]] | None
    _on_log: Callable[[str, types.LoggingMessageNotificationParams], Awaitable[None]] | None
    _on_status: Callable[[Any], Awaitable[None]] | None
    _on_resource_updated: Callable[[str, str], Awaitable[None]] | None
    _client_info: types.Implementation
    _forward: tuple[bool, bool, bool]
    _backoff: tuple[float, float]
    _sleep: Callable[[float], Awaitable[None]]
    _link: Link | None
    _snapshot: Snapshot | None
    _generation: int
    _last_error: HubError | None
    _calls: CallRegistry
    _connecting: bool
    _closing: bool
    _ready: anyio.Event
    _wake: anyio.Event
    _dirty: set[str]
    _retry_now: anyio.Event
    _attempt_started: float
    _failed_attempts: int
    _stopped: anyio.Event
    _task_group: anyio.abc.TaskGroup | None
    _parking: ParkingLot
    _log_floor: types.LoggingLevel | None

    async def _apply_log_floor(self, link: Link, timeout_seconds: float | None = None) -> None:
        capabilities = link.session.server_capabilities
        if self._log_floor is None or link.modern or capabilities is None or capabilities.logging is None:
            return
        params = types.SetLevelRequestParams(level=self._log_floor)
        timeout = self._call_timeout if timeout_seconds is None else timeout_seconds
        with map_errors(upstream=self.name, status=self._status), anyio.fail_after(timeout):
            await link.session.send_request(types.SetLevelRequest(params=params), types.EmptyResult)

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
            opened_at = self._attempt_started = anyio.current_time()
            try:
                await self._serve_one_link()
            except Exception as exc:
                mapped = translate(exc, where=self.name, status=self._status)
                if mapped is None:
                    logger.exception("upstream %s: unexpected failure", self.name)
                    mapped = UpstreamUnavailable(f"{type(exc).__name__}: {exc}", where=self.name)
                self._last_error = mapped
                self._failed_attempts += 1
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
                DeclaringWriteStream(write_stream),
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
            link = Link(session, opened_at=anyio.current_time())
            await self._discover(link, ALL_KINDS, fresh=True)
            ungate()
            deadline.deadline = math.inf
            if deadline.cancel_called:
                raise TimeoutError("connect timed out")
            self._link = link
            self._connecting = False
            self._last_error = None
            if link.modern:
                # 2026-07-28 has no unsolicited notifications: changes arrive on a listen stream, open
                # (acknowledged) before the link counts as ready so no change can slip in between.
                listener = await stack.enter_async_context(anyio.create_task_group())
                stack.callback(listener.cancel_scope.cancel)
                await listener.start(self._listen, link)
                link.listeners, link.watched = listener, {}
            else:
                await self._apply_log_floor(link)
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
        self, link: Link, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
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
                        continue  # passed on by the stream watching that URI (_watch)
                    self._dirty.update(kinds.get(type(event), ()))
                    self._wake.set()
        except (MCPError, SubscriptionLost, ListenNotSupportedError, TimeoutError) as exc:
            # Calls still work without it; only change tracking is lost until the next connect.
            logger.warning("upstream %s: change subscription ended: %s", self.name, exc)
            if not started:
                task_status.started()

    def _close_link(self, link: Link, *, reconnect_now: bool = False) -> None:
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
        # Calls still waiting on the old link end with the transport's own account of why; so do parked
        # calls, whose upstream requests died with it.
        gone = UpstreamUnavailable(self._status.closed_reason or "connection closed", where=self.name)
        self._calls.abort_all(gone)
        self._parking.close_all(gone)

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

    async def _discover(self, link: Link, kinds: Set[str], *, fresh: bool = False) -> None:
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
                # On a 2026-era link the same update also arrives on the URI's listen stream, which
                # passes it on (_watch); here it is the handshake era's only path.
                link = self._link
                if self._on_resource_updated is not None and not (link is not None and link.modern):
                    await self._on_resource_updated(self.name, str(params.uri))
                return
            case _:
                return
        self._wake.set()

    async def _on_logging(self, params: types.LoggingMessageNotificationParams) -> None:
        await self._calls.log(params)
        if self._on_log is not None:
            await self._on_log(self.name, params)

    # --- state and waiting, for callers and for the request half ----------------------------------

    async def wait_ready(self, timeout_seconds: float | None = None) -> Snapshot:
        """Wait until connected and discovered; ``UpstreamUnavailable`` naming the last error otherwise."""
        with anyio.move_on_after(self._connect_timeout if timeout_seconds is None else timeout_seconds):
            while self._snapshot is None or self._link is None or self._link.closed:
                await self._ready.wait()
            return self._snapshot
        raise self._unavailable("not connected in time")

    def attempt_soon(self, min_interval: float = 0.25) -> None:
        """Ask for a connect attempt now instead of after the backoff wait, unless one started less than
        ``min_interval`` s ago: calls waiting for a dropped upstream must not become a connect storm."""
        if self.connected or self._closing:
            return
        if anyio.current_time() - self._attempt_started >= min_interval:
            self._retry_now.set()

    @property
    def failed_attempts(self) -> int:
        """How many connect attempts have failed so far (a waiting call compares before and after)."""
        return self._failed_attempts

    def reconnect(self) -> None:
        """Drop the current link (if any) and connect again at once, skipping any backoff wait."""
        if self._link is not None:
            self._close_link(self._link)
        self._retry_now.set()

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

    async def _watch(self, link: Link, uri: str, timeout_seconds: float | None) -> None:
        """Open a listen stream for ``uri`` on a 2026-era link, once; returns when the upstream acknowledged."""
        if link.listeners is None or link.watched is None:
            raise self._unavailable("the link is not ready")
        if uri in link.watched:
            return
        scope = anyio.CancelScope()
        link.watched[uri] = scope

        async def watch(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            started = False
            try:
                with scope:
                    async with listen_for_changes(link.session, resource_subscriptions=[uri]) as stream:
                        task_status.started()
                        started = True
                        async for event in stream:
                            # Notifications of one link reach every listen stream on it; each URI's
                            # update is passed on by that URI's stream alone, once.
                            if (
                                isinstance(event, ResourceUpdated)
                                and event.uri == uri
                                and self._on_resource_updated is not None
                            ):
                                await self._on_resource_updated(self.name, event.uri)
            except (MCPError, SubscriptionLost, TimeoutError) as exc:
                if not started:
                    raise
                logger.warning("upstream %s: updates of %s ended: %s", self.name, uri, exc)
            finally:
                if link.watched is not None and link.watched.get(uri) is scope:
                    del link.watched[uri]

        timeout = self._call_timeout if timeout_seconds is None else timeout_seconds
        with map_errors(upstream=self.name, tool=uri, status=self._status), anyio.fail_after(timeout):
            await link.listeners.start(watch)

    def _expired(self, link: Link, exc: MCPError) -> bool:
        return self._status.session_expired and exc.error.code == types.INVALID_REQUEST and link is self._link

    async def _require_link(self) -> Link:
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
