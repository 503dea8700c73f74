"""Helpers of the fault suite: hubs over a temporary SQLite file, probes of Redis and PostgreSQL, process counts."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp.types as types
import pytest
from mcp import Client

from hub.app import App, open_app
from hub.identity import DEMO_TENANT_ID
from hub.resilience import UpstreamGuard
from hub.server.mcp import build_server
from hub.settings import Settings
from hub.tools import health
from hub.upstreams import LiveServer
from tests.proxy.support import ECHO_SERVER

HERE = Path(__file__).resolve().parent
FLAKY_SERVER = HERE / "flaky_server.py"
STORM_SERVER = HERE / "storm_server.py"
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
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
