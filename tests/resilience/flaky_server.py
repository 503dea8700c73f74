"""A stdio MCP server whose tools fail the way retries care about, for the retry tests.

    python tests/resilience/flaky_server.py MARKER_DIR

``safe_once`` (annotated ``idempotentHint: true``) and ``unsafe_once`` (no hint) each kill the server
the first time they are called (noted by a file in MARKER_DIR, so the restarted server remembers)
and answer "ok N" afterwards, N being how many times the tool was started in all. ``refuse``
answers with an ``isError`` result, a tool's own failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

MARKERS = Path(sys.argv[1])

TOOLS = [
    types.Tool(
        name="safe_once",
        description="Dies on the first call, then answers",
        input_schema={"type": "object"},
        annotations=types.ToolAnnotations(idempotent_hint=True),
    ),
    types.Tool(
        name="unsafe_once",
        description="Dies on the first call, then answers",
        input_schema={"type": "object"},
    ),
]


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    if params.name == "refuse":
        return types.CallToolResult(content=[types.TextContent(type="text", text="no")], is_error=True)
    tally = MARKERS / f"{params.name}.count"
    count = int(tally.read_text()) + 1 if tally.exists() else 1
    tally.write_text(str(count))
    if count == 1:
        os._exit(5)
    return types.CallToolResult(content=[types.TextContent(type="text", text=f"ok {count}")])


async def main() -> None:
    server = Server("flaky", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
