"""stdio upstreams: a child process in its own process group, spoken to over newline-delimited JSON-RPC.

Written here rather than taken from ``mcp.client.stdio`` because the hub needs what the SDK keeps private:
the child's exit noticed the moment it happens (so in-flight calls fail with "upstream exited (code N)"
rather than at their timeout), its exit code, a bounded stderr log for diagnostics, and the whole process
group killed and reaped on close.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import anyio.abc
import mcp_types as types
from anyio.streams.memory import MemoryObjectSendStream
from mcp.client.stdio import get_default_environment
from mcp.shared.message import SessionMessage

from hub.proxy.link import ClosingStream
from hub.proxy.transport import LinkStatus, TransportStreams, UpstreamSpec

__all__ = ["MAX_LINE_BYTES", "StderrLog", "StdinWriter", "StdioConnector", "describe_exit"]

logger = logging.getLogger(__name__)

# Lines longer than this are not MCP messages the hub would forward (payloads are capped far lower).
MAX_LINE_BYTES = 64 * 1024 * 1024
# After stdout ends, how long to wait for the exit status so the error can name the code.
_EXIT_STATUS_WAIT = 0.5
# After the child exits, how long its last stdout lines get to arrive before the link is closed.
_STDOUT_DRAIN_WAIT = 0.1
_POLL_INTERVAL = 0.01


class StderrLog:
    """The last ``limit`` bytes a child wrote to stderr."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray()

    def append(self, chunk: bytes) -> None:
        """Keep ``chunk``, dropping the oldest bytes past the limit."""
        self._buffer += chunk
        if len(self._buffer) > self._limit:
            del self._buffer[: len(self._buffer) - self._limit]

    def text(self) -> str:
        """The kept bytes as text."""
        return self._buffer.decode("utf-8", errors="replace")


