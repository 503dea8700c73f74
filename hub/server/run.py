"""Running the hub: over stdio, or over HTTP (streamable HTTP, SSE and websocket) with uvicorn.

Signals: SIGHUP re-applies ``mcp.json`` (``hub config reload`` sends it, finding the process through
the pid file in the data directory); SIGTERM and SIGINT stop the hub gracefully:

1. stop accepting: the listening sockets close (HTTP), and the dispatcher refuses new calls with
   ``ShuttingDown`` on the connections that stay open;
2. the calls in flight get ``HUB_SHUTDOWN_GRACE_SECONDS`` (default 10) to finish; those still running then end with
   ``ShuttingDown`` (a clear error for the caller, a row in the call log);
3. the connections close: answered requests complete, and the streams that only wait for server
   messages (streamable HTTP's GET, SSE, websockets) are ended instead of being waited for;
4. ``open_app``'s exit stops every upstream child, then writes what the call log holds.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import TypeVar, cast

import anyio
import uvicorn
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import WriteStream
from mcp.shared.message import SessionMessage
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.app import App, open_app
from hub.errors import ConfigError, HubError
from hub.proxy.link import ClosingStream
from hub.server.http import build_http_app, is_loopback
from hub.server.mcp import build_server
from hub.server.stdin import stdin_lines
from hub.settings import Settings

__all__ = ["PID_FILE", "serve_http", "serve_stdio"]

log = logging.getLogger(__name__)

T = TypeVar("T")

PID_FILE = "hub.pid"
# Once the last call has returned, its answer (and progress queued before it) is still on its way to
# the caller: the streams are ended only after nothing has been sent on them for this long...
_QUIET_SECONDS = 0.2
# ...or after this, if a stream keeps sending (a subscription's updates never stop).
_QUIET_LIMIT_SECONDS = 5.0
# uvicorn's own wait for connections after the calls are done: only answered requests still sending
# their last bytes remain by then, so this is a backstop, not a second grace period.
_CONNECTIONS_GRACE_SECONDS = 3


@asynccontextmanager
async def pid_file(settings: Settings) -> AsyncIterator[None]:
    """Advertise this process for ``hub config reload`` while it serves."""
    path = Path(settings.data_dir) / PID_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(os.getpid()))
    try:
        yield
    finally:
        if path.exists() and path.read_text().strip() == str(os.getpid()):
            path.unlink()


class _WebServer(uvicorn.Server):
    """uvicorn without its own signal handling: the hub's watcher owns SIGHUP, SIGTERM and SIGINT."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Outbound:
    """Messages on their way to callers, so a shutdown ends the streams only once they have gone out."""

    def __init__(self) -> None:
        self._sending = 0
        self._last = -math.inf

    async def send(self, send: Callable[[T], Awaitable[None]], message: T) -> None:
        """``send(message)``, counted."""
        self._sending += 1
        try:
            await send(message)
        finally:
            self._sending -= 1
            self._last = anyio.current_time()

    async def settled(self) -> None:
        """Until nothing has been sent for ``_QUIET_SECONDS`` (at most ``_QUIET_LIMIT_SECONDS``)."""
        with anyio.move_on_after(_QUIET_LIMIT_SECONDS):
            # Polled: "nothing happened for a while" has no event to wait on; this runs once, at exit.
            while self._sending or anyio.current_time() - self._last < _QUIET_SECONDS:  # noqa: ASYNC110
                await anyio.sleep(_QUIET_SECONDS / 4)


class _CountedWrite(ClosingStream):
    """The stdio server's write stream, its sends counted by an ``_Outbound``."""

    def __init__(self, inner: WriteStream[SessionMessage], outbound: _Outbound) -> None:
        self._inner = inner
        self._outbound = outbound

    async def send(self, item: SessionMessage, /) -> None:
        await self._outbound.send(self._inner.send, item)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Streams:
    """ASGI middleware: the long-lived streams, which a shutdown ends once no call is in flight.

    A streamable HTTP GET, an SSE stream and a websocket stay open for as long as the client likes;
    uvicorn would wait for them until its timeout and then cancel them with a traceback. Ended here,
    each closes the way its protocol expects: the HTTP body is finished, the websocket closed with
    1001 (going away).
    """

    def __init__(self, inner: ASGIApp) -> None:
        self._inner = inner
        self._open: set[anyio.CancelScope] = set()
        self.outbound = _Outbound()

    def end_all(self) -> None:
        """End every long-lived stream now."""
        for scope in list(self._open):
            scope.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        long_lived = scope["type"] == "websocket" or (
            scope["type"] == "http" and scope["method"] == "GET" and scope["path"] in ("/mcp", "/sse")
        )
        if not long_lived:
            await self._inner(scope, receive, send)
            return
        started = finished = False

        async def watched(message: Message) -> None:
            nonlocal started, finished
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept"):
                started = True
            elif (kind == "http.response.body" and not message.get("more_body")) or kind == "websocket.close":
                finished = True
            await self.outbound.send(send, message)

        stream = anyio.CancelScope()
        self._open.add(stream)
        try:
            with stream:
                await self._inner(scope, receive, watched)
        finally:
            self._open.discard(stream)
        if stream.cancelled_caught and started and not finished:
            ending: Message = (
                {"type": "websocket.close", "code": 1001, "reason": "the hub is shutting down"}
                if scope["type"] == "websocket"
                else {"type": "http.response.body", "body": b"", "more_body": False}
            )
            # The client may be gone already; nothing more to tell it then.
            with suppress(OSError, RuntimeError):
                await send(ending)


