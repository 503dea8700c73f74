"""Writing judgments behind the caller's back: ``judgment_executions`` rows, their ``llm_calls``, cache
entries and cache hit counts, in batches, one transaction per batch.

A judgment's own latency then holds no database write: on SQLite one INSERT plus COMMIT costs about as
much as the whole rule evaluation and response together. The writer keeps the record complete:

- **read-your-writes**: every read of judgments (get, list, stats, feedback, invalidation) calls
  ``flush()`` first, so a judgment just returned is found by the next call;
- **bounded**: at most ``max_pending`` judgments wait in memory; a submit past that waits for a flush
  and, when the database refuses it, fails the judgment with ``StoreError`` instead of answering a
  judgment that could not be recorded;
- **flushed on shutdown**: ``aclose()`` writes what is left; a database failure is retried with backoff
  meanwhile. What a ``kill -9`` catches in memory (at most ``interval`` seconds of judgments) is lost:
  judgments are not spooled to disk the way the call log is;
- **write-through when not running**: an engine whose ``run()`` no one started (a script, a test) writes
  each judgment before ``submit`` returns, as before the writer existed.

A batch that the database refuses for one row's sake (a foreign key, a constraint) is written row by
row so the others are kept; the refused row is logged and counted in ``dropped``. Judgments that name
a workflow or workflow instance (foreign keys the hub does not check first) are written before the
caller is answered (``durable=True``), so a bad reference is still the caller's error.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import anyio.abc
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.errors import StoreError
from hub.judgment import cache
from hub.store.models import JudgmentCache, JudgmentExecution, LLMCall

__all__ = ["CacheWrite", "JudgmentWriter", "PendingJudgment"]

log = logging.getLogger(__name__)

_EXECUTIONS = cast(sa.Table, JudgmentExecution.__table__)
_LLM_CALLS = cast(sa.Table, LLMCall.__table__)
_CACHE = cast(sa.Table, JudgmentCache.__table__)


@dataclass(frozen=True, slots=True)
class CacheWrite:
    """A judgment to cache under ``key`` (``cache.upsert_statement``: a live entry of the key is kept)."""

    key: str
    input_hash: str
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class PendingJudgment:
    """One judgment's writes: its row, its LLM calls, a cache entry it makes or a cache hit it counts."""

    row: Mapping[str, Any]
    """``judgment_executions`` values by column name (``records.to_values``)."""
    llm_calls: Sequence[Mapping[str, Any]] = ()
    cache: CacheWrite | None = None
    hit_key: str | None = None
    """The cache key this judgment was answered from; its entry's ``hit_count`` goes up by one."""

    @property
    def id(self) -> uuid.UUID:
        """The judgment's id."""
        value = self.row["id"]
        assert isinstance(value, uuid.UUID)
        return value

    @property
    def tenant_id(self) -> uuid.UUID:
        """The judgment's tenant."""
        value = self.row["tenant_id"]
        assert isinstance(value, uuid.UUID)
        return value


@dataclass(slots=True)
class _Hits:
    count: int = 0
    last: dt.datetime | None = None


