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


async def sigterm(proc: subprocess.Popen[bytes]) -> int:
    """Send SIGTERM; the exit code, once the hub has stopped (TimeoutExpired after 30 s)."""
    proc.send_signal(signal.SIGTERM)
    return await anyio.to_thread.run_sync(proc.wait, 30)


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is still running, so a failed test leaves no hub behind."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


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
        code = await sigterm(proc)
    finally:
        reap(proc)
    assert code == 0
    for child in children:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        (rows,) = conn.execute(
            "SELECT count(*) FROM mcp_call_logs l JOIN mcp_tools t ON t.id = l.mcp_tool_id WHERE t.tool_name = 'echo'"
        ).fetchone()
    assert rows == ok


def _line(message: dict[str, object]) -> bytes:
    return json.dumps(message).encode() + b"\n"


STDIO_SESSION = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "hub_status", "arguments": {}}},
]


def _answers(stdout: bytes) -> dict[object, dict[str, object]]:
    messages = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return {m["id"]: m for m in messages if "id" in m}


def start_stdio_hub(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [HUB, "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )


async def test_a_stdio_hub_stops_on_sigterm_while_its_client_keeps_stdin_open(tmp_path: Path) -> None:
    env = hub_env(tmp_path)
    (tmp_path / "mcp.json").write_text("{}")
    assert run_hub("db", "upgrade", env=env).returncode == 0
    proc = start_stdio_hub(env)
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        for message in STDIO_SESSION:
            proc.stdin.write(_line(message))
        proc.stdin.flush()
        # Read until the call's answer: the session is live and the stdin pipe stays open.
        got = b""
        while b'"id":2' not in got.replace(b" ", b""):
            chunk = await anyio.to_thread.run_sync(proc.stdout.readline)
            assert chunk, "the hub closed stdout before answering"
            got += chunk
        assert not _answers(got)[2]["result"]["isError"]  # type: ignore[index]
        # The read of stdin must not hold the process until the client sends a line or hangs up.
        code = await sigterm(proc)
    finally:
        reap(proc)
        proc.stdin.close()
        proc.stdout.close()
    assert code == 0
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        (rows,) = conn.execute(
            "SELECT count(*) FROM mcp_call_logs l JOIN mcp_tools t ON t.id = l.mcp_tool_id"
            " WHERE t.tool_name = 'hub_status'"
        ).fetchone()
    assert rows == 1


def test_a_stdio_hub_reads_requests_from_a_file(tmp_path: Path) -> None:
    env = hub_env(tmp_path)
    (tmp_path / "mcp.json").write_text("{}")
    assert run_hub("db", "upgrade", env=env).returncode == 0
    requests = tmp_path / "requests.jsonl"
    # A regular file has no readiness to wait on: the SDK's threaded reader takes it. At the end of the
    # file the session ends (in-flight calls are abandoned, as a client closing stdin asks), so only
    # the handshake is checked here, and that a garbage line does not stop the hub.
    requests.write_bytes(b"this is not json\n" + b"".join(_line(m) for m in STDIO_SESSION[:2]))
    with requests.open("rb") as stdin:
        done = subprocess.run(
            [HUB, "serve"], env=env, stdin=stdin, capture_output=True, timeout=60, check=False
        )
    assert done.returncode == 0, done.stderr
    answers = _answers(done.stdout)
    assert answers[1]["result"]["serverInfo"]["name"] == "mcp-hub"  # type: ignore[index]
