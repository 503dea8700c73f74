"""Rows of ``mcp_servers`` and ``mcp_tools`` for the hub's own tools, and tool-id look-ups.

The hub registers itself in every tenant as a server named ``hub`` whose tools are the hub's own,
so that a call of a hub tool is logged exactly like a call of an upstream tool.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.store.models import Base
from hub.tools.base import ToolSpec

__all__ = ["HUB_SERVER_NAME", "ensure_builtin_tools", "find_tool_id"]

HUB_SERVER_NAME = "hub"
_t = Base.metadata.tables


async def ensure_builtin_tools(
    session: AsyncSession, tenant_id: uuid.UUID, specs: Iterable[ToolSpec], *, version: str
) -> dict[str, uuid.UUID]:
    """Create or refresh the tenant's ``hub`` server row and one tool row per spec."""
    servers, tools = _t["mcp_servers"], _t["mcp_tools"]
    now = datetime.now(UTC)
    server_id = (
        await session.execute(
            select(servers.c.id).where(servers.c.tenant_id == tenant_id, servers.c.name == HUB_SERVER_NAME)
        )
    ).scalar()
    config = {"builtin": True, "version": version}
    if server_id is None:
        server_id = uuid.uuid4()
        await session.execute(
            insert(servers).values(
                id=server_id,
                tenant_id=tenant_id,
                name=HUB_SERVER_NAME,
                endpoint="hub://self",
                protocol="stdio",
                config=config,
                status="active",
                created_at=now,
                updated_at=now,
            )
        )
    else:
        await session.execute(
            update(servers)
            .where(servers.c.id == server_id)
            .values(config=config, status="active", updated_at=now)
        )
    existing = {
        r.tool_name: r.id
        for r in (
            await session.execute(
                select(tools.c.id, tools.c.tool_name).where(tools.c.mcp_server_id == server_id)
            )
        ).all()
    }
    ids: dict[str, uuid.UUID] = {}
    for spec in specs:
        values = {
            "description": spec.description,
            "input_schema": spec.input_schema,
            "output_schema": spec.output_schema,
            "is_enabled": True,
        }
        if spec.name in existing:
            ids[spec.name] = existing[spec.name]
            await session.execute(update(tools).where(tools.c.id == existing[spec.name]).values(**values))
        else:
            ids[spec.name] = uuid.uuid4()
            await session.execute(
                insert(tools).values(
                    id=ids[spec.name], mcp_server_id=server_id, tool_name=spec.name, created_at=now, **values
                )
            )
    return ids


async def find_tool_id(
    session: AsyncSession, tenant_id: uuid.UUID, server_name: str, tool_name: str
) -> uuid.UUID | None:
    """The id of a server's tool row in a tenant, if any."""
    servers, tools = _t["mcp_servers"], _t["mcp_tools"]
    return (
        await session.execute(
            select(tools.c.id)
            .join(servers, servers.c.id == tools.c.mcp_server_id)
            .where(
                servers.c.tenant_id == tenant_id,
                servers.c.name == server_name,
                tools.c.tool_name == tool_name,
            )
        )
    ).scalar()


async def active_tenant_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Ids of every active tenant."""
    tenants = _t["tenants"]
    return list((await session.execute(select(tenants.c.id).where(tenants.c.status == "active"))).scalars())
