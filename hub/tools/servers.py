"""Admin tools for upstream MCP servers: register, update, remove, list, list tools, approve a tool."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from hub.config import ServerEntry
from hub.errors import InputError
from hub.store import servers as rows
from hub.store.models import MCPServer, MCPTool
from hub.tools.base import JSONObject, ToolContext, ToolSpec, obj

__all__ = ["tools"]

_ENTRY_PROPS: JSONObject = {
    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
    "command": {"type": "string", "description": "stdio: the program to run"},
    "args": {"type": "array", "items": {"type": "string"}},
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "cwd": {"type": "string"},
    "url": {"type": "string", "description": "sse, streamable_http or websocket: where the server listens"},
    "transport": {"enum": ["sse", "streamable_http", "websocket"]},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "prefix": {"type": "string", "pattern": "^[A-Za-z0-9_-]{0,32}$"},
    "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
    "connect_timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
    "tool_timeouts": {"type": "object", "additionalProperties": {"type": "number"}},
    "breaker": {
        "type": "object",
        "properties": {"fail_max": {"type": "integer"}, "reset_timeout_seconds": {"type": "number"}},
        "additionalProperties": False,
    },
    "protocol_era": {"enum": ["legacy", "auto", "modern"]},
    "disabled": {"type": "boolean"},
    "description": {"type": "string"},
}


def _entry(args: JSONObject) -> tuple[str, ServerEntry]:
    data = {k: v for k, v in args.items() if k != "name"}
    try:
        return str(args["name"]), ServerEntry.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "arguments" + "".join(f".{p}" for p in err["loc"])
        raise InputError(err["msg"].removeprefix("Value error, "), where=where) from exc


async def _save(ctx: ToolContext, args: JSONObject, *, create: bool) -> tuple[rows.ServerRecord, str]:
    name, entry = _entry(args)
    app = ctx.app
    # Refused before anything is written: a prefix clash would make tool names ambiguous.
    app.upstreams.check_prefix(ctx.caller.tenant_id, name, name if entry.prefix is None else entry.prefix)
    async with app.sessions() as session, session.begin():
        return await rows.save_server(
            session,
            app.cipher,
            ctx.caller,
            ctx.caller.tenant_id,
            name,
            entry,
            create=create,
            trace_id=ctx.trace_id,
        )


async def register(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Register a new upstream and connect to it."""
    record, what = await _save(ctx, args, create=True)
    if record.status == "active":
        await ctx.app.upstreams.start(record)
    return {"server": record.name, "result": what, "status": record.status, "prefix": record.prefix}


