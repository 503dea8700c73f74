"""Real third-party MCP servers as upstreams: the official TypeScript servers from npm, and mcp-server-time.

The npm servers live in ``tests/peers/node_modules`` (``npm ci --prefix tests/peers``). Without them the
node tests skip locally and fail under ``CI=true``, where a missing peer means a broken setup.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import mcp_types as types
import pytest

from hub.proxy import Upstream, UpstreamSpec

pytestmark = pytest.mark.anyio

PEERS = Path(__file__).resolve().parents[1] / "peers" / "node_modules"
EVERYTHING = PEERS / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
MEMORY = PEERS / "@modelcontextprotocol" / "server-memory" / "dist" / "index.js"
SUPERGATEWAY = PEERS / "supergateway" / "dist" / "index.js"
NODE = shutil.which("node")


def _require_node_peers() -> None:
    missing = [p.name for p in (EVERYTHING, MEMORY, SUPERGATEWAY) if not p.exists()]
    reason = None
    if NODE is None:
        reason = "node is not installed"
    elif missing:
        reason = f"npm peers missing ({', '.join(missing)}): run `npm ci --prefix tests/peers`"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the node peers: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(argv: list[str], env: dict[str, str] | None = None) -> Iterator[None]:
    """A peer server process for the duration of the block, killed with its group afterwards."""
    process = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        os.killpg(process.pid, 9)
        process.wait()


PeerCase = Callable[[], "contextmanager[UpstreamSpec]"]


@contextmanager
def everything_stdio() -> Iterator[UpstreamSpec]:
    assert NODE is not None
    yield UpstreamSpec(name="everything", transport="stdio", command=NODE, args=(str(EVERYTHING), "stdio"))


@contextmanager
def everything_sse() -> Iterator[UpstreamSpec]:
    assert NODE is not None
    port = free_port()
    with running([NODE, str(EVERYTHING), "sse"], {"PORT": str(port)}):
        yield UpstreamSpec(name="everything", transport="sse", url=f"http://127.0.0.1:{port}/sse")


@contextmanager
def everything_streamable_http() -> Iterator[UpstreamSpec]:
    assert NODE is not None
    port = free_port()
    with running([NODE, str(EVERYTHING), "streamableHttp"], {"PORT": str(port)}):
        yield UpstreamSpec(name="everything", transport="streamable_http", url=f"http://127.0.0.1:{port}/mcp")


@contextmanager
def everything_websocket_via_supergateway() -> Iterator[UpstreamSpec]:
    assert NODE is not None
    port = free_port()
    argv = [NODE, str(SUPERGATEWAY), "--stdio", f"{NODE} {EVERYTHING} stdio", "--outputTransport", "ws"]
    with running([*argv, "--port", str(port), "--messagePath", "/message", "--logLevel", "none"]):
        yield UpstreamSpec(name="everything", transport="websocket", url=f"ws://127.0.0.1:{port}/message")


@pytest.mark.node
@pytest.mark.parametrize(
    "peer",
    [everything_stdio, everything_sse, everything_streamable_http, everything_websocket_via_supergateway],
    ids=["stdio", "sse", "streamable_http", "websocket"],
)
async def test_server_everything_is_reached_through_each_transport(
    peer: Callable[[], contextmanager[UpstreamSpec]],
) -> None:
    _require_node_peers()
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    with peer() as spec:
        # A network peer may still be starting: the upstream keeps reconnecting until it answers.
        async with Upstream.from_spec(spec, backoff_initial=0.1, backoff_max=0.5) as up:
            with anyio.fail_after(30):
                snapshot = await up.wait_ready(timeout_seconds=25)
                echoed = await up.call_tool("echo", {"message": "hi"})
                await up.call_tool(
                    "trigger-long-running-operation",
                    {"duration": 0.2, "steps": 2},
                    progress_callback=on_progress,
                )
    assert snapshot.tool("echo") is not None
    assert len(snapshot.tools) >= 10
    assert snapshot.resources or snapshot.resource_templates
    assert isinstance(echoed, types.CallToolResult)
    assert not echoed.is_error
    assert progress == [1, 2]


@pytest.mark.node
async def test_server_memory_is_reached_over_stdio(tmp_path: Path) -> None:
    _require_node_peers()
    assert NODE is not None
    spec = UpstreamSpec(
        name="memory",
        transport="stdio",
        command=NODE,
        args=(str(MEMORY),),
        env={"MEMORY_FILE_PATH": str(tmp_path / "memory.jsonl")},
    )
    async with Upstream.from_spec(spec) as up:
        with anyio.fail_after(30):
            snapshot = await up.wait_ready()
            created = await up.call_tool(
                "create_entities",
                {"entities": [{"name": "hub", "entityType": "project", "observations": ["fast"]}]},
            )
            graph = await up.call_tool("read_graph", {})
    assert len(snapshot.tools) == 9
    assert isinstance(created, types.CallToolResult)
    assert not created.is_error
    assert isinstance(graph, types.CallToolResult)
    assert "hub" in str(graph.structured_content or graph.content)


async def test_mcp_server_time_is_reached_over_stdio_in_both_eras() -> None:
    command = Path(sys.executable).with_name("mcp-server-time")
    for mode in ("legacy", "auto"):
        spec = UpstreamSpec(
            name="time", transport="stdio", command=str(command), args=("--local-timezone", "UTC"), mode=mode
        )
        async with Upstream.from_spec(spec) as up:
            with anyio.fail_after(30):
                snapshot = await up.wait_ready()
                now = await up.call_tool("get_current_time", {"timezone": "UTC"})
                version = up.protocol_version
        assert {tool.name for tool in snapshot.tools} == {"get_current_time", "convert_time"}
        assert isinstance(now, types.CallToolResult)
        assert not now.is_error
        assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
