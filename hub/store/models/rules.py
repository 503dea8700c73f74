"""Rule sets, rule scripts, deployments and conflicts (spec section 5)."""

from __future__ import annotations

import datetime as dt
import uuid

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
    _updated_at,
)

__all__ = ["RuleConflict", "RuleDeployment", "RuleScript", "Ruleset"]

# ---------------------------------------------------------------------------------------------
# 5. Rules


class Ruleset(Base):
    """A named group of rules for one KPI."""

    __tablename__ = "rulesets"
    __table_args__ = (
        _one_of("category", "quality", "production", "equipment", "inventory", "safety"),
        sa.UniqueConstraint("tenant_id", "name"),
        _index("idx_rulesets_tenant_active", "tenant_id", "is_active", where="is_active = true"),
        _index("idx_rulesets_kpi", "target_kpi"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    name: Mapped[str]
    description: Mapped[str | None]
    target_kpi: Mapped[str]
    category: Mapped[str | None]
    is_active: Mapped[bool] = mapped_column(server_default=sa.false())
    priority: Mapped[int] = mapped_column(server_default="100")
    metadata_: Mapped[JSONObject] = _metadata()
    created_by: Mapped[uuid.UUID | None] = _fk("users.id")
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()


class RuleScript(Base):
    """One version of a ruleset's Rhai script."""

    __tablename__ = "rule_scripts"
    __table_args__ = (
        sa.CheckConstraint("language = 'rhai'", name="language"),
        _one_of("compile_status", "pending", "compiled", "failed"),
        sa.UniqueConstraint("ruleset_id", "version"),
        _index("idx_rule_scripts_hash", "script_hash"),
    )

    id: Mapped[uuid.UUID] = _id()
    ruleset_id: Mapped[uuid.UUID] = _fk("rulesets.id", nullable=False, ondelete="CASCADE")
    version: Mapped[int]
    language: Mapped[str] = mapped_column(server_default="rhai")
    script: Mapped[str]
    script_hash: Mapped[str]
    compile_status: Mapped[str] = mapped_column(server_default="pending")
    compile_error: Mapped[str | None]
    test_coverage: Mapped[float | None]
    created_by: Mapped[uuid.UUID | None] = _fk("users.id")
    created_at: Mapped[dt.datetime] = _created_at()


_index("idx_rule_scripts_ruleset", RuleScript.ruleset_id, RuleScript.version.desc())


class RuleDeployment(Base):
    """A deployment (or canary, or rollback) of one ruleset version."""

    __tablename__ = "rule_deployments"
    __table_args__ = (
        _one_of("status", "draft", "canary", "active", "rolled_back", "deprecated"),
        _between("canary_pct", 0, 1),
        _index("idx_rule_deployments_status", "status"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    ruleset_id: Mapped[uuid.UUID] = _fk("rulesets.id", nullable=False)
    version: Mapped[int]
    status: Mapped[str] = mapped_column(server_default="draft")
    canary_pct: Mapped[float | None]
    canary_target_filter: Mapped[JSONObject | None] = _json()
    rollback_to: Mapped[int | None]
    changelog: Mapped[str]
    approver_id: Mapped[uuid.UUID | None] = _fk("users.id")
    approved_at: Mapped[dt.datetime | None]
    deployed_at: Mapped[dt.datetime | None]
    rolled_back_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = _created_at()
    metadata_: Mapped[JSONObject] = _metadata()


_index("idx_rule_deployments_ruleset", RuleDeployment.ruleset_id, RuleDeployment.deployed_at.desc())


class RuleConflict(Base):
    """A detected conflict between two versions of a ruleset's rules."""

    __tablename__ = "rule_conflicts"
    __table_args__ = (
        _one_of("conflict_type", "output_conflict", "condition_overlap", "circular_dependency"),
        _one_of("severity", "low", "medium", "high", "critical"),
        _one_of("resolution_status", "unresolved", "investigating", "resolved", "accepted"),
        _index("idx_rule_conflicts_status", "resolution_status", where="resolution_status = 'unresolved'"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    ruleset_id: Mapped[uuid.UUID] = _fk("rulesets.id", nullable=False)
    rule_version_1: Mapped[int]
    rule_version_2: Mapped[int]
    conflict_type: Mapped[str]
    description: Mapped[str]
    severity: Mapped[str]
    resolution_status: Mapped[str] = mapped_column(server_default="unresolved")
    resolution_note: Mapped[str | None]
    detected_at: Mapped[dt.datetime] = _created_at()
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[uuid.UUID | None] = _fk("users.id")


_index("idx_rule_conflicts_ruleset", RuleConflict.ruleset_id, RuleConflict.detected_at.desc())
