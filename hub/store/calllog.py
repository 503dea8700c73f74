"""The call log: rows for ``mcp_call_logs`` written in batches, off the caller's path, and never lost.

``record`` only appends to memory. Two background loops take it from there:

- the *spooler* moves what has gathered, every ``interval`` seconds (sooner when a batch fills), into
  the spool file (``hub.store.spool``) with one ``write(2)``, so after ``kill -9`` at most the last
  ``interval`` of rows is missing; the rows also stay in memory, up to ``max_memory_rows``;
- the *writer* puts those rows into the database every ``write_interval`` seconds (sooner when a
  batch fills) in one transaction per batch, folding each batch's per-tool usage into ``mcp_tools``
  with one UPDATE a tool, and empties the spool once all is stored. Each transaction costs the event
  loop about a millisecond of SQLAlchemy work whatever its size, so fewer, larger batches keep the
  log's share of a call small; durability does not depend on this cadence, the spool's does.

When the database fails the writer backs off and the spooler carries on; past ``max_memory_rows`` the
memory copy is dropped and the spool segment sealed, to be replayed when the database is back (and,
after a crash, at the next start). Replayed rows carry the id given when they were spooled, so a row
that reached the database just before a crash is not written twice. Without a spool directory the log
keeps rows in memory only (bounded; what overflows is counted in ``dropped``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import orjson
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.store.models import Base
from hub.store.spool import Spool

__all__ = ["CallLog", "CallRecord"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One tool call, as it will be stored."""

    tenant_id: uuid.UUID
    tool_id: uuid.UUID
    input_data: Any
    output_data: Any
    success: bool
    error_message: str | None
    latency_ms: int
    trace_id: str
    created_at: datetime
    retry_count: int = 0
    workflow_instance_id: uuid.UUID | None = None


# A row on its way: the id it will have in mcp_call_logs, fixed when first seen.
_Row = tuple[uuid.UUID, CallRecord]