def describe_exit(code: int) -> str:
    """How an exit status reads in an error: ``upstream exited (code 3)`` or ``(signal SIGKILL)``."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"upstream exited (signal {signal.Signals(-code).name})"
    return f"upstream exited (code {code})"


class StdinWriter(ClosingStream):
    """The session's write stream: each message written to the child's stdin by the task sending it.

    Writing in the sender's task, rather than handing each message to a writer task, saves a task
    switch on every request. A message is one ``write`` of one whole line, so concurrent senders never
    interleave.
    """

    def __init__(self, process: anyio.abc.Process) -> None:
        assert process.stdin is not None
        self._stdin = process.stdin
        self._closed = False

    async def send(self, item: SessionMessage, /) -> None:
        """Write ``item`` as one line; ``ClosedResourceError`` once the link is being torn down."""
        if self._closed:
            raise anyio.ClosedResourceError
        data = item.message.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n"
        try:
            await self._stdin.send(data)
        except (anyio.BrokenResourceError, OSError):
            # The child stopped reading (it exited). The request stays pending until the stdout side
            # closes the link, which fails it naming the exit: a precise error instead of a bare one.
            pass
        except anyio.ClosedResourceError:
            self._closed = True
            raise

    def close(self) -> None:
        """Refuse further messages (the child's stdin itself is closed by the connector)."""
        self._closed = True

    async def aclose(self) -> None:
        """Refuse further messages."""
        self.close()


class StdioConnector:
    """Starts the spec's command on each call and speaks MCP over its stdin and stdout."""

    def __init__(self, spec: UpstreamSpec) -> None:
        assert spec.command is not None
        self._spec = spec
        self._status = LinkStatus()
        self._stderr = StderrLog(spec.stderr_limit)
        self._status.stderr = self._stderr.text

    @property
    def status(self) -> LinkStatus:
        """Facts about the most recent child: pid, exit code, stderr."""
        return self._status

    def __call__(self) -> AbstractAsyncContextManager[TransportStreams]:
        """Start a fresh child."""
        return self._open()

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        spec = self._spec
        assert spec.command is not None
        status = self._status
        status.reset()
        env = dict(os.environ) if spec.inherit_env else get_default_environment()
        env.update(spec.env)
        process = await anyio.open_process(
            [spec.command, *spec.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=spec.cwd,
            # Its own group, so closing can kill everything it started, and a Ctrl-C aimed at the hub
            # reaches the hub alone.
            start_new_session=True,
        )
        status.pid = process.pid
        # No awaits between the spawn and the shielded teardown below, or a cancellation would leak it.
        read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_stream = StdinWriter(process)
        exited = anyio.Event()
        stdout_done = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._read_stdout, process, read_writer, exited, stdout_done)
                tg.start_soon(self._read_stderr, process)
                tg.start_soon(self._watch_exit, process, read_writer, exited, stdout_done)
                try:
                    yield read_stream, write_stream
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._stop(process)
                        tg.cancel_scope.cancel()
        finally:
            write_stream.close()
            for stream in (read_writer, read_stream):
                stream.close()

    async def _read_stdout(
        self,
        process: anyio.abc.Process,
        sink: MemoryObjectSendStream[SessionMessage | Exception],
        exited: anyio.Event,
        done: anyio.Event,
    ) -> None:
        assert process.stdout is not None
        # The unfinished line, in pieces: joining only once a newline arrives keeps long lines linear.
        pending: list[bytes] = []
        pending_size = 0
        try:
            async for chunk in process.stdout:
                if b"\n" not in chunk:
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size > MAX_LINE_BYTES:
                        pending, pending_size = [], 0
                        await sink.send(ValueError(f"upstream wrote a line over {MAX_LINE_BYTES} bytes"))
                    continue
                first, *rest = chunk.split(b"\n")
                tail = rest.pop()
                for line in (b"".join([*pending, first]), *rest):
                    if line.strip():
                        await sink.send(_parse_line(line))
                pending, pending_size = ([tail], len(tail)) if tail else ([], 0)
            done.set()
            # The error for in-flight calls should name the exit code, which arrives just after EOF.
            with anyio.move_on_after(_EXIT_STATUS_WAIT):
                await exited.wait()
            self._note_closed("upstream closed its stdout")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            pass  # the session or our own teardown closed one end; the link is over either way
        finally:
            done.set()
            sink.close()

    async def _read_stderr(self, process: anyio.abc.Process) -> None:
        assert process.stderr is not None
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            async for chunk in process.stderr:
                self._stderr.append(chunk)

    async def _watch_exit(
        self,
        process: anyio.abc.Process,
        sink: MemoryObjectSendStream[SessionMessage | Exception],
        exited: anyio.Event,
        stdout_done: anyio.Event,
    ) -> None:
        self._note_exit(await _wait_exit(process))
        exited.set()
        # A grandchild holding stdout open would keep the link up after the server died; close it anyway
        # once the last lines the server wrote have had a moment to arrive.
        with anyio.move_on_after(_STDOUT_DRAIN_WAIT):
            await stdout_done.wait()
        sink.close()

    def _note_closed(self, reason: str) -> None:
        if self._status.closed_reason is None:
            self._status.closed_reason = reason

    async def _stop(self, process: anyio.abc.Process) -> None:
        """Close stdin, give the child ``exit_grace``, then SIGTERM and SIGKILL its whole group.

        Waits inline rather than on the watcher task: a cancelled owner has cancelled that task too.
        """
        spec = self._spec
        if process.stdin is not None:
            with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await process.stdin.aclose()
        with anyio.move_on_after(spec.exit_grace):
            self._note_exit(await _wait_exit(process))
        # The group outlives its leader when the server started children of its own.
        pgid = process.pid
        if _signal_group(pgid, signal.SIGTERM) and not await _group_gone(pgid, spec.kill_grace):
            _signal_group(pgid, signal.SIGKILL)
            if not await _group_gone(pgid, spec.kill_grace):
                logger.warning("process group %d survived SIGKILL", pgid)
        with anyio.move_on_after(spec.kill_grace):
            self._note_exit(await _wait_exit(process))
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await pipe.aclose()
        # Closes asyncio's transport for the child, which its watcher has already reaped.
        with anyio.move_on_after(spec.kill_grace):
            await process.wait()

    def _note_exit(self, code: int) -> None:
        if self._status.exit_code is None:
            self._status.exit_code = code
            self._status.closed_reason = describe_exit(code)


def _parse_line(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:
        return exc


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False when no member is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        # A member changed its credentials; nothing more we may do about it.
        logger.warning("not allowed to signal process group %d", pgid)
        return False
    return True


async def _group_gone(pgid: int, grace: float) -> bool:
    with anyio.move_on_after(grace):
        # Nothing signals a process group becoming empty, so it is polled (only while shutting down).
        while _group_alive(pgid):  # noqa: ASYNC110
            await anyio.sleep(_POLL_INTERVAL)
        return True
    return False


def _group_alive(pgid: int) -> bool:
    """Whether any member of the group still runs.

    Zombies do not count: a dead grandchild waits for its new parent (init, or whatever reaper runs as
    pid 1) to collect it, which the hub neither controls nor needs to wait for.
    """
    if not _signal_group(pgid, 0):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # no /proc: the signal probe above is all there is
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


async def _wait_exit(process: anyio.abc.Process) -> int:
    """The child's exit status, learned the moment it exits.

    A pidfd becomes readable at exit, so no polling and no wait for the pipes to reach EOF (which
    ``Process.wait()`` also waits for, and a grandchild holding them open would delay forever).
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        try:
            await anyio.wait_readable(pidfd)
            # WNOWAIT leaves reaping to asyncio's child watcher, which owns it.
            with contextlib.suppress(ChildProcessError, OSError):
                # WNOHANG: the pidfd is readable, so this returns at once instead of blocking.
                info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # noqa: ASYNC222
                if info is not None:
                    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        finally:
            os.close(pidfd)
    # The watcher got there first (or there is no pidfd): it sets returncode within moments.
    while process.returncode is None:  # noqa: ASYNC110 - set by asyncio's watcher, which offers no event
        await anyio.sleep(_POLL_INTERVAL)
    return process.returncode
