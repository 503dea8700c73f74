"""The core schema as the spec (B-3-1, sections 2-10) defines it, transcribed as data.

The schema-fidelity test compares this with what PostgreSQL reports after the migrations. It is
written out here, not read from the spec, so that the test runs in any clone. Every difference
from the spec's DDL carries a comment and is listed in docs/schema.md.

Types are PostgreSQL's canonical names (``int`` is ``integer``, ``float`` is ``double precision``,
``timestamptz`` is ``timestamp with time zone``); defaults, CHECK expressions and index predicates
are the spec's text and are compared after normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its type, whether it may be NULL, its default expression."""

    type: str
    nullable: bool
    default: str | None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """The table a column references (its ``id``) and the ON DELETE action."""

    table: str
    on_delete: str


@dataclass(frozen=True, slots=True)
class Index:
    """An index: method, key columns (with DESC where the spec says so), partial predicate."""

    method: str
    columns: tuple[str, ...]
    where: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    """Everything the spec says about one table."""

    columns: dict[str, Column]
    checks: list[str] = field(default_factory=list)
    foreign_keys: dict[str, ForeignKey] = field(default_factory=dict)
    uniques: list[tuple[str, ...]] = field(default_factory=list)
    indexes: dict[str, Index] = field(default_factory=dict)


