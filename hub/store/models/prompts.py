"""Prompt templates, their bodies and LLM calls (spec section 7)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models.base import (
    Base,
    JSONObject,
    _created_at,
    _fk,
    _id,
    _index,
    _json,
    _metadata,
    _one_of,
    _updated_at,
)

__all__ = ["LLMCall", "PromptTemplate", "PromptTemplateBody"]

# ---------------------------------------------------------------------------------------------
# 7. Prompts


class PromptTemplate(Base):
    """One version of an LLM prompt template and its model settings."""

    __tablename__ = "prompt_templates"
    __table_args__ = (
        _one_of("template_type", "judgment", "chat", "reasoning", "extraction"),
        sa.UniqueConstraint("tenant_id", "name", "version"),
        _index("idx_prompt_templates_tenant_active", "tenant_id", "is_active", where="is_active = true"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    name: Mapped[str]
    purpose: Mapped[str]
    version: Mapped[int]
    template_type: Mapped[str]
    model_config: Mapped[JSONObject] = _json(nullable=False)
    variables: Mapped[JSONObject] = _json(nullable=False)
    is_active: Mapped[bool] = mapped_column(server_default=sa.false())
    a_b_test_group: Mapped[str | None]
    created_by: Mapped[uuid.UUID | None] = _fk("users.id")
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()


_index(
    "idx_prompt_templates_name", PromptTemplate.tenant_id, PromptTemplate.name, PromptTemplate.version.desc()
)


class PromptTemplateBody(Base):
    """A prompt template's text in one locale."""

    __tablename__ = "prompt_template_bodies"
    __table_args__ = (
        sa.UniqueConstraint("template_id", "locale"),
        _index("idx_prompt_bodies_template", "template_id"),
    )

    id: Mapped[uuid.UUID] = _id()
    template_id: Mapped[uuid.UUID] = _fk("prompt_templates.id", nullable=False, ondelete="CASCADE")
    locale: Mapped[str] = mapped_column(server_default="ko-KR")
    system_prompt: Mapped[str]
    user_prompt_template: Mapped[str]
    few_shot_examples: Mapped[Any] = _json()
    created_at: Mapped[dt.datetime] = _created_at()


class LLMCall(Base):
    """One call of an LLM API, with tokens, cost and outcome."""

    __tablename__ = "llm_calls"
    __table_args__ = (
        _one_of("call_type", "judgment", "chat", "reasoning", "embedding"),
        _index("idx_llm_calls_judgment", "judgment_execution_id"),
        _index("idx_llm_calls_validation_error", "validation_error", where="validation_error = true"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    judgment_execution_id: Mapped[uuid.UUID | None] = _fk("judgment_executions.id")
    prompt_template_id: Mapped[uuid.UUID | None] = _fk("prompt_templates.id")
    call_type: Mapped[str]
    model: Mapped[str]
    prompt_summary: Mapped[str | None]
    prompt_tokens: Mapped[int]
    completion_tokens: Mapped[int]
    total_tokens: Mapped[int]
    cost_estimate_usd: Mapped[Decimal | None]
    latency_ms: Mapped[int | None]
    success: Mapped[bool] = mapped_column(server_default=sa.true())
    validation_error: Mapped[bool] = mapped_column(server_default=sa.false())
    error_message: Mapped[str | None]
    response_summary: Mapped[str | None]
    created_at: Mapped[dt.datetime] = _created_at()
    trace_id: Mapped[str | None]
    metadata_: Mapped[JSONObject] = _metadata()


_index("idx_llm_calls_tenant_created", LLMCall.tenant_id, LLMCall.created_at.desc())
_index("idx_llm_calls_model", LLMCall.model, LLMCall.created_at.desc())
