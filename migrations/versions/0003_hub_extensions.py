"""The hub's extensions of the spec: api_keys, the streamable_http protocol, tool approval columns.

Revision ID: 0003_hub_extensions
Revises: 0002_seed
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from hub.errors import Conflict

revision: str = "0003_hub_extensions"
down_revision: str | Sequence[str] | None = "0002_seed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = sa.CHAR(36).with_variant(postgresql.UUID(as_uuid=True), "postgresql")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TEXT_ARRAY = sa.JSON().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")
TIMESTAMPTZ = sa.DateTime(timezone=True)

SQLITE_UUID4 = (
    "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "
    "substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || "
    "substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))"
)
SQLITE_UTC_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"

SPEC_PROTOCOLS = ("stdio", "sse", "websocket")
HUB_PROTOCOLS = (*SPEC_PROTOCOLS, "streamable_http")

# name, type: the columns the proxy needs to hold an upstream's tool definition until approved.
MCP_TOOL_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[object]], ...] = (
    ("title", sa.Text()),
    ("annotations", JSON),
    ("definition_hash", sa.Text()),
    ("approved_hash", sa.Text()),
    ("pending_definition", JSON),
)


def _protocol_check(protocols: tuple[str, ...]) -> str:
    return "protocol IN ({})".format(", ".join(f"'{protocol}'" for protocol in protocols))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    now = sa.text("now()" if postgres else SQLITE_UTC_NOW)
    op.create_table(
        "api_keys",
        sa.Column(
            "id",
            UUID,
            server_default=sa.text("gen_random_uuid()" if postgres else SQLITE_UUID4),
            nullable=False,
        ),
        sa.Column(
            "tenant_id",
            UUID,
            sa.ForeignKey("tenants.id", name=op.f("fk_api_keys_tenant_id_tenants"), ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id",
            UUID,
            sa.ForeignKey("users.id", name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        # sha256 hex of the whole key: keys are 32+ random bytes, a slow hash would add nothing.
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("scopes", TEXT_ARRAY, nullable=True),
        sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=now),
        sa.Column("last_used_at", TIMESTAMPTZ, nullable=True),
        sa.Column("expires_at", TIMESTAMPTZ, nullable=True),
        sa.Column("revoked_at", TIMESTAMPTZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("idx_api_keys_user"), "api_keys", ["user_id"])
    op.create_index(op.f("idx_api_keys_tenant"), "api_keys", ["tenant_id"])

    _replace_protocol_check(HUB_PROTOCOLS, postgres=postgres)

    for name, type_ in MCP_TOOL_COLUMNS:
        op.add_column("mcp_tools", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, _ in reversed(MCP_TOOL_COLUMNS):
        op.drop_column("mcp_tools", name)

    in_use = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM mcp_servers WHERE protocol = 'streamable_http'"))
        .scalar_one()
    )
    if in_use:
        # Silently deleting servers (and with them their tools and call logs) is not a downgrade.
        raise Conflict(
            f"{in_use} mcp_servers rows use protocol 'streamable_http', which revision 0002 does not "
            "allow; delete or change them before downgrading"
        )
    _replace_protocol_check(SPEC_PROTOCOLS, postgres=postgres)

    op.drop_index(op.f("idx_api_keys_tenant"), table_name="api_keys")
    op.drop_index(op.f("idx_api_keys_user"), table_name="api_keys")
    op.drop_table("api_keys")


def _replace_protocol_check(protocols: tuple[str, ...], *, postgres: bool) -> None:
    if postgres:
        op.drop_constraint(op.f("ck_mcp_servers_protocol"), "mcp_servers", type_="check")
        op.create_check_constraint(op.f("ck_mcp_servers_protocol"), "mcp_servers", _protocol_check(protocols))
        return
    # SQLite cannot alter a constraint: the table is rebuilt from this full definition (copy, drop,
    # rename), which drops its indexes and trigger, so both are made again afterwards.
    with op.batch_alter_table("mcp_servers", copy_from=_mcp_servers_table(protocols), recreate="always"):
        pass  # the whole new definition is in copy_from
    op.execute(
        "CREATE TRIGGER trg_mcp_servers_updated_at AFTER UPDATE ON mcp_servers FOR EACH ROW "
        "WHEN NEW.updated_at IS OLD.updated_at BEGIN "
        f"UPDATE mcp_servers SET updated_at = {SQLITE_UTC_NOW} WHERE id = NEW.id; END"
    )


def _mcp_servers_table(protocols: tuple[str, ...]) -> sa.Table:
    """mcp_servers as revision 0001 made it on SQLite, with the given protocol list."""
    now = sa.text(SQLITE_UTC_NOW)
    table = sa.Table(
        "mcp_servers",
        sa.MetaData(),
        sa.Column("id", UUID, server_default=sa.text(SQLITE_UUID4), nullable=False),
        sa.Column(
            "tenant_id",
            UUID,
            sa.ForeignKey("tenants.id", name=op.f("fk_mcp_servers_tenant_id_tenants")),
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("protocol", sa.Text(), nullable=False, server_default=sa.text("'stdio'")),
        sa.Column("config", JSON, nullable=False),
        sa.Column("auth_config", JSON, nullable=True),
        sa.Column("status", sa.Text(), nullable=False, server_default=sa.text("'inactive'")),
        sa.Column("last_health_check_at", TIMESTAMPTZ, nullable=True),
        sa.Column("circuit_breaker_state", sa.Text(), nullable=False, server_default=sa.text("'closed'")),
        sa.Column("fail_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=now),
        sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=now),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_servers")),
        sa.CheckConstraint(_protocol_check(protocols), name=op.f("ck_mcp_servers_protocol")),
        sa.CheckConstraint("status IN ('active', 'inactive', 'error')", name=op.f("ck_mcp_servers_status")),
        sa.CheckConstraint(
            "circuit_breaker_state IN ('closed', 'open', 'half_open')",
            name=op.f("ck_mcp_servers_circuit_breaker_state"),
        ),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_mcp_servers_tenant_id_name")),
    )
    sa.Index("idx_mcp_servers_tenant", table.c.tenant_id)
    sa.Index("idx_mcp_servers_status", table.c.status)
    return table