SPEC_TABLES: dict[str, Table] = {
    "tenants": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "name": Column("text", nullable=False, default=None),
            "display_name": Column("text", nullable=False, default=None),
            "settings": Column("jsonb", nullable=False, default="'{}'"),
            "subscription_plan": Column("text", nullable=False, default="'standard'"),
            "max_users": Column("integer", nullable=False, default="10"),
            "max_workflows": Column("integer", nullable=False, default="50"),
            "max_judgments_per_day": Column("integer", nullable=False, default="10000"),
            "status": Column("text", nullable=False, default="'active'"),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "updated_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "deleted_at": Column("timestamp with time zone", nullable=True, default=None),
        },
        checks=[
            "subscription_plan IN ('trial','standard','enterprise','custom')",
            "status IN ('active','suspended','deleted')",
        ],
        foreign_keys={},
        uniques=[("name",)],
        indexes={
            "idx_tenants_status": Index("btree", ("status",), where="status = 'active'"),
            "idx_tenants_name": Index("btree", ("name",)),
        },
    ),
    "users": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "email": Column("text", nullable=False, default=None),
            "username": Column("text", nullable=False, default=None),
            "password_hash": Column("text", nullable=False, default=None),
            "role": Column("text", nullable=False, default=None),
            "permissions": Column("text[]", nullable=False, default="'{}'"),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
            "status": Column("text", nullable=False, default="'active'"),
            "last_login_at": Column("timestamp with time zone", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "updated_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=[
            "role IN ('admin','approver','operator','viewer')",
            "status IN ('active','inactive','locked')",
        ],
        foreign_keys={"tenant_id": ForeignKey("tenants", "CASCADE")},
        uniques=[("tenant_id", "email"), ("tenant_id", "username")],
        indexes={
            "idx_users_tenant_role": Index("btree", ("tenant_id", "role"), where="status = 'active'"),
            "idx_users_email": Index("btree", ("email",)),
            "idx_users_status": Index("btree", ("status",)),
        },
    ),
    "workflows": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "name": Column("text", nullable=False, default=None),
            "description": Column("text", nullable=True, default=None),
            "version": Column("integer", nullable=False, default="1"),
            "dsl_json": Column("jsonb", nullable=False, default=None),
            "dsl_digest": Column("text", nullable=False, default=None),
            "is_active": Column("boolean", nullable=False, default="false"),
            "trigger_config": Column("jsonb", nullable=True, default=None),
            "timeout_seconds": Column("integer", nullable=False, default="300"),
            "max_retry": Column("integer", nullable=False, default="3"),
            "tags": Column("text[]", nullable=True, default="'{}'"),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
            "created_by": Column("uuid", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "updated_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "activated_at": Column("timestamp with time zone", nullable=True, default=None),
        },
        checks=[],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "CASCADE"),
            "created_by": ForeignKey("users", "NO ACTION"),
        },
        uniques=[("tenant_id", "name", "version")],
        indexes={
            "idx_workflows_tenant_active": Index(
                "btree", ("tenant_id", "is_active"), where="is_active = true"
            ),
            "idx_workflows_name": Index("btree", ("tenant_id", "name")),
            "idx_workflows_tags": Index("gin", ("tags",)),
            "idx_workflows_dsl_digest": Index("btree", ("dsl_digest",)),
        },
    ),
    "workflow_steps": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "workflow_id": Column("uuid", nullable=False, default=None),
            "step_order": Column("integer", nullable=False, default=None),
            "node_id": Column("text", nullable=False, default=None),
            "node_type": Column("text", nullable=False, default=None),
            "config": Column("jsonb", nullable=False, default=None),
            "timeout_seconds": Column("integer", nullable=False, default="60"),
            "retry_policy": Column("jsonb", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=[
            "node_type IN ( 'DATA','BI','JUDGMENT','MCP','ACTION','APPROVAL','WAIT', 'SWITCH','PARALLEL','COMPENSATION','DEPLOY','ROLLBACK','SIMULATE' )"
        ],
        foreign_keys={"workflow_id": ForeignKey("workflows", "CASCADE")},
        uniques=[("workflow_id", "node_id"), ("workflow_id", "step_order")],
        indexes={
            "idx_workflow_steps_workflow": Index("btree", ("workflow_id", "step_order")),
            "idx_workflow_steps_type": Index("btree", ("node_type",)),
        },
    ),
    "workflow_instances": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "workflow_id": Column("uuid", nullable=False, default=None),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "status": Column("text", nullable=False, default=None),
            "trigger_type": Column("text", nullable=False, default=None),
            "triggered_by": Column("uuid", nullable=True, default=None),
            "input_context": Column("jsonb", nullable=False, default="'{}'"),
            "runtime_context": Column("jsonb", nullable=False, default="'{}'"),
            "checkpoint_data": Column("jsonb", nullable=True, default=None),
            "current_step_id": Column("uuid", nullable=True, default=None),
            "last_error": Column("text", nullable=True, default=None),
            "error_code": Column("text", nullable=True, default=None),
            "retry_count": Column("integer", nullable=False, default="0"),
            "started_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "ended_at": Column("timestamp with time zone", nullable=True, default=None),
            "duration_ms": Column("integer", nullable=True, default=None),
            "trace_id": Column("text", nullable=False, default=None),
            "parent_instance_id": Column("uuid", nullable=True, default=None),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
        },
        checks=[
            "status IN ( 'PENDING','RUNNING','WAITING','PAUSED', 'COMPLETED','FAILED','CANCELLED','TIMEOUT' )",
            "trigger_type IN ('manual','schedule','event','webhook','api')",
        ],
        foreign_keys={
            "workflow_id": ForeignKey("workflows", "NO ACTION"),
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "triggered_by": ForeignKey("users", "NO ACTION"),
            "current_step_id": ForeignKey("workflow_steps", "NO ACTION"),
            "parent_instance_id": ForeignKey("workflow_instances", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_workflow_instances_tenant_status": Index("btree", ("tenant_id", "status")),
            "idx_workflow_instances_workflow_started": Index("btree", ("workflow_id", "started_at DESC")),
            "idx_workflow_instances_status": Index(
                "btree", ("status",), where="status IN ('RUNNING','WAITING','PAUSED')"
            ),
            "idx_workflow_instances_trace": Index("btree", ("trace_id",)),
        },
    ),
    "workflow_execution_logs": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "instance_id": Column("uuid", nullable=False, default=None),
            "step_id": Column("uuid", nullable=False, default=None),
            "node_id": Column("text", nullable=False, default=None),
            "status": Column("text", nullable=False, default=None),
            "input_data": Column("jsonb", nullable=True, default=None),
            "output_data": Column("jsonb", nullable=True, default=None),
            "error_message": Column("text", nullable=True, default=None),
            "error_code": Column("text", nullable=True, default=None),
            "retry_attempt": Column("integer", nullable=False, default="0"),
            "started_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "ended_at": Column("timestamp with time zone", nullable=True, default=None),
            "duration_ms": Column("integer", nullable=True, default=None),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
        },
        checks=["status IN ('PENDING','RUNNING','COMPLETED','FAILED','SKIPPED','RETRYING')"],
        foreign_keys={
            "instance_id": ForeignKey("workflow_instances", "CASCADE"),
            "step_id": ForeignKey("workflow_steps", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_wf_exec_logs_instance": Index("btree", ("instance_id", "started_at DESC")),
            "idx_wf_exec_logs_step": Index("btree", ("step_id",)),
            "idx_wf_exec_logs_status": Index("btree", ("status",), where="status IN ('RUNNING','RETRYING')"),
        },
    ),
    "judgment_executions": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "workflow_instance_id": Column("uuid", nullable=True, default=None),
            "workflow_id": Column("uuid", nullable=True, default=None),
            "source": Column("text", nullable=False, default=None),
            "input_data": Column("jsonb", nullable=False, default=None),
            "result": Column("text", nullable=False, default=None),
            "confidence": Column("double precision", nullable=True, default=None),
            "method_used": Column("text", nullable=False, default=None),
            "explanation": Column("text", nullable=True, default=None),
            "recommended_actions": Column("jsonb", nullable=True, default=None),
            "rule_trace": Column("jsonb", nullable=True, default=None),
            "llm_metadata": Column("jsonb", nullable=True, default=None),
            "evidence": Column("jsonb", nullable=True, default=None),
            "feature_importance": Column("jsonb", nullable=True, default=None),
            "cache_hit": Column("boolean", nullable=False, default="false"),
            "cache_key": Column("text", nullable=True, default=None),
            "latency_ms": Column("integer", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "created_by": Column("uuid", nullable=True, default=None),
            "trace_id": Column("text", nullable=False, default=None),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
        },
        checks=[
            "source IN ('workflow','api','manual','schedule')",
            "result IN ('normal','warning','critical','unknown')",
            "confidence >= 0 AND confidence <= 1",
            "method_used IN ('rule_only','llm_only','hybrid','cache')",
        ],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "workflow_instance_id": ForeignKey("workflow_instances", "NO ACTION"),
            "workflow_id": ForeignKey("workflows", "NO ACTION"),
            "created_by": ForeignKey("users", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_judgment_exec_tenant_created": Index("btree", ("tenant_id", "created_at DESC")),
            "idx_judgment_exec_workflow": Index("btree", ("workflow_id", "created_at DESC")),
            "idx_judgment_exec_result": Index("btree", ("tenant_id", "result", "created_at DESC")),
            "idx_judgment_exec_trace": Index("btree", ("trace_id",)),
            "idx_judgment_exec_cache_key": Index("btree", ("cache_key",), where="cache_hit = true"),
            "idx_judgment_exec_input_data": Index("gin", ("input_data",)),
            "idx_judgment_exec_evidence": Index("gin", ("evidence",)),
        },
    ),
    "judgment_cache": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "cache_key": Column("text", nullable=False, default=None),
            "judgment_execution_id": Column("uuid", nullable=False, default=None),
            "input_hash": Column("text", nullable=False, default=None),
            "result": Column("text", nullable=False, default=None),
            "confidence": Column("double precision", nullable=True, default=None),
            "ttl_seconds": Column("integer", nullable=False, default="3600"),
            "hit_count": Column("integer", nullable=False, default="0"),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "expires_at": Column("timestamp with time zone", nullable=False, default=None),
            "last_hit_at": Column("timestamp with time zone", nullable=True, default=None),
        },
        checks=[],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "judgment_execution_id": ForeignKey("judgment_executions", "NO ACTION"),
        },
        uniques=[("tenant_id", "cache_key")],
        indexes={
            # Spec: WHERE expires_at > now(), which PostgreSQL refuses (not IMMUTABLE); see docs/schema.md.
            "idx_judgment_cache_expires": Index("btree", ("expires_at",)),
            "idx_judgment_cache_tenant_key": Index("btree", ("tenant_id", "cache_key")),
        },
    ),
    "rulesets": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "name": Column("text", nullable=False, default=None),
            "description": Column("text", nullable=True, default=None),
            "target_kpi": Column("text", nullable=False, default=None),
            "category": Column("text", nullable=True, default=None),
            "is_active": Column("boolean", nullable=False, default="false"),
            "priority": Column("integer", nullable=False, default="100"),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
            "created_by": Column("uuid", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "updated_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=["category IN ('quality','production','equipment','inventory','safety')"],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "created_by": ForeignKey("users", "NO ACTION"),
        },
        uniques=[("tenant_id", "name")],
        indexes={
            "idx_rulesets_tenant_active": Index(
                "btree", ("tenant_id", "is_active"), where="is_active = true"
            ),
            "idx_rulesets_kpi": Index("btree", ("target_kpi",)),
        },
    ),
    "rule_scripts": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "ruleset_id": Column("uuid", nullable=False, default=None),
            "version": Column("integer", nullable=False, default=None),
            "language": Column("text", nullable=False, default="'rhai'"),
            "script": Column("text", nullable=False, default=None),
            "script_hash": Column("text", nullable=False, default=None),
            "compile_status": Column("text", nullable=False, default="'pending'"),
            "compile_error": Column("text", nullable=True, default=None),
            "test_coverage": Column("double precision", nullable=True, default=None),
            "created_by": Column("uuid", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=["language = 'rhai'", "compile_status IN ('pending','compiled','failed')"],
        foreign_keys={
            "ruleset_id": ForeignKey("rulesets", "CASCADE"),
            "created_by": ForeignKey("users", "NO ACTION"),
        },
        uniques=[("ruleset_id", "version")],
        indexes={
            "idx_rule_scripts_ruleset": Index("btree", ("ruleset_id", "version DESC")),
            "idx_rule_scripts_hash": Index("btree", ("script_hash",)),
        },
    ),
    "rule_deployments": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "ruleset_id": Column("uuid", nullable=False, default=None),
            "version": Column("integer", nullable=False, default=None),
            "status": Column("text", nullable=False, default="'draft'"),
            "canary_pct": Column("double precision", nullable=True, default=None),
            "canary_target_filter": Column("jsonb", nullable=True, default=None),
            "rollback_to": Column("integer", nullable=True, default=None),
            "changelog": Column("text", nullable=False, default=None),
            "approver_id": Column("uuid", nullable=True, default=None),
            "approved_at": Column("timestamp with time zone", nullable=True, default=None),
            "deployed_at": Column("timestamp with time zone", nullable=True, default=None),
            "rolled_back_at": Column("timestamp with time zone", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
        },
        checks=[
            "status IN ('draft','canary','active','rolled_back','deprecated')",
            "canary_pct >= 0 AND canary_pct <= 1",
        ],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "ruleset_id": ForeignKey("rulesets", "NO ACTION"),
            "approver_id": ForeignKey("users", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_rule_deployments_ruleset": Index("btree", ("ruleset_id", "deployed_at DESC")),
            "idx_rule_deployments_status": Index("btree", ("status",)),
        },
    ),
    "rule_conflicts": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "ruleset_id": Column("uuid", nullable=False, default=None),
            "rule_version_1": Column("integer", nullable=False, default=None),
            "rule_version_2": Column("integer", nullable=False, default=None),
            "conflict_type": Column("text", nullable=False, default=None),
            "description": Column("text", nullable=False, default=None),
            "severity": Column("text", nullable=False, default=None),
            "resolution_status": Column("text", nullable=False, default="'unresolved'"),
            "resolution_note": Column("text", nullable=True, default=None),
            "detected_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "resolved_at": Column("timestamp with time zone", nullable=True, default=None),
            "resolved_by": Column("uuid", nullable=True, default=None),
        },
        checks=[
            "conflict_type IN ('output_conflict','condition_overlap','circular_dependency')",
            "severity IN ('low','medium','high','critical')",
            "resolution_status IN ('unresolved','investigating','resolved','accepted')",
        ],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "ruleset_id": ForeignKey("rulesets", "NO ACTION"),
            "resolved_by": ForeignKey("users", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_rule_conflicts_ruleset": Index("btree", ("ruleset_id", "detected_at DESC")),
            "idx_rule_conflicts_status": Index(
                "btree", ("resolution_status",), where="resolution_status = 'unresolved'"
            ),
        },
    ),
    "feedbacks": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "judgment_execution_id": Column("uuid", nullable=False, default=None),
            "user_id": Column("uuid", nullable=False, default=None),
            "feedback_type": Column("text", nullable=False, default=None),
            "rating": Column("integer", nullable=True, default=None),
            "comment": Column("text", nullable=True, default=None),
            "corrected_result": Column("text", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=[
            "feedback_type IN ('correct','incorrect','partial','helpful','not_helpful')",
            "rating >= 1 AND rating <= 5",
            "corrected_result IN ('normal','warning','critical')",
        ],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "judgment_execution_id": ForeignKey("judgment_executions", "NO ACTION"),
            "user_id": ForeignKey("users", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_feedbacks_judgment": Index("btree", ("judgment_execution_id",)),
            "idx_feedbacks_tenant_created": Index("btree", ("tenant_id", "created_at DESC")),
            "idx_feedbacks_user": Index("btree", ("user_id",)),
        },
    ),
    "learning_samples": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "judgment_execution_id": Column("uuid", nullable=True, default=None),
            "input_features": Column("jsonb", nullable=False, default=None),
            "label": Column("jsonb", nullable=False, default=None),
            "source": Column("text", nullable=False, default=None),
            "quality_score": Column("double precision", nullable=True, default=None),
            "is_validated": Column("boolean", nullable=False, default="false"),
            "validated_by": Column("uuid", nullable=True, default=None),
            "validated_at": Column("timestamp with time zone", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
        },
        checks=[
            "source IN ('feedback','auto','manual','import')",
            "quality_score >= 0 AND quality_score <= 1",
        ],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "judgment_execution_id": ForeignKey("judgment_executions", "NO ACTION"),
            "validated_by": ForeignKey("users", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_learning_samples_tenant": Index("btree", ("tenant_id", "created_at DESC")),
            "idx_learning_samples_judgment": Index("btree", ("judgment_execution_id",)),
            "idx_learning_samples_validated": Index("btree", ("is_validated",), where="is_validated = true"),
        },
    ),
    "auto_rule_candidates": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "ruleset_id": Column("uuid", nullable=True, default=None),
            "generated_rule": Column("text", nullable=False, default=None),
            "rule_language": Column("text", nullable=False, default="'rhai'"),
            "generation_method": Column("text", nullable=False, default=None),
            "coverage": Column("double precision", nullable=True, default=None),
            "precision": Column("double precision", nullable=True, default=None),
            "recall": Column("double precision", nullable=True, default=None),
            "f1_score": Column("double precision", nullable=True, default=None),
            "conflict_with": Column("text[]", nullable=True, default=None),
            "is_approved": Column("boolean", nullable=False, default="false"),
            "approval_status": Column("text", nullable=False, default="'pending'"),
            "approver_id": Column("uuid", nullable=True, default=None),
            "approved_at": Column("timestamp with time zone", nullable=True, default=None),
            "rejection_reason": Column("text", nullable=True, default=None),
            "test_results": Column("jsonb", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
        },
        checks=[
            "generation_method IN ('llm','pattern_mining','ensemble')",
            "coverage >= 0 AND coverage <= 1",
            "precision >= 0 AND precision <= 1",
            "recall >= 0 AND recall <= 1",
            "approval_status IN ('pending','approved','rejected','testing')",
        ],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "ruleset_id": ForeignKey("rulesets", "NO ACTION"),
            "approver_id": ForeignKey("users", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_auto_rule_candidates_ruleset": Index("btree", ("ruleset_id", "created_at DESC")),
            "idx_auto_rule_candidates_status": Index("btree", ("approval_status",)),
        },
    ),
    "model_training_jobs": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "job_type": Column("text", nullable=False, default=None),
            "status": Column("text", nullable=False, default="'pending'"),
            "dataset_size": Column("integer", nullable=True, default=None),
            "training_config": Column("jsonb", nullable=False, default=None),
            "metrics": Column("jsonb", nullable=True, default=None),
            "model_artifact_url": Column("text", nullable=True, default=None),
            "error_message": Column("text", nullable=True, default=None),
            "started_at": Column("timestamp with time zone", nullable=True, default=None),
            "ended_at": Column("timestamp with time zone", nullable=True, default=None),
            "duration_seconds": Column("integer", nullable=True, default=None),
            "triggered_by": Column("uuid", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=[
            "job_type IN ('rule_learning','llm_finetuning','embedding_update')",
            "status IN ('pending','running','completed','failed','cancelled')",
        ],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "triggered_by": ForeignKey("users", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_model_training_jobs_tenant": Index("btree", ("tenant_id", "created_at DESC")),
            "idx_model_training_jobs_status": Index("btree", ("status",)),
        },
    ),
    "prompt_templates": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "name": Column("text", nullable=False, default=None),
            "purpose": Column("text", nullable=False, default=None),
            "version": Column("integer", nullable=False, default=None),
            "template_type": Column("text", nullable=False, default=None),
            "model_config": Column("jsonb", nullable=False, default=None),
            "variables": Column("jsonb", nullable=False, default=None),
            "is_active": Column("boolean", nullable=False, default="false"),
            "a_b_test_group": Column("text", nullable=True, default=None),
            "created_by": Column("uuid", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "updated_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=["template_type IN ('judgment','chat','reasoning','extraction')"],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "created_by": ForeignKey("users", "NO ACTION"),
        },
        uniques=[("tenant_id", "name", "version")],
        indexes={
            "idx_prompt_templates_tenant_active": Index(
                "btree", ("tenant_id", "is_active"), where="is_active = true"
            ),
            "idx_prompt_templates_name": Index("btree", ("tenant_id", "name", "version DESC")),
        },
    ),
    "prompt_template_bodies": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "template_id": Column("uuid", nullable=False, default=None),
            "locale": Column("text", nullable=False, default="'ko-KR'"),
            "system_prompt": Column("text", nullable=False, default=None),
            "user_prompt_template": Column("text", nullable=False, default=None),
            "few_shot_examples": Column("jsonb", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=[],
        foreign_keys={"template_id": ForeignKey("prompt_templates", "CASCADE")},
        uniques=[("template_id", "locale")],
        indexes={
            "idx_prompt_bodies_template": Index("btree", ("template_id",)),
        },
    ),
    "llm_calls": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "judgment_execution_id": Column("uuid", nullable=True, default=None),
            "prompt_template_id": Column("uuid", nullable=True, default=None),
            "call_type": Column("text", nullable=False, default=None),
            "model": Column("text", nullable=False, default=None),
            "prompt_summary": Column("text", nullable=True, default=None),
            "prompt_tokens": Column("integer", nullable=False, default=None),
            "completion_tokens": Column("integer", nullable=False, default=None),
            "total_tokens": Column("integer", nullable=False, default=None),
            "cost_estimate_usd": Column("numeric(10,6)", nullable=True, default=None),
            "latency_ms": Column("integer", nullable=True, default=None),
            "success": Column("boolean", nullable=False, default="true"),
            "validation_error": Column("boolean", nullable=False, default="false"),
            "error_message": Column("text", nullable=True, default=None),
            "response_summary": Column("text", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "trace_id": Column("text", nullable=True, default=None),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
        },
        checks=["call_type IN ('judgment','chat','reasoning','embedding')"],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "judgment_execution_id": ForeignKey("judgment_executions", "NO ACTION"),
            "prompt_template_id": ForeignKey("prompt_templates", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_llm_calls_tenant_created": Index("btree", ("tenant_id", "created_at DESC")),
            "idx_llm_calls_judgment": Index("btree", ("judgment_execution_id",)),
            "idx_llm_calls_model": Index("btree", ("model", "created_at DESC")),
            "idx_llm_calls_validation_error": Index(
                "btree", ("validation_error",), where="validation_error = true"
            ),
        },
    ),
    "chat_sessions": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "user_id": Column("uuid", nullable=False, default=None),
            "title": Column("text", nullable=False, default="'New Chat'"),
            "status": Column("text", nullable=False, default="'active'"),
            "context": Column("jsonb", nullable=False, default="'{}'"),
            "message_count": Column("integer", nullable=False, default="0"),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "updated_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "last_message_at": Column("timestamp with time zone", nullable=True, default=None),
        },
        checks=["status IN ('active','archived','deleted')"],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "user_id": ForeignKey("users", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_chat_sessions_user": Index("btree", ("user_id", "updated_at DESC")),
            "idx_chat_sessions_tenant": Index("btree", ("tenant_id", "updated_at DESC")),
        },
    ),
    "chat_messages": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "session_id": Column("uuid", nullable=False, default=None),
            "role": Column("text", nullable=False, default=None),
            "content": Column("text", nullable=False, default=None),
            "intent_log_id": Column("uuid", nullable=True, default=None),
            "metadata": Column("jsonb", nullable=False, default="'{}'"),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=["role IN ('user','assistant','system')"],
        foreign_keys={
            "session_id": ForeignKey("chat_sessions", "CASCADE"),
            "intent_log_id": ForeignKey("intent_logs", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_chat_messages_session": Index("btree", ("session_id", "created_at ASC")),
            "idx_chat_messages_intent": Index("btree", ("intent_log_id",)),
        },
    ),
    "intent_logs": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "user_id": Column("uuid", nullable=True, default=None),
            "user_query": Column("text", nullable=False, default=None),
            "predicted_intent": Column("text", nullable=False, default=None),
            "confidence": Column("double precision", nullable=True, default=None),
            "extracted_slots": Column("jsonb", nullable=True, default=None),
            "feedback_score": Column("integer", nullable=True, default=None),
            "feedback_comment": Column("text", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=["confidence >= 0 AND confidence <= 1", "feedback_score >= 1 AND feedback_score <= 5"],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "user_id": ForeignKey("users", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_intent_logs_tenant": Index("btree", ("tenant_id", "created_at DESC")),
            "idx_intent_logs_intent": Index("btree", ("predicted_intent",)),
        },
    ),
    "data_connectors": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "name": Column("text", nullable=False, default=None),
            "type": Column("text", nullable=False, default=None),
            "engine": Column("text", nullable=True, default=None),
            "config": Column("jsonb", nullable=False, default=None),
            "credentials_encrypted": Column("bytea", nullable=True, default=None),
            "status": Column("text", nullable=False, default="'inactive'"),
            "last_health_check_at": Column("timestamp with time zone", nullable=True, default=None),
            "last_health_status": Column("text", nullable=True, default=None),
            "created_by": Column("uuid", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "updated_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=[
            "type IN ('postgres','mysql','mssql','oracle','rest_api','graphql','kafka')",
            "status IN ('active','inactive','error')",
        ],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "created_by": ForeignKey("users", "NO ACTION"),
        },
        uniques=[("tenant_id", "name")],
        indexes={
            "idx_data_connectors_tenant": Index("btree", ("tenant_id",)),
            "idx_data_connectors_status": Index("btree", ("status",)),
        },
    ),
    "mcp_servers": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "name": Column("text", nullable=False, default=None),
            "endpoint": Column("text", nullable=False, default=None),
            "protocol": Column("text", nullable=False, default="'stdio'"),
            "config": Column("jsonb", nullable=False, default=None),
            "auth_config": Column("jsonb", nullable=True, default=None),
            "status": Column("text", nullable=False, default="'inactive'"),
            "last_health_check_at": Column("timestamp with time zone", nullable=True, default=None),
            "circuit_breaker_state": Column("text", nullable=False, default="'closed'"),
            "fail_count": Column("integer", nullable=False, default="0"),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "updated_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=[
            # Hub extension (revision 0003): 'streamable_http' added to the spec's list.
            "protocol IN ('stdio','sse','websocket','streamable_http')",
            "status IN ('active','inactive','error')",
            "circuit_breaker_state IN ('closed','open','half_open')",
        ],
        foreign_keys={"tenant_id": ForeignKey("tenants", "NO ACTION")},
        uniques=[("tenant_id", "name")],
        indexes={
            "idx_mcp_servers_tenant": Index("btree", ("tenant_id",)),
            "idx_mcp_servers_status": Index("btree", ("status",)),
        },
    ),
    "mcp_tools": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "mcp_server_id": Column("uuid", nullable=False, default=None),
            "tool_name": Column("text", nullable=False, default=None),
            "description": Column("text", nullable=True, default=None),
            "input_schema": Column("jsonb", nullable=False, default=None),
            "output_schema": Column("jsonb", nullable=True, default=None),
            "is_enabled": Column("boolean", nullable=False, default="true"),
            "usage_count": Column("integer", nullable=False, default="0"),
            "avg_latency_ms": Column("integer", nullable=True, default=None),
            "last_used_at": Column("timestamp with time zone", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            # Hub extensions (revision 0003): the proxy's tool-definition approval.
            "title": Column("text", nullable=True, default=None),
            "annotations": Column("jsonb", nullable=True, default=None),
            "definition_hash": Column("text", nullable=True, default=None),
            "approved_hash": Column("text", nullable=True, default=None),
            "pending_definition": Column("jsonb", nullable=True, default=None),
        },
        checks=[],
        foreign_keys={"mcp_server_id": ForeignKey("mcp_servers", "CASCADE")},
        uniques=[("mcp_server_id", "tool_name")],
        indexes={
            "idx_mcp_tools_server": Index("btree", ("mcp_server_id",)),
            "idx_mcp_tools_enabled": Index("btree", ("is_enabled",), where="is_enabled = true"),
        },
    ),
    "mcp_call_logs": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "mcp_tool_id": Column("uuid", nullable=False, default=None),
            "workflow_instance_id": Column("uuid", nullable=True, default=None),
            "input_data": Column("jsonb", nullable=False, default=None),
            "output_data": Column("jsonb", nullable=True, default=None),
            "success": Column("boolean", nullable=False, default="true"),
            "error_message": Column("text", nullable=True, default=None),
            "latency_ms": Column("integer", nullable=True, default=None),
            "retry_count": Column("integer", nullable=False, default="0"),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "trace_id": Column("text", nullable=True, default=None),
        },
        checks=[],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "mcp_tool_id": ForeignKey("mcp_tools", "NO ACTION"),
            "workflow_instance_id": ForeignKey("workflow_instances", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_mcp_call_logs_tenant": Index("btree", ("tenant_id", "created_at DESC")),
            "idx_mcp_call_logs_tool": Index("btree", ("mcp_tool_id", "created_at DESC")),
            "idx_mcp_call_logs_workflow": Index("btree", ("workflow_instance_id",)),
        },
    ),
    "audit_logs": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "actor_id": Column("uuid", nullable=True, default=None),
            "actor_type": Column("text", nullable=False, default=None),
            "action": Column("text", nullable=False, default=None),
            "resource_type": Column("text", nullable=False, default=None),
            "resource_id": Column("text", nullable=True, default=None),
            "before_state": Column("jsonb", nullable=True, default=None),
            "after_state": Column("jsonb", nullable=True, default=None),
            "diff": Column("jsonb", nullable=True, default=None),
            "ip_address": Column("inet", nullable=True, default=None),
            "user_agent": Column("text", nullable=True, default=None),
            "trace_id": Column("text", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
        },
        checks=["actor_type IN ('user','system','api','webhook')"],
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "NO ACTION"),
            "actor_id": ForeignKey("users", "NO ACTION"),
        },
        uniques=[],
        indexes={
            "idx_audit_logs_tenant_created": Index("btree", ("tenant_id", "created_at DESC")),
            "idx_audit_logs_actor": Index("btree", ("actor_id", "created_at DESC")),
            "idx_audit_logs_resource": Index("btree", ("resource_type", "resource_id")),
            "idx_audit_logs_action": Index("btree", ("action", "created_at DESC")),
        },
    ),
}

