"""Feedback, learning samples, rule candidates and training jobs (spec section 6)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models.base import (
    Base,
    JSONObject,
    TextArray,
    _between,
    _created_at,
    _fk,
    _id,
    _index,
    _json,
    _metadata,
    _one_of,
)

__all__ = ["AutoRuleCandidate", "Feedback", "LearningSample", "ModelTrainingJob"]

# ---------------------------------------------------------------------------------------------
# 6. Learning and automation


class Feedback(Base):
    """A user's feedback on one judgment."""

    __tablename__ = "feedbacks"
    __table_args__ = (
        _one_of("feedback_type", "correct", "incorrect", "partial", "helpful", "not_helpful"),
        _between("rating", 1, 5),
        _one_of("corrected_result", "normal", "warning", "critical"),
        _index("idx_feedbacks_judgment", "judgment_execution_id"),
        _index("idx_feedbacks_user", "user_id"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    judgment_execution_id: Mapped[uuid.UUID] = _fk("judgment_executions.id", nullable=False)
    user_id: Mapped[uuid.UUID] = _fk("users.id", nullable=False)
    feedback_type: Mapped[str]
    rating: Mapped[int | None]
    comment: Mapped[str | None]
    corrected_result: Mapped[str | None]
    created_at: Mapped[dt.datetime] = _created_at()


_index("idx_feedbacks_tenant_created", Feedback.tenant_id, Feedback.created_at.desc())


class LearningSample(Base):
    """A labelled sample collected for rule learning or fine-tuning."""

    __tablename__ = "learning_samples"
    __table_args__ = (
        _one_of("source", "feedback", "auto", "manual", "import"),
        _between("quality_score", 0, 1),
        _index("idx_learning_samples_judgment", "judgment_execution_id"),
        _index("idx_learning_samples_validated", "is_validated", where="is_validated = true"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    judgment_execution_id: Mapped[uuid.UUID | None] = _fk("judgment_executions.id")
    input_features: Mapped[JSONObject] = _json(nullable=False)
    label: Mapped[JSONObject] = _json(nullable=False)
    source: Mapped[str]
    quality_score: Mapped[float | None]
    is_validated: Mapped[bool] = mapped_column(server_default=sa.false())
    validated_by: Mapped[uuid.UUID | None] = _fk("users.id")
    validated_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = _created_at()
    metadata_: Mapped[JSONObject] = _metadata()


_index("idx_learning_samples_tenant", LearningSample.tenant_id, LearningSample.created_at.desc())


class AutoRuleCandidate(Base):
    """A generated rule waiting for approval, with its measured quality."""

    __tablename__ = "auto_rule_candidates"
    __table_args__ = (
        _one_of("generation_method", "llm", "pattern_mining", "ensemble"),
        _between("coverage", 0, 1),
        _between("precision", 0, 1),
        _between("recall", 0, 1),
        _one_of("approval_status", "pending", "approved", "rejected", "testing"),
        _index("idx_auto_rule_candidates_status", "approval_status"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    ruleset_id: Mapped[uuid.UUID | None] = _fk("rulesets.id")
    generated_rule: Mapped[str]
    rule_language: Mapped[str] = mapped_column(server_default="rhai")
    generation_method: Mapped[str]
    coverage: Mapped[float | None]
    precision: Mapped[float | None]
    recall: Mapped[float | None]
    f1_score: Mapped[float | None]
    conflict_with: Mapped[list[str] | None] = mapped_column(TextArray)
    is_approved: Mapped[bool] = mapped_column(server_default=sa.false())
    approval_status: Mapped[str] = mapped_column(server_default="pending")
    approver_id: Mapped[uuid.UUID | None] = _fk("users.id")
    approved_at: Mapped[dt.datetime | None]
    rejection_reason: Mapped[str | None]
    test_results: Mapped[JSONObject | None] = _json()
    created_at: Mapped[dt.datetime] = _created_at()
    metadata_: Mapped[JSONObject] = _metadata()


_index("idx_auto_rule_candidates_ruleset", AutoRuleCandidate.ruleset_id, AutoRuleCandidate.created_at.desc())


class ModelTrainingJob(Base):
    """A (re)training job of a rule learner, fine-tune or embedding update."""

    __tablename__ = "model_training_jobs"
    __table_args__ = (
        _one_of("job_type", "rule_learning", "llm_finetuning", "embedding_update"),
        _one_of("status", "pending", "running", "completed", "failed", "cancelled"),
        _index("idx_model_training_jobs_status", "status"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    job_type: Mapped[str]
    status: Mapped[str] = mapped_column(server_default="pending")
    dataset_size: Mapped[int | None]
    training_config: Mapped[JSONObject] = _json(nullable=False)
    metrics: Mapped[JSONObject | None] = _json()
    model_artifact_url: Mapped[str | None]
    error_message: Mapped[str | None]
    started_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    duration_seconds: Mapped[int | None]
    triggered_by: Mapped[uuid.UUID | None] = _fk("users.id")
    created_at: Mapped[dt.datetime] = _created_at()


_index("idx_model_training_jobs_tenant", ModelTrainingJob.tenant_id, ModelTrainingJob.created_at.desc())
