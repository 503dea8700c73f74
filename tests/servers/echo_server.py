"""A small real MCP server for the proxy's tests, on any of the four transports.

    python tests/servers/echo_server.py --transport stdio|sse|streamable-http|websocket [--port N] [--many 250]

Network transports bind 127.0.0.1 (``--port 0`` picks a free port) and print ``READY <port>`` on stdout
once they accept connections. Tools: ``echo``, ``add``, ``touch`` (resource updated), ``slow`` (progress), ``sample`` (sampling),
``ask`` (elicitation), ``shout`` (logging), ``grow`` (adds a tool, sends tools/list_changed), ``hang``
(waits to be cancelled) and ``cancellations`` (waits until a cancellation reached the server),
``crash`` (exits at once), ``spawn`` (starts a grandchild, returns its pid), ``corrupt`` (stdio: writes
garbage to stdout). ``--many N`` adds N tools ``t000``... listed 100 per page. Also a resource, a
resource template, a prompt with completion.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import sys
import warnings
from typing import Any

import anyio
import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.sse import SseServerTransport
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.shared.subscriptions import ResourceUpdated, ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute

from hub.server.websocket import websocket_endpoint

# Sampling, logging and roots are deprecated at 2026-07-28 but are exactly what the proxy must carry.
warnings.simplefilter("ignore", MCPDeprecationWarning)

PAGE = 100
OBJECT = {"type": "object"}


class State:
    """What the tools share within one server process."""

    def __init__(self, many: int) -> None:
        self.many = many
        self.extra = 0
        self.cancelled = 0
        self.cancel_seen = anyio.Event()
        self.stdout: Any = None  # the wire, when serving stdio
        self.bus = InMemorySubscriptionBus()  # 2026-07-28 change events


def _tool(name: str, description: str, properties: dict[str, Any] | None = None) -> types.Tool:
    schema = {"type": "object", "properties": properties or {}}
    return types.Tool(name=name, description=description, input_schema=schema)


BASE_TOOLS = [
    _tool("echo", "Return the text", {"text": {"type": "string"}}),
    _tool("add", "Add two numbers", {"a": {"type": "number"}, "b": {"type": "number"}}),
    _tool("slow", "Report progress N times", {"steps": {"type": "integer"}}),
    _tool("sample", "Ask the client's model", {"prompt": {"type": "string"}}),
    _tool("ask", "Ask the user", {"question": {"type": "string"}}),
    _tool("shout", "Log a message", {"message": {"type": "string"}}),
    _tool("grow", "Add a tool and announce it"),
    _tool("touch", "Announce that test://static changed"),
    _tool("hang", "Wait until cancelled"),
    _tool("cancellations", "Wait until a cancellation arrived; return how many"),
    _tool("crash", "Exit at once", {"code": {"type": "integer"}}),
    _tool("spawn", "Start a grandchild process; return its pid"),
    _tool("corrupt", "Write garbage to stdout, then wait"),
    _tool("pid", "Return the server's pid"),
]


def build(state: State) -> Server[Any]:
    """The low-level server with every handler the proxy tests use."""

    def all_tools() -> list[types.Tool]:
        tools = list(BASE_TOOLS)
        tools += [_tool(f"extra{i}", "Added by grow") for i in range(state.extra)]
        tools += [_tool(f"t{i:03d}", f"Paged tool {i}") for i in range(state.many)]
        return tools

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        tools = all_tools()
        start = int(params.cursor) if params is not None and params.cursor else 0
        end = start + PAGE
        return types.ListToolsResult(
            tools=tools[start:end], next_cursor=str(end) if end < len(tools) else None
        )

    def text(value: str) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(type="text", text=value)])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        args = params.arguments or {}
        name = params.name
        if name == "echo":
            return text(str(args.get("text", "")))
        if name == "add":
            total = args["a"] + args["b"]
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=str(total))],
                structured_content={"result": total},
            )
        if name == "slow":
            steps = int(args.get("steps", 3))
            for i in range(steps):
                await ctx.session.report_progress(i + 1, steps, f"step {i + 1}")
            return text(f"done {steps}")
        if name == "sample" and ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            # 2026-07-28 has no push: ask for the sample inside the result, finish on the retry.
            if not params.input_responses:
                request = types.CreateMessageRequest(
                    params=types.CreateMessageRequestParams(
                        messages=[
                            types.SamplingMessage(
                                role="user", content=types.TextContent(type="text", text=args["prompt"])
                            )
                        ],
                        max_tokens=50,
                    )
                )
                return types.InputRequiredResult(input_requests={"llm": request}, request_state="asked")
            answer = params.input_responses["llm"]
            assert isinstance(answer, types.CreateMessageResult)
            assert isinstance(answer.content, types.TextContent)
            return text(f"model said: {answer.content.text}")
        if name == "sample":
            result = await ctx.session.create_message(
                [
                    types.SamplingMessage(
                        role="user", content=types.TextContent(type="text", text=args["prompt"])
                    )
                ],
                max_tokens=50,
                related_request_id=ctx.request_id,
            )
            content = result.content
            assert isinstance(content, types.TextContent)
            return text(f"model said: {content.text}")
        if name == "ask":
            answer = await ctx.session.elicit_form(
                args.get("question", "?"),
                {"type": "object", "properties": {"answer": {"type": "string"}}},
                related_request_id=ctx.request_id,
            )
            return text(f"{answer.action}: {(answer.content or {}).get('answer')}")
        if name == "shout":
            await ctx.session.send_log_message(
                "warning", args.get("message", ""), logger="echo", related_request_id=ctx.request_id
            )
            return text("logged")
        if name == "grow":
            state.extra += 1
            if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                await state.bus.publish(ToolsListChanged())
            else:
                await ctx.session.send_tool_list_changed()
            return text(f"extra{state.extra - 1}")
        if name == "touch":
            if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                await state.bus.publish(ResourceUpdated(uri="test://static"))
            else:
                await ctx.session.send_resource_updated("test://static")
            return text("touched")
        if name == "hang":
            try:
                await anyio.sleep_forever()
            finally:
                state.cancelled += 1
                state.cancel_seen.set()
        if name == "cancellations":
            await state.cancel_seen.wait()
            return text(str(state.cancelled))
        if name == "crash":
            os._exit(int(args.get("code", 3)))
        if name == "spawn":
            child = await anyio.open_process([sys.executable, "-c", "import time; time.sleep(600)"])
            return text(str(child.pid))
        if name == "corrupt":
            await state.stdout.write("this is not json-rpc\n")
            await state.stdout.flush()
            await anyio.sleep_forever()
        if name == "pid":
            return text(str(os.getpid()))
        raise ValueError(f"unknown tool {name}")

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[types.Resource(uri="test://static", name="static")])

    async def list_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(uri_template="test://item/{id}", name="item")
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        contents = types.TextResourceContents(uri=str(params.uri), text=f"content of {params.uri}")
        return types.ReadResourceResult(contents=[contents])

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        prompt = types.Prompt(name="greet", arguments=[types.PromptArgument(name="name", required=True)])
        return types.ListPromptsResult(prompts=[prompt])

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        who = (params.arguments or {}).get("name", "world")
        message = types.PromptMessage(
            role="user", content=types.TextContent(type="text", text=f"Hello, {who}")
        )
        return types.GetPromptResult(messages=[message])

    async def complete(
        ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        names = [n for n in ("alice", "albert", "bob") if n.startswith(params.argument.value)]
        return types.CompleteResult(completion=types.Completion(values=names))

    async def subscribe(
        ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        return types.EmptyResult()

    return Server(
        "echo",
        version="1.0",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_completion=complete,
        on_subscribe_resource=subscribe,
        on_subscriptions_listen=ListenHandler(state.bus),
    )


def options(server: Server[Any]) -> Any:
    return server.create_initialization_options(NotificationOptions(tools_changed=True))


async def serve_stdio(server: Server[Any], state: State) -> None:
    # Explicit streams, so the corrupt tool can write to the real wire.
    stdin = anyio.wrap_file(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8"))
    stdout = anyio.wrap_file(io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8"))
    state.stdout = stdout
    async with stdio_server(stdin=stdin, stdout=stdout) as (read_stream, write_stream):
        await server.run(read_stream, write_stream, options(server))


def http_app(server: Server[Any], transport: str) -> Starlette:
    if transport == "streamable-http":
        return server.streamable_http_app()
    if transport == "websocket":
        return Starlette(routes=[WebSocketRoute("/ws", websocket_endpoint(server, options(server)))])
    sse = SseServerTransport("/messages/")

    async def handle_sse(request: Request) -> Response:
        async with sse.connect_sse(request.scope, request.receive, request._send) as (
            read_stream,
            write_stream,
        ):
            await server.run(read_stream, write_stream, options(server))
        return Response()

    return Starlette(routes=[Route("/sse", handle_sse), Mount("/messages/", app=sse.handle_post_message)])


async def serve_http(server: Server[Any], transport: str, port: int) -> None:
    # IPPROTO_TCP spelled out: asyncio turns Nagle off only on sockets whose proto says TCP, and
    # with Nagle on, a keep-alive client waits 40 ms (delayed ACK) for every reply sent in two writes.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # A restarted server must rebind the port its upstream reconnects to.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    # Connections queue in the backlog from here on, so the caller may connect as soon as it reads this.
    print(f"READY {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        http_app(server, transport), log_level="warning", lifespan="on", ws="websockets-sansio"
    )
    await uvicorn.Server(config).serve(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--transport", default="stdio", choices=["stdio", "sse", "streamable-http", "websocket"]
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--many", type=int, default=0)
    args = parser.parse_args()
    state = State(args.many)
    server = build(state)
    if args.transport == "stdio":
        anyio.run(serve_stdio, server, state)
    else:
        anyio.run(serve_http, server, args.transport, args.port)


if __name__ == "__main__":
    main()
