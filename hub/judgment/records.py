"""Judgments as stored: ``judgment_executions`` and ``llm_calls`` rows, and reading them back by tenant."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import InputError, NotFound
from hub.judgment.inputs import FORCEABLE_METHODS
from hub.judgment.llm import LLMCallRecord
from hub.judgment.verdicts import RESULTS
from hub.store.models import JudgmentExecution

__all__ = [
    "Judgment",
    "JudgmentFilter",
    "get_judgment",
    "list_judgments",
    "llm_call_values",
    "parse_instant",
    "to_values",
]


@dataclass(frozen=True, slots=True)
class Judgment:
    """One judgment as callers see it; ``as_dict()`` is what the MCP tools return."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    result: str
    confidence: float | None
    method_used: str
    explanation: str | None
    recommended_actions: Sequence[Any]
    input_data: Mapping[str, Any]
    rule_trace: Mapping[str, Any] | None
    llm_metadata: Mapping[str, Any] | None
    evidence: Mapping[str, Any] | None
    cache_hit: bool
    cache_key: str | None
    latency_ms: int | None
    trace_id: str
    source: str
    created_at: dt.datetime
    workflow_id: uuid.UUID | None = None
    workflow_instance_id: uuid.UUID | None = None
    created_by: uuid.UUID | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def degraded(self) -> str | None:
        """Why the judgment fell back (LLM unreachable, invalid answer, rule failures), if it did."""
        reason = self.metadata.get("degraded")
        return reason if isinstance(reason, str) else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": str(self.id),
            "result": self.result,
            "confidence": self.confidence,
            "method_used": self.method_used,
            "explanation": self.explanation,
            "recommended_actions": list(self.recommended_actions),
            "input_data": dict(self.input_data),
            "rule_trace": None if self.rule_trace is None else dict(self.rule_trace),
            "llm_metadata": None if self.llm_metadata is None else dict(self.llm_metadata),
            "evidence": None if self.evidence is None else dict(self.evidence),
            "cache_hit": self.cache_hit,
            "cache_key": self.cache_key,
            "latency_ms": self.latency_ms,
            "trace_id": self.trace_id,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
            "workflow_id": None if self.workflow_id is None else str(self.workflow_id),
            "workflow_instance_id": None
            if self.workflow_instance_id is None
            else str(self.workflow_instance_id),
            "degraded": self.degraded,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_row(cls, row: JudgmentExecution) -> Judgment:
        """Read a stored row."""
        actions = row.recommended_actions
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            result=row.result,
            confidence=row.confidence,
            method_used=row.method_used,
            explanation=row.explanation,
            recommended_actions=tuple(actions) if isinstance(actions, list) else (),
            input_data=row.input_data,
            rule_trace=row.rule_trace,
            llm_metadata=row.llm_metadata,
            evidence=row.evidence,
            cache_hit=row.cache_hit,
            cache_key=row.cache_key,
            latency_ms=row.latency_ms,
            trace_id=row.trace_id,
            source=row.source,
            created_at=row.created_at,
            workflow_id=row.workflow_id,
            workflow_instance_id=row.workflow_instance_id,
            created_by=row.created_by,
            metadata=row.metadata_ or {},
        )


def to_values(judgment: Judgment) -> dict[str, Any]:
    """The ``judgment_executions`` row of a judgment, by column name (for a Core INSERT)."""
    return {
        "id": judgment.id,
        "tenant_id": judgment.tenant_id,
        "workflow_instance_id": judgment.workflow_instance_id,
        "workflow_id": judgment.workflow_id,
        "source": judgment.source,
        "input_data": dict(judgment.input_data),
        "result": judgment.result,
        "confidence": judgment.confidence,
        "method_used": judgment.method_used,
        "explanation": judgment.explanation,
        "recommended_actions": list(judgment.recommended_actions),
        "rule_trace": None if judgment.rule_trace is None else dict(judgment.rule_trace),
        "llm_metadata": None if judgment.llm_metadata is None else dict(judgment.llm_metadata),
        "evidence": None if judgment.evidence is None else dict(judgment.evidence),
        "feature_importance": None,
        "cache_hit": judgment.cache_hit,
        "cache_key": judgment.cache_key,
        "latency_ms": judgment.latency_ms,
        "created_at": judgment.created_at,
        "created_by": judgment.created_by,
        "trace_id": judgment.trace_id,
        "metadata": dict(judgment.metadata),
    }


