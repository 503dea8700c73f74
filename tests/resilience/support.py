"""Helpers of the fault suite: hubs over a temporary SQLite file, probes of Redis and PostgreSQL, process counts."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import httpx2
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from hub.app import App, open_app
from hub.identity import DEMO_TENANT_ID
from hub.proxy import UpstreamSpec
from hub.proxy.websocket import WebSocketConnector
from hub.resilience import UpstreamGuard
from hub.server.mcp import build_server
from hub.settings import Settings
from hub.tools import health
from hub.upstreams import LiveServer
from tests.hub.support import HUB, free_port, hub_env, make_key, run_hub
from tests.proxy.support import ECHO_SERVER

HERE = Path(__file__).resolve().parent
FLAKY_SERVER = HERE / "flaky_server.py"
STORM_SERVER = HERE / "storm_server.py"
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# After SIGTERM the hub's own bounds add up to less: calls get 10 s, their answers up to 5 s to go
# out, uvicorn 3 s for the connections, each upstream child 4 s to stop.
EXIT_DEADLINE_SECONDS = 30.0
PG_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


def in_ci() -> bool:
    """Whether this run is CI, where a missing service is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip for a missing service locally; fail under CI=true."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this test must run)", pytrace=False)
    pytest.skip(reason)


def echo_entry(**extra: Any) -> dict[str, Any]:
    """An mcp.json entry running the echo server over stdio."""
    return {"command": sys.executable, "args": [str(ECHO_SERVER)], **extra}


@asynccontextmanager
async def hub(tmp_path: Path, servers: dict[str, Any], **settings: Any) -> AsyncIterator[tuple[App, Client]]:
    """A hub over a fresh SQLite file with these upstreams, and a client of it."""
    tmp_path.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - test setup, before anything runs
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": servers}))
    options = Settings(data_dir=tmp_path, config_file=tmp_path / "mcp.json", **settings)
    async with open_app(options) as app:
        if "mcp_health" not in {spec.name for spec in app.dispatcher.own_tools}:
            app.dispatcher.add(health.tools())  # until the composition root registers the family
        async with Client(build_server(app), mode="legacy") as client:
            yield app, client


def guarded(app: App, name: str) -> tuple[LiveServer, UpstreamGuard]:
    """A live server of the demo tenant and its guard."""
    live = app.upstreams.live(DEMO_TENANT_ID, name)
    assert live is not None
    assert live.guard is not None
    return live, live.guard


async def wait_for_tool(client: Client, name: str) -> None:
    """Until the hub lists the tool (the upstream is connected and discovered)."""
    with anyio.fail_after(30):
        while name not in [t.name for t in (await client.list_tools()).tools]:
            await anyio.sleep(0.02)


def error_of(result: types.CallToolResult) -> dict[str, Any]:
    """The hub's error object of a failed call."""
    assert result.is_error, result.content
    text = result.content[0]
    assert isinstance(text, types.TextContent)
    error: dict[str, Any] = json.loads(text.text)["error"]
    return error


def rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on the hub's SQLite file."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def descendants(pid: int | None = None) -> list[int]:
    """Live (non-zombie) processes below ``pid`` (this process by default), from /proc."""
    root = os.getpid() if pid is None else pid
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        parent[int(entry)] = int(fields[1])
    out: list[int] = []
    frontier = [root]
    while frontier:
        current = frontier.pop()
        for child, ppid in parent.items():
            if ppid == current:
                out.append(child)
                frontier.append(child)
    return out


def zombies_of(pid: int | None = None) -> list[int]:
    """Zombie children of ``pid`` (this process by default)."""
    root = os.getpid() if pid is None else pid
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == root:
            found.append(int(entry))
    return found


