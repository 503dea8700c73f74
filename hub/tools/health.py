"""``mcp_health``: the health of the caller's tenant's upstreams, checked now."""

from __future__ import annotations

from typing import Any

import anyio

from hub.errors import NotFound
from hub.tools.base import JSONObject, ToolContext, ToolSpec, obj
from hub.upstreams import LiveServer

__all__ = ["tools"]


async def _one(live: LiveServer) -> dict[str, Any]:
    up = live.upstream
    out: dict[str, Any] = {"server": live.record.name, "connected": up.connected}
    guard = live.guard
    if guard is not None:
        report = await guard.health.check()
        out.update(guard.view())
        out["status"] = "up" if report.healthy else "down"
    else:
        out["status"] = "up" if up.connected else "down"
        out["last_error"] = str(up.last_error) if up.last_error else None
    out["exit_code"] = up.exit_code
    out["protocol_version"] = up.protocol_version
    return out


async def health(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Check one server (``server``) or every live server of the caller's tenant, concurrently."""
    registry = ctx.app.upstreams
    tenant = ctx.caller.tenant_id
    name = args.get("server")
    if name:
        live = registry.live(tenant, str(name))
        if live is None:
            raise NotFound(f"no live server named '{name}'")
        lives = [live]
    else:
        lives = sorted(registry.servers_of(tenant), key=lambda lv: lv.record.name)
    results: list[dict[str, Any]] = [{} for _ in lives]

    async def check(i: int, live: LiveServer) -> None:
        results[i] = await _one(live)

    # Concurrently, so one hung server costs the answer its check timeout, not the sum of them.
    async with anyio.create_task_group() as tg:
        for i, live in enumerate(lives):
            tg.start_soon(check, i, live)
    return {"servers": results}


def tools() -> list[ToolSpec]:
    """The health family."""
    return [
        ToolSpec(
            "mcp_health",
            "Check the caller's tenant's upstream servers now (or one, by name): status, circuit-breaker"
            " state, consecutive failures, latency, last error and a stdio server's exit code.",
            obj({"server": {"type": "string", "description": "one server's name; all when omitted"}}),
            "mcp:read",
            health,
            annotations={"readOnlyHint": True, "idempotentHint": True, "openWorldHint": True},
        )
    ]
