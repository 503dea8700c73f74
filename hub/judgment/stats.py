"""Monitoring figures for a period (spec section 12.4): results, methods, latency, cache, LLM spend."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.store.models import JudgmentExecution, LLMCall

__all__ = ["JudgmentStats", "compute_stats", "percentile"]


def percentile(sorted_values: Sequence[int], p: float) -> float | None:
    """Nearest-rank percentile of ascending values; None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


@dataclass(frozen=True, slots=True)
class JudgmentStats:
    """The figures of one tenant for ``[since, until)``."""

    since: dt.datetime
    until: dt.datetime
    total: int
    by_result: dict[str, int] = field(default_factory=dict)
    by_method: dict[str, int] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    cache_hits: int = 0
    cache_hit_rate: float | None = None
    llm_calls: int = 0
    llm_failures: int = 0
    llm_validation_errors: int = 0
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    llm_total_tokens: int = 0
    llm_cost_usd: Decimal = Decimal(0)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "total": self.total,
            "by_result": dict(self.by_result),
            "by_method": dict(self.by_method),
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": self.cache_hit_rate,
            "llm": {
                "calls": self.llm_calls,
                "failures": self.llm_failures,
                "validation_errors": self.llm_validation_errors,
                "prompt_tokens": self.llm_prompt_tokens,
                "completion_tokens": self.llm_completion_tokens,
                "total_tokens": self.llm_total_tokens,
                "cost_usd": str(self.llm_cost_usd),
            },
        }


async def compute_stats(
    session: AsyncSession, tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> JudgmentStats:
    """Aggregate in SQL where both databases can; percentiles from the sorted latencies."""
    period = (
        JudgmentExecution.tenant_id == tenant_id,
        JudgmentExecution.created_at >= since,
        JudgmentExecution.created_at < until,
    )
    by_result: dict[str, int] = {}
    by_method: dict[str, int] = {}
    cache_hits = 0
    rows = await session.execute(
        sa.select(
            JudgmentExecution.result,
            JudgmentExecution.method_used,
            JudgmentExecution.cache_hit,
            sa.func.count(),
        )
        .where(*period)
        .group_by(JudgmentExecution.result, JudgmentExecution.method_used, JudgmentExecution.cache_hit)
    )
    for result, method, hit, count in rows.tuples():
        by_result[result] = by_result.get(result, 0) + count
        by_method[method] = by_method.get(method, 0) + count
        cache_hits += count if hit else 0
    total = sum(by_result.values())
    # PostgreSQL has percentile_cont, SQLite does not; only the one integer column crosses the wire.
    latencies = list(
        (
            await session.scalars(
                sa.select(JudgmentExecution.latency_ms)
                .where(*period, JudgmentExecution.latency_ms.is_not(None))
                .order_by(JudgmentExecution.latency_ms)
            )
        ).all()
    )
    values = [v for v in latencies if v is not None]
    llm = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(sa.case((LLMCall.success.is_(False), 1), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(sa.case((LLMCall.validation_error.is_(True), 1), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(LLMCall.prompt_tokens), 0),
                sa.func.coalesce(sa.func.sum(LLMCall.completion_tokens), 0),
                sa.func.coalesce(sa.func.sum(LLMCall.total_tokens), 0),
                sa.func.sum(LLMCall.cost_estimate_usd),
            ).where(LLMCall.tenant_id == tenant_id, LLMCall.created_at >= since, LLMCall.created_at < until)
        )
    ).one()
    cost = llm[6]
    return JudgmentStats(
        since=since,
        until=until,
        total=total,
        by_result=by_result,
        by_method=by_method,
        latency_p50_ms=percentile(values, 50),
        latency_p95_ms=percentile(values, 95),
        cache_hits=cache_hits,
        cache_hit_rate=None if total == 0 else cache_hits / total,
        llm_calls=int(llm[0]),
        llm_failures=int(llm[1]),
        llm_validation_errors=int(llm[2]),
        llm_prompt_tokens=int(llm[3]),
        llm_completion_tokens=int(llm[4]),
        llm_total_tokens=int(llm[5]),
        llm_cost_usd=Decimal(0) if cost is None else Decimal(str(cost)).quantize(Decimal("0.000001")),
    )