async def _watch_signals(
    app: App,
    stop: anyio.CancelScope | None,
    outbound: _Outbound,
    web: uvicorn.Server | None = None,
    streams: _Streams | None = None,
) -> None:
    with anyio.open_signal_receiver(signal.SIGHUP, signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                try:
                    report = await app.reload()
                    log.warning("configuration reloaded: %s", report)
                except HubError as exc:
                    # A bad file on reload keeps the running configuration.
                    log.error("reload refused, keeping the running configuration: %s", exc)
                continue
            break
        async with anyio.create_task_group() as tg:
            # Still listening: a second SIGTERM/SIGINT cuts the calls in flight at once (and, with the
            # default handler back, it would kill the hub before the call log is written).
            tg.start_soon(_hurry_on_signal, app, signals)
            await _shut_down(app, outbound, web, streams)
            tg.cancel_scope.cancel()
    if stop is not None:
        stop.cancel()


async def _hurry_on_signal(app: App, signals: AsyncIterator[int]) -> None:
    async for signum in signals:
        if signum != signal.SIGHUP:
            log.warning("shutdown: second signal, cutting the calls in flight now")
            app.dispatcher.drain.hurry()


async def _shut_down(
    app: App, outbound: _Outbound, web: uvicorn.Server | None, streams: _Streams | None
) -> None:
    if web is not None:
        # Stop accepting connections; the open ones are served until the calls on them are done.
        for listener in getattr(web, "servers", []):
            listener.close()
    drain = app.dispatcher.drain
    log.warning("shutdown: stopping; waiting for %d call(s) in flight", drain.in_flight)
    grace = app.settings.shutdown_grace_seconds
    cut = await drain.drain(grace)
    if cut:
        log.warning("shutdown: %d call(s) still running after %.1f s were cut off", cut, grace)
    await outbound.settled()
    if streams is not None:
        streams.end_all()
    if web is not None:
        web.should_exit = True


def settle_heap() -> None:
    """Exempt what start-up built from the cyclic garbage collector's scans.

    Start-up leaves a few hundred thousand long-lived objects (modules, models, schemas, compiled
    validators). Every full collection would walk them all again, a pause of over 100 ms on this
    heap; frozen, they are never scanned, and the collections that do run look at request garbage.
    """
    gc.collect()
    gc.freeze()


async def serve_stdio(settings: Settings) -> None:
    """Serve one caller on this process's stdin/stdout until it closes them or a signal stops it."""
    async with open_app(settings) as app, pid_file(settings):
        await app.local_caller()  # fail fast on a bad HUB_API_KEY instead of at the first request
        server = build_server(app)
        settle_heap()
        async with anyio.create_task_group() as tg:
            outbound = _Outbound()
            tg.start_soon(_watch_signals, app, tg.cancel_scope, outbound)
            async with (
                stdin_lines() as lines,
                # The transport only iterates its stdin, which StdinLines does without a thread.
                stdio_server(stdin=cast("anyio.AsyncFile[str] | None", lines)) as (read, write),
            ):
                counted = _CountedWrite(write, outbound)
                await server.run(read, counted, server.create_initialization_options())
            tg.cancel_scope.cancel()


async def serve_http(settings: Settings, *, host: str, port: int, no_auth: bool = False) -> None:
    """Serve callers over HTTP until SIGTERM/SIGINT."""
    if no_auth and not is_loopback(host):
        raise ConfigError(f"--no-auth is accepted only on a loopback address, not on {host!r}")
    async with open_app(settings) as app, pid_file(settings):
        server = build_server(app)
        streams = _Streams(build_http_app(app, server, host=host, no_auth=no_auth))
        settle_heap()
        config = uvicorn.Config(
            streams,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
            timeout_graceful_shutdown=_CONNECTIONS_GRACE_SECONDS,
        )
        web = _WebServer(config)
        async with anyio.create_task_group() as tg:
            # After uvicorn has finished, open_app's exit stops the upstreams and flushes the log.
            tg.start_soon(_watch_signals, app, None, streams.outbound, web, streams)
            await web.serve()
            tg.cancel_scope.cancel()
