"""Audit rows: who changed what, with the state before and after and the difference."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.identity import Caller
from hub.redaction import redact
from hub.store.models import Base

__all__ = ["diff_states", "record_audit"]

# Never written to the audit log, whatever the resource: secrets and their encrypted forms.
_SECRET_KEYS = ("password", "secret", "token", "api_key", "credentials", "authorization", "key_hash")


def diff_states(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keys whose values differ, each as ``{"before": ..., "after": ...}``."""
    b = dict(before or {})
    a = dict(after or {})
    return {
        k: {"before": b.get(k), "after": a.get(k)}
        for k in sorted(b.keys() | a.keys())
        if b.get(k) != a.get(k)
    }


async def record_audit(
    session: AsyncSession,
    *,
    caller: Caller,
    action: str,
    resource_type: str,
    resource_id: str | uuid.UUID | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    trace_id: str | None = None,
    tenant_id: uuid.UUID | None = None,
    actor_type: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Add one ``audit_logs`` row to the caller's transaction (secrets redacted)."""
    b = redact(_jsonable(before), _SECRET_KEYS) if before is not None else None
    a = redact(_jsonable(after), _SECRET_KEYS) if after is not None else None
    await session.execute(
        insert(Base.metadata.tables["audit_logs"]).values(
            id=uuid.uuid4(),
            tenant_id=tenant_id or caller.tenant_id,
            actor_id=caller.user_id,
            actor_type=actor_type or caller.actor_type,
            action=action,
            resource_type=resource_type,
            resource_id=str(resource_id) if resource_id is not None else None,
            before_state=b,
            after_state=a,
            diff=diff_states(b, a),
            ip_address=ip_address,
            user_agent=user_agent,
            trace_id=trace_id,
            created_at=datetime.now(UTC),
        )
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (uuid.UUID, datetime)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return value
