"""The judgment cache (``judgment_cache``): same tenant, workflow and input within the TTL, same answer.

Keys follow the spec, ``judgment:{workflow_id}:{sha256}``, where the hash is over the canonical JSON
of the input together with the rule-set selector, a forced method (two rule sets judging one input
must not share an answer) and the rule set version that routing picks for the input (an answer of a
version no longer deployed is never found). ``-`` stands for "no workflow". Time comes from a clock
the caller passes, so tests move it instead of sleeping.

``LocalCache`` keeps recently used live entries in the process, in front of the table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import StoreError
from hub.judgment.inputs import canonical_json
from hub.judgment.records import Judgment
from hub.store.models import JudgmentCache, JudgmentExecution

__all__ = [
    "CachedAnswer",
    "Clock",
    "LocalCache",
    "cache_key",
    "invalidate_ruleset",
    "lookup",
    "upsert_statement",
    "utc_now",
]

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The real clock: timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def cache_key(workflow_id: uuid.UUID | None, payload: Mapping[str, Any]) -> tuple[str, str]:
    """``(cache_key, input_hash)`` for a request's cache payload."""
    digest = hashlib.sha256(canonical_json(payload).encode()).hexdigest()
    return f"judgment:{workflow_id or '-'}:{digest}", digest


async def lookup(
    session: AsyncSession, tenant_id: uuid.UUID, key: str, now: dt.datetime
) -> tuple[JudgmentCache, JudgmentExecution] | None:
    """The live entry for ``key`` and the judgment it points at; None when absent or expired.

    Only reads: the hit is counted by whoever serves it (the engine queues the count with the
    judgment's own row), so a hit costs no write in the caller's transaction.
    """
    row = (
        await session.execute(
            sa.select(JudgmentCache, JudgmentExecution)
            .join(JudgmentExecution, JudgmentExecution.id == JudgmentCache.judgment_execution_id)
            .where(
                JudgmentCache.tenant_id == tenant_id,
                JudgmentCache.cache_key == key,
                JudgmentCache.expires_at > now,
                JudgmentExecution.tenant_id == tenant_id,
            )
        )
    ).first()
    if row is None:
        return None
    entry, execution = row._tuple()
    return entry, execution


_UPSERTS: dict[str, Any] = {}
_CACHE_TABLE = cast(sa.Table, JudgmentCache.__table__)


def upsert_statement(dialect: str) -> Any:
    """INSERT of a ``judgment_cache`` row that replaces an expired entry of its key, never a live one.

    Parameters: the row's columns plus ``now_``; built once per dialect.
    """
    stmt = _UPSERTS.get(dialect)
    if stmt is not None:
        return stmt
    if dialect == "postgresql":
        ins: Any = postgresql.insert(_CACHE_TABLE)
    elif dialect == "sqlite":
        ins = sqlite.insert(_CACHE_TABLE)
    else:
        raise StoreError(f"the judgment cache has no upsert for {dialect}")
    replace = [
        "judgment_execution_id",
        "input_hash",
        "result",
        "confidence",
        "ttl_seconds",
        "hit_count",
        "created_at",
        "expires_at",
        "last_hit_at",
    ]
    stmt = ins.on_conflict_do_update(
        index_elements=["tenant_id", "cache_key"],
        set_={k: ins.excluded[k] for k in replace},
        where=ins.table.c.expires_at <= sa.bindparam("now_", type_=JudgmentCache.expires_at.type),
    )
    _UPSERTS[dialect] = stmt
    return stmt


async def invalidate_ruleset(session: AsyncSession, tenant_id: uuid.UUID, ruleset_id: uuid.UUID) -> int:
    """Drop the tenant's entries whose judgment used ``ruleset_id``; returns how many."""
    used = sa.select(JudgmentExecution.id).where(
        JudgmentExecution.tenant_id == tenant_id,
        JudgmentExecution.rule_trace["ruleset_id"].as_string() == str(ruleset_id),
    )
    result = await session.execute(
        sa.delete(JudgmentCache)
        .where(JudgmentCache.tenant_id == tenant_id, JudgmentCache.judgment_execution_id.in_(used))
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount


@dataclass(slots=True)
class CachedAnswer:
    """A live ``judgment_cache`` entry as this process last saw it."""

    judgment: Judgment
    """The judgment the entry points at (what a hit answers with)."""
    expires_at: dt.datetime
    hits: int
    """The entry's ``hit_count`` as last read, plus the hits this process served since."""
    checked_at: float
    ruleset_id: str | None


class LocalCache:
    """A bounded LRU of cache entries in front of ``judgment_cache``, so a hit needs no database read.

    The table stays the source of truth: an entry is trusted for ``fresh_seconds`` after it was read
    (or written) by this process and then read again, so an entry another hub process dropped stops
    answering here within that time; ``expires_at`` is honoured to the instant. What a deploy or
    rollback changes cannot be served from here even meanwhile: the key names the rule set version
    that judged (see ``JudgmentEngine``), and this process drops its entries of a tenant when told
    of a deploy (``forget``).
    """

    def __init__(
        self, *, size: int = 1024, fresh_seconds: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[tuple[uuid.UUID, str], CachedAnswer] = OrderedDict()
        self._size = size
        self._fresh = fresh_seconds
        self._monotonic = monotonic

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, tenant_id: uuid.UUID, key: str, now: dt.datetime) -> CachedAnswer | None:
        """The entry when it is live and fresh; None means: ask the table."""
        k = (tenant_id, key)
        entry = self._entries.get(k)
        if entry is None:
            return None
        if now >= entry.expires_at:
            del self._entries[k]
            return None
        if self._monotonic() - entry.checked_at >= self._fresh:
            return None  # kept, so the hits counted here survive the re-read (``put`` merges them)
        self._entries.move_to_end(k)
        return entry

    def put(
        self, tenant_id: uuid.UUID, key: str, judgment: Judgment, expires_at: dt.datetime, hits: int
    ) -> CachedAnswer:
        """Remember an entry just read from, or queued for, the table."""
        k = (tenant_id, key)
        old = self._entries.get(k)
        if old is not None and old.judgment.id == judgment.id:
            # Our own hits may not have reached the table yet: never count backwards.
            hits = max(hits, old.hits)
        trace = judgment.rule_trace or {}
        ruleset_id = trace.get("ruleset_id")
        entry = CachedAnswer(
            judgment,
            expires_at,
            hits,
            self._monotonic(),
            ruleset_id if isinstance(ruleset_id, str) else None,
        )
        self._entries[k] = entry
        self._entries.move_to_end(k)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return entry

    def discard(self, tenant_id: uuid.UUID, key: str) -> None:
        """Forget one entry (the table no longer has it)."""
        self._entries.pop((tenant_id, key), None)

    def forget(self, tenant_id: uuid.UUID, ruleset_id: uuid.UUID | None = None) -> None:
        """Forget a tenant's entries, or only those a rule set judged."""
        rid = None if ruleset_id is None else str(ruleset_id)
        for k in [
            k for k, e in self._entries.items() if k[0] == tenant_id and (rid is None or e.ruleset_id == rid)
        ]:
            del self._entries[k]