class StormServer:
    """``storm_server.py`` as a subprocess on a free port."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(STORM_SERVER)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("READY"), line
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"

    def entry(self) -> dict[str, Any]:
        """Its mcp.json entry."""
        return {"url": f"{self.base}/mcp", "transport": "streamable_http"}

    def storm(self, on: bool) -> int:
        """Start or end the storm; how many requests it refused so far."""
        return int(httpx.post(f"{self.base}/storm/{'on' if on else 'off'}").text)

    def stop(self) -> None:
        """Kill it."""
        self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass
class ShutdownReport:
    """What ``sigterm_under_load`` saw: the hub's exit, each caller's calls, the rows written."""

    exit_code: int | None = None
    exit_seconds: float = 0.0  # from SIGTERM until the process was gone
    completed: list[str] = field(default_factory=list)  # tags of calls whose result reached the caller
    failed: list[str] = field(default_factory=list)  # what a caller got instead of its last result
    logged: set[str] = field(default_factory=set)  # tags of the rows in mcp_call_logs after the exit
    children: list[int] = field(default_factory=list)  # the hub's upstream processes before the signal
    left: list[int] = field(default_factory=list)  # those of them still alive after the exit

    @property
    def lost(self) -> list[str]:
        """Completed calls without their row."""
        return [tag for tag in self.completed if tag not in self.logged]


async def sigterm_under_load(
    data: Path, *, callers: int = 8, warmup: int = 200, slow_every: int = 5, slow_steps: int = 200
) -> ShutdownReport:
    """Run ``hub serve --transport http`` with a stdio echo upstream, load it, SIGTERM it, report.

    ``callers`` MCP sessions call back to back, each call tagged ``<caller>-<n>``; every
    ``slow_every``-th call is ``echo__slow`` (``slow_steps`` progress steps), so some calls are
    mid-way when the signal comes. Even callers use streamable HTTP, odd ones a websocket (whose
    calls share one long-lived connection). The signal is sent once ``warmup`` calls have completed;
    each caller stops at its first call that fails (the hub stopped accepting, or is gone).
    """
    data.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - setup before the hub runs
    env = hub_env(data)
    echo = {"command": sys.executable, "args": [str(ECHO_SERVER)]}
    (data / "mcp.json").write_text(json.dumps({"mcpServers": {"echo": echo}}))
    done = await anyio.to_thread.run_sync(lambda: run_hub("db", "upgrade", env=env))
    assert done.returncode == 0, done.stderr
    key = await anyio.to_thread.run_sync(make_key, env)
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    ws = UpstreamSpec(
        name="hub",
        transport="websocket",
        url=f"ws://127.0.0.1:{port}/ws",
        headers={"Authorization": f"Bearer {key}"},
    )
    report = ShutdownReport()
    with (data / "hub.log").open("wb") as log:
        # Popen returns at once; the waiting on the process happens in a worker thread below.
        proc = subprocess.Popen(  # noqa: ASYNC220
            [HUB, "serve", "--transport", "http", "--port", str(port)], env=env, stderr=log
        )
    try:
        await _until_listed(url, key, "echo__slow")
        report.children = descendants(proc.pid)
        enough = anyio.Event()

        async def caller(n: int) -> None:
            i = 0
            try:
                async with (
                    httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
                    Client(
                        WebSocketConnector(ws)() if n % 2 else streamable_http_client(url, http_client=http),
                        mode="legacy",
                    ) as client,
                ):
                    while True:
                        tag = f"{n}-{i}"
                        i += 1
                        if slow_every and i % slow_every == 0:
                            result = await client.call_tool("echo__slow", {"steps": slow_steps, "tag": tag})
                        else:
                            result = await client.call_tool("echo__echo", {"text": tag})
                        # A result, even the hub's own error result, is a call the hub answered.
                        report.completed.append(tag)
                        if result.is_error:
                            report.failed.append(f"{tag}: {result.content}")
                            return
                        if len(report.completed) >= warmup:
                            enough.set()
            except Exception as exc:  # the caller's view of the shutdown, whatever form it takes
                report.failed.append(f"{n}-{i - 1}: {_describe(exc)}")

        async with anyio.create_task_group() as tg:
            for n in range(callers):
                tg.start_soon(caller, n)
            with anyio.fail_after(60):
                await enough.wait()
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            with suppress(subprocess.TimeoutExpired):  # not gone by then: exit_code stays None
                report.exit_code = await anyio.to_thread.run_sync(proc.wait, EXIT_DEADLINE_SECONDS)
            report.exit_seconds = time.monotonic() - signalled
            tg.cancel_scope.deadline = anyio.current_time() + 30  # callers see the closed port and stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    report.left = [pid for pid in report.children if _alive(pid)]
    with sqlite3.connect(data / "hub.sqlite3") as conn:
        for (value,) in conn.execute("SELECT input_data FROM mcp_call_logs"):
            args = json.loads(value) if isinstance(value, str) else value
            tag = args.get("text") or args.get("tag")
            if tag is not None:
                report.logged.add(str(tag))
    return report


async def _until_listed(url: str, key: str, tool: str) -> None:
    with anyio.fail_after(60):
        while True:
            try:
                async with (
                    httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=5) as http,
                    Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
                ):
                    if tool in [t.name for t in (await client.list_tools()).tools]:
                        return
            except Exception:  # not listening yet
                pass
            await anyio.sleep(0.1)


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def write_then_kill(
    url: str, spool: Path, tool_id: uuid.UUID, db: Path, *, lock_at: int, kill_at: int
) -> tuple[int, float]:
    """Run the call-log writer, lock its database at row ``lock_at``, SIGKILL it at row ``kill_at``.

    Rows after the lock exist only in the spool file. Returns the last row the writer reported and the
    wall-clock time of the kill.
    """
    child = subprocess.Popen(
        [sys.executable, str(HERE / "calllog_writer.py"), url, str(spool), str(tool_id)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    blocker = sqlite3.connect(db, isolation_level=None, timeout=10)
    last = -1
    for line in child.stdout:
        last = int(line)
        if last == lock_at:
            blocker.execute("BEGIN EXCLUSIVE")
        if last == kill_at:
            break
    killed = time.time()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    blocker.execute("ROLLBACK")
    blocker.close()
    return last, killed
