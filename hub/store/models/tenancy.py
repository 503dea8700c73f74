"""Multi-tenancy: tenants and users (spec section 2)."""

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

__all__ = ["Tenant", "User"]

# ---------------------------------------------------------------------------------------------
# 2. Multi-tenancy


class Tenant(Base):
    """A tenant: the unit of isolation every other row belongs to."""

    __tablename__ = "tenants"
    __table_args__ = (
        _one_of("subscription_plan", "trial", "standard", "enterprise", "custom"),
        _one_of("status", "active", "suspended", "deleted"),
        sa.UniqueConstraint("name"),
        _index("idx_tenants_status", "status", where="status = 'active'"),
        _index("idx_tenants_name", "name"),
    )

    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str]
    display_name: Mapped[str]
    settings: Mapped[JSONObject] = _json(empty_default=True)
    subscription_plan: Mapped[str] = mapped_column(server_default="standard")
    max_users: Mapped[int] = mapped_column(server_default="10")
    max_workflows: Mapped[int] = mapped_column(server_default="50")
    max_judgments_per_day: Mapped[int] = mapped_column(server_default="10000")
    status: Mapped[str] = mapped_column(server_default="active")
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()
    deleted_at: Mapped[dt.datetime | None]


class User(Base):
    """A person (or service identity) of one tenant, with an RBAC role and permissions."""

    __tablename__ = "users"
    __table_args__ = (
        _one_of("role", "admin", "approver", "operator", "viewer"),
        _one_of("status", "active", "inactive", "locked"),
        sa.UniqueConstraint("tenant_id", "email"),
        sa.UniqueConstraint("tenant_id", "username"),
        _index("idx_users_tenant_role", "tenant_id", "role", where="status = 'active'"),
        _index("idx_users_email", "email"),
        _index("idx_users_status", "status"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False, ondelete="CASCADE")
    email: Mapped[str]
    username: Mapped[str]
    password_hash: Mapped[str]
    role: Mapped[str]
    permissions: Mapped[list[str]] = mapped_column(TextArray, nullable=False, server_default=empty_array())
    metadata_: Mapped[JSONObject] = _metadata()
    status: Mapped[str] = mapped_column(server_default="active")
    last_login_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()
