"""The hub's MCP face as callers meet it: a real hub process over stdio and over streamable HTTP."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import httpx2
import mcp.types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.hub.support import HUB, http_hub, hub_env, make_key, run_hub

ERAS = {"legacy": "2025-11-25", "auto": "2026-07-28"}

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class RunningHub:
    url: str
    env: dict[str, str]
    db: Path
    admin_key: str
    viewer_key: str
    operator_key: str


def call_log_rows(db: Path, tool: str) -> int:
    """Rows of mcp_call_logs for one tool of the hub itself."""
    with sqlite3.connect(db) as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM mcp_call_logs l JOIN mcp_tools t ON t.id = l.mcp_tool_id WHERE t.tool_name = ?",
            (tool,),
        ).fetchone()
        return int(n)


async def wait_for_rows(db: Path, tool: str, want: int) -> int:
    """The call log is written in batches a few ms after the call; wait for it, bounded."""
    with anyio.fail_after(10):
        while (n := call_log_rows(db, tool)) < want:
            await anyio.sleep(0.02)
    return n


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    data = tmp_path_factory.mktemp("hub")
    env = hub_env(data)
    assert run_hub("db", "upgrade", env=env).returncode == 0
    for user, role in (("vera", "viewer"), ("otto", "operator")):
        done = run_hub(
            "users", "add", "--username", user, "--email", f"{user}@demo.com", "--role", role, env=env
        )
        assert done.returncode == 0, done.stderr
    keys = make_key(env), make_key(env, user="vera"), make_key(env, user="otto")
    with http_hub(env) as url:
        yield RunningHub(url, env, data / "hub.sqlite3", *keys)


@asynccontextmanager
async def http_client(url: str, key: str | None, mode: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
            yield client


@pytest.mark.parametrize("mode", list(ERAS))
async def test_hub_status_answers_over_http_in_both_eras_and_each_call_leaves_one_log_row(
    hub: RunningHub, mode: str
) -> None:
    before = call_log_rows(hub.db, "hub_status")
    async with http_client(hub.url, hub.admin_key, mode) as client:
        assert client.protocol_version == ERAS[mode]
        names = {t.name for t in (await client.list_tools()).tools}
        assert "hub_status" in names
        for _ in range(3):
            result = await client.call_tool("hub_status", {})
            assert not result.is_error
            status = result.structured_content
            assert status is not None
            assert status["caller"]["username"] == "admin"
            assert status["caller"]["tenant"] == "demo"
            assert status["database"]["dialect"] == "sqlite"
    assert await wait_for_rows(hub.db, "hub_status", before + 3) == before + 3


@pytest.mark.parametrize("mode", list(ERAS))
async def test_hub_status_answers_over_stdio_in_both_eras_as_the_local_identity(
    tmp_path: Path, mode: str
) -> None:
    env = hub_env(tmp_path)
    assert run_hub("db", "upgrade", env=env).returncode == 0
    key = make_key(env)
    env["HUB_API_KEY"] = key
    params = StdioServerParameters(command=HUB, args=["serve"], env=env)
    async with Client(params, mode=mode) as client:  # type: ignore[arg-type]
        assert client.protocol_version == ERAS[mode]
        result = await client.call_tool("hub_status", {})
        assert not result.is_error
        assert result.structured_content is not None
        assert result.structured_content["caller"]["actor_type"] == "api"
    # The hub flushes its call log when its stdin closes, so the row is there once it has exited.
    assert await wait_for_rows(tmp_path / "hub.sqlite3", "hub_status", 1) == 1


@pytest.mark.parametrize("header", [None, "Bearer hub_notakeyatallnotakeyatall0000", "Basic abc", "Bearer"])
def test_http_without_a_usable_key_gets_401_and_nothing_else_happens(
    hub: RunningHub, header: str | None
) -> None:
    before = call_log_rows(hub.db, "hub_status")
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if header is not None:
        headers["Authorization"] = header
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "hub_status", "arguments": {}},
    }
    response = httpx.post(f"{hub.url}/mcp", json=body, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{hub.url}/healthz", timeout=5).status_code == 200
    assert call_log_rows(hub.db, "hub_status") == before


def test_a_revoked_key_is_refused(hub: RunningHub) -> None:
    key = make_key(hub.env, user="vera")
    prefix = key[: len("hub_") + 8]
    done = run_hub("keys", "revoke", prefix, env=hub.env)
    assert done.returncode == 0, done.stderr
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert httpx.post(f"{hub.url}/mcp", json=body, headers=headers, timeout=10).status_code == 401


async def test_a_malformed_json_rpc_message_gets_an_error_and_the_hub_keeps_serving(hub: RunningHub) -> None:
    headers = {
        "Authorization": f"Bearer {hub.admin_key}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(f"{hub.url}/mcp", content=b'{"jsonrpc": "2.0", "id": ', headers=headers)
    assert response.status_code == 400
    async with http_client(hub.url, hub.admin_key, "auto") as client:
        assert not (await client.call_tool("hub_status", {})).is_error


@pytest.mark.parametrize("mode", list(ERAS))
async def test_an_unknown_tool_is_a_json_rpc_error_naming_it(hub: RunningHub, mode: str) -> None:
    async with http_client(hub.url, hub.admin_key, mode) as client:
        with pytest.raises(Exception, match="no_such_tool"):
            await client.call_tool("no_such_tool", {})


@pytest.mark.parametrize("mode", list(ERAS))
async def test_a_viewer_cannot_call_a_tool_that_needs_a_higher_permission(hub: RunningHub, mode: str) -> None:
    async with http_client(hub.url, hub.viewer_key, mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "mcp_register_server" not in names
        assert "mcp_list_servers" in names
        with pytest.raises(Exception, match="lacks permission 'mcp:\\*'"):
            await client.call_tool("mcp_register_server", {"name": "x", "command": "true"})
        result = await client.call_tool("hub_status", {})
        assert result.structured_content is not None
        assert result.structured_content["caller"]["role"] == "viewer"


async def test_an_operator_lacks_mcp_read_as_the_rbac_matrix_says(hub: RunningHub) -> None:
    async with http_client(hub.url, hub.operator_key, "auto") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "mcp_list_servers" not in names
        assert "hub_status" in names


def test_content_of_tool_results_is_valid_mcp(hub: RunningHub) -> None:
    # The structured result is mirrored as JSON text for clients that read only content blocks.
    async def go() -> types.CallToolResult:
        async with http_client(hub.url, hub.admin_key, "legacy") as client:
            return await client.call_tool("hub_status", {})

    result = anyio.run(go)
    assert isinstance(result.content[0], types.TextContent)
    assert '"hub_status"' not in result.content[0].text
    assert '"version"' in result.content[0].text
