"""A read stream that tells its upstream, in wire order, about garbage and about the end of the link."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from types import TracebackType
from typing import Self

import anyio
from mcp.client._transport import ReadStream
from mcp.shared.message import SessionMessage

__all__ = ["WatchedReadStream"]

Item = SessionMessage | Exception


class WatchedReadStream:
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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None
