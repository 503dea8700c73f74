"""Chat sessions, messages and intent logs (spec section 8)."""

from __future__ import annotations

import datetime as dt
import uuid

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

__all__ = ["ChatMessage", "ChatSession", "IntentLog"]

# ---------------------------------------------------------------------------------------------
# 8. Chat and intents (intent_logs first: chat_messages references it)


class IntentLog(Base):
    """The intent predicted for one user query."""

    __tablename__ = "intent_logs"
    __table_args__ = (
        _between("confidence", 0, 1),
        _between("feedback_score", 1, 5),
        _index("idx_intent_logs_intent", "predicted_intent"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    user_id: Mapped[uuid.UUID | None] = _fk("users.id")
    user_query: Mapped[str]
    predicted_intent: Mapped[str]
    confidence: Mapped[float | None]
    extracted_slots: Mapped[JSONObject | None] = _json()
    feedback_score: Mapped[int | None]
    feedback_comment: Mapped[str | None]
    created_at: Mapped[dt.datetime] = _created_at()


_index("idx_intent_logs_tenant", IntentLog.tenant_id, IntentLog.created_at.desc())


class ChatSession(Base):
    """A user's chat session."""

    __tablename__ = "chat_sessions"
    __table_args__ = (_one_of("status", "active", "archived", "deleted"),)

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    user_id: Mapped[uuid.UUID] = _fk("users.id", nullable=False)
    title: Mapped[str] = mapped_column(server_default="New Chat")
    status: Mapped[str] = mapped_column(server_default="active")
    context: Mapped[JSONObject] = _json(empty_default=True)
    message_count: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()
    last_message_at: Mapped[dt.datetime | None]


_index("idx_chat_sessions_user", ChatSession.user_id, ChatSession.updated_at.desc())
_index("idx_chat_sessions_tenant", ChatSession.tenant_id, ChatSession.updated_at.desc())


class ChatMessage(Base):
    """One message of a chat session."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        _one_of("role", "user", "assistant", "system"),
        _index("idx_chat_messages_session", "session_id", "created_at"),
        _index("idx_chat_messages_intent", "intent_log_id"),
    )

    id: Mapped[uuid.UUID] = _id()
    session_id: Mapped[uuid.UUID] = _fk("chat_sessions.id", nullable=False, ondelete="CASCADE")
    role: Mapped[str]
    content: Mapped[str]
    intent_log_id: Mapped[uuid.UUID | None] = _fk("intent_logs.id")
    metadata_: Mapped[JSONObject] = _metadata()
    created_at: Mapped[dt.datetime] = _created_at()
