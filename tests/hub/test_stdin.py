"""The stdio face's stdin reader: lines off a real pipe, an overlong line dropped, a cancellable read."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

from hub.server.stdin import stdin_lines

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the reader sits on asyncio's pipe transport


async def test_lines_come_off_a_pipe_and_an_overlong_one_is_dropped_not_fatal() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b'{"a": 1}\n' + b"x" * 5000 + b"\n" + "é\n".encode() + b"last, no newline")
        os.close(write_end)
        write_end = -1
        async with stdin_lines(read_end, limit=1024) as lines:
            assert lines is not None
            got = [line async for line in lines]
        assert got == ['{"a": 1}\n', "a line over 1024 bytes was dropped\n", "é\n", "last, no newline"]
        assert os.get_blocking(read_end)  # handed back as it was found
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


async def test_a_pending_read_is_cancelled_at_once() -> None:
    read_end, write_end = os.pipe()  # the writer stays open and silent, like an idle client
    try:
        async with stdin_lines(read_end) as lines, anyio.create_task_group() as tg:
            assert lines is not None

            async def late_line() -> None:
                # A thread blocked in read() would be freed only by this line, seconds later.
                await anyio.sleep(3)
                os.write(write_end, b"late\n")

            tg.start_soon(late_line)
            started = time.monotonic()
            with anyio.move_on_after(0.1):
                await lines.__anext__()
            assert time.monotonic() - started < 2, "the read outlived its cancellation"
            tg.cancel_scope.cancel()
    finally:
        os.close(read_end)
        os.close(write_end)


async def test_a_regular_file_is_left_to_the_threaded_reader(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(b"{}\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        async with stdin_lines(fd) as lines:
            assert lines is None
    finally:
        os.close(fd)
