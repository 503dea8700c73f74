"""A running hub's life: reloading mcp.json on SIGHUP, and a graceful stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.hub.support import HUB, free_port, hub_env, make_key, run_hub
from tests.proxy.support import ECHO_SERVER

pytestmark = pytest.mark.anyio


def echo_config(*names: str) -> str:
    return json.dumps(
        {"mcpServers": {n: {"command": sys.executable, "args": [str(ECHO_SERVER)]} for n in names}}
    )


async def tool_names(url: str, key: str) -> set[str]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client,
    ):
        return {t.name for t in (await client.list_tools()).tools}


async def wait_until(check: object) -> None:
    with anyio.fail_after(30):
        while not await check():  # type: ignore[operator]
            await anyio.sleep(0.1)


def start_hub(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [HUB, "serve", "--transport", "http", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    return proc, f"http://127.0.0.1:{port}"


async def healthy(url: str) -> bool:
    try:
        async with httpx2.AsyncClient(timeout=2) as http:
            return (await http.get(f"{url}/healthz")).status_code == 200
    except httpx2.TransportError:
        return False


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


async def test_config_reload_adds_and_retires_servers_without_a_restart(tmp_path: Path) -> None:
    env = hub_env(tmp_path)
    (tmp_path / "mcp.json").write_text(echo_config())
    assert run_hub("db", "upgrade", env=env).returncode == 0
    key = make_key(env)
    proc, url = start_hub(env)
    try:
        await wait_until(lambda: healthy(url))
        assert "one__echo" not in await tool_names(url, key)
        (tmp_path / "mcp.json").write_text(echo_config("one"))
        done = run_hub("config", "reload", env=env)
        assert done.returncode == 0, done.stderr

        async def has_one() -> bool:
            return "one__echo" in await tool_names(url, key)

        await wait_until(has_one)
        (tmp_path / "mcp.json").write_text(echo_config())
        assert run_hub("config", "reload", env=env).returncode == 0

        async def lost_one() -> bool:
            return "one__echo" not in await tool_names(url, key)

        await wait_until(lost_one)
        # A bad file is refused before the running hub is disturbed.
        (tmp_path / "mcp.json").write_text('{"mcpServers": {"x": {}}}')
        assert run_hub("config", "reload", env=env).returncode == 2
        assert await healthy(url)
    finally:
        proc.terminate()
        proc.wait(30)
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        assert conn.execute("SELECT status FROM mcp_servers WHERE name = 'one'").fetchone() == ("inactive",)


async def test_sigterm_lets_calls_finish_flushes_every_row_and_leaves_no_child(tmp_path: Path) -> None:
    env = hub_env(tmp_path)
    (tmp_path / "mcp.json").write_text(echo_config("echo"))
    assert run_hub("db", "upgrade", env=env).returncode == 0
    key = make_key(env)
    proc, url = start_hub(env)
    ok = 0
    try:
        await wait_until(lambda: healthy(url))

        async def ready() -> bool:
            return "echo__echo" in await tool_names(url, key)

        await wait_until(ready)
        children = children_of(proc.pid)
        assert children  # the stdio upstream
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client,
        ):
            for i in range(50):
                result = await client.call_tool("echo__echo", {"text": str(i)})
                assert not result.is_error
                ok += 1
        proc.send_signal(signal.SIGTERM)
        code = await anyio.to_thread.run_sync(proc.wait, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0
    for child in children:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        (rows,) = conn.execute(
            "SELECT count(*) FROM mcp_call_logs l JOIN mcp_tools t ON t.id = l.mcp_tool_id WHERE t.tool_name = 'echo'"
        ).fetchone()
    assert rows == ok
