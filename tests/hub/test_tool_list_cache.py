"""tools/list answered from its last wire form: right for each caller, and new as soon as tools change."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from hub.app import open_app
from hub.identity import Caller
from hub.server.listing import CURRENT_CALLER, ToolListCache
from hub.server.mcp import build_server
from hub.settings import Settings
from tests.hub.support import http_hub, hub_env, make_key, run_hub
from tests.proxy.support import ECHO_SERVER

pytestmark = pytest.mark.anyio

ERAS = ["legacy", "auto"]
FIXTURE = Path(__file__).resolve().parents[1] / "servers" / "everything_server.py"


@asynccontextmanager
async def http_client(url: str, key: str, mode: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        yield client


async def names(client: Client) -> list[str]:
    return [t.name for t in (await client.list_tools()).tools]


async def test_repeated_lists_are_served_from_the_cache_and_equal_the_first(tmp_path: Path) -> None:
    (tmp_path / "mcp.json").write_text(
        json.dumps({"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO_SERVER)]}}})
    )
    settings = Settings(data_dir=tmp_path, config_file=tmp_path / "mcp.json")
    async with open_app(settings) as app:
        server = build_server(app)
        cache = next(m for m in server.middleware if isinstance(m, ToolListCache))
        for mode in ERAS:
            async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
                with anyio.fail_after(30):
                    while True:
                        first = await client.list_tools()
                        if "echo__echo" in {t.name for t in first.tools}:
                            break
                        await anyio.sleep(0.05)
                before = cache.hits
                for _ in range(3):
                    again = await client.list_tools()
                    assert again.model_dump() == first.model_dump()
                assert cache.hits == before + 3
        # A change replaces the listed objects, so the next list is built anew and shows it.
        async with Client(server, mode="legacy") as client:
            misses = cache.misses
            assert not (await client.call_tool("mcp_remove_server", {"name": "echo"})).is_error
            assert "echo__echo" not in await names(client)
            assert cache.misses > misses  # built anew (the client may list on its own after list_changed)


@pytest.mark.parametrize("mode", ERAS)
async def test_each_caller_gets_its_own_list_and_registrations_show_at_once(
    tmp_path: Path, mode: str
) -> None:
    env = hub_env(tmp_path)
    assert run_hub("db", "upgrade", env=env).returncode == 0
    done = run_hub(
        "users", "add", "--username", "vera", "--email", "vera@demo.com", "--role", "viewer", env=env
    )
    assert done.returncode == 0, done.stderr
    admin_key, viewer_key = make_key(env), make_key(env, user="vera")
    with http_hub(env) as url:
        async with http_client(url, admin_key, mode) as admin, http_client(url, viewer_key, mode) as viewer:
            admin_first = await names(admin)
            viewer_first = await names(viewer)
            # The viewer lists right after the admin, in the same tenant: it must not get the
            # admin's answer.
            assert "mcp_register_server" in admin_first
            assert "mcp_register_server" not in viewer_first
            assert set(viewer_first) < set(admin_first)
            assert await names(admin) == admin_first
            assert await names(viewer) == viewer_first

            reg = await admin.call_tool(
                "mcp_register_server",
                {"name": "e2", "command": sys.executable, "args": [str(ECHO_SERVER)], "prefix": "ee"},
            )
            assert not reg.is_error, reg.content
            with anyio.fail_after(30):
                while "ee__echo" not in await names(admin):
                    await anyio.sleep(0.05)
            assert not (await admin.call_tool("mcp_remove_server", {"name": "e2"})).is_error
            assert "ee__echo" not in await names(admin)


async def test_mcp_param_headers_of_a_proxied_tool_are_checked_against_its_schema(tmp_path: Path) -> None:
    # A 2026-07-28 call carrying arguments makes the SDK ask for the tool's input schema; the hub
    # answers from its catalog for the authenticated caller (not by listing every tool).
    env = hub_env(tmp_path)
    config = {
        "mcpServers": {"ev": {"command": sys.executable, "args": [str(FIXTURE), "--transport", "stdio"]}}
    }
    (tmp_path / "mcp.json").write_text(json.dumps(config))
    assert run_hub("db", "upgrade", env=env).returncode == 0
    key = make_key(env)
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    with http_hub(env) as url:
        async with http_client(url, key, "auto") as client:
            with anyio.fail_after(30):
                while "ev__test_x_mcp_header" not in await names(client):
                    await anyio.sleep(0.05)

        async def call(region_header: str) -> httpx2.Response:
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "ev__test_x_mcp_header", "arguments": {"region": "eu"}, "_meta": meta},
            }
            headers = {
                "Authorization": f"Bearer {key}",
                "accept": "application/json, text/event-stream",
                "mcp-protocol-version": "2026-07-28",
                "mcp-method": "tools/call",
                "mcp-name": "ev__test_x_mcp_header",
                "mcp-param-region": region_header,
            }
            async with httpx2.AsyncClient(timeout=30) as http:
                return await http.post(f"{url}/mcp", json=body, headers=headers)

        agreed = await call("eu")
        assert agreed.status_code == 200, agreed.text
        assert "eu" in agreed.text
        mismatch = await call("us")
        assert mismatch.status_code == 400, mismatch.text


async def test_the_schema_lookup_answers_for_the_current_caller_only(tmp_path: Path) -> None:
    (tmp_path / "mcp.json").write_text(
        json.dumps({"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO_SERVER)]}}})
    )
    settings = Settings(data_dir=tmp_path, config_file=tmp_path / "mcp.json")
    async with open_app(settings) as app:
        server = build_server(app)
        lookup = server.get_tool_input_schema
        assert lookup is not None
        admin = await app.local_caller()
        viewer = Caller.of(
            tenant_id=admin.tenant_id,
            tenant_name=admin.tenant_name,
            user_id=None,
            username="v",
            role="viewer",
        )
        async with Client(server, mode="legacy") as client:
            with anyio.fail_after(30):
                while "echo__echo" not in await names(client):
                    await anyio.sleep(0.05)
        assert lookup("echo__echo") is None  # no request, no caller: nothing to check against
        token = CURRENT_CALLER.set(admin)
        try:
            schema = lookup("echo__echo")
            assert schema is not None
            assert "text" in schema["properties"]
            assert lookup("mcp_register_server") is not None
            assert lookup("no_such_tool") is None
        finally:
            CURRENT_CALLER.reset(token)
        token = CURRENT_CALLER.set(viewer)
        try:
            assert lookup("mcp_register_server") is None  # not the viewer's to call
            assert lookup("echo__echo") is None
        finally:
            CURRENT_CALLER.reset(token)
