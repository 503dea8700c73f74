"""WebSocket upstreams: one JSON-RPC message per text frame, subprotocol ``mcp`` (the wire of mcp 1.x).

The SDK dropped its websocket transport in 2.x, so this is written on the ``websockets`` library.
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

from hub.proxy.transport import CLOSE_GRACE_SECONDS, MAX_MESSAGE_BYTES, TransportStreams, UrlConnector

__all__ = ["SUBPROTOCOL", "WebSocketConnector"]

logger = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("mcp")


class WebSocketConnector(UrlConnector):
    """Opens the spec's ``ws://`` or ``wss://`` URL with its headers."""

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
            except ConnectionClosed:
                pass
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            code = ws.close_code
            reason = f"websocket closed (code {code})" if code is not None else "websocket closed"
            if self._status.closed_reason is None:
                self._status.closed_reason = reason


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
