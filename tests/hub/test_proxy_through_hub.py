"""Upstream servers reached through the hub: registration, naming, forwarding, logging, bad input."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from hub.app import App, open_app
from hub.proxy import UpstreamSpec
from hub.proxy.websocket import WebSocketConnector
from hub.server.mcp import build_server
from hub.settings import Settings
from tests.hub.support import HUB, http_hub, hub_env, make_key, run_hub
from tests.proxy.support import ECHO_SERVER, TRANSPORTS, EchoServer

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def hub_app(tmp_path: Path, config: dict[str, Any] | None = None) -> AsyncIterator[App]:
    (tmp_path / "mcp.json").write_text(json.dumps(config or {}))
    settings = Settings(data_dir=tmp_path, config_file=tmp_path / "mcp.json")
    async with open_app(settings) as app:
        yield app


def entry_for(server: EchoServer) -> dict[str, Any]:
    spec = server.spec()
    if spec.transport == "stdio":
        return {"command": spec.command, "args": list(spec.args)}
    return {"url": spec.url, "transport": spec.transport}


async def wait_for_tool(client: Client, name: str) -> list[str]:
    with anyio.fail_after(30):
        while True:
            names = [t.name for t in (await client.list_tools()).tools]
            if name in names:
                return names
            await anyio.sleep(0.05)


def log_rows(db: Path, tool: str) -> list[tuple[int, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT l.success, l.trace_id FROM mcp_call_logs l JOIN mcp_tools t ON t.id = l.mcp_tool_id"
            " WHERE t.tool_name = ? ORDER BY l.created_at",
            (tool,),
        ).fetchall()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_upstream_on_each_transport_is_reached_through_the_hub_with_every_call_logged(
    tmp_path: Path, transport: str
) -> None:
    server = EchoServer(transport, many=130)  # type: ignore[arg-type]
    server.start()
    try:
        async with hub_app(tmp_path, {"mcpServers": {"echo": entry_for(server)}}) as app:
            async with Client(build_server(app), mode="legacy") as client:
                names = await wait_for_tool(client, "echo__echo")
                # Every page of the upstream's tools list was walked.
                assert "echo__t129" in names
                assert "hub_status" in names
                progress: list[float] = []

                async def on_progress(p: float, total: float | None, message: str | None) -> None:
                    progress.append(p)

                n = 5
                for i in range(n):
                    result = await client.call_tool("echo__echo", {"text": f"hello {i}"})
                    assert result.content[0] == types.TextContent(type="text", text=f"hello {i}")
                slow = await client.call_tool("echo__slow", {"steps": 3}, progress_callback=on_progress)
                assert not slow.is_error
                assert progress == [1, 2, 3]
                traced = await client.call_tool(
                    "echo__add",
                    {"a": 2, "b": 40},
                    meta={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                )
                assert traced.structured_content == {"result": 42}
            await app.calllog.flush()
        rows = log_rows(tmp_path / "hub.sqlite3", "echo")
        assert len(rows) == n
        assert all(ok for ok, _ in rows)
        assert log_rows(tmp_path / "hub.sqlite3", "add") == [(1, "4bf92f3577b34da6a3ce929d0e0e4736")]
    finally:
        server.stop()


async def test_sampling_raised_by_an_upstream_reaches_the_calling_client(tmp_path: Path) -> None:
    server = EchoServer("stdio", many=0)
    async with hub_app(tmp_path, {"mcpServers": {"echo": entry_for(server)}}) as app:

        async def sampling(ctx: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
            prompt = params.messages[0].content
            assert isinstance(prompt, types.TextContent)
            return types.CreateMessageResult(
                role="assistant", content=types.TextContent(type="text", text=prompt.text.upper()), model="m"
            )

        async with Client(build_server(app), mode="legacy", sampling_callback=sampling) as client:
            await wait_for_tool(client, "echo__sample")
            result = await client.call_tool("echo__sample", {"prompt": "is it normal"})
            assert result.content[0] == types.TextContent(type="text", text="model said: IS IT NORMAL")


async def test_arguments_are_validated_against_the_input_schema_before_the_upstream_sees_them(
    tmp_path: Path,
) -> None:
    server = EchoServer("stdio", many=0)
    async with (
        hub_app(tmp_path, {"mcpServers": {"echo": entry_for(server)}}) as app,
        Client(build_server(app), mode="legacy") as client,
    ):
        await wait_for_tool(client, "echo__add")
        result = await client.call_tool("echo__add", {"a": "two", "b": 1})
        assert result.is_error
        text = result.content[0]
        assert isinstance(text, types.TextContent)
        error = json.loads(text.text)["error"]
        assert error["kind"] == "InputError"
        assert error["where"] == "arguments.a"


async def test_a_server_whose_command_does_not_exist_fails_alone_and_the_rest_keep_working(
    tmp_path: Path,
) -> None:
    good = EchoServer("stdio", many=0)
    config = {
        "mcpServers": {
            "echo": entry_for(good),
            "ghost": {"command": str(tmp_path / "no-such-program")},
            "refused": {"url": "http://127.0.0.1:9/mcp", "transport": "streamable_http"},
        }
    }
    async with hub_app(tmp_path, config) as app, Client(build_server(app), mode="legacy") as client:
        await wait_for_tool(client, "echo__echo")
        assert not (await client.call_tool("echo__echo", {"text": "x"})).is_error
        listed = (await client.call_tool("mcp_list_servers", {})).structured_content
        assert listed is not None
        state = {s["name"]: s for s in listed["servers"]}
        assert state["echo"]["connected"] is True
        assert state["ghost"]["connected"] is False
        assert state["ghost"]["last_error"]
        assert state["refused"]["connected"] is False


async def test_registering_through_the_admin_tool_exposes_the_tools_and_removal_keeps_history(
    tmp_path: Path,
) -> None:
    async with hub_app(tmp_path) as app:
        async with Client(build_server(app), mode="legacy") as client:
            reg = await client.call_tool(
                "mcp_register_server",
                {"name": "e2", "command": sys.executable, "args": [str(ECHO_SERVER)], "prefix": "ee"},
            )
            assert not reg.is_error, reg.content
            await wait_for_tool(client, "ee__echo")
            again = await client.call_tool(
                "mcp_register_server", {"name": "e2", "command": sys.executable, "args": [str(ECHO_SERVER)]}
            )
            assert again.is_error  # the name is taken
            clash = await client.call_tool(
                "mcp_register_server",
                {"name": "e3", "command": sys.executable, "args": [str(ECHO_SERVER)], "prefix": "ee"},
            )
            assert clash.is_error  # the prefix is taken
            assert not (await client.call_tool("ee__echo", {"text": "x"})).is_error
            assert not (await client.call_tool("mcp_remove_server", {"name": "e2"})).is_error
            names = [t.name for t in (await client.list_tools()).tools]
            assert "ee__echo" not in names
        await app.calllog.flush()
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        (status,) = conn.execute("SELECT status FROM mcp_servers WHERE name = 'e2'").fetchone()
        actions = [
            a for (a,) in conn.execute("SELECT action FROM audit_logs WHERE resource_type = 'mcp_server'")
        ]
    assert status == "inactive"
    assert "create" in actions
    assert "delete" in actions
    assert len(log_rows(tmp_path / "hub.sqlite3", "echo")) == 1


@pytest.mark.parametrize("face", ["stdio", "streamable_http", "sse", "websocket"])
async def test_each_downstream_face_proxies_an_upstream_and_logs_the_call(tmp_path: Path, face: str) -> None:
    env = hub_env(tmp_path)
    (tmp_path / "mcp.json").write_text(
        json.dumps({"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO_SERVER)]}}})
    )
    assert run_hub("db", "upgrade", env=env).returncode == 0
    key = make_key(env)

    async def exercise(client: Client) -> None:
        await wait_for_tool(client, "echo__echo")
        result = await client.call_tool("echo__echo", {"text": face})
        assert result.content[0] == types.TextContent(type="text", text=face), result.content

    if face == "stdio":
        params = StdioServerParameters(command=HUB, args=["serve"], env={**env, "HUB_API_KEY": key})
        async with Client(params, mode="legacy") as client:
            await exercise(client)
    else:
        with http_hub(env) as url:
            headers = {"Authorization": f"Bearer {key}"}
            if face == "streamable_http":
                async with (
                    httpx2.AsyncClient(headers=headers, timeout=30) as http,
                    Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
                ):
                    await exercise(client)
            elif face == "sse":
                async with Client(sse_client(f"{url}/sse", headers=headers), mode="legacy") as client:
                    await exercise(client)
            else:
                spec = UpstreamSpec(name="hub", transport="websocket", url=f"ws{url[4:]}/ws", headers=headers)
                async with Client(WebSocketConnector(spec)(), mode="legacy") as client:
                    await exercise(client)
            with anyio.fail_after(10):
                while not log_rows(tmp_path / "hub.sqlite3", "echo"):
                    await anyio.sleep(0.05)
    with anyio.fail_after(10):
        while not log_rows(tmp_path / "hub.sqlite3", "echo"):
            await anyio.sleep(0.05)
    assert log_rows(tmp_path / "hub.sqlite3", "echo") == [
        (1, log_rows(tmp_path / "hub.sqlite3", "echo")[0][1])
    ]


async def test_resources_prompts_and_completion_are_proxied_under_unique_names(tmp_path: Path) -> None:
    server = EchoServer("stdio", many=0)
    async with (
        hub_app(tmp_path, {"mcpServers": {"echo": entry_for(server)}}) as app,
        Client(build_server(app), mode="legacy") as client,
    ):
        await wait_for_tool(client, "echo__echo")
        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        assert uris == ["hub://echo/test://static"]
        read = await client.read_resource("hub://echo/test://static")
        assert read.contents
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        assert templates == ["hub://echo/test://item/{id}"]
        prompts = [p.name for p in (await client.list_prompts()).prompts]
        assert "echo__greet" in prompts
        got = await client.get_prompt("echo__greet", {"name": "ann"})
        assert got.messages
        done = await client.complete(
            types.PromptReference(type="ref/prompt", name="echo__greet"), {"name": "name", "value": "al"}
        )
        assert done.completion.values == ["alice", "albert"]


# resources/subscribe is a handshake-era method; the SDK warns about it whatever the session's era.
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
@pytest.mark.parametrize("era", ["legacy", "auto"])
async def test_a_resource_update_reaches_exactly_the_callers_subscribed_to_it(
    tmp_path: Path, era: str
) -> None:
    server = EchoServer("stdio", many=0)
    uri = "hub://echo/test://static"
    heard: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    got = anyio.Event()

    def handler(who: str) -> Any:
        async def on_message(message: object) -> None:
            if isinstance(message, types.ResourceUpdatedNotification):
                heard[who].append(str(message.params.uri))
                got.set()

        return on_message

    entry = {**entry_for(server), "protocol_era": era}
    async with hub_app(tmp_path, {"mcpServers": {"echo": entry}}) as app:
        hub = build_server(app)
        async with (
            Client(hub, mode="legacy", message_handler=handler("a")) as a,
            Client(hub, mode="legacy", message_handler=handler("b")) as b,
            Client(hub, mode="legacy", message_handler=handler("c")) as c,
        ):
            await wait_for_tool(a, "echo__touch")
            await a.subscribe_resource(uri)
            await b.subscribe_resource(uri)
            assert not (await c.call_tool("echo__touch", {})).is_error
            with anyio.fail_after(10):
                while len(heard["a"]) < 1 or len(heard["b"]) < 1:
                    await anyio.sleep(0.02)
            await b.unsubscribe_resource(uri)
            assert not (await c.call_tool("echo__touch", {})).is_error
            with anyio.fail_after(10):
                while len(heard["a"]) < 2:
                    await anyio.sleep(0.02)
            await anyio.sleep(0.2)  # room for a wrong delivery to arrive
    assert heard == {"a": [uri, uri], "b": [uri], "c": []}


async def test_an_upstream_tool_list_change_reaches_the_caller_and_the_catalog(tmp_path: Path) -> None:
    server = EchoServer("stdio", many=0)
    changed = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with (
        hub_app(tmp_path, {"mcpServers": {"echo": entry_for(server)}}) as app,
        Client(build_server(app), mode="legacy", message_handler=on_message) as client,
    ):
        await wait_for_tool(client, "echo__echo")
        assert not (await client.call_tool("echo__grow", {})).is_error
        with anyio.fail_after(15):
            await changed.wait()
        await wait_for_tool(client, "echo__extra0")


async def test_a_cancelled_call_cancels_the_upstream_request_and_is_still_logged(tmp_path: Path) -> None:
    server = EchoServer("stdio", many=0)
    async with (
        hub_app(tmp_path, {"mcpServers": {"echo": entry_for(server)}}) as app,
        Client(build_server(app), mode="legacy") as client,
    ):
        await wait_for_tool(client, "echo__hang")
        with anyio.move_on_after(0.5):
            await client.call_tool("echo__hang", {})
        # The upstream saw the cancellation: its counter answers once the hang was cancelled.
        with anyio.fail_after(15):
            counted = await client.call_tool("echo__cancellations", {})
        assert counted.content[0] == types.TextContent(type="text", text="1")
        await app.calllog.flush()
    assert log_rows(tmp_path / "hub.sqlite3", "hang") == [
        (0, log_rows(tmp_path / "hub.sqlite3", "hang")[0][1])
    ]


async def test_usage_figures_of_upstream_tools_are_kept_in_mcp_tools(tmp_path: Path) -> None:
    server = EchoServer("stdio", many=0)
    async with (
        hub_app(tmp_path, {"mcpServers": {"echo": entry_for(server)}}) as app,
        Client(build_server(app), mode="legacy") as client,
    ):
        await wait_for_tool(client, "echo__echo")
        for _ in range(4):
            await client.call_tool("echo__echo", {"text": "x"})
        await app.calllog.flush()
        listed = (await client.call_tool("mcp_list_tools", {"server": "echo"})).structured_content
    assert listed is not None
    echo = next(t for t in listed["tools"] if t["tool"] == "echo")
    assert echo["usage_count"] == 4
    assert echo["public_name"] == "echo__echo"
    assert echo["last_used_at"] is not None