def llm_call_values(
    calls: Sequence[LLMCallRecord],
    *,
    tenant_id: uuid.UUID,
    judgment_id: uuid.UUID | None,
    prompt_template_id: uuid.UUID | None,
    trace_id: str,
    created_at: dt.datetime,
) -> list[dict[str, Any]]:
    """One ``llm_calls`` row per request (sampling requests included), by column name."""
    return [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "judgment_execution_id": judgment_id,
            "prompt_template_id": prompt_template_id,
            "call_type": "judgment",
            "model": call.model,
            "prompt_summary": call.prompt_summary,
            "prompt_tokens": call.prompt_tokens,
            "completion_tokens": call.completion_tokens,
            "total_tokens": call.prompt_tokens + call.completion_tokens,
            "cost_estimate_usd": call.cost_estimate_usd,
            "latency_ms": call.latency_ms,
            "success": call.success,
            "validation_error": call.validation_error,
            "error_message": call.error_message,
            "response_summary": call.response_summary,
            "created_at": created_at,
            "trace_id": trace_id,
            "metadata": {
                "provider": call.provider,
                "attempt": call.attempt,
                "tokens_estimated": call.tokens_estimated,
            },
        }
        for call in calls
    ]


async def get_judgment(session: AsyncSession, tenant_id: uuid.UUID, judgment_id: uuid.UUID) -> Judgment:
    """One judgment of the tenant; ``NotFound`` for another tenant's as for a missing one."""
    row = await session.scalar(
        sa.select(JudgmentExecution).where(
            JudgmentExecution.tenant_id == tenant_id, JudgmentExecution.id == judgment_id
        )
    )
    if row is None:
        raise NotFound(f"no judgment {judgment_id}", where="judgment_id")
    return Judgment.from_row(row)


@dataclass(frozen=True, slots=True)
class JudgmentFilter:
    """Filters of ``judgment_list``; the period is half-open, ``[since, until)``."""

    result: str | None = None
    line_code: str | None = None
    method: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    workflow_id: uuid.UUID | None = None
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 1000:
            raise InputError("must be between 1 and 1000", where="limit")
        if self.offset < 0:
            raise InputError("must not be negative", where="offset")
        if self.result is not None and self.result not in (*RESULTS, "unknown"):
            raise InputError(f"must be one of {', '.join((*RESULTS, 'unknown'))}", where="result")
        if self.method is not None and self.method not in FORCEABLE_METHODS:
            raise InputError(f"must be one of {', '.join(FORCEABLE_METHODS)}", where="method")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InputError("must be after since", where="until")

    @classmethod
    def from_arguments(cls, args: Mapping[str, Any]) -> JudgmentFilter:
        """Build from ``judgment_list`` arguments: result, line_code, method, since/until (ISO 8601), limit, offset."""
        limit = args.get("limit", 50)
        offset = args.get("offset", 0)
        for name, value in (("limit", limit), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError("must be an integer", where=name)
        workflow = args.get("workflow_id")
        try:
            workflow_id = None if workflow is None else uuid.UUID(str(workflow))
        except ValueError:
            raise InputError("must be a UUID", where="workflow_id") from None
        return cls(
            result=_opt_text(args, "result"),
            line_code=_opt_text(args, "line_code"),
            method=_opt_text(args, "method"),
            since=parse_instant(args.get("since"), "since"),
            until=parse_instant(args.get("until"), "until"),
            workflow_id=workflow_id,
            limit=limit,
            offset=offset,
        )


def parse_instant(value: object, where: str) -> dt.datetime | None:
    """An ISO 8601 instant from tool arguments; a value without zone is taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError("must be an ISO 8601 date-time string", where=where)
    try:
        instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("must be an ISO 8601 date-time", where=where) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=dt.UTC)


def _opt_text(args: Mapping[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise InputError("must be a non-empty string", where=name)
    return value


async def list_judgments(session: AsyncSession, tenant_id: uuid.UUID, flt: JudgmentFilter) -> list[Judgment]:
    """The tenant's judgments matching ``flt``, newest first."""
    stmt = sa.select(JudgmentExecution).where(JudgmentExecution.tenant_id == tenant_id)
    if flt.result is not None:
        stmt = stmt.where(JudgmentExecution.result == flt.result)
    if flt.method is not None:
        stmt = stmt.where(JudgmentExecution.method_used == flt.method)
    if flt.line_code is not None:
        stmt = stmt.where(JudgmentExecution.input_data["line_code"].as_string() == flt.line_code)
    if flt.since is not None:
        stmt = stmt.where(JudgmentExecution.created_at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(JudgmentExecution.created_at < flt.until)
    if flt.workflow_id is not None:
        stmt = stmt.where(JudgmentExecution.workflow_id == flt.workflow_id)
    stmt = (
        stmt.order_by(JudgmentExecution.created_at.desc(), JudgmentExecution.id)
        .limit(flt.limit)
        .offset(flt.offset)
    )
    return [Judgment.from_row(r) for r in (await session.scalars(stmt)).all()]
