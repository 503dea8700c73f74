"""The judgment cache (``judgment_cache``): same tenant, workflow and input within the TTL, same answer.

Keys follow the spec, ``judgment:{workflow_id}:{sha256}``, where the hash is over the canonical JSON
of the input together with the rule-set selector and a forced method (two rule sets judging one
input must not share an answer). ``-`` stands for "no workflow". Time comes from a clock the caller
passes, so tests move it instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import StoreError
from hub.judgment.inputs import canonical_json
from hub.store.models import JudgmentCache, JudgmentExecution

__all__ = ["Clock", "cache_key", "invalidate_ruleset", "lookup", "store", "utc_now"]

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
    """The live entry for ``key`` and the judgment it points at, counting the hit; None when absent or expired."""
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
    # Counted in SQL, not in Python, so concurrent hits from several processes all count.
    await session.execute(
        sa.update(JudgmentCache)
        .where(JudgmentCache.id == entry.id)
        .values(hit_count=JudgmentCache.hit_count + 1, last_hit_at=now)
        .execution_options(synchronize_session=False)
    )
    return entry, execution


async def store(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    key: str,
    input_hash: str,
    execution_id: uuid.UUID,
    result: str,
    confidence: float | None,
    ttl_seconds: int,
    now: dt.datetime,
) -> None:
    """Cache a judgment, replacing an expired entry of the same key; a concurrent writer's entry wins."""
    if ttl_seconds <= 0:
        return
    values = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "cache_key": key,
        "judgment_execution_id": execution_id,
        "input_hash": input_hash,
        "result": result,
        "confidence": confidence,
        "ttl_seconds": ttl_seconds,
        "hit_count": 0,
        "created_at": now,
        "expires_at": now + dt.timedelta(seconds=ttl_seconds),
        "last_hit_at": None,
    }
    # One statement instead of a savepoint: an expired entry is overwritten, a live one written by a
    # concurrent request is kept (its answer is as good as ours). The statement is built once per
    # dialect with bound parameters, so SQLAlchemy compiles it once instead of on every judgment.
    dialect = session.get_bind().dialect.name
    # A Core statement does not autoflush: the judgment row it references must be written first.
    await session.flush()
    await session.execute(_upsert(dialect), {**values, "now_": now})


_UPSERTS: dict[str, Any] = {}
_CACHE_TABLE = cast(sa.Table, JudgmentCache.__table__)


def _upsert(dialect: str) -> Any:
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
