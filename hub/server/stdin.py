"""The stdio face's input, read on the event loop so that a shutdown can stop the read.

The SDK reads stdin line by line in a worker thread. A thread blocked in ``read`` cannot be cancelled,
so a hub told to stop by SIGTERM would linger until its client happened to send a line or close the
pipe. Where stdin is a pipe, a socket or a terminal, it is read here without a thread instead; a
regular file (``hub serve < requests.jsonl``) has no readiness to wait on and is left to the SDK.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Self

from hub.proxy.stdio import MAX_LINE_BYTES

__all__ = ["StdinLines", "stdin_lines"]


class StdinLines:
    """An async iterator of stdin's lines as text, the interface the SDK's stdio transport reads."""

    def __init__(self, reader: asyncio.StreamReader, limit: int) -> None:
        self._reader = reader
        self._limit = limit

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise StopAsyncIteration from None
            line = exc.partial  # the last line, without its newline
        except asyncio.LimitOverrunError:
            await self._skip_line()
            # Not JSON: the transport reports it as a parse error, as it does any unreadable line.
            return f"a line over {self._limit} bytes was dropped\n"
        return line.decode("utf-8", errors="replace")

    async def _skip_line(self) -> None:
        while True:
            try:
                await self._reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as exc:
                await self._reader.readexactly(exc.consumed)
            except asyncio.IncompleteReadError:
                return


def _pollable(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


@asynccontextmanager
async def stdin_lines(fd: int = 0, *, limit: int = MAX_LINE_BYTES) -> AsyncIterator[StdinLines | None]:
    """Lines of ``fd`` read on the loop; ``None`` when it cannot be (the caller keeps the SDK's reader)."""
    if not _pollable(fd):
        yield None
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    # A duplicate, so closing the transport leaves fd 0 itself in place for whoever looks at it later.
    pipe = os.fdopen(os.dup(fd), "rb", buffering=0)
    try:
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    except (OSError, ValueError):
        pipe.close()
        yield None
        return
    try:
        yield StdinLines(reader, limit)
    finally:
        transport.close()
        # The loop made the (shared) open file non-blocking; others reading fd 0 later expect blocking.
        with suppress(OSError):
            os.set_blocking(fd, True)
