"""The call log: rows for ``mcp_call_logs`` written in batches, off the caller's path.

``record`` only appends to memory; a background task writes what has gathered every
``interval`` seconds (or sooner when a batch fills) in one transaction, and folds the batch's
per-tool usage into ``mcp_tools`` (usage_count, avg_latency_ms, last_used_at) with one UPDATE a
tool instead of one per call.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy import Table, bindparam, func, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.store.models import Base

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


class CallLog:
    """Buffers call records and writes them in batches."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, interval: float = 0.05, batch_size: int = 500
    ) -> None:
        self._sessions = sessions
        self._interval = interval
        self._batch_size = batch_size
        self._pending: list[CallRecord] = []
        self._wake = anyio.Event()
        self._closed = False
        self._written = 0
        self._lock = anyio.Lock()
        self._logs: Table = Base.metadata.tables["mcp_call_logs"]
        self._tools: Table = Base.metadata.tables["mcp_tools"]

    @property
    def written(self) -> int:
        """Rows written so far by this process."""
        return self._written

    @property
    def pending(self) -> int:
        """Rows waiting to be written."""
        return len(self._pending)

    def record(self, rec: CallRecord) -> None:
        """Queue one row; never blocks and never fails the call."""
        self._pending.append(rec)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def run(self) -> None:
        """Write batches until ``aclose``; run it in the composition root's task group."""
        while not self._closed:
            with anyio.move_on_after(self._interval):
                await self._wake.wait()
            self._wake = anyio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write everything pending now."""
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending[: self._batch_size], self._pending[self._batch_size :]
                try:
                    await self._write(batch)
                except Exception:
                    # Keep the rows: they go out with the next flush once the database is back.
                    log.exception("writing %d call-log rows failed; will retry", len(batch))
                    self._pending[:0] = batch
                    return
                self._written += len(batch)

    async def aclose(self) -> None:
        """Stop the writer and write what is left."""
        self._closed = True
        self._wake.set()
        await self.flush()

    async def _write(self, batch: list[CallRecord]) -> None:
        rows = [
            {
                "id": uuid.uuid4(),
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
            for r in batch
        ]
        usage: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0])
        last_used: dict[uuid.UUID, datetime] = {}
        for r in batch:
            u = usage[r.tool_id]
            u[0] += 1
            u[1] += r.latency_ms
            last_used[r.tool_id] = max(last_used.get(r.tool_id, r.created_at), r.created_at)
        t = self._tools
        stmt = (
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
        params = [{"tid": k, "n": v[0], "total": v[1], "last": last_used[k]} for k, v in usage.items()]
        async with self._sessions() as session, session.begin():
            await session.execute(insert(self._logs), rows)
            conn = await session.connection()
            await conn.execute(stmt.execution_options(synchronize_session=False), params)
