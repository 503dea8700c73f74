"""The core schema of spec B-3-1 (sections 2-10): 27 tables, their constraints and indexes.

On PostgreSQL with the native types, the extensions of section 11.1, GIN and partial indexes
and the updated_at trigger of appendix A.1; on SQLite with portable equivalents (docs/schema.md).

Revision ID: 0001_core_schema
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_core_schema"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXTENSIONS = ("uuid-ossp", "pgcrypto", "pg_trgm", "btree_gin")

UUID = sa.CHAR(36).with_variant(postgresql.UUID(as_uuid=True), "postgresql")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TEXT_ARRAY = sa.JSON().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")
TIMESTAMPTZ = sa.DateTime(timezone=True)
INET = sa.Text().with_variant(postgresql.INET(), "postgresql")

# SQLite has no uuid generator: build the text of a version 4 UUID from random bytes.
SQLITE_UUID4 = (
    "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "
    "substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || "
    "substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))"
)
# CURRENT_TIMESTAMP has whole seconds; this is UTC with the six fraction digits SQLAlchemy reads.
SQLITE_UTC_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"

TABLES_WITH_UPDATED_AT = (
    "tenants",
    "users",
    "workflows",
    "rulesets",
    "prompt_templates",
    "chat_sessions",
    "data_connectors",
    "mcp_servers",
)

# Creation order: parents first. intent_logs precedes chat_messages, which references it.
TABLES = (
    "tenants",
    "users",
    "workflows",
    "workflow_steps",
    "workflow_instances",
    "workflow_execution_logs",
    "judgment_executions",
    "judgment_cache",
    "rulesets",
    "rule_scripts",
    "rule_deployments",
    "rule_conflicts",
    "feedbacks",
    "learning_samples",
    "auto_rule_candidates",
    "model_training_jobs",
    "prompt_templates",
    "prompt_template_bodies",
    "llm_calls",
    "chat_sessions",
    "intent_logs",
    "chat_messages",
    "data_connectors",
    "mcp_servers",
    "mcp_tools",
    "mcp_call_logs",
    "audit_logs",
)


class _Table:
    """Builds one table's columns and named constraints in the spec's recurring shapes.

    Every name goes through ``op.f``: it is final, not a key for the naming convention that
    env.py's target metadata carries (which would prefix "ck_<table>_" a second time).
    """

    def __init__(self, name: str, *, postgres: bool) -> None:
        self.name = name
        self.postgres = postgres
        self.now = sa.text("now()" if postgres else SQLITE_UTC_NOW)

    def id(self) -> sa.Column[Any]:
        default = sa.text("gen_random_uuid()" if self.postgres else SQLITE_UUID4)
        return sa.Column("id", UUID, server_default=default, nullable=False)

    def fk(
        self, column: str, target: str, *, nullable: bool = True, ondelete: str | None = None
    ) -> sa.Column[Any]:
        foreign_key = sa.ForeignKey(
            f"{target}.id", name=op.f(f"fk_{self.name}_{column}_{target}"), ondelete=ondelete
        )
        return sa.Column(column, UUID, foreign_key, nullable=nullable)

    def text(self, column: str, *, nullable: bool = True, default: str | None = None) -> sa.Column[Any]:
        server_default = None if default is None else sa.text(f"'{default}'")
        return sa.Column(column, sa.Text(), nullable=nullable, server_default=server_default)

    def int(self, column: str, *, nullable: bool = True, default: int | None = None) -> sa.Column[Any]:
        server_default = None if default is None else sa.text(str(default))
        return sa.Column(column, sa.Integer(), nullable=nullable, server_default=server_default)

    def float(self, column: str) -> sa.Column[Any]:
        return sa.Column(column, sa.Double(), nullable=True)

    def bool(self, column: str, *, default: bool) -> sa.Column[Any]:
        return sa.Column(
            column, sa.Boolean(), nullable=False, server_default=sa.true() if default else sa.false()
        )

    def json(self, column: str, *, nullable: bool = True, empty: bool = False) -> sa.Column[Any]:
        server_default = sa.text("'{}'") if empty else None
        return sa.Column(column, JSON, nullable=nullable and not empty, server_default=server_default)

    def text_array(self, column: str, *, nullable: bool = True, empty: bool = False) -> sa.Column[Any]:
        server_default = sa.text("'{}'" if self.postgres else "'[]'") if empty else None
        return sa.Column(column, TEXT_ARRAY, nullable=nullable, server_default=server_default)

    def timestamp(self, column: str, *, nullable: bool = True, now: bool = False) -> sa.Column[Any]:
        return sa.Column(column, TIMESTAMPTZ, nullable=nullable, server_default=self.now if now else None)

    def created_at(self, column: str = "created_at") -> sa.Column[Any]:
        return self.timestamp(column, nullable=False, now=True)

    def one_of(self, column: str, *values: str) -> sa.CheckConstraint:
        allowed = ", ".join(f"'{value}'" for value in values)
        return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{self.name}_{column}"))

    def between(self, column: str, low: int, high: int) -> sa.CheckConstraint:
        return sa.CheckConstraint(
            f"{column} >= {low} AND {column} <= {high}", name=f"ck_{self.name}_{column}"
        )

    def unique(self, *columns: str) -> sa.UniqueConstraint:
        return sa.UniqueConstraint(*columns, name=op.f(f"uq_{self.name}_{'_'.join(columns)}"))

    def create(self, *elements: Any) -> None:
        op.create_table(self.name, *elements, sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{self.name}")))

    def index(self, name: str, *columns: str, where: str | None = None, gin: bool = False) -> None:
        if gin and not self.postgres:
            return  # no SQLite counterpart of a GIN index (docs/schema.md)
        kwargs: dict[str, Any] = {}
        if where is not None:
            kwargs["postgresql_where"] = sa.text(where)
            kwargs["sqlite_where"] = sa.text(where)
        if gin:
            kwargs["postgresql_using"] = "gin"
        expressions = [sa.text(column) if " " in column else column for column in columns]
        op.create_index(op.f(name), self.name, expressions, **kwargs)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for extension in EXTENSIONS:
            op.execute(f'CREATE EXTENSION IF NOT EXISTS "{extension}"')
    _create_tenancy(postgres)
    _create_workflows(postgres)
    _create_judgments(postgres)
    _create_rules(postgres)
    _create_learning(postgres)
    _create_prompts(postgres)
    _create_chat(postgres)
    _create_integrations(postgres)
    _create_audit(postgres)
    _create_updated_at_triggers(postgres)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES_WITH_UPDATED_AT:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_updated_at" + (f" ON {table}" if postgres else ""))
    for table in reversed(TABLES):
        op.drop_table(table)
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS set_updated_at()")
        # No CASCADE: if other objects of this database use an extension, stop and say so.
        for extension in reversed(EXTENSIONS):
            op.execute(f'DROP EXTENSION IF EXISTS "{extension}"')


# ---------------------------------------------------------------------------------------------


def _create_tenancy(postgres: bool) -> None:
    t = _Table("tenants", postgres=postgres)
    t.create(
        t.id(),
        t.text("name", nullable=False),
        t.text("display_name", nullable=False),
        t.json("settings", empty=True),
        t.text("subscription_plan", nullable=False, default="standard"),
        t.int("max_users", nullable=False, default=10),
        t.int("max_workflows", nullable=False, default=50),
        t.int("max_judgments_per_day", nullable=False, default=10000),
        t.text("status", nullable=False, default="active"),
        t.created_at(),
        t.created_at("updated_at"),
        t.timestamp("deleted_at"),
        t.one_of("subscription_plan", "trial", "standard", "enterprise", "custom"),
        t.one_of("status", "active", "suspended", "deleted"),
        t.unique("name"),
    )
    t.index("idx_tenants_status", "status", where="status = 'active'")
    t.index("idx_tenants_name", "name")

    t = _Table("users", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False, ondelete="CASCADE"),
        t.text("email", nullable=False),
        t.text("username", nullable=False),
        t.text("password_hash", nullable=False),
        t.text("role", nullable=False),
        t.text_array("permissions", nullable=False, empty=True),
        t.json("metadata", empty=True),
        t.text("status", nullable=False, default="active"),
        t.timestamp("last_login_at"),
        t.created_at(),
        t.created_at("updated_at"),
        t.one_of("role", "admin", "approver", "operator", "viewer"),
        t.one_of("status", "active", "inactive", "locked"),
        t.unique("tenant_id", "email"),
        t.unique("tenant_id", "username"),
    )
    t.index("idx_users_tenant_role", "tenant_id", "role", where="status = 'active'")
    t.index("idx_users_email", "email")
    t.index("idx_users_status", "status")


def _create_workflows(postgres: bool) -> None:
    t = _Table("workflows", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False, ondelete="CASCADE"),
        t.text("name", nullable=False),
        t.text("description"),
        t.int("version", nullable=False, default=1),
        t.json("dsl_json", nullable=False),
        t.text("dsl_digest", nullable=False),
        t.bool("is_active", default=False),
        t.json("trigger_config"),
        t.int("timeout_seconds", nullable=False, default=300),
        t.int("max_retry", nullable=False, default=3),
        t.text_array("tags", empty=True),
        t.json("metadata", empty=True),
        t.fk("created_by", "users"),
        t.created_at(),
        t.created_at("updated_at"),
        t.timestamp("activated_at"),
        t.unique("tenant_id", "name", "version"),
    )
    t.index("idx_workflows_tenant_active", "tenant_id", "is_active", where="is_active = true")
    t.index("idx_workflows_name", "tenant_id", "name")
    t.index("idx_workflows_tags", "tags", gin=True)
    t.index("idx_workflows_dsl_digest", "dsl_digest")

    t = _Table("workflow_steps", postgres=postgres)
    t.create(
        t.id(),
        t.fk("workflow_id", "workflows", nullable=False, ondelete="CASCADE"),
        t.int("step_order", nullable=False),
        t.text("node_id", nullable=False),
        t.text("node_type", nullable=False),
        t.json("config", nullable=False),
        t.int("timeout_seconds", nullable=False, default=60),
        t.json("retry_policy"),
        t.created_at(),
        t.one_of(
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
        t.unique("workflow_id", "node_id"),
        t.unique("workflow_id", "step_order"),
    )
    t.index("idx_workflow_steps_workflow", "workflow_id", "step_order")
    t.index("idx_workflow_steps_type", "node_type")

    t = _Table("workflow_instances", postgres=postgres)
    t.create(
        t.id(),
        t.fk("workflow_id", "workflows", nullable=False),
        t.fk("tenant_id", "tenants", nullable=False),
        t.text("status", nullable=False),
        t.text("trigger_type", nullable=False),
        t.fk("triggered_by", "users"),
        t.json("input_context", empty=True),
        t.json("runtime_context", empty=True),
        t.json("checkpoint_data"),
        t.fk("current_step_id", "workflow_steps"),
        t.text("last_error"),
        t.text("error_code"),
        t.int("retry_count", nullable=False, default=0),
        t.created_at("started_at"),
        t.timestamp("ended_at"),
        t.int("duration_ms"),
        t.text("trace_id", nullable=False),
        t.fk("parent_instance_id", "workflow_instances"),
        t.json("metadata", empty=True),
        t.one_of(
            "status", "PENDING", "RUNNING", "WAITING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"
        ),
        t.one_of("trigger_type", "manual", "schedule", "event", "webhook", "api"),
    )
    t.index("idx_workflow_instances_tenant_status", "tenant_id", "status")
    t.index("idx_workflow_instances_workflow_started", "workflow_id", "started_at DESC")
    t.index("idx_workflow_instances_status", "status", where="status IN ('RUNNING', 'WAITING', 'PAUSED')")
    t.index("idx_workflow_instances_trace", "trace_id")

    t = _Table("workflow_execution_logs", postgres=postgres)
    t.create(
        t.id(),
        t.fk("instance_id", "workflow_instances", nullable=False, ondelete="CASCADE"),
        t.fk("step_id", "workflow_steps", nullable=False),
        t.text("node_id", nullable=False),
        t.text("status", nullable=False),
        t.json("input_data"),
        t.json("output_data"),
        t.text("error_message"),
        t.text("error_code"),
        t.int("retry_attempt", nullable=False, default=0),
        t.created_at("started_at"),
        t.timestamp("ended_at"),
        t.int("duration_ms"),
        t.json("metadata", empty=True),
        t.one_of("status", "PENDING", "RUNNING", "COMPLETED", "FAILED", "SKIPPED", "RETRYING"),
    )
    t.index("idx_wf_exec_logs_instance", "instance_id", "started_at DESC")
    t.index("idx_wf_exec_logs_step", "step_id")
    t.index("idx_wf_exec_logs_status", "status", where="status IN ('RUNNING', 'RETRYING')")


def _create_judgments(postgres: bool) -> None:
    t = _Table("judgment_executions", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("workflow_instance_id", "workflow_instances"),
        t.fk("workflow_id", "workflows"),
        t.text("source", nullable=False),
        t.json("input_data", nullable=False),
        t.text("result", nullable=False),
        t.float("confidence"),
        t.text("method_used", nullable=False),
        t.text("explanation"),
        t.json("recommended_actions"),
        t.json("rule_trace"),
        t.json("llm_metadata"),
        t.json("evidence"),
        t.json("feature_importance"),
        t.bool("cache_hit", default=False),
        t.text("cache_key"),
        t.int("latency_ms"),
        t.created_at(),
        t.fk("created_by", "users"),
        t.text("trace_id", nullable=False),
        t.json("metadata", empty=True),
        t.one_of("source", "workflow", "api", "manual", "schedule"),
        t.one_of("result", "normal", "warning", "critical", "unknown"),
        t.between("confidence", 0, 1),
        t.one_of("method_used", "rule_only", "llm_only", "hybrid", "cache"),
    )
    t.index("idx_judgment_exec_tenant_created", "tenant_id", "created_at DESC")
    t.index("idx_judgment_exec_workflow", "workflow_id", "created_at DESC")
    t.index("idx_judgment_exec_result", "tenant_id", "result", "created_at DESC")
    t.index("idx_judgment_exec_trace", "trace_id")
    t.index("idx_judgment_exec_cache_key", "cache_key", where="cache_hit = true")
    t.index("idx_judgment_exec_input_data", "input_data", gin=True)
    t.index("idx_judgment_exec_evidence", "evidence", gin=True)

    t = _Table("judgment_cache", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.text("cache_key", nullable=False),
        t.fk("judgment_execution_id", "judgment_executions", nullable=False),
        t.text("input_hash", nullable=False),
        t.text("result", nullable=False),
        t.float("confidence"),
        t.int("ttl_seconds", nullable=False, default=3600),
        t.int("hit_count", nullable=False, default=0),
        t.created_at(),
        t.timestamp("expires_at", nullable=False),
        t.timestamp("last_hit_at"),
        t.unique("tenant_id", "cache_key"),
    )
    # The spec's "WHERE expires_at > now()" is refused by PostgreSQL (index predicates must be
    # IMMUTABLE); a plain index serves the same range scans.
    t.index("idx_judgment_cache_expires", "expires_at")
    t.index("idx_judgment_cache_tenant_key", "tenant_id", "cache_key")


def _create_rules(postgres: bool) -> None:
    t = _Table("rulesets", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.text("name", nullable=False),
        t.text("description"),
        t.text("target_kpi", nullable=False),
        t.text("category"),
        t.bool("is_active", default=False),
        t.int("priority", nullable=False, default=100),
        t.json("metadata", empty=True),
        t.fk("created_by", "users"),
        t.created_at(),
        t.created_at("updated_at"),
        t.one_of("category", "quality", "production", "equipment", "inventory", "safety"),
        t.unique("tenant_id", "name"),
    )
    t.index("idx_rulesets_tenant_active", "tenant_id", "is_active", where="is_active = true")
    t.index("idx_rulesets_kpi", "target_kpi")

    t = _Table("rule_scripts", postgres=postgres)
    t.create(
        t.id(),
        t.fk("ruleset_id", "rulesets", nullable=False, ondelete="CASCADE"),
        t.int("version", nullable=False),
        t.text("language", nullable=False, default="rhai"),
        t.text("script", nullable=False),
        t.text("script_hash", nullable=False),
        t.text("compile_status", nullable=False, default="pending"),
        t.text("compile_error"),
        t.float("test_coverage"),
        t.fk("created_by", "users"),
        t.created_at(),
        sa.CheckConstraint("language = 'rhai'", name=op.f("ck_rule_scripts_language")),
        t.one_of("compile_status", "pending", "compiled", "failed"),
        t.unique("ruleset_id", "version"),
    )
    t.index("idx_rule_scripts_ruleset", "ruleset_id", "version DESC")
    t.index("idx_rule_scripts_hash", "script_hash")

    t = _Table("rule_deployments", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("ruleset_id", "rulesets", nullable=False),
        t.int("version", nullable=False),
        t.text("status", nullable=False, default="draft"),
        t.float("canary_pct"),
        t.json("canary_target_filter"),
        t.int("rollback_to"),
        t.text("changelog", nullable=False),
        t.fk("approver_id", "users"),
        t.timestamp("approved_at"),
        t.timestamp("deployed_at"),
        t.timestamp("rolled_back_at"),
        t.created_at(),
        t.json("metadata", empty=True),
        t.one_of("status", "draft", "canary", "active", "rolled_back", "deprecated"),
        t.between("canary_pct", 0, 1),
    )
    t.index("idx_rule_deployments_ruleset", "ruleset_id", "deployed_at DESC")
    t.index("idx_rule_deployments_status", "status")

    t = _Table("rule_conflicts", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("ruleset_id", "rulesets", nullable=False),
        t.int("rule_version_1", nullable=False),
        t.int("rule_version_2", nullable=False),
        t.text("conflict_type", nullable=False),
        t.text("description", nullable=False),
        t.text("severity", nullable=False),
        t.text("resolution_status", nullable=False, default="unresolved"),
        t.text("resolution_note"),
        t.created_at("detected_at"),
        t.timestamp("resolved_at"),
        t.fk("resolved_by", "users"),
        t.one_of("conflict_type", "output_conflict", "condition_overlap", "circular_dependency"),
        t.one_of("severity", "low", "medium", "high", "critical"),
        t.one_of("resolution_status", "unresolved", "investigating", "resolved", "accepted"),
    )
    t.index("idx_rule_conflicts_ruleset", "ruleset_id", "detected_at DESC")
    t.index("idx_rule_conflicts_status", "resolution_status", where="resolution_status = 'unresolved'")


def _create_learning(postgres: bool) -> None:
    t = _Table("feedbacks", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("judgment_execution_id", "judgment_executions", nullable=False),
        t.fk("user_id", "users", nullable=False),
        t.text("feedback_type", nullable=False),
        t.int("rating"),
        t.text("comment"),
        t.text("corrected_result"),
        t.created_at(),
        t.one_of("feedback_type", "correct", "incorrect", "partial", "helpful", "not_helpful"),
        t.between("rating", 1, 5),
        t.one_of("corrected_result", "normal", "warning", "critical"),
    )
    t.index("idx_feedbacks_judgment", "judgment_execution_id")
    t.index("idx_feedbacks_tenant_created", "tenant_id", "created_at DESC")
    t.index("idx_feedbacks_user", "user_id")

    t = _Table("learning_samples", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("judgment_execution_id", "judgment_executions"),
        t.json("input_features", nullable=False),
        t.json("label", nullable=False),
        t.text("source", nullable=False),
        t.float("quality_score"),
        t.bool("is_validated", default=False),
        t.fk("validated_by", "users"),
        t.timestamp("validated_at"),
        t.created_at(),
        t.json("metadata", empty=True),
        t.one_of("source", "feedback", "auto", "manual", "import"),
        t.between("quality_score", 0, 1),
    )
    t.index("idx_learning_samples_tenant", "tenant_id", "created_at DESC")
    t.index("idx_learning_samples_judgment", "judgment_execution_id")
    t.index("idx_learning_samples_validated", "is_validated", where="is_validated = true")

    t = _Table("auto_rule_candidates", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("ruleset_id", "rulesets"),
        t.text("generated_rule", nullable=False),
        t.text("rule_language", nullable=False, default="rhai"),
        t.text("generation_method", nullable=False),
        t.float("coverage"),
        t.float("precision"),
        t.float("recall"),
        t.float("f1_score"),
        t.text_array("conflict_with"),
        t.bool("is_approved", default=False),
        t.text("approval_status", nullable=False, default="pending"),
        t.fk("approver_id", "users"),
        t.timestamp("approved_at"),
        t.text("rejection_reason"),
        t.json("test_results"),
        t.created_at(),
        t.json("metadata", empty=True),
        t.one_of("generation_method", "llm", "pattern_mining", "ensemble"),
        t.between("coverage", 0, 1),
        t.between("precision", 0, 1),
        t.between("recall", 0, 1),
        t.one_of("approval_status", "pending", "approved", "rejected", "testing"),
    )
    t.index("idx_auto_rule_candidates_ruleset", "ruleset_id", "created_at DESC")
    t.index("idx_auto_rule_candidates_status", "approval_status")

    t = _Table("model_training_jobs", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.text("job_type", nullable=False),
        t.text("status", nullable=False, default="pending"),
        t.int("dataset_size"),
        t.json("training_config", nullable=False),
        t.json("metrics"),
        t.text("model_artifact_url"),
        t.text("error_message"),
        t.timestamp("started_at"),
        t.timestamp("ended_at"),
        t.int("duration_seconds"),
        t.fk("triggered_by", "users"),
        t.created_at(),
        t.one_of("job_type", "rule_learning", "llm_finetuning", "embedding_update"),
        t.one_of("status", "pending", "running", "completed", "failed", "cancelled"),
    )
    t.index("idx_model_training_jobs_tenant", "tenant_id", "created_at DESC")
    t.index("idx_model_training_jobs_status", "status")


def _create_prompts(postgres: bool) -> None:
    t = _Table("prompt_templates", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.text("name", nullable=False),
        t.text("purpose", nullable=False),
        t.int("version", nullable=False),
        t.text("template_type", nullable=False),
        t.json("model_config", nullable=False),
        t.json("variables", nullable=False),
        t.bool("is_active", default=False),
        t.text("a_b_test_group"),
        t.fk("created_by", "users"),
        t.created_at(),
        t.created_at("updated_at"),
        t.one_of("template_type", "judgment", "chat", "reasoning", "extraction"),
        t.unique("tenant_id", "name", "version"),
    )
    t.index("idx_prompt_templates_tenant_active", "tenant_id", "is_active", where="is_active = true")
    t.index("idx_prompt_templates_name", "tenant_id", "name", "version DESC")

    t = _Table("prompt_template_bodies", postgres=postgres)
    t.create(
        t.id(),
        t.fk("template_id", "prompt_templates", nullable=False, ondelete="CASCADE"),
        t.text("locale", nullable=False, default="ko-KR"),
        t.text("system_prompt", nullable=False),
        t.text("user_prompt_template", nullable=False),
        t.json("few_shot_examples"),
        t.created_at(),
        t.unique("template_id", "locale"),
    )
    t.index("idx_prompt_bodies_template", "template_id")

    t = _Table("llm_calls", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("judgment_execution_id", "judgment_executions"),
        t.fk("prompt_template_id", "prompt_templates"),
        t.text("call_type", nullable=False),
        t.text("model", nullable=False),
        t.text("prompt_summary"),
        t.int("prompt_tokens", nullable=False),
        t.int("completion_tokens", nullable=False),
        t.int("total_tokens", nullable=False),
        sa.Column("cost_estimate_usd", sa.Numeric(10, 6), nullable=True),
        t.int("latency_ms"),
        t.bool("success", default=True),
        t.bool("validation_error", default=False),
        t.text("error_message"),
        t.text("response_summary"),
        t.created_at(),
        t.text("trace_id"),
        t.json("metadata", empty=True),
        t.one_of("call_type", "judgment", "chat", "reasoning", "embedding"),
    )
    t.index("idx_llm_calls_tenant_created", "tenant_id", "created_at DESC")
    t.index("idx_llm_calls_judgment", "judgment_execution_id")
    t.index("idx_llm_calls_model", "model", "created_at DESC")
    t.index("idx_llm_calls_validation_error", "validation_error", where="validation_error = true")


def _create_chat(postgres: bool) -> None:
    t = _Table("chat_sessions", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("user_id", "users", nullable=False),
        t.text("title", nullable=False, default="New Chat"),
        t.text("status", nullable=False, default="active"),
        t.json("context", empty=True),
        t.int("message_count", nullable=False, default=0),
        t.created_at(),
        t.created_at("updated_at"),
        t.timestamp("last_message_at"),
        t.one_of("status", "active", "archived", "deleted"),
    )
    t.index("idx_chat_sessions_user", "user_id", "updated_at DESC")
    t.index("idx_chat_sessions_tenant", "tenant_id", "updated_at DESC")

    # Created before chat_messages, which references it (the spec lists it after).
    t = _Table("intent_logs", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("user_id", "users"),
        t.text("user_query", nullable=False),
        t.text("predicted_intent", nullable=False),
        t.float("confidence"),
        t.json("extracted_slots"),
        t.int("feedback_score"),
        t.text("feedback_comment"),
        t.created_at(),
        t.between("confidence", 0, 1),
        t.between("feedback_score", 1, 5),
    )
    t.index("idx_intent_logs_tenant", "tenant_id", "created_at DESC")
    t.index("idx_intent_logs_intent", "predicted_intent")

    t = _Table("chat_messages", postgres=postgres)
    t.create(
        t.id(),
        t.fk("session_id", "chat_sessions", nullable=False, ondelete="CASCADE"),
        t.text("role", nullable=False),
        t.text("content", nullable=False),
        t.fk("intent_log_id", "intent_logs"),
        t.json("metadata", empty=True),
        t.created_at(),
        t.one_of("role", "user", "assistant", "system"),
    )
    t.index("idx_chat_messages_session", "session_id", "created_at")
    t.index("idx_chat_messages_intent", "intent_log_id")


def _create_integrations(postgres: bool) -> None:
    t = _Table("data_connectors", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.text("name", nullable=False),
        t.text("type", nullable=False),
        t.text("engine"),
        t.json("config", nullable=False),
        sa.Column("credentials_encrypted", sa.LargeBinary(), nullable=True),
        t.text("status", nullable=False, default="inactive"),
        t.timestamp("last_health_check_at"),
        t.text("last_health_status"),
        t.fk("created_by", "users"),
        t.created_at(),
        t.created_at("updated_at"),
        t.one_of("type", "postgres", "mysql", "mssql", "oracle", "rest_api", "graphql", "kafka"),
        t.one_of("status", "active", "inactive", "error"),
        t.unique("tenant_id", "name"),
    )
    t.index("idx_data_connectors_tenant", "tenant_id")
    t.index("idx_data_connectors_status", "status")

    t = _Table("mcp_servers", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.text("name", nullable=False),
        t.text("endpoint", nullable=False),
        t.text("protocol", nullable=False, default="stdio"),
        t.json("config", nullable=False),
        t.json("auth_config"),
        t.text("status", nullable=False, default="inactive"),
        t.timestamp("last_health_check_at"),
        t.text("circuit_breaker_state", nullable=False, default="closed"),
        t.int("fail_count", nullable=False, default=0),
        t.created_at(),
        t.created_at("updated_at"),
        t.one_of("protocol", "stdio", "sse", "websocket"),
        t.one_of("status", "active", "inactive", "error"),
        t.one_of("circuit_breaker_state", "closed", "open", "half_open"),
        t.unique("tenant_id", "name"),
    )
    t.index("idx_mcp_servers_tenant", "tenant_id")
    t.index("idx_mcp_servers_status", "status")

    t = _Table("mcp_tools", postgres=postgres)
    t.create(
        t.id(),
        t.fk("mcp_server_id", "mcp_servers", nullable=False, ondelete="CASCADE"),
        t.text("tool_name", nullable=False),
        t.text("description"),
        t.json("input_schema", nullable=False),
        t.json("output_schema"),
        t.bool("is_enabled", default=True),
        t.int("usage_count", nullable=False, default=0),
        t.int("avg_latency_ms"),
        t.timestamp("last_used_at"),
        t.created_at(),
        t.unique("mcp_server_id", "tool_name"),
    )
    t.index("idx_mcp_tools_server", "mcp_server_id")
    t.index("idx_mcp_tools_enabled", "is_enabled", where="is_enabled = true")

    t = _Table("mcp_call_logs", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("mcp_tool_id", "mcp_tools", nullable=False),
        t.fk("workflow_instance_id", "workflow_instances"),
        t.json("input_data", nullable=False),
        t.json("output_data"),
        t.bool("success", default=True),
        t.text("error_message"),
        t.int("latency_ms"),
        t.int("retry_count", nullable=False, default=0),
        t.created_at(),
        t.text("trace_id"),
    )
    t.index("idx_mcp_call_logs_tenant", "tenant_id", "created_at DESC")
    t.index("idx_mcp_call_logs_tool", "mcp_tool_id", "created_at DESC")
    t.index("idx_mcp_call_logs_workflow", "workflow_instance_id")


def _create_audit(postgres: bool) -> None:
    t = _Table("audit_logs", postgres=postgres)
    t.create(
        t.id(),
        t.fk("tenant_id", "tenants", nullable=False),
        t.fk("actor_id", "users"),
        t.text("actor_type", nullable=False),
        t.text("action", nullable=False),
        t.text("resource_type", nullable=False),
        t.text("resource_id"),
        t.json("before_state"),
        t.json("after_state"),
        t.json("diff"),
        sa.Column("ip_address", INET, nullable=True),
        t.text("user_agent"),
        t.text("trace_id"),
        t.created_at(),
        t.one_of("actor_type", "user", "system", "api", "webhook"),
    )
    t.index("idx_audit_logs_tenant_created", "tenant_id", "created_at DESC")
    t.index("idx_audit_logs_actor", "actor_id", "created_at DESC")
    t.index("idx_audit_logs_resource", "resource_type", "resource_id")
    t.index("idx_audit_logs_action", "action", "created_at DESC")


def _create_updated_at_triggers(postgres: bool) -> None:
    """Appendix A.1: ``updated_at`` follows every UPDATE, also those that do not set it."""
    if postgres:
        op.execute(
            """
            CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                NEW.updated_at = now();
                RETURN NEW;
            END;
            $$
            """
        )
        for table in TABLES_WITH_UPDATED_AT:
            op.execute(
                f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
            )
        return
    # SQLite triggers cannot assign NEW; an AFTER trigger rewrites the row instead, only when the
    # UPDATE left updated_at alone (the ORM sets it itself), which also stops any recursion.
    for table in TABLES_WITH_UPDATED_AT:
        op.execute(
            f"CREATE TRIGGER trg_{table}_updated_at AFTER UPDATE ON {table} FOR EACH ROW "
            f"WHEN NEW.updated_at IS OLD.updated_at BEGIN "
            f"UPDATE {table} SET updated_at = {SQLITE_UTC_NOW} WHERE id = NEW.id; END"
        )
