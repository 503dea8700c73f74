"""WebSocket upstreams: one JSON-RPC message per text frame, subprotocol ``mcp`` (the wire of mcp 1.x).

The SDK dropped its websocket transport in 2.x, so this is written on the ``websockets`` library.

A closed socket ends the read stream at once, which fails the calls in flight with the close's cause.
A peer that goes silent without closing (its host vanished, the network split, the process froze)
sends no FIN, so keepalive pings find it: unanswered for ``ping_timeout`` seconds, the link is dropped
the same way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from hub.proxy.transport import (
    CLOSE_GRACE_SECONDS,
    MAX_MESSAGE_BYTES,
    TransportStreams,
    UpstreamSpec,
    UrlConnector,
)

__all__ = ["PING_INTERVAL_SECONDS", "PING_TIMEOUT_SECONDS", "SUBPROTOCOL", "WebSocketConnector"]

logger = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("mcp")
# websockets' defaults (20 s + 20 s) leave a silent peer unnoticed for up to 40 s, and calls waiting on
# it until their own timeout. A ping every 5 s is nothing next to MCP traffic; the 10 s allowed for the
# pong tolerates a server that blocks its event loop in a synchronous tool for a while.
PING_INTERVAL_SECONDS = 5.0
PING_TIMEOUT_SECONDS = 10.0


class WebSocketConnector(UrlConnector):
    """Opens the spec's ``ws://`` or ``wss://`` URL with its headers."""

    def __init__(
        self,
        spec: UpstreamSpec,
        *,
        ping_interval: float = PING_INTERVAL_SECONDS,
        ping_timeout: float = PING_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(spec)
        self._ping = (ping_interval, ping_timeout)

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        spec = self._spec
        assert spec.url is not None
        self._status.reset()
        ws = await connect(
            spec.url,
            subprotocols=[SUBPROTOCOL],
            additional_headers=dict(spec.headers),
            open_timeout=spec.connect_timeout,
            max_size=MAX_MESSAGE_BYTES,
            ping_interval=self._ping[0],
            ping_timeout=self._ping[1],
            # After a failed ping websockets waits this long for the peer's close before dropping the
            # socket; a peer that missed its pong will not answer a close frame either.
            close_timeout=CLOSE_GRACE_SECONDS,
        )
        try:
            if ws.subprotocol != SUBPROTOCOL:
                logger.warning(
                    "%s accepted without subprotocol %r; speaking MCP anyway", spec.url, SUBPROTOCOL
                )
            read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._receive, ws, read_writer)
                tg.start_soon(_send, ws, write_reader)
                try:
                    yield read_stream, write_stream
                finally:
                    tg.cancel_scope.cancel()
                    for stream in (read_writer, read_stream, write_stream, write_reader):
                        stream.close()
        finally:
            # Closed even when the owner is being cancelled, or the socket would leak until GC.
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(CLOSE_GRACE_SECONDS):
                    await ws.close()
                ws.transport.abort()

    async def _receive(
        self, ws: ClientConnection, sink: MemoryObjectSendStream[SessionMessage | Exception]
    ) -> None:
        with sink:
            try:
                async for frame in ws:
                    await sink.send(parse_frame(frame))
            except ConnectionClosed as exc:
                reason = closed_reason(exc)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            else:
                # The iteration ends quietly on a clean close (1000/1001) by the server.
                detail = f": {ws.close_reason}" if ws.close_reason else ""
                reason = f"websocket closed by the server (code {ws.close_code}{detail})"
            if self._status.closed_reason is None:
                # Written before ``sink`` closes, so the calls failed by the close carry it.
                self._status.closed_reason = reason


def closed_reason(exc: ConnectionClosed) -> str:
    """Why a websocket ended abnormally, in words a caller can act on."""
    if exc.rcvd is None and exc.sent is None:
        return "websocket connection lost without a close frame (code 1006)"
    # websockets spells out both close frames, e.g. "sent 1011 (internal error) keepalive ping timeout".
    return f"websocket closed: {exc}"


def parse_frame(frame: str | bytes) -> SessionMessage | Exception:
    """One frame as a message, or the parse error as a value for the session to surface."""
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(frame, by_name=False))
    except ValueError as exc:
        return exc


async def _send(ws: ClientConnection, source: MemoryObjectReceiveStream[SessionMessage]) -> None:
    with source:
        try:
            async for message in source:
                await ws.send(message.message.model_dump_json(by_alias=True, exclude_unset=True))
        except ConnectionClosed:
            pass  # the receive side notices the close and ends the link
