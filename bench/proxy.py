"""Proxy benchmark: direct stdio, direct streamable HTTP, and the same call through the hub.

    python bench/proxy.py [--calls 1000] [--seconds 10] [--upstreams 100]

(a) a client calling the trivial ``echo`` tool of an stdio upstream directly; (b) a client calling a
streamable-HTTP server directly; (c) the same call through the hub (HTTP in, stdio upstream out,
API-key auth and call logging on). Everything is measured in this run on this machine, so the
ratios, not the absolute numbers, are what to compare. Also: 32 concurrent sessions for (b) and (c),
and tools/list through the hub with many upstreams. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hub.support import free_port, http_hub, hub_env, make_key, run_hub

ECHO = ROOT / "tests" / "servers" / "echo_server.py"
MODE = "legacy"  # 2025-11-25: the era every peer in notes/peers.md was measured in


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(label: str, samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    fig = {
        "median": statistics.median(ms),
        "p95": pct(ms, 95),
        "p99": pct(ms, 99),
        "per_s": len(ms) / sum(samples),
    }
    print(
        f"{label:44} median {fig['median']:6.3f} ms  p95 {fig['p95']:6.3f}  p99 {fig['p99']:6.3f}"
        f"  {fig['per_s']:7.0f} calls/s sequential"
    )
    return fig


async def sequential(client: Client, tool: str, calls: int, warmup: int = 50) -> list[float]:
    for i in range(warmup):
        await client.call_tool(tool, {"text": f"w{i}"})
    out = []
    for i in range(calls):
        t0 = time.perf_counter()
        result = await client.call_tool(tool, {"text": f"c{i}"})
        out.append(time.perf_counter() - t0)
        if result.is_error:
            raise SystemExit(f"{tool} failed: {result.content}")
    return out


@asynccontextmanager
async def http_client(url: str, key: str | None = None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http), mode=MODE) as client,
    ):
        yield client


async def concurrent(
    make: Callable[[], AbstractAsyncContextManager[Client]], tool: str, sessions: int, seconds: float
) -> float:
    """Calls per second of ``sessions`` independent sessions in a closed loop, once all are connected."""
    done = 0
    ready = 0
    go = anyio.Event()
    stop = 0.0

    async def one(i: int) -> None:
        nonlocal done, ready
        async with make() as client:
            await client.call_tool(tool, {"text": "warm"})
            ready += 1
            if ready == sessions:
                go.set()
            await go.wait()
            while time.perf_counter() < stop:
                result = await client.call_tool(tool, {"text": f"s{i}"})
                # A reply meant for another session would echo another text.
                assert result.content[0].text == f"s{i}", "a reply reached the wrong caller"  # type: ignore[union-attr]
                done += 1

    async with anyio.create_task_group() as tg:
        for i in range(sessions):
            tg.start_soon(one, i)
        await go.wait()
        t0 = time.perf_counter()
        stop = t0 + seconds
    return done / (time.perf_counter() - t0)


def start_http_echo() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ECHO), "--transport", "streamable-http", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, f"http://127.0.0.1:{line.split()[1]}/mcp"


async def bench_listing(upstreams: int, tools_each: int) -> None:
    """tools/list through an in-process hub fronting many stdio upstreams."""
    from hub.app import open_app
    from hub.server.mcp import build_server
    from hub.settings import Settings

    many = max(0, tools_each - 13)  # the echo server has 13 tools of its own
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {
            "mcpServers": {
                f"u{i:03d}": {"command": sys.executable, "args": [str(ECHO), "--many", str(many)]}
                for i in range(upstreams)
            }
        }
        (Path(tmp) / "mcp.json").write_text(json.dumps(cfg))
        settings = Settings(data_dir=Path(tmp), config_file=Path(tmp) / "mcp.json")
        t0 = time.perf_counter()
        async with open_app(settings) as app, Client(build_server(app), mode=MODE) as client:
            want = upstreams * tools_each
            with anyio.fail_after(600):
                while len((await client.list_tools()).tools) < want:
                    await anyio.sleep(0.5)
            ready = time.perf_counter() - t0
            samples = []
            for _ in range(20):
                t1 = time.perf_counter()
                n = len((await client.list_tools()).tools)
                samples.append(time.perf_counter() - t1)
            print(
                f"{upstreams} upstreams ready in {ready:.1f} s; tools/list of {n} tools "
                f"(in-process client): median {statistics.median(samples) * 1000:.1f} ms, "
                f"p95 {pct(samples, 95) * 1000:.1f} ms  (target <= 50 ms)"
            )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=32)
    # 5,000 tools from 20 upstream processes: a hundred Python upstreams starting at once on two
    # cores miss their 30 s connect timeout, which measures the machine, not the listing.
    parser.add_argument("--upstreams", type=int, default=20)
    parser.add_argument("--tools-each", type=int, default=250)
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.calls} sequential calls after 50 warm-up"
    )

    # (a) direct stdio
    params = StdioServerParameters(command=sys.executable, args=[str(ECHO)])
    async with Client(params, mode=MODE) as client:
        a = report("(a) direct stdio", await sequential(client, "echo", args.calls))

    # (b) direct streamable HTTP
    proc, url = start_http_echo()
    try:
        async with http_client(url) as client:
            b = report("(b) direct streamable HTTP", await sequential(client, "echo", args.calls))
        b32 = await concurrent(lambda: http_client(url), "echo", args.sessions, args.seconds)
        print(f"{'(b) direct streamable HTTP, 32 sessions':44} {b32:7.0f} calls/s")
    finally:
        proc.kill()
        proc.wait()

    # (c) through the hub: HTTP in, stdio out, auth and call logging on
    with tempfile.TemporaryDirectory() as tmp:
        env = hub_env(Path(tmp))
        (Path(tmp) / "mcp.json").write_text(
            json.dumps({"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO)]}}})
        )
        run_hub("db", "upgrade", env=env)
        key = make_key(env)
        with http_hub(env) as base:
            async with http_client(f"{base}/mcp", key) as client:
                with anyio.fail_after(60):
                    while "echo__echo" not in {t.name for t in (await client.list_tools()).tools}:
                        await anyio.sleep(0.1)
                c = report(
                    "(c) client -HTTP-> hub -stdio-> upstream",
                    await sequential(client, "echo__echo", args.calls),
                )
            c32 = await concurrent(
                lambda: http_client(f"{base}/mcp", key), "echo__echo", args.sessions, args.seconds
            )
            print(f"{'(c) through the hub, 32 sessions':44} {c32:7.0f} calls/s  (target >= 800)")
        logged = subprocess.run(
            ["sqlite3", str(Path(tmp) / "hub.sqlite3"), "select count(*) from mcp_call_logs"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        print(f"call-log rows written by the hub: {logged}")
    overhead = c["median"] - a["median"] - b["median"]
    print(f"hub overhead c - a - b at the median: {overhead:+.3f} ms  (target <= 0.5 ms)")
    print(
        f"ratios: c/b median {c['median'] / b['median']:.2f}x, c/a {c['median'] / a['median']:.2f}x, "
        f"32-session throughput c/b {c32 / b32:.2f}x"
    )

    if args.upstreams > 0:
        await bench_listing(args.upstreams, args.tools_each)


if __name__ == "__main__":
    _ = free_port  # re-exported helper, kept for ad-hoc runs
    anyio.run(main)