class CallLog:
    """Buffers call records, spools them to disk and writes them in batches."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval: float = 0.05,
        write_interval: float = 0.25,
        batch_size: int = 500,
        spool_dir: Path | None = None,
        max_memory_rows: int = 20_000,
        fsync_interval: float | None = 1.0,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._interval = interval
        self._write_interval = write_interval
        self._batch_size = batch_size
        self._max_memory = max_memory_rows
        self._spool = Spool(spool_dir, fsync_interval=fsync_interval) if spool_dir is not None else None
        self._retry = (retry_initial, retry_max)
        self._clock = clock
        self._pending: list[CallRecord] = []
        self._unwritten: list[_Row] = []
        self._generation = 0  # bumped when _unwritten is handed over to a sealed segment
        self._sealed_rows: dict[Path, int] = {}
        self._wake = anyio.Event()
        self._wake_writer = anyio.Event()
        self._closed = False
        self._written = 0
        self._dropped = 0
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._delay = retry_initial
        self._lock = anyio.Lock()
        self._logs: Table = Base.metadata.tables["mcp_call_logs"]
        self._tools: Table = Base.metadata.tables["mcp_tools"]
        self._adopted = False
        self._syncing = False

    # -- the public face -----------------------------------------------------------------------

    @property
    def written(self) -> int:
        """Rows written so far by this process (replayed ones included)."""
        return self._written

    @property
    def pending(self) -> int:
        """Rows not yet in the database (in memory or spooled)."""
        return len(self._pending) + len(self._unwritten) + sum(self._sealed_rows.values())

    @property
    def dropped(self) -> int:
        """Rows lost because memory was full and there is no spool (always 0 with a spool)."""
        return self._dropped

    @property
    def database_down(self) -> bool:
        """Whether the last write to the database failed."""
        return self._down_since is not None

    def record(self, rec: CallRecord) -> None:
        """Queue one row; never blocks and never fails the call."""
        self._pending.append(rec)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def run(self) -> None:
        """Spool and write until ``aclose``; run it in the composition root's task group."""
        self._adopt()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._write_loop)
            while not self._closed:
                with anyio.move_on_after(self._interval):
                    await self._wake.wait()
                self._wake = anyio.Event()
                self._spool_pending()
                spool, now = self._spool, self._clock()
                if spool is not None and not self._syncing and spool.sync_due(now):
                    self._syncing = True
                    tg.start_soon(self._sync, spool, now)
            self._wake_writer.set()

    async def replay(self) -> int:
        """Write what earlier processes left in the spool directory now; the number of rows written."""
        self._adopt()
        before = self._written
        async with self._lock:
            await self._drain_sealed()
        return self._written - before

    async def flush(self) -> None:
        """Write everything pending now (what the database refuses stays queued)."""
        self._spool_pending()
        async with self._lock:
            await self._drain(force=True)

    async def aclose(self) -> None:
        """Stop both loops and write what is left; what cannot be written stays in the spool."""
        self._closed = True
        self._wake.set()
        self._wake_writer.set()
        await self.flush()
        if self._spool is not None:
            if self.pending == 0:
                self._spool.clear()
            self._spool.close()

    # -- spooling ------------------------------------------------------------------------------

    async def _sync(self, spool: Spool, now: float) -> None:
        try:
            await spool.sync(now)
        except OSError:
            log.exception("call log: syncing the spool failed")
        finally:
            self._syncing = False

    def _adopt(self) -> None:
        if self._adopted or self._spool is None:
            return
        self._adopted = True
        if self._spool.adopt_orphans():
            for path in self._spool.sealed:
                self._sealed_rows.setdefault(path, sum(1 for _ in Spool.read(path)))
            log.info("call log: %d spooled rows from an earlier run to replay", self.pending)
            self._wake_writer.set()

    def _spool_pending(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        rows = [(uuid.uuid4(), r) for r in batch]
        if self._spool is not None:
            try:
                self._spool.append(b"".join(_encode(row) for row in rows))
            except OSError:
                # A full or failing disk must not stop the hub; the rows are still in memory.
                log.exception("call log: spooling %d rows failed", len(rows))
        self._unwritten.extend(rows)
        if len(self._unwritten) > self._max_memory:
            self._shed()
        if len(self._unwritten) >= self._batch_size:
            self._wake_writer.set()

    def _shed(self) -> None:
        """Memory is full: leave the rows to the spool (or drop the oldest when there is none)."""
        if self._spool is None:
            excess = len(self._unwritten) - self._max_memory
            del self._unwritten[:excess]
            self._dropped += excess
            log.error("call log: memory full and no spool; %d rows dropped", excess)
            return
        self._spool.seal()
        for path in self._spool.sealed:
            self._sealed_rows.setdefault(path, len(self._unwritten))
        self._unwritten = []
        self._generation += 1

    # -- writing -------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            with anyio.move_on_after(max(self._write_interval, self._retry_at - self._clock())):
                await self._wake_writer.wait()
            self._wake_writer = anyio.Event()
            if self._closed:
                return  # aclose writes the rest; a write cut off by cancellation would leak its connection
            async with self._lock:
                await self._drain(force=False)

    async def _drain(self, *, force: bool) -> None:
        if not force and self._down_since is not None and self._clock() < self._retry_at:
            return
        if not await self._drain_sealed():
            return
        while self._unwritten:
            generation = self._generation
            batch = self._unwritten[: self._batch_size]
            try:
                await self._write(batch, dedupe=False)
            except Exception as exc:
                self._failed(exc)
                return
            self._recovered()
            if generation == self._generation:
                del self._unwritten[: len(batch)]
        if self._spool is not None and not self._unwritten and not self._sealed_rows:
            # Everything the active segment holds is in the database now.
            self._spool.clear()

    async def _drain_sealed(self) -> bool:
        if self._spool is None:
            return True
        for path in self._spool.sealed:
            rows = [_decode(line) for line in Spool.read(path)]
            for start in range(0, len(rows), self._batch_size):
                try:
                    await self._write(rows[start : start + self._batch_size], dedupe=True)
                except Exception as exc:
                    self._failed(exc)
                    return False
                self._recovered()
            self._spool.done(path)
            self._sealed_rows.pop(path, None)
        return True

    def _failed(self, exc: Exception) -> None:
        now = self._clock()
        if self._down_since is None:
            self._down_since = now
            self._delay = self._retry[0]
            log.warning("call log: the database refused a write (%s); spooling until it is back", exc)
        self._retry_at = now + self._delay
        self._delay = min(self._delay * 2, self._retry[1])

    def _recovered(self) -> None:
        if self._down_since is not None:
            log.warning("call log: the database is back after %.1f s", self._clock() - self._down_since)
            self._down_since = None

    async def _write(self, batch: list[_Row], *, dedupe: bool) -> None:
        try:
            await self._insert(batch, dedupe=dedupe)
        except IntegrityError:
            if len(batch) == 1:
                # A row whose tool or tenant is gone can never be stored; keeping it would block the rest.
                log.error("call log: row %s refused by the database's constraints; discarded", batch[0][0])
                self._dropped += 1
                return
            for row in batch:
                # Deduplicated: a batch whose commit was cut short may in fact have been stored.
                await self._write([row], dedupe=True)

    async def _insert(self, batch: list[_Row], *, dedupe: bool) -> None:
        async with self._sessions() as session, session.begin():
            if dedupe:
                ids = [row_id for row_id, _ in batch]
                found = await session.execute(select(self._logs.c.id).where(self._logs.c.id.in_(ids)))
                present = set(found.scalars())
                batch = [row for row in batch if row[0] not in present]
                if not batch:
                    return
            await session.execute(insert(self._logs), [_columns(row) for row in batch])
            conn = await session.connection()
            await conn.execute(
                self._usage_update().execution_options(synchronize_session=False), _usage(batch)
            )
        self._written += len(batch)

    def _usage_update(self) -> Any:
        t = self._tools
        return (
            update(t)
            .where(t.c.id == bindparam("tid"))
            .values(
                avg_latency_ms=func.cast(
                    (func.coalesce(t.c.avg_latency_ms, 0) * t.c.usage_count + bindparam("total"))
                    / (t.c.usage_count + bindparam("n")),
                    t.c.avg_latency_ms.type,
                ),
                usage_count=t.c.usage_count + bindparam("n"),
                last_used_at=bindparam("last"),
            )
        )


def _columns(row: _Row) -> dict[str, Any]:
    row_id, r = row
    return {
        "id": row_id,
        "tenant_id": r.tenant_id,
        "mcp_tool_id": r.tool_id,
        "workflow_instance_id": r.workflow_instance_id,
        "input_data": r.input_data,
        "output_data": r.output_data,
        "success": r.success,
        "error_message": r.error_message,
        "latency_ms": r.latency_ms,
        "retry_count": r.retry_count,
        "created_at": r.created_at,
        "trace_id": r.trace_id,
    }


def _usage(batch: Iterable[_Row]) -> list[dict[str, Any]]:
    usage: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0])
    last_used: dict[uuid.UUID, datetime] = {}
    for _, r in batch:
        u = usage[r.tool_id]
        u[0] += 1
        u[1] += r.latency_ms
        last_used[r.tool_id] = max(last_used.get(r.tool_id, r.created_at), r.created_at)
    return [{"tid": k, "n": v[0], "total": v[1], "last": last_used[k]} for k, v in usage.items()]