@dataclass(slots=True)
class _Batch:
    rows: list[Mapping[str, Any]] = field(default_factory=list)
    calls: list[Mapping[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    hits: dict[tuple[uuid.UUID, str], _Hits] = field(default_factory=dict)


class JudgmentWriter:
    """Queues judgments' writes and stores them in batches (see the module's description)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval: float = 0.05,
        batch_size: int = 500,
        max_pending: int = 10_000,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._interval = interval
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._retry = (retry_initial, retry_max)
        self._monotonic = monotonic
        self._pending: list[PendingJudgment] = []
        self._lock = anyio.Lock()
        self._wake = anyio.Event()
        self._running = False
        self._closed = False
        self._failing_since: float | None = None
        self._retry_at = 0.0
        self._delay = retry_initial
        self._written = 0
        self._dropped = 0

    @property
    def pending(self) -> int:
        """Judgments accepted but not yet in the database."""
        return len(self._pending)

    @property
    def written(self) -> int:
        """Judgments this writer has stored."""
        return self._written

    @property
    def dropped(self) -> int:
        """Judgments the database refused for good (a constraint); each one is logged."""
        return self._dropped

    @property
    def running(self) -> bool:
        """Whether ``run()`` is writing in the background (else ``submit`` writes through)."""
        return self._running

    async def submit(self, item: PendingJudgment, *, durable: bool = False) -> None:
        """Accept one judgment's writes; ``durable`` (or no ``run()``) writes it before returning.

        Raises ``StoreError`` when the judgment cannot be recorded: the database refused a durable
        write, or the queue is full and the database does not take it.
        """
        if durable or not self._running or self._closed:
            # Shielded, here and in flush: a caller's cancel must not cut a batch off between its
            # commit and its removal from the queue (it would be written twice).
            with anyio.CancelScope(shield=True):
                async with self._lock:
                    # What was queued goes first: this judgment may count a hit on an entry still queued.
                    await self._drain(raise_errors=True)
                    await self._write_all([item], raise_errors=True)
            return
        if len(self._pending) >= self._max_pending:
            await self.flush()
        self._pending.append(item)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything queued now; ``StoreError`` if the database refuses (the rows stay queued)."""
        if not self._pending:
            return
        with anyio.CancelScope(shield=True):
            async with self._lock:
                await self._drain(raise_errors=True)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Write in the background until ``aclose``; run it in the composition root's task group."""
        self._running = True
        task_status.started()
        try:
            while not self._closed:
                delay = self._interval
                if self._failing_since is not None:
                    delay = max(delay, self._retry_at - self._monotonic())
                with anyio.move_on_after(delay):
                    await self._wake.wait()
                self._wake = anyio.Event()
                if self._closed:
                    return  # aclose writes the rest; a write cut off by cancellation would leak its connection
                if self._pending:
                    async with self._lock:
                        await self._drain(raise_errors=False)
        finally:
            self._running = False

    async def aclose(self) -> None:
        """Stop the background loop and write what is left (logged, not raised, if that fails)."""
        self._closed = True
        self._wake.set()
        with anyio.CancelScope(shield=True):
            async with self._lock:
                await self._drain(raise_errors=False)
        if self._pending:
            log.error("judgments: %d judgments could not be recorded at shutdown", len(self._pending))

    # -- writing -------------------------------------------------------------------------------

    async def _drain(self, *, raise_errors: bool) -> None:
        while self._pending:
            batch = self._pending[: self._batch_size]
            if not await self._write_all(batch, raise_errors=raise_errors):
                return
            del self._pending[: len(batch)]

    async def _write_all(self, batch: list[PendingJudgment], *, raise_errors: bool) -> bool:
        """Store a batch; False (or ``StoreError``) when the database is failing and it stays queued."""
        try:
            try:
                await self._write(batch)
            except IntegrityError:
                if len(batch) == 1:
                    raise
                for item in batch:
                    try:
                        await self._write([item])
                    except IntegrityError as exc:
                        self._refused(item, exc)
        except IntegrityError as exc:
            if raise_errors:
                raise _store_error(exc) from exc
            self._refused(batch[0], exc)
        except (SQLAlchemyError, OSError) as exc:
            self._failed(exc)
            if raise_errors:
                raise _store_error(exc) from exc
            return False
        except Exception:
            if raise_errors:
                raise
            # Anything else is a fault of ours, not the database's; the background loop must not die
            # of it (that would stop the hub), so the batch stays queued and is tried again later.
            log.exception("judgments: writing a batch of %d failed", len(batch))
            self._failed(RuntimeError("unexpected error"))
            return False
        self._recovered()
        return True

    def _refused(self, item: PendingJudgment, exc: IntegrityError) -> None:
        self._dropped += 1
        log.error("judgments: judgment %s refused by the database and not recorded: %s", item.id, exc.orig)

    def _failed(self, exc: BaseException) -> None:
        now = self._monotonic()
        if self._failing_since is None:
            self._failing_since = now
            self._delay = self._retry[0]
            log.warning("judgments: the database refused a write (%s); %d queued", exc, len(self._pending))
        self._retry_at = now + self._delay
        self._delay = min(self._delay * 2, self._retry[1])

    def _recovered(self) -> None:
        if self._failing_since is not None:
            log.warning(
                "judgments: the database is back after %.1f s", self._monotonic() - self._failing_since
            )
            self._failing_since = None

    async def _write(self, items: list[PendingJudgment]) -> None:
        batch = _Batch()
        for item in items:
            batch.rows.append(item.row)
            batch.calls.extend(item.llm_calls)
            if item.cache is not None:
                row = item.row
                created = row["created_at"]
                ttl = item.cache.ttl_seconds
                batch.entries.append(
                    {
                        "id": uuid.uuid4(),
                        "tenant_id": item.tenant_id,
                        "cache_key": item.cache.key,
                        "judgment_execution_id": item.id,
                        "input_hash": item.cache.input_hash,
                        "result": row["result"],
                        "confidence": row["confidence"],
                        "ttl_seconds": ttl,
                        "hit_count": 0,
                        "created_at": created,
                        "expires_at": created + dt.timedelta(seconds=ttl),
                        "last_hit_at": None,
                        "now_": created,
                    }
                )
            if item.hit_key is not None:
                hits = batch.hits.setdefault((item.tenant_id, item.hit_key), _Hits())
                hits.count += 1
                created = item.row["created_at"]
                hits.last = created if hits.last is None else max(hits.last, created)
        async with self._sessions() as session, session.begin():
            # Order matters: cache entries and LLM calls reference the judgment rows, and a hit may
            # count on an entry made earlier in the same batch.
            conn = await session.connection()
            await conn.execute(sa.insert(_EXECUTIONS), batch.rows)
            if batch.calls:
                await conn.execute(sa.insert(_LLM_CALLS), batch.calls)
            if batch.entries:
                await conn.execute(cache.upsert_statement(conn.dialect.name), batch.entries)
            if batch.hits:
                await conn.execute(
                    _HIT_UPDATE,
                    [
                        {"t": tenant, "k": key, "n": h.count, "last": h.last}
                        for (tenant, key), h in batch.hits.items()
                    ],
                )
        self._written += len(items)


# Hits are counted in SQL, not in Python, so hits from several processes all count.
_HIT_UPDATE = (
    sa.update(_CACHE)
    .where(_CACHE.c.tenant_id == sa.bindparam("t"), _CACHE.c.cache_key == sa.bindparam("k"))
    .values(
        hit_count=_CACHE.c.hit_count + sa.bindparam("n"),
        last_hit_at=sa.bindparam("last", type_=JudgmentCache.last_hit_at.type),
    )
)


def _store_error(exc: BaseException) -> StoreError:
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return StoreError(f"recording the judgment: the database failed: {first}")
