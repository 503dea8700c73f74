"""Judgment executions and the judgment cache (spec section 4)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models.base import (
    Base,
    JSONObject,
    _between,
    _created_at,
    _fk,
    _id,
    _index,
    _json,
    _metadata,
    _one_of,
)

__all__ = ["JudgmentCache", "JudgmentExecution"]

# ---------------------------------------------------------------------------------------------
# 4. Judgments


class JudgmentExecution(Base):
    """One judgment: its input, result, method and evidence (event-sourced, never updated)."""

    __tablename__ = "judgment_executions"
    __table_args__ = (
        _one_of("source", "workflow", "api", "manual", "schedule"),
        _one_of("result", "normal", "warning", "critical", "unknown"),
        _between("confidence", 0, 1),
        _one_of("method_used", "rule_only", "llm_only", "hybrid", "cache"),
        _index("idx_judgment_exec_trace", "trace_id"),
        _index("idx_judgment_exec_cache_key", "cache_key", where="cache_hit = true"),
        _index("idx_judgment_exec_input_data", "input_data", gin=True),
        _index("idx_judgment_exec_evidence", "evidence", gin=True),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    workflow_instance_id: Mapped[uuid.UUID | None] = _fk("workflow_instances.id")
    workflow_id: Mapped[uuid.UUID | None] = _fk("workflows.id")
    source: Mapped[str]
    input_data: Mapped[JSONObject] = _json(nullable=False)
    result: Mapped[str]
    confidence: Mapped[float | None]
    method_used: Mapped[str]
    explanation: Mapped[str | None]
    recommended_actions: Mapped[Any] = _json()
    rule_trace: Mapped[JSONObject | None] = _json()
    llm_metadata: Mapped[JSONObject | None] = _json()
    evidence: Mapped[JSONObject | None] = _json()
    feature_importance: Mapped[JSONObject | None] = _json()
    cache_hit: Mapped[bool] = mapped_column(server_default=sa.false())
    cache_key: Mapped[str | None]
    latency_ms: Mapped[int | None]
    created_at: Mapped[dt.datetime] = _created_at()
    created_by: Mapped[uuid.UUID | None] = _fk("users.id")
    trace_id: Mapped[str]
    metadata_: Mapped[JSONObject] = _metadata()


_index("idx_judgment_exec_tenant_created", JudgmentExecution.tenant_id, JudgmentExecution.created_at.desc())
_index("idx_judgment_exec_workflow", JudgmentExecution.workflow_id, JudgmentExecution.created_at.desc())
_index(
    "idx_judgment_exec_result",
    JudgmentExecution.tenant_id,
    JudgmentExecution.result,
    JudgmentExecution.created_at.desc(),
)


class JudgmentCache(Base):
    """A cached judgment result for one input, valid until ``expires_at``."""

    __tablename__ = "judgment_cache"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "cache_key"),
        # The spec's predicate "WHERE expires_at > now()" is not IMMUTABLE, which PostgreSQL
        # refuses in an index; a plain index serves the same range scans (docs/schema.md).
        _index("idx_judgment_cache_expires", "expires_at"),
        _index("idx_judgment_cache_tenant_key", "tenant_id", "cache_key"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    cache_key: Mapped[str]
    judgment_execution_id: Mapped[uuid.UUID] = _fk("judgment_executions.id", nullable=False)
    input_hash: Mapped[str]
    result: Mapped[str]
    confidence: Mapped[float | None]
    ttl_seconds: Mapped[int] = mapped_column(server_default="3600")
    hit_count: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[dt.datetime] = _created_at()
    expires_at: Mapped[dt.datetime]
    last_hit_at: Mapped[dt.datetime | None]
