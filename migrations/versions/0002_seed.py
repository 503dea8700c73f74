"""Seed data of spec section 11.3: the demo tenant and its admin user.

Idempotent: rows that already exist (by primary key or a unique name) are left as they are.

Revision ID: 0002_seed
Revises: 0001_core_schema
Create Date: 2026-11-26
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import bcrypt
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision: str = "0002_seed"
down_revision: str | Sequence[str] | None = "0001_core_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEMO_TENANT_ID = "00000000-0000-0000-0000-000000000001"
DEMO_SETTINGS = {"timezone": "Asia/Seoul", "locale": "ko-KR", "features_enabled": ["hybrid_judgment"]}
ADMIN_EMAIL = "admin@demo.com"
ADMIN_USERNAME = "admin"
# The spec's well-known demo password; change it after the first login.
ADMIN_PASSWORD = b"admin123"


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    json_type = postgresql.JSONB() if postgres else sa.Text()
    array_type = postgresql.ARRAY(sa.Text()) if postgres else sa.Text()
    uuid_type = postgresql.UUID(as_uuid=False) if postgres else sa.Text()
    insert = postgresql.insert if postgres else sqlite.insert

    tenants = sa.table(
        "tenants",
        sa.column("id", uuid_type),
        sa.column("name", sa.Text()),
        sa.column("display_name", sa.Text()),
        sa.column("settings", json_type),
        sa.column("subscription_plan", sa.Text()),
    )
    users = sa.table(
        "users",
        sa.column("tenant_id", uuid_type),
        sa.column("email", sa.Text()),
        sa.column("username", sa.Text()),
        sa.column("password_hash", sa.Text()),
        sa.column("role", sa.Text()),
        sa.column("permissions", array_type),
    )
    # On conflict do nothing: INSERT ... ON CONFLICT DO NOTHING on PostgreSQL, INSERT OR IGNORE
    # semantics on SQLite, so a rerun (or a demo tenant made by hand) changes nothing.
    bind.execute(
        insert(tenants)
        .values(
            id=DEMO_TENANT_ID,
            name="demo",
            display_name="Demo Tenant",
            settings=DEMO_SETTINGS if postgres else json.dumps(DEMO_SETTINGS),
            subscription_plan="trial",
        )
        .on_conflict_do_nothing()
    )
    password_hash = bcrypt.hashpw(ADMIN_PASSWORD, bcrypt.gensalt()).decode("ascii")
    bind.execute(
        insert(users)
        .values(
            tenant_id=DEMO_TENANT_ID,
            email=ADMIN_EMAIL,
            username=ADMIN_USERNAME,
            password_hash=password_hash,
            role="admin",
            permissions=["*:*"] if postgres else json.dumps(["*:*"]),
        )
        .on_conflict_do_nothing()
    )


def downgrade() -> None:
    bind = op.get_bind()
    statements = (
        sa.text("DELETE FROM users WHERE tenant_id = :tenant AND email = :email"),
        sa.text("DELETE FROM tenants WHERE id = :tenant"),
    )
    for statement in statements:
        # Rows made since (audit entries by the admin, the demo tenant's servers) may still refer
        # to the seed; then it stays, and revision 0001's downgrade drops it with its table.
        try:
            with bind.begin_nested():
                bind.execute(statement, {"tenant": DEMO_TENANT_ID, "email": ADMIN_EMAIL})
        except sa.exc.IntegrityError:
            continue
