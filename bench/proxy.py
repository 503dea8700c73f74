"""Proxy benchmark: direct stdio, direct streamable HTTP, and the same call through the hub.

    python bench/proxy.py [--calls 1000] [--seconds 10] [--upstreams 100 --tools-each 50]

(a) a client calling the trivial ``echo`` tool of an stdio upstream directly; (b) a client calling a
streamable-HTTP server directly; (c) the same call through the hub (HTTP in, stdio upstream out,
API-key auth and call logging on), once per event loop the hub can run on. (b) and (c) run in both
protocol eras, sequentially and with 32 concurrent callers: SDK clients (what the peers in the
README were measured with) and light callers that only POST and parse (so that two cores measure
the server, not the client). Last, tools/list through a hub process fronting many stdio upstreams.
Everything is measured in this run on this machine, the sequential paths in interleaved rounds so
that the machine's drift hits all alike; the ratios, not the absolute numbers, are what to compare.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
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
from typing import Any, cast

import anyio
import httpx2
import orjson
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hub.support import http_hub, hub_env, make_key, run_hub

ECHO = ROOT / "tests" / "servers" / "echo_server.py"


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


@asynccontextmanager
async def http_client(url: str, key: str | None = None, mode: str = "legacy") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,  # type: ignore[arg-type]
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


MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def pid_serving(port: int) -> int:
    """The hub process serving ``port`` (its command line names the port)."""
    wanted = f"--port\x00{port}\x00".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if wanted in cmdline.read() + b"\x00":
                        return int(entry)
            except OSError:
                continue
    raise SystemExit(f"no process serves port {port}")


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as kids:
        return [int(k) for k in kids.read().split()]


class LightCaller:
    """One caller speaking JSON-RPC over HTTP by hand.

    An SDK client spends about as much CPU per call as the server it calls; on two cores shared by
    client, hub and upstream, 32 of them measure the client. This caller does the least a client
    must (one POST, one parse) so the figure is the server's capacity.
    """

    def __init__(self, http: httpx2.AsyncClient, url: str, era: str) -> None:
        self.http, self.url, self.era = http, url, era
        self.headers: dict[str, str] = {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
        }
        self.next_id = 0

    async def open(self) -> None:
        if self.era == MODERN:
            self.headers["mcp-protocol-version"] = MODERN
            return
        init = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "0"},
        }
        reply = await self.http.post(self.url, json=self._message("initialize", init), headers=self.headers)
        reply.raise_for_status()
        self.headers["mcp-session-id"] = reply.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = "2025-11-25"
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        (await self.http.post(self.url, json=note, headers=self.headers)).raise_for_status()

    def _message(self, method: str, params: dict[str, object]) -> dict[str, object]:
        self.next_id += 1
        if self.era == MODERN:
            params = {**params, "_meta": META}
        return {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}

    async def request(self, method: str, params: dict[str, object]) -> dict[str, Any]:
        message = self._message(method, params)
        headers = self.headers
        if self.era == MODERN:
            headers = {**headers, "mcp-method": method}
            if "name" in params:
                headers["mcp-name"] = str(params["name"])
        reply = await self.http.post(self.url, content=orjson.dumps(message), headers=headers)
        reply.raise_for_status()
        body = reply.content
        if reply.headers.get("content-type", "").startswith("text/event-stream"):
            for line in body.splitlines():
                # A priming event (resumable streams) carries an empty data field.
                if line.startswith(b"data:") and line[5:].strip():
                    found = orjson.loads(line[5:])
                    if found.get("id") == message["id"]:
                        return cast("dict[str, Any]", found)
            raise SystemExit(f"no answer to {method} in the event stream")
        return cast("dict[str, Any]", orjson.loads(body))

    async def call(self, tool: str, text: str) -> str:
        answer = await self.request("tools/call", {"name": tool, "arguments": {"text": text}})
        if "result" not in answer or answer["result"].get("isError"):
            raise SystemExit(f"{tool} failed: {answer}")
        return str(answer["result"]["content"][0]["text"])


async def light_concurrent(
    url: str,
    key: str | None,
    era: str,
    tool: str,
    sessions: int,
    seconds: float,
    processes: dict[str, int] | None = None,
) -> tuple[float, str]:
    """Calls per second of ``sessions`` light callers in a closed loop, and where the CPU went.

    With ``processes`` (name -> pid) the second item tells the CPU each process and the callers spent
    per call, and for a hub, the most calls/s the cores allow when everything but the hub costs what it
    cost here.
    """
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx2.Limits(max_connections=sessions, max_keepalive_connections=sessions)
    done = 0
    stop = 0.0
    async with httpx2.AsyncClient(headers=headers, timeout=60, limits=limits) as http:
        callers = [LightCaller(http, url, era) for _ in range(sessions)]
        for c in callers:
            await c.open()
            await c.call(tool, "warm")

        async def one(i: int, caller: LightCaller) -> None:
            nonlocal done
            while time.perf_counter() < stop:
                # A reply meant for another caller would echo another text.
                if await caller.call(tool, f"s{i}") != f"s{i}":
                    raise SystemExit("a reply reached the wrong caller")
                done += 1

        pids = {"callers": os.getpid(), **(processes or {})}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        t0 = time.perf_counter()
        stop = t0 + seconds
        async with anyio.create_task_group() as tg:
            for i, caller in enumerate(callers):
                tg.start_soon(one, i, caller)
        rate = done / (time.perf_counter() - t0)
    if not processes:
        return rate, ""
    per_call = {name: 1000 * (cpu_seconds(pid) - before[name]) / done for name, pid in pids.items()}
    where = "CPU per light call: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in per_call.items())
    if "hub" in per_call:
        others = sum(ms for name, ms in per_call.items() if name != "hub")
        cores = os.cpu_count() or 1
        where += f"; were the hub free, {cores} cores / {others:.2f} ms = {1000 * cores / others:.0f} calls/s at most"
    return rate, where


def start_http_echo() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ECHO), "--transport", "streamable-http", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, f"http://127.0.0.1:{line.split()[1]}/mcp"


ERAS = {"legacy": "2025-11-25", "auto": MODERN}


async def bench_listing(upstreams: int, tools_each: int, connect_limit: int) -> None:
    """tools/list through a hub process fronting many stdio upstreams, over HTTP in both eras."""
    many = max(0, tools_each - 14)  # the echo server has 14 tools of its own
    with tempfile.TemporaryDirectory() as tmp:
        env = hub_env(Path(tmp), HUB_CONNECT_CONCURRENCY=str(connect_limit))
        cfg = {
            "mcpServers": {
                f"u{i:03d}": {"command": sys.executable, "args": [str(ECHO), "--many", str(many)]}
                for i in range(upstreams)
            }
        }
        (Path(tmp) / "mcp.json").write_text(json.dumps(cfg))
        run_hub("db", "upgrade", env=env)
        key = make_key(env)
        t0 = time.perf_counter()
        with http_hub(env) as base:
            url = f"{base}/mcp"
            async with http_client(url, key) as client:
                want = upstreams * tools_each
                with anyio.fail_after(900):
                    while (n := len((await client.list_tools()).tools)) < want:
                        await anyio.sleep(0.5)
                print(
                    f"{upstreams} upstreams x {tools_each} tools ready in {time.perf_counter() - t0:.1f} s "
                    f"(at most {connect_limit} connecting at once); {n} tools listed"
                )
                sdk = []
                for _ in range(20):
                    t1 = time.perf_counter()
                    await client.list_tools()
                    sdk.append(time.perf_counter() - t1)
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
                for mode, era in ERAS.items():
                    caller = LightCaller(http, url, era)
                    await caller.open()
                    samples = []
                    for _ in range(21):
                        t1 = time.perf_counter()
                        answer = await caller.request("tools/list", {})
                        samples.append(time.perf_counter() - t1)
                        assert len(answer["result"]["tools"]) == n
                    print(
                        f"  tools/list of {n} tools over HTTP, {era} ({mode}): median "
                        f"{statistics.median(samples[1:]) * 1000:.1f} ms, p95 {pct(samples[1:], 95) * 1000:.1f} ms, "
                        f"first {samples[0] * 1000:.1f} ms  (target <= 50 ms)"
                    )
            print(
                f"  the same list read by the SDK client (its own model validation included): "
                f"median {statistics.median(sdk) * 1000:.1f} ms"
            )


async def both_concurrent(
    url: str,
    key: str | None,
    mode: str,
    tool: str,
    args: argparse.Namespace,
    note: str = "",
    processes: dict[str, int] | None = None,
) -> tuple[float, float]:
    """Calls/s of ``args.sessions`` SDK sessions, then of as many light callers; printed, returned."""
    sdk = await concurrent(lambda: http_client(url, key, mode), tool, args.sessions, args.seconds)
    light, where = await light_concurrent(url, key, ERAS[mode], tool, args.sessions, args.seconds, processes)
    print(
        f"{'    ' + str(args.sessions) + ' sessions':44} {sdk:7.0f} calls/s with SDK clients, "
        f"{light:7.0f} calls/s with light callers{note}"
    )
    if where:
        print(f"{'':48} {where}")
    return sdk, light


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--upstreams", type=int, default=100)
    parser.add_argument("--tools-each", type=int, default=50)
    parser.add_argument("--connect-limit", type=int, default=4)
    parser.add_argument("--skip-calls", action="store_true", help="only the listing benchmark")
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.calls} sequential calls after 50 warm-up"
    )
    if not args.skip_calls:
        await bench_calls(args)
    if args.upstreams > 0:
        await bench_listing(args.upstreams, args.tools_each, args.connect_limit)


async def interleaved(
    paths: dict[str, tuple[Client, str]], calls: int, rounds: int = 10, warmup: int = 50
) -> dict[str, list[float]]:
    """Sequential call latencies of every path, measured in interleaved rounds.

    The machine's speed drifts over minutes; measured one after another, a and b could come from a
    faster minute than c and the difference c - a - b would be the drift. In rounds, drift hits all alike.
    """
    for client, tool in paths.values():
        for i in range(warmup):
            await client.call_tool(tool, {"text": f"w{i}"})
    samples: dict[str, list[float]] = {label: [] for label in paths}
    per_round = max(1, calls // rounds)
    for _ in range(rounds):
        for label, (client, tool) in paths.items():
            for i in range(per_round):
                t0 = time.perf_counter()
                result = await client.call_tool(tool, {"text": f"c{i}"})
                samples[label].append(time.perf_counter() - t0)
                if result.is_error:
                    raise SystemExit(f"{label}: {tool} failed: {result.content}")
    return samples


def hub_config(tmp: Path, loop: str) -> dict[str, str]:
    """A migrated hub data directory with the echo upstream, run on ``loop``; its environment."""
    env = hub_env(tmp, HUB_EVENT_LOOP=loop)
    (tmp / "mcp.json").write_text(
        json.dumps({"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO)]}}})
    )
    run_hub("db", "upgrade", env=env)
    return env


def print_logged(loop: str, db: Path) -> None:
    logged = subprocess.run(
        ["sqlite3", str(db), "select count(*) from mcp_call_logs"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(f"call-log rows written by the {loop} hub: {logged}")


async def bench_calls(args: argparse.Namespace) -> None:
    loops = ["asyncio", "uvloop"] if _has_uvloop() else ["asyncio"]
    with contextlib.ExitStack() as stack:
        # Everything runs at once (idle servers cost nothing), so the sequential paths can be interleaved.
        proc, direct_url = start_http_echo()
        stack.callback(proc.wait)
        stack.callback(proc.kill)
        hubs: dict[str, tuple[str, str]] = {}
        for loop in loops:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            env = hub_config(tmp, loop)
            key = make_key(env)
            # Counted once the hub has stopped (and flushed), before its directory goes.
            stack.callback(print_logged, loop, tmp / "hub.sqlite3")
            hubs[loop] = (f"{stack.enter_context(http_hub(env))}/mcp", key)

        async with contextlib.AsyncExitStack() as clients:
            # (a) direct stdio: the hub's link speaks protocol_era auto (2026-07-28 with this upstream),
            # so that era is the one c - a - b takes; the handshake era is shown beside it.
            params = StdioServerParameters(command=sys.executable, args=[str(ECHO)])
            paths: dict[str, tuple[Client, str]] = {
                "(a) direct stdio, 2025-11-25": (
                    await clients.enter_async_context(Client(params, mode="legacy")),
                    "echo",
                ),
                f"(a) direct stdio, {MODERN} (hub's link)": (
                    await clients.enter_async_context(Client(params, mode="auto")),
                    "echo",
                ),
            }
            for mode, era in ERAS.items():
                client = await clients.enter_async_context(http_client(direct_url, None, mode))
                paths[f"(b) direct streamable HTTP, {era}"] = (client, "echo")
            for loop, (url, key) in hubs.items():
                for mode, era in ERAS.items():
                    client = await clients.enter_async_context(http_client(url, key, mode))
                    with anyio.fail_after(60):
                        while "echo__echo" not in {t.name for t in (await client.list_tools()).tools}:
                            await anyio.sleep(0.1)
                    paths[f"(c) through the hub, {loop}, {era}"] = (client, "echo__echo")
            figures = {
                label: report(label, samples)
                for label, samples in (await interleaved(paths, args.calls)).items()
            }

        # Throughput, one path at a time: each wants both cores to itself.
        rates: dict[str, tuple[float, float]] = {}
        for mode, era in ERAS.items():
            print(f"(b) direct streamable HTTP, {era}")
            rates[f"b {era}"] = await both_concurrent(
                direct_url, None, mode, "echo", args, processes={"server": proc.pid}
            )
        for loop, (url, key) in hubs.items():
            hub = pid_serving(int(url.rsplit(":", 1)[1].split("/")[0]))
            # The hub's one child is the echo upstream, started when the hub read mcp.json.
            processes = {"hub": hub, "upstream": children_of(hub)[0]}
            for mode, era in ERAS.items():
                print(f"(c) through the hub, {loop}, {era}")
                rates[f"c {loop} {era}"] = await both_concurrent(
                    url, key, mode, "echo__echo", args, "  (target >= 800)", processes
                )

    a = figures[f"(a) direct stdio, {MODERN} (hub's link)"]
    for loop in hubs:
        for era in ERAS.values():
            b = figures[f"(b) direct streamable HTTP, {era}"]
            c = figures[f"(c) through the hub, {loop}, {era}"]
            (b32, b32l), (c32, c32l) = rates[f"b {era}"], rates[f"c {loop} {era}"]
            overhead = c["median"] - a["median"] - b["median"]
            print(
                f"{loop}, {era}: hub overhead c - a - b at the median {overhead:+.3f} ms (target <= 0.5); "
                f"c/b median {c['median'] / b['median']:.2f}x; {args.sessions}-session throughput c/b "
                f"{c32 / b32:.2f}x (SDK clients), {c32l / b32l:.2f}x (light callers)"
            )


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    anyio.run(main)
