"""An append-only spool of JSON lines on disk: where call-log rows wait while the database cannot take them.

Rows go to the *active segment* (``<stem>-<pid>-<seq>.jsonl``) with one ``write(2)`` per batch. That
puts them in the kernel's page cache, which outlives the process (``kill -9``); surviving a power cut
needs ``fsync``, which costs ~5 ms here, so it runs in a worker thread at most every
``fsync_interval`` seconds instead of on every batch. Once every row of the active segment is in the
database the segment is truncated; a segment that must wait (the database is down, or memory is full)
is *sealed* and replayed later, oldest first. Each writer holds an ``flock`` on its active segment, so
a process replaying a directory at start skips the segments of writers that are still alive.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread

__all__ = ["Spool"]

log = logging.getLogger(__name__)


class Spool:
    """Segments of JSON lines under one directory, written by this process and replayed by any."""

    def __init__(self, directory: Path, *, stem: str = "calllog", fsync_interval: float | None = 1.0) -> None:
        self.directory = directory
        self._stem = stem
        self._fsync_interval = fsync_interval
        self._seq = 0
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._dirty = False
        self._last_sync = 0.0
        self._sealed: list[Path] = []

    # -- writing -------------------------------------------------------------------------------

    def append(self, data: bytes) -> None:
        """Append bytes (whole lines) to the active segment; they survive this process from now on."""
        if not data:
            return
        fd = self._open()
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        self._size += len(data)
        self._dirty = True

    def sync_due(self, now: float) -> bool:
        """Whether the active segment changed and ``fsync_interval`` has passed since the last sync."""
        return (
            self._fsync_interval is not None
            and self._dirty
            and self._fd is not None
            and now - self._last_sync >= self._fsync_interval
        )

    async def sync(self, now: float) -> None:
        """``fdatasync`` the active segment in a worker thread, so appends never wait for the disk."""
        if self._fd is None:
            return
        self._dirty, self._last_sync = False, now
        # A duplicate descriptor: the segment may be sealed (closed) while the thread still syncs.
        fd = os.dup(self._fd)
        try:
            await anyio.to_thread.run_sync(os.fdatasync, fd)
        finally:
            os.close(fd)

    def clear(self) -> None:
        """Every row of the active segment is stored elsewhere now: empty it (cheaper than a new file)."""
        if self._fd is not None and self._size:
            os.ftruncate(self._fd, 0)
            self._size = 0
            self._dirty = False

    def seal(self) -> None:
        """Close the active segment and queue it for replay; the next append opens a new one."""
        if self._fd is None:
            return
        assert self._path is not None
        if self._size:
            self._sealed.append(self._path)
            self._release(keep=True)
        else:
            self._release(keep=False)

    def close(self) -> None:
        """Close the active segment; it is deleted when empty and left for the next start otherwise."""
        if self._fd is not None:
            self._release(keep=self._size > 0)

    @property
    def active_bytes(self) -> int:
        """Bytes in the active segment."""
        return self._size

    # -- replaying -----------------------------------------------------------------------------

    def adopt_orphans(self) -> int:
        """Queue for replay the segments left by writers that are gone (a crash, or a close with rows left)."""
        found = 0
        if not self.directory.exists():
            return 0
        for path in sorted(self.directory.glob(f"{self._stem}-*.jsonl"), key=_segment_order):
            if path == self._path or path in self._sealed:
                continue
            if _locked_by_other(path):
                continue  # a live hub process is still writing it
            self._sealed.append(path)
            found += 1
        return found

    @property
    def sealed(self) -> list[Path]:
        """Segments waiting for replay, oldest first."""
        return list(self._sealed)

    @staticmethod
    def read(path: Path) -> Iterator[bytes]:
        """The complete lines of a segment; a torn last line (the writer died mid-write) is skipped."""
        with path.open("rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    yield line

    def done(self, path: Path) -> None:
        """A sealed segment is fully stored elsewhere: delete it."""
        self._sealed.remove(path)
        path.unlink(missing_ok=True)

    # -- internals -----------------------------------------------------------------------------

    def _open(self) -> int:
        if self._fd is not None:
            return self._fd
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        # Wall-clock nanoseconds first, so names sort by creation across processes and restarts.
        path = self.directory / f"{self._stem}-{os.getpid()}-{time.time_ns()}-{self._seq:06d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fd, self._path, self._size = fd, path, 0
        return fd

    def _release(self, *, keep: bool) -> None:
        assert self._fd is not None
        assert self._path is not None
        if not keep:
            self._path.unlink(missing_ok=True)
        os.close(self._fd)  # also drops the flock
        self._fd, self._path, self._size, self._dirty = None, None, 0, False


def _segment_order(path: Path) -> tuple[int, str]:
    parts = path.stem.split("-")
    try:
        return int(parts[-2]), path.name
    except (IndexError, ValueError):
        return 0, path.name


def _locked_by_other(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