async def update(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Change an upstream's settings; it is reconnected when anything changed."""
    record, what = await _save(ctx, args, create=False)
    if what != "unchanged":
        if record.status == "active":
            await ctx.app.upstreams.start(record)
        else:
            await ctx.app.upstreams.stop(ctx.caller.tenant_id, record.name)
    return {"server": record.name, "result": what, "status": record.status}


async def remove(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Set an upstream inactive and disconnect it; its history stays."""
    name = str(args["name"])
    app = ctx.app
    async with app.sessions() as session, session.begin():
        await rows.remove_server(session, ctx.caller, ctx.caller.tenant_id, name, trace_id=ctx.trace_id)
    await app.upstreams.stop(ctx.caller.tenant_id, name)
    return {"server": name, "status": "inactive"}


async def list_servers(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Every upstream of the caller's tenant with its state."""
    app = ctx.app
    async with app.sessions() as session:
        stmt = select(MCPServer).where(MCPServer.tenant_id == ctx.caller.tenant_id, MCPServer.name != "hub")
        if not args.get("include_inactive", False):
            stmt = stmt.where(MCPServer.status != "inactive")
        found = list((await session.execute(stmt.order_by(MCPServer.name))).scalars())
    out = []
    for row in found:
        view = rows.row_view(row)
        live = app.upstreams.live(ctx.caller.tenant_id, row.name)
        if live is not None:
            up = live.upstream
            view["connected"] = up.connected
            view["protocol_version"] = up.protocol_version
            view["tools"] = len(live.tools)
            view["held_tools"] = sorted(live.held)
            view["last_error"] = str(up.last_error) if up.last_error else None
            view["exit_code"] = up.exit_code
        else:
            view["connected"] = False
        out.append(view)
    return {"servers": out}


async def list_tools(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Tool rows of the tenant's upstreams (optionally of one server), with usage figures."""
    app = ctx.app
    async with app.sessions() as session:
        stmt = (
            select(MCPTool, MCPServer.name)
            .join(MCPServer, MCPServer.id == MCPTool.mcp_server_id)
            .where(MCPServer.tenant_id == ctx.caller.tenant_id)
        )
        if args.get("server"):
            stmt = stmt.where(MCPServer.name == args["server"])
        result = (await session.execute(stmt.order_by(MCPServer.name, MCPTool.tool_name))).all()
    tools = []
    for tool, server in result:
        live = app.upstreams.live(ctx.caller.tenant_id, server)
        public = (
            next((n for n, t in live.tools.items() if t.tool_name == tool.tool_name), None) if live else None
        )
        tools.append(
            {
                "server": server,
                "tool": tool.tool_name,
                "public_name": public if server != "hub" else tool.tool_name,
                "description": tool.description,
                "enabled": tool.is_enabled,
                "held_for_approval": tool.pending_definition is not None,
                "usage_count": tool.usage_count,
                "avg_latency_ms": tool.avg_latency_ms,
                "last_used_at": tool.last_used_at.isoformat() if tool.last_used_at else None,
            }
        )
    return {"tools": tools}


async def approve_tool(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Accept the changed definition of a held-back upstream tool."""
    app = ctx.app
    async with app.sessions() as session, session.begin():
        result = await rows.approve_tool(
            session,
            ctx.caller,
            ctx.caller.tenant_id,
            str(args["server"]),
            str(args["tool"]),
            trace_id=ctx.trace_id,
        )
    live = app.upstreams.live(ctx.caller.tenant_id, str(args["server"]))
    if live is not None:
        live.held = {
            n for n in live.held if live.tools.get(n) is None or live.tools[n].tool_name != args["tool"]
        }
    return result


def tools() -> list[ToolSpec]:
    """The server-administration family."""
    name_only = obj({"name": _ENTRY_PROPS["name"]}, ["name"])
    return [
        ToolSpec(
            "mcp_register_server",
            "Register an upstream MCP server (stdio command, or url with transport sse, streamable_http or"
            " websocket) in the caller's tenant and connect to it; its tools appear as <prefix>__<tool>.",
            obj(_ENTRY_PROPS, ["name"]),
            "mcp:*",
            register,
            annotations={"destructiveHint": False, "idempotentHint": False},
        ),
        ToolSpec(
            "mcp_update_server",
            "Change a registered upstream's settings (the whole entry); it reconnects if anything changed.",
            obj(_ENTRY_PROPS, ["name"]),
            "mcp:*",
            update,
            annotations={"destructiveHint": False, "idempotentHint": True},
        ),
        ToolSpec(
            "mcp_remove_server",
            "Set an upstream inactive and disconnect it; its rows and call history are kept.",
            name_only,
            "mcp:*",
            remove,
            annotations={"destructiveHint": True, "idempotentHint": True},
        ),
        ToolSpec(
            "mcp_list_servers",
            "List the caller's tenant's upstream servers with status, breaker state and connection facts.",
            obj({"include_inactive": {"type": "boolean", "default": False}}),
            "mcp:read",
            list_servers,
            annotations={"readOnlyHint": True},
        ),
        ToolSpec(
            "mcp_list_tools",
            "List the upstream tools known to the hub (optionally of one server) with usage figures and"
            " whether a changed definition awaits approval.",
            obj({"server": {"type": "string"}}),
            "mcp:read",
            list_tools,
            annotations={"readOnlyHint": True},
        ),
        ToolSpec(
            "mcp_approve_tool",
            "Approve the changed definition of an upstream tool that is held back because it changed.",
            obj({"server": {"type": "string"}, "tool": {"type": "string"}}, ["server", "tool"]),
            "mcp:*",
            approve_tool,
        ),
    ]