def _encode(row: _Row) -> bytes:
    row_id, r = row
    return (
        orjson.dumps(
            {
                "id": row_id,
                "tenant_id": r.tenant_id,
                "tool_id": r.tool_id,
                "input": r.input_data,
                "output": r.output_data,
                "success": r.success,
                "error": r.error_message,
                "latency_ms": r.latency_ms,
                "trace_id": r.trace_id,
                "created_at": r.created_at,
                "retry_count": r.retry_count,
                "workflow_instance_id": r.workflow_instance_id,
            },
            default=str,
        )
        + b"\n"
    )


def _decode(line: bytes) -> _Row:
    d = orjson.loads(line)
    workflow = d.get("workflow_instance_id")
    return uuid.UUID(d["id"]), CallRecord(
        tenant_id=uuid.UUID(d["tenant_id"]),
        tool_id=uuid.UUID(d["tool_id"]),
        input_data=d["input"],
        output_data=d["output"],
        success=bool(d["success"]),
        error_message=d["error"],
        latency_ms=int(d["latency_ms"]),
        trace_id=d["trace_id"],
        created_at=datetime.fromisoformat(d["created_at"]),
        retry_count=int(d.get("retry_count", 0)),
        workflow_instance_id=uuid.UUID(workflow) if workflow else None,
    )
