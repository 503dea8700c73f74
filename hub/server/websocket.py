"""The hub's websocket face: a Starlette endpoint speaking MCP, one JSON-RPC message per text frame.

``websocket_streams(ws)`` turns an accepted-or-not Starlette ``WebSocket`` into the ``(read_stream,
write_stream)`` pair a low-level ``Server`` runs on; ``websocket_endpoint(server)`` is the route handler
built from it, mounted at ``/ws``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.lowlevel import Server
from mcp.server.models import InitializationOptions
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

__all__ = ["SUBPROTOCOL", "websocket_endpoint", "websocket_streams"]

logger = logging.getLogger(__name__)

SUBPROTOCOL = "mcp"

ServerStreams = tuple[
    MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]
]


@asynccontextmanager
async def websocket_streams(websocket: WebSocket) -> AsyncIterator[ServerStreams]:
    """Accept ``websocket`` with subprotocol ``mcp`` and bridge its frames to a server's streams."""
    offered = websocket.scope.get("subprotocols", [])
    # Answering with a subprotocol the client did not offer makes browsers drop the connection.
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def receive() -> None:
        with read_writer:
            try:
                while True:
                    frame = await websocket.receive()
                    if frame["type"] == "websocket.disconnect":
                        return
                    text = frame.get("text")
                    data = text if text is not None else frame.get("bytes") or b""
                    try:
                        # The connection's WebSocket rides along as the request context, as
                        # HTTP transports attach their Request: handlers read the caller from it.
                        message: SessionMessage | Exception = SessionMessage(
                            types.jsonrpc_message_adapter.validate_json(data, by_name=False),
                            metadata=ServerMessageMetadata(request_context=websocket),
                        )
                    except ValueError as exc:
                        message = exc
                    await read_writer.send(message)
            except (WebSocketDisconnect, anyio.ClosedResourceError, anyio.BrokenResourceError):
                return

    async def send() -> None:
        with write_reader:
            try:
                async for message in write_reader:
                    await websocket.send_text(
                        message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    )
            except (WebSocketDisconnect, RuntimeError, OSError):
                # RuntimeError: Starlette's "send after close"; the peer is gone, the receive side ends it.
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(receive)
        tg.start_soon(send)
        try:
            yield read_stream, write_stream
        finally:
            tg.cancel_scope.cancel()
            for stream in (read_writer, read_stream, write_stream, write_reader):
                stream.close()
            if websocket.application_state == WebSocketState.CONNECTED:
                # RuntimeError/OSError: the peer is already closing from its side.
                with (
                    anyio.CancelScope(shield=True),
                    anyio.move_on_after(1.0),
                    suppress(RuntimeError, OSError),
                ):
                    await websocket.close()


def websocket_endpoint(
    server: Server[Any], init_options: InitializationOptions | None = None
) -> Callable[[WebSocket], Awaitable[None]]:
    """A Starlette ``WebSocketRoute`` endpoint running ``server`` on each connection."""
    options = init_options or server.create_initialization_options()

    async def endpoint(websocket: WebSocket) -> None:
        async with websocket_streams(websocket) as (read_stream, write_stream):
            await server.run(read_stream, write_stream, options)

    return endpoint
