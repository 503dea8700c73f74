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
from hub.server.listing import ToolListCache
from hub.server.mcp import build_server
from hub.settings import Settings
from tests.hub.support import http_hub, hub_env, make_key, run_hub
from tests.proxy.support import ECHO_SERVER

pytestmark = pytest.mark.anyio

ERAS = ["legacy", "auto"]


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
