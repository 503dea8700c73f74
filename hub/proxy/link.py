"""The two ends of an upstream link the session does not cover itself.

``WatchedReadStream`` tells its upstream, in wire order, about garbage and about the end of the link.
``DeclaringWriteStream`` makes each 2026-era request declare the capabilities and log level of the caller
it is sent for, not the hub's own.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import anyio
import mcp_types as types
from mcp.client._transport import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import CLIENT_CAPABILITIES_META_KEY, LOG_LEVEL_META_KEY

__all__ = ["Declaration", "DeclaringWriteStream", "WatchedReadStream", "declaring"]

Item = SessionMessage | Exception


class ClosingStream:
    """``async with`` for a stream wrapper: leaving the block closes the stream (``aclose``)."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None


class WatchedReadStream(ClosingStream):
    """Passes a transport's read stream through to the session, reporting as items go by.

    The session learns of transport errors only in a spawned task, after later messages may already have
    been handled; reporting here, synchronously, lets the upstream fail the affected calls and name the
    cause before the session's own "connection closed" reaches them.
    """

    def __init__(
        self,
        inner: ReadStream[Item],
        *,
        on_error: Callable[[Exception], None],
        on_close: Callable[[], None],
    ) -> None:
        self._inner = inner
        self._on_error = on_error
        self._on_close = on_close
        self._closed = False

    @property
    def last_context(self) -> contextvars.Context | None:
        """The sending task's context of the last item, for transports that carry it (streamable HTTP)."""
        context: contextvars.Context | None = getattr(self._inner, "last_context", None)
        return context

    async def receive(self) -> Item:
        """The next item; ``EndOfStream`` once the transport is done."""
        try:
            item = await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._report_close()
            raise
        if isinstance(item, Exception):
            self._on_error(item)
        return item

    def _report_close(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Item:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Close the underlying stream."""
        self._report_close()
        await self._inner.aclose()


@dataclass(frozen=True, slots=True)
class Declaration:
    """What one 2026-era request declares about the client it is sent for."""

    capabilities: types.ClientCapabilities
    log_level: types.LoggingLevel | None = None


# Set around a request sent on a caller's behalf; the write stream reads it in the sending task.
_declaration: contextvars.ContextVar[Declaration | None] = contextvars.ContextVar(
    "hub_proxy_declaration", default=None
)


@contextmanager
def declaring(declaration: Declaration | None) -> Iterator[None]:
    """Requests sent from this task within the block declare ``declaration`` (at 2026-07-28)."""
    token = _declaration.set(declaration)
    try:
        yield
    finally:
        _declaration.reset(token)


class DeclaringWriteStream(ClosingStream):
    """Passes messages to a transport's write stream, re-declaring the client on 2026-era requests.

    The SDK stamps its session's own capability ad on every 2026-era request and offers no per-request
    override. A proxy must not declare what its caller cannot do: an upstream would ask the hub for an
    elicitation nobody can answer instead of refusing with -32021, or skip one the caller could answer.
    So requests sent while a ``Declaration`` is set carry the caller's capabilities, and its log level
    (2026-07-28 sends logs only to a request that asks for them). Handshake-era requests carry no
    per-request envelope and pass untouched: their capabilities were declared once, at ``initialize``.
    """

    def __init__(self, inner: WriteStream[SessionMessage]) -> None:
        self._inner = inner

    async def send(self, item: SessionMessage, /) -> None:
        """Send ``item``, re-declared if it is a 2026-era request sent for a caller."""
        declaration = _declaration.get()
        if declaration is not None:
            item = _redeclared(item, declaration)
        await self._inner.send(item)

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self._inner.aclose()


def _redeclared(item: SessionMessage, declaration: Declaration) -> SessionMessage:
    message = item.message
    if not isinstance(message, types.JSONRPCRequest) or not message.params:
        return item
    meta = message.params.get("_meta")
    if not isinstance(meta, dict) or CLIENT_CAPABILITIES_META_KEY not in meta:
        return item  # no 2026-era envelope: nothing is declared per request
    new_meta: dict[str, Any] = dict(meta)
    new_meta[CLIENT_CAPABILITIES_META_KEY] = declaration.capabilities.model_dump(
        by_alias=True, mode="json", exclude_none=True
    )
    if declaration.log_level is not None:
        new_meta[LOG_LEVEL_META_KEY] = declaration.log_level
    else:
        new_meta.pop(LOG_LEVEL_META_KEY, None)
    params = {**message.params, "_meta": new_meta}
    return SessionMessage(message.model_copy(update={"params": params}), item.metadata)