# Hub extension (revision 0003): API keys mapped to users; only a SHA-256 of each key is stored.
EXTENSION_TABLES: dict[str, Table] = {
    "api_keys": Table(
        columns={
            "id": Column("uuid", nullable=False, default="gen_random_uuid()"),
            "tenant_id": Column("uuid", nullable=False, default=None),
            "user_id": Column("uuid", nullable=False, default=None),
            "name": Column("text", nullable=False, default=None),
            "prefix": Column("text", nullable=False, default=None),
            "key_hash": Column("text", nullable=False, default=None),
            "scopes": Column("text[]", nullable=True, default=None),
            "created_at": Column("timestamp with time zone", nullable=False, default="now()"),
            "last_used_at": Column("timestamp with time zone", nullable=True, default=None),
            "expires_at": Column("timestamp with time zone", nullable=True, default=None),
            "revoked_at": Column("timestamp with time zone", nullable=True, default=None),
        },
        foreign_keys={
            "tenant_id": ForeignKey("tenants", "CASCADE"),
            "user_id": ForeignKey("users", "CASCADE"),
        },
        uniques=[("prefix",)],
        indexes={
            "idx_api_keys_user": Index("btree", ("user_id",)),
            "idx_api_keys_tenant": Index("btree", ("tenant_id",)),
        },
    ),
}

EXPECTED_TABLES: dict[str, Table] = {**SPEC_TABLES, **EXTENSION_TABLES}

# Appendix A.1: updated_at is maintained by a trigger on every table that has the column.
TABLES_WITH_UPDATED_AT = frozenset(
    name for name, table in EXPECTED_TABLES.items() if "updated_at" in table.columns
)

# Section 11.1.
EXTENSIONS = frozenset({"uuid-ossp", "pgcrypto", "pg_trgm", "btree_gin"})
