"""Data connectors, MCP servers and tools, call and audit logs, API keys (spec section 9 and the hub's own)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models.base import (
    Base,
    Inet,
    JSONObject,
    TextArray,
    _created_at,
    _fk,
    _id,
    _index,
    _json,
    _one_of,
    _updated_at,
)

__all__ = ["APIKey", "AuditLog", "DataConnector", "MCPCallLog", "MCPServer", "MCPTool"]

# ---------------------------------------------------------------------------------------------
# 9. Integrations


class DataConnector(Base):
    """A tenant's connection to an external data source (ERP, MES, a broker ...)."""

    __tablename__ = "data_connectors"
    __table_args__ = (
        _one_of("type", "postgres", "mysql", "mssql", "oracle", "rest_api", "graphql", "kafka"),
        _one_of("status", "active", "inactive", "error"),
        sa.UniqueConstraint("tenant_id", "name"),
        _index("idx_data_connectors_tenant", "tenant_id"),
        _index("idx_data_connectors_status", "status"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    name: Mapped[str]
    type: Mapped[str]
    engine: Mapped[str | None]
    config: Mapped[JSONObject] = _json(nullable=False)
    credentials_encrypted: Mapped[bytes | None]
    status: Mapped[str] = mapped_column(server_default="inactive")
    last_health_check_at: Mapped[dt.datetime | None]
    last_health_status: Mapped[str | None]
    created_by: Mapped[uuid.UUID | None] = _fk("users.id")
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()


class MCPServer(Base):
    """An upstream MCP server of a tenant (the hub itself is one too)."""

    __tablename__ = "mcp_servers"
    __table_args__ = (
        # streamable_http is the hub's extension of the spec's list (revision 0003).
        _one_of("protocol", "stdio", "sse", "websocket", "streamable_http"),
        _one_of("status", "active", "inactive", "error"),
        _one_of("circuit_breaker_state", "closed", "open", "half_open"),
        sa.UniqueConstraint("tenant_id", "name"),
        _index("idx_mcp_servers_tenant", "tenant_id"),
        _index("idx_mcp_servers_status", "status"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    name: Mapped[str]
    endpoint: Mapped[str]
    protocol: Mapped[str] = mapped_column(server_default="stdio")
    config: Mapped[JSONObject] = _json(nullable=False)
    auth_config: Mapped[JSONObject | None] = _json()
    status: Mapped[str] = mapped_column(server_default="inactive")
    last_health_check_at: Mapped[dt.datetime | None]
    circuit_breaker_state: Mapped[str] = mapped_column(server_default="closed")
    fail_count: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()


class MCPTool(Base):
    """A tool an MCP server offers, with the definition the hub has approved."""

    __tablename__ = "mcp_tools"
    __table_args__ = (
        sa.UniqueConstraint("mcp_server_id", "tool_name"),
        _index("idx_mcp_tools_server", "mcp_server_id"),
        _index("idx_mcp_tools_enabled", "is_enabled", where="is_enabled = true"),
    )

    id: Mapped[uuid.UUID] = _id()
    mcp_server_id: Mapped[uuid.UUID] = _fk("mcp_servers.id", nullable=False, ondelete="CASCADE")
    tool_name: Mapped[str]
    description: Mapped[str | None]
    input_schema: Mapped[JSONObject] = _json(nullable=False)
    output_schema: Mapped[JSONObject | None] = _json()
    is_enabled: Mapped[bool] = mapped_column(server_default=sa.true())
    usage_count: Mapped[int] = mapped_column(server_default="0")
    avg_latency_ms: Mapped[int | None]
    last_used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = _created_at()
    # Hub extensions (revision 0003). An upstream may change a tool's definition after it was
    # approved ("rug pull"); the proxy keeps serving the approved one and parks the new one.
    title: Mapped[str | None]
    annotations: Mapped[JSONObject | None] = _json()
    definition_hash: Mapped[str | None]
    approved_hash: Mapped[str | None]
    pending_definition: Mapped[JSONObject | None] = _json()


class MCPCallLog(Base):
    """One call of an MCP tool through the hub."""

    __tablename__ = "mcp_call_logs"
    __table_args__ = (_index("idx_mcp_call_logs_workflow", "workflow_instance_id"),)

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    mcp_tool_id: Mapped[uuid.UUID] = _fk("mcp_tools.id", nullable=False)
    workflow_instance_id: Mapped[uuid.UUID | None] = _fk("workflow_instances.id")
    input_data: Mapped[JSONObject] = _json(nullable=False)
    output_data: Mapped[Any] = _json()
    success: Mapped[bool] = mapped_column(server_default=sa.true())
    error_message: Mapped[str | None]
    latency_ms: Mapped[int | None]
    retry_count: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[dt.datetime] = _created_at()
    trace_id: Mapped[str | None]


_index("idx_mcp_call_logs_tenant", MCPCallLog.tenant_id, MCPCallLog.created_at.desc())
_index("idx_mcp_call_logs_tool", MCPCallLog.mcp_tool_id, MCPCallLog.created_at.desc())

# ---------------------------------------------------------------------------------------------
# 10. Audit


class AuditLog(Base):
    """Who changed what, with the state before and after."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        _one_of("actor_type", "user", "system", "api", "webhook"),
        _index("idx_audit_logs_resource", "resource_type", "resource_id"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False)
    actor_id: Mapped[uuid.UUID | None] = _fk("users.id")
    actor_type: Mapped[str]
    action: Mapped[str]
    resource_type: Mapped[str]
    resource_id: Mapped[str | None]
    before_state: Mapped[Any] = _json()
    after_state: Mapped[Any] = _json()
    diff: Mapped[Any] = _json()
    ip_address: Mapped[str | None] = mapped_column(Inet())
    user_agent: Mapped[str | None]
    trace_id: Mapped[str | None]
    created_at: Mapped[dt.datetime] = _created_at()


_index("idx_audit_logs_tenant_created", AuditLog.tenant_id, AuditLog.created_at.desc())
_index("idx_audit_logs_actor", AuditLog.actor_id, AuditLog.created_at.desc())
_index("idx_audit_logs_action", AuditLog.action, AuditLog.created_at.desc())

# ---------------------------------------------------------------------------------------------
# Hub extension (revision 0003)


class APIKey(Base):
    """An API key of one user; only its SHA-256 is stored, its prefix identifies it."""

    __tablename__ = "api_keys"
    __table_args__ = (
        sa.UniqueConstraint("prefix"),
        _index("idx_api_keys_user", "user_id"),
        _index("idx_api_keys_tenant", "tenant_id"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = _fk("tenants.id", nullable=False, ondelete="CASCADE")
    user_id: Mapped[uuid.UUID] = _fk("users.id", nullable=False, ondelete="CASCADE")
    name: Mapped[str]
    # The visible start of the key (e.g. "hub_ab12cd34"), shown in listings and used to look it up.
    prefix: Mapped[str]
    # Hex SHA-256 of the whole key. Keys carry 32+ random bytes, so guessing is hopeless and a
    # slow password hash (bcrypt) would only add latency to every request; passwords differ
    # because people choose them.
    key_hash: Mapped[str]
    # NULL: the user's own permissions; a list narrows the key to those permissions.
    scopes: Mapped[list[str] | None] = mapped_column(TextArray)
    created_at: Mapped[dt.datetime] = _created_at()
    last_used_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
