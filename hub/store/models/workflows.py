"""Workflows, their steps, instances and execution logs (spec section 3)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models.base import (
    Base,
    JSONObject,
    TextArray,
    _created_at,
    _fk,
    _id,
    _index,
    _json,
    _metadata,
    _one_of,
    _updated_at,
    empty_array,
)

__all__ = ["Workflow", "WorkflowExecutionLog", "WorkflowInstance", "WorkflowStep"]

# ---------------------------------------------------------------------------------------------
# 3. Workflows


class Workflow(Base):
    """One version of a workflow's DSL definition."""

    __tablename__ = "workflows"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name", "version"),
        _index("idx_workflows_tenant_active", "tenant_id", "is_active", where="is_active = true"),
        _index("idx_workflows_name", "tenant_id", "name"),
        _index("idx_workflows_tags", "tags", gin=True),
        _index("idx_workflows_dsl_digest", "dsl_digest"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False, ondelete="CASCADE")
    name: Mapped[str]
    description: Mapped[str | None]
    version: Mapped[int] = mapped_column(server_default="1")
    dsl_json: Mapped[JSONObject] = _json(nullable=False)
    dsl_digest: Mapped[str]
    is_active: Mapped[bool] = mapped_column(server_default=sa.false())
    trigger_config: Mapped[JSONObject | None] = _json()
    timeout_seconds: Mapped[int] = mapped_column(server_default="300")
    max_retry: Mapped[int] = mapped_column(server_default="3")
    tags: Mapped[list[str] | None] = mapped_column(TextArray, server_default=empty_array())
    metadata_: Mapped[JSONObject] = _metadata()
    created_by: Mapped[uuid.UUID | None] = _fk("users.id")
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()
    activated_at: Mapped[dt.datetime | None]


class WorkflowStep(Base):
    """One node of a workflow's DSL, normalised."""

    __tablename__ = "workflow_steps"
    __table_args__ = (
        _one_of(
            "node_type",
            "DATA",
            "BI",
            "JUDGMENT",
            "MCP",
            "ACTION",
            "APPROVAL",
            "WAIT",
            "SWITCH",
            "PARALLEL",
            "COMPENSATION",
            "DEPLOY",
            "ROLLBACK",
            "SIMULATE",
        ),
        sa.UniqueConstraint("workflow_id", "node_id"),
        sa.UniqueConstraint("workflow_id", "step_order"),
        _index("idx_workflow_steps_workflow", "workflow_id", "step_order"),
        _index("idx_workflow_steps_type", "node_type"),
    )

    id: Mapped[uuid.UUID] = _id()
    workflow_id: Mapped[uuid.UUID] = _fk("workflows.id", nullable=False, ondelete="CASCADE")
    step_order: Mapped[int]
    node_id: Mapped[str]
    node_type: Mapped[str]
    config: Mapped[JSONObject] = _json(nullable=False)
    timeout_seconds: Mapped[int] = mapped_column(server_default="60")
    retry_policy: Mapped[JSONObject | None] = _json()
    created_at: Mapped[dt.datetime] = _created_at()


class WorkflowInstance(Base):
    """One run of a workflow and its state."""

    __tablename__ = "workflow_instances"
    __table_args__ = (
        _one_of(
            "status", "PENDING", "RUNNING", "WAITING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"
        ),
        _one_of("trigger_type", "manual", "schedule", "event", "webhook", "api"),
        _index("idx_workflow_instances_tenant_status", "tenant_id", "status"),
        _index("idx_workflow_instances_status", "status", where="status IN ('RUNNING', 'WAITING', 'PAUSED')"),
        _index("idx_workflow_instances_trace", "trace_id"),
    )

    id: Mapped[uuid.UUID] = _id()
    workflow_id: Mapped[uuid.UUID] = _fk("workflows.id", nullable=False)
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    status: Mapped[str]
    trigger_type: Mapped[str]
    triggered_by: Mapped[uuid.UUID | None] = _fk("users.id")
    input_context: Mapped[JSONObject] = _json(empty_default=True)
    runtime_context: Mapped[JSONObject] = _json(empty_default=True)
    checkpoint_data: Mapped[JSONObject | None] = _json()
    current_step_id: Mapped[uuid.UUID | None] = _fk("workflow_steps.id")
    last_error: Mapped[str | None]
    error_code: Mapped[str | None]
    retry_count: Mapped[int] = mapped_column(server_default="0")
    started_at: Mapped[dt.datetime] = _created_at()
    ended_at: Mapped[dt.datetime | None]
    duration_ms: Mapped[int | None]
    trace_id: Mapped[str]
    parent_instance_id: Mapped[uuid.UUID | None] = _fk("workflow_instances.id")
    metadata_: Mapped[JSONObject] = _metadata()


_index(
    "idx_workflow_instances_workflow_started",
    WorkflowInstance.workflow_id,
    WorkflowInstance.started_at.desc(),
)


class WorkflowExecutionLog(Base):
    """The log of one step of one workflow run."""

    __tablename__ = "workflow_execution_logs"
    __table_args__ = (
        _one_of("status", "PENDING", "RUNNING", "COMPLETED", "FAILED", "SKIPPED", "RETRYING"),
        _index("idx_wf_exec_logs_step", "step_id"),
        _index("idx_wf_exec_logs_status", "status", where="status IN ('RUNNING', 'RETRYING')"),
    )

    id: Mapped[uuid.UUID] = _id()
    instance_id: Mapped[uuid.UUID] = _fk("workflow_instances.id", nullable=False, ondelete="CASCADE")
    step_id: Mapped[uuid.UUID] = _fk("workflow_steps.id", nullable=False)
    node_id: Mapped[str]
    status: Mapped[str]
    input_data: Mapped[JSONObject | None] = _json()
    output_data: Mapped[JSONObject | None] = _json()
    error_message: Mapped[str | None]
    error_code: Mapped[str | None]
    retry_attempt: Mapped[int] = mapped_column(server_default="0")
    started_at: Mapped[dt.datetime] = _created_at()
    ended_at: Mapped[dt.datetime | None]
    duration_ms: Mapped[int | None]
    metadata_: Mapped[JSONObject] = _metadata()


_index("idx_wf_exec_logs_instance", WorkflowExecutionLog.instance_id, WorkflowExecutionLog.started_at.desc())
