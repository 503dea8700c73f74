"""``hub_status``: what this hub is, what it holds, and who is asking."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from hub import __version__
from hub.store.models import Base
from hub.tools.base import JSONObject, ToolContext, ToolSpec, obj

__all__ = ["tools"]

_t = Base.metadata.tables


async def hub_status(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Version, database, counts and the caller's identity."""
    app = ctx.app
    servers, tools_t, tenants = _t["mcp_servers"], _t["mcp_tools"], _t["tenants"]
    async with app.sessions() as session:
        n_tenants = (await session.execute(select(func.count()).select_from(tenants))).scalar_one()
        n_servers = (
            await session.execute(
                select(func.count())
                .select_from(servers)
                .where(servers.c.tenant_id == ctx.caller.tenant_id, servers.c.status != "inactive")
            )
        ).scalar_one()
        n_tools = (
            await session.execute(
                select(func.count())
                .select_from(tools_t)
                .join(servers, servers.c.id == tools_t.c.mcp_server_id)
                .where(servers.c.tenant_id == ctx.caller.tenant_id, tools_t.c.is_enabled.is_(True))
            )
        ).scalar_one()
    url = make_url(app.settings.resolved_database_url())
    return {
        "name": "mcp-hub",
        "version": __version__,
        "uptime_seconds": round(time.monotonic() - app.started_monotonic, 3),
        "database": {"dialect": url.get_backend_name(), "url": url.render_as_string(hide_password=True)},
        "counts": {"tenants": n_tenants, "servers": n_servers, "tools": n_tools},
        "caller": ctx.caller.describe(),
        "trace_id": ctx.trace_id,
    }


def tools() -> list[ToolSpec]:
    """The status family."""
    return [
        ToolSpec(
            name="hub_status",
            title="Hub status",
            description="The hub's version, database, counts of tenants, servers and tools, and the caller's identity.",
            input_schema=obj(),
            permission="",  # every authenticated caller may ask who it is
            handler=hub_status,
            annotations={"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False},
        )
    ]
