"""Fault benchmark: inject each fault into a running hub and print how it fared.

    python bench/faults.py [--cycles 1000] [--calls 10000] [--callers 8] [--postgres URL | --postgres '']

One line per fault: what was injected, whether the hub survived it (the caller got a clear error and
later calls succeeded), the recovery time (from the fault until a call succeeds again) and the rows
lost (calls made minus mcp_call_logs rows written; must be 0). For SIGTERM under load the hub is a
real ``hub serve --transport http`` process under concurrent callers: it survived when it exited 0
with no upstream child left and no call that ran without an answer; recovery is the time to exit,
rows lost the answered calls without their row. Then the open breaker's latency and
what the breaker and the call log together add to a proxied call (both on vs both off, interleaved
rounds in this run). The hub runs in this process over a temporary SQLite file (PostgreSQL for the
database outage), with real upstream processes and sockets; the client is in-process, so the figures
leave out the HTTP face. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import asyncpg
from mcp import Client
from mcp.shared.exceptions import MCPError
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.app import App, open_app
from hub.errors import UpstreamError
from hub.identity import DEMO_TENANT_ID
from hub.proxy import Upstream, UpstreamSpec
from hub.resilience import BreakerOpen
from hub.server.mcp import build_server
from hub.settings import Settings
from hub.store import migrate
from hub.store.calllog import CallLog
from hub.store.db import create_engine, create_sessionmaker
from hub.tools import health
from tests.proxy.support import ECHO_SERVER, EchoServer
from tests.resilience.support import (
    HERE,
    StormServer,
    descendants,
    sigterm_under_load,
    write_then_kill,
    zombies_of,
)

TINY = HERE / "tiny_server.py"


def echo(**extra: Any) -> dict[str, Any]:
    return {"command": sys.executable, "args": [str(ECHO_SERVER)], **extra}


@asynccontextmanager
async def hub(data: Path, servers: dict[str, Any], **settings: Any) -> AsyncIterator[tuple[App, Client]]:
    data.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - setup before anything runs
    (data / "mcp.json").write_text(json.dumps({"mcpServers": servers}))
    options = Settings(data_dir=data, config_file=data / "mcp.json", **settings)
    async with open_app(options) as app:
        if "mcp_health" not in {s.name for s in app.dispatcher.own_tools}:
            app.dispatcher.add(health.tools())
        async with Client(build_server(app), mode="legacy") as client:
            yield app, client


async def ready(client: Client, name: str) -> None:
    with anyio.fail_after(30):
        while name not in [t.name for t in (await client.list_tools()).tools]:
            await anyio.sleep(0.02)


class Tally:
    """Calls made through the hub; compared with the rows written at the end."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.calls = 0
        self.refused = 0

    async def call(self, name: str, args: dict[str, Any]) -> bool:
        try:
            result = await self.client.call_tool(name, args)
        except MCPError:
            # Refused before the dispatcher (e.g. resolving the caller needs the database): not logged.
            self.refused += 1
            return False
        self.calls += 1
        return not result.is_error

    async def until_ok(self, name: str, args: dict[str, Any], limit: float = 30) -> float:
        """Call until one succeeds; ms from now."""
        started = time.perf_counter()
        with anyio.fail_after(limit):
            while not await self.call(name, args):
                await anyio.sleep(0.01)
        return (time.perf_counter() - started) * 1000


async def rows_lost(app: App, tally: Tally) -> int:
    await app.calllog.flush()
    async with app.engine.connect() as conn:
        n = (await conn.execute(text("SELECT count(*) FROM mcp_call_logs"))).scalar_one()
    return tally.calls - int(n)


def line(fault: str, injected: str, survived: bool, recovery_ms: float | None, lost: int | str) -> None:
    rec = f"{recovery_ms:9.1f}" if recovery_ms is not None else "        -"
    print(
        f"{fault:<28} injected: {injected:<44} survived: {'yes' if survived else 'NO ':<3}  recovery ms: {rec}  rows lost: {lost}"
    )


# -- faults on upstream processes ---------------------------------------------------------------


async def stdio_faults(tmp: Path) -> None:
    servers = {"echo": echo(tool_timeouts={"hang": 0.2, "corrupt": 5}, breaker={"fail_max": 1000})}
    async with hub(tmp / "stdio", servers) as (app, client):
        await ready(client, "echo__echo")
        tally = Tally(client)
        ok = {"text": "x"}

        survived = not await tally.call("echo__crash", {"code": 3})
        rec = await tally.until_ok("echo__echo", ok)
        line(
            "crash mid-call",
            "tool exits with code 3 during the call",
            survived,
            rec,
            await rows_lost(app, tally),
        )

        started = time.perf_counter()
        survived = not await tally.call("echo__hang", {})
        rec = (time.perf_counter() - started) * 1000 + await tally.until_ok("echo__echo", ok)
        line("hang", "tool never answers (timeout 0.2 s)", survived, rec, await rows_lost(app, tally))

        survived = await tally.call("echo__slow", {"steps": 200})
        line(
            "slow responses",
            "200 progress steps before the answer",
            survived,
            None,
            await rows_lost(app, tally),
        )

        survived = not await tally.call("echo__corrupt", {})
        rec = await tally.until_ok("echo__echo", ok)
        line("garbage on stdout", "non-JSON-RPC line on the wire", survived, rec, await rows_lost(app, tally))


async def crash_loop(tmp: Path, cycles: int) -> None:
    before = set(descendants())
    spec = UpstreamSpec(name="tiny", transport="stdio", command=sys.executable, args=(str(TINY),))
    upstream = Upstream.from_spec(spec, backoff_initial=0.005, backoff_max=0.01)
    started = time.perf_counter()
    pids = set()
    async with upstream:
        for _ in range(cycles):
            await upstream.wait_ready(10)
            pids.add(upstream.status.pid)
            with suppress(UpstreamError):
                await upstream.call_tool("crash", {"code": 3})
        await upstream.wait_ready(10)
        alive = set(descendants()) - before
        during_ok = alive == {upstream.status.pid} and not zombies_of()
    after_ok = set(descendants()) - before == set() and not zombies_of()
    per_cycle = (time.perf_counter() - started) * 1000 / cycles
    line(
        "crash/restart cycles",
        f"{cycles} crashes; {len(pids)} processes, 1 alive, 0 zombies",
        during_ok and after_ok and len(pids) == cycles,
        per_cycle,
        "n/a (no hub log)",
    )

    servers = {"looping": {"command": sys.executable, "args": [str(TINY), "--exit", "4"]}, "echo": echo()}
    async with hub(tmp / "loop", servers) as (app, client):
        await ready(client, "echo__echo")
        tally = Tally(client)
        started = time.perf_counter()
        ok = all([await tally.call("echo__echo", {"text": "x"}) for _ in range(100)])
        ms = (time.perf_counter() - started) * 1000 / 100
        live = app.upstreams.live(DEMO_TENANT_ID, "looping")
        down = live is not None and live.guard is not None and not (await live.guard.health.check()).healthy
        line(
            "crash loop",
            "server exits at start (code 4), forever",
            ok and down,
            None,
            await rows_lost(app, tally),
        )
        print(f"{'':<28} (meanwhile another server answered 100 calls at {ms:.2f} ms each)")


# -- faults on sockets ----------------------------------------------------------------------------


async def socket_faults(tmp: Path) -> None:
    server = EchoServer("streamable_http", many=0)
    server.start()
    try:
        spec = server.spec()
        entry = {"url": spec.url, "transport": "streamable_http", "connect_timeout_seconds": 2}
        async with hub(tmp / "socket", {"echo": entry}) as (app, client):
            await ready(client, "echo__echo")
            tally = Tally(client)
            server.stop()
            survived = not await tally.call("echo__echo", {"text": "x"})
            started = time.perf_counter()
            await server.restart()
            rec = (time.perf_counter() - started) * 1000 + await tally.until_ok("echo__echo", {"text": "x"})
            line(
                "closed socket",
                "HTTP server killed, restarted on its port",
                survived,
                rec,
                await rows_lost(app, tally),
            )
    finally:
        server.stop()

    storm = StormServer()
    try:
        entry = {**storm.entry(), "breaker": {"fail_max": 5, "reset_timeout_seconds": 0.5}}
        async with hub(tmp / "storm", {"storm": entry}) as (app, client):
            await ready(client, "storm__echo")
            tally = Tally(client)
            await anyio.to_thread.run_sync(storm.storm, True)
            fails = [not await tally.call("storm__echo", {"text": "x"}) for _ in range(50)]
            refused = await anyio.to_thread.run_sync(storm.storm, False)
            rec = await tally.until_ok("storm__echo", {"text": "x"})
            live = app.upstreams.live(DEMO_TENANT_ID, "storm")
            closed = live is not None and live.guard is not None and live.guard.breaker.state == "closed"
            line(
                "HTTP 500 storm",
                f"50 calls, every request 500; {refused} reached it",
                all(fails) and closed,
                rec,
                await rows_lost(app, tally),
            )
    finally:
        storm.stop()


# -- the database -----------------------------------------------------------------------------


async def postgres_outage(tmp: Path, admin_url: str, calls: int) -> None:
    admin = admin_url.replace("+asyncpg", "")
    try:
        control = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"{'PostgreSQL outage':<28} skipped: {exc}")
        return
    name = f"hub_faults_{uuid.uuid4().hex[:8]}"
    await control.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    try:
        async with hub(tmp / "pg", {"echo": echo()}, database_url=url) as (app, client):
            await ready(client, "echo__echo")
            tally = Tally(client)
            await tally.call("echo__echo", {"text": "warm"})  # tool id cached before the outage
            down_at = calls // 3
            up_at = 2 * calls // 3
            failed = 0
            recovery = 0.0
            for i in range(calls):
                if i == down_at:
                    await control.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                    await control.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
                    )
                if i == up_at:
                    await control.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                    back = time.perf_counter()
                    with anyio.fail_after(60):
                        while app.calllog.database_down or app.calllog.pending:
                            await app.calllog.flush()
                    recovery = (time.perf_counter() - back) * 1000
                if not await tally.call("echo__echo", {"text": str(i)}):
                    failed += 1
            lost = await rows_lost(app, tally)
            line(
                "PostgreSQL outage",
                f"{calls} calls, DB down for calls {down_at}-{up_at}",
                failed == 0,
                recovery,
                lost,
            )
            if tally.refused:
                print(
                    f"{'':<28} ({tally.refused} calls refused before dispatch: the caller's identity needs the DB)"
                )
    finally:
        await control.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await control.close()


async def kill_9(tmp: Path) -> None:
    from hub.store import toolrows
    from hub.tools import status

    url = f"sqlite+aiosqlite:///{tmp / 'kill.sqlite3'}"
    await migrate.upgrade(url)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            ids = await toolrows.ensure_builtin_tools(
                session, DEMO_TENANT_ID, status.tools(), version="bench"
            )
        last, _killed = await anyio.to_thread.run_sync(
            functools.partial(
                write_then_kill,
                url,
                tmp / "spool",
                ids["hub_status"],
                tmp / "kill.sqlite3",
                lock_at=1000,
                kill_at=3000,
            )
        )
        started = time.perf_counter()
        log = CallLog(create_sessionmaker(engine), spool_dir=tmp / "spool")
        await log.replay()
        await log.aclose()
        rec = (time.perf_counter() - started) * 1000
        async with engine.connect() as conn:
            found = (await conn.execute(text("SELECT trace_id, created_at FROM mcp_call_logs"))).all()
        present = {int(t) for t, _ in found}
        missing = [i for i in range(last + 1) if i not in present]
        # Rows recorded at 1 per ms; those within 100 ms of the kill may be missing, no others.
        lost_beyond_window = sum(1 for i in missing if i <= last - 100)
        line(
            "kill -9 of the hub process",
            f"SIGKILL at row {last}, DB locked since row 1000",
            len(found) == len(present),
            rec,
            f"{lost_beyond_window} (+{len(missing)} within the last 100 ms)",
        )
    finally:
        await engine.dispose()


# -- the hub's own shutdown ---------------------------------------------------------------------


async def sigterm(tmp: Path, callers: int) -> None:
    report = await sigterm_under_load(tmp / "sigterm", callers=callers, warmup=40 * callers)
    refused = sum("ShuttingDown" in f for f in report.failed)
    unanswered = report.logged - set(report.completed)
    survived = report.exit_code == 0 and not report.left and not unanswered
    line(
        "SIGTERM under load",
        f"{callers} callers; {len(report.completed)} answered, {refused} ShuttingDown",
        survived,
        report.exit_seconds * 1000,
        len(report.lost),
    )
    print(
        f"{'':<28} (exit status {report.exit_code}; {len(report.failed) - refused} calls refused at the"
        f" socket; {len(unanswered)} ran unanswered; {len(report.children)} upstream child(ren),"
        f" {len(report.left)} left)"
    )


# -- latency figures --------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def latency(tmp: Path, calls: int) -> None:
    async with hub(
        tmp / "latency", {"echo": echo(breaker={"fail_max": 1, "reset_timeout_seconds": 3600})}
    ) as (
        app,
        client,
    ):
        await ready(client, "echo__echo")
        live = app.upstreams.live(DEMO_TENANT_ID, "echo")
        assert live is not None
        assert live.guard is not None
        guard = live.guard
        dispatcher: Any = app.dispatcher
        tool_id = dispatcher._tool_id

        async def no_log(tenant: uuid.UUID, server: str, tool: str, spec: Any = None) -> None:
            return None

        def set_mode(on: bool) -> None:
            live.guard = guard if on else None
            dispatcher._tool_id = tool_id if on else no_log

        async def one() -> float:
            started = time.perf_counter()
            result = await client.call_tool("echo__echo", {"text": "x"})
            took = (time.perf_counter() - started) * 1000
            assert not result.is_error
            return took

        samples: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(50):
            await one()
        rounds = 20
        for r in range(rounds):
            for on in (True, False) if r % 2 else (False, True):
                set_mode(on)
                samples[on].extend([await one() for _ in range(calls // rounds)])
        set_mode(True)
        on_med, off_med = statistics.median(samples[True]), statistics.median(samples[False])
        print(
            f"proxied call, breaker+log on: median {on_med:.3f} ms  p99 {pct(samples[True], 0.99):.3f} ms;"
            f" off: median {off_med:.3f} ms  p99 {pct(samples[False], 0.99):.3f} ms;"
            f" overhead at the median {on_med - off_med:+.3f} ms (target <= 0.2)"
        )

        await client.call_tool("echo__crash", {})
        assert guard.breaker.state == "open"
        direct: list[float] = []

        async def never() -> None:
            raise AssertionError("an open breaker must not call the upstream")

        for _ in range(10_000):
            started = time.perf_counter()
            with suppress(BreakerOpen):
                await guard.call(never, idempotent=True)
            direct.append((time.perf_counter() - started) * 1000)
        through: list[float] = []
        for _ in range(1000):
            started = time.perf_counter()
            await client.call_tool("echo__echo", {"text": "x"})
            through.append((time.perf_counter() - started) * 1000)
        print(
            f"open breaker: p50 {pct(direct, 0.5) * 1000:.1f} us  p99 {pct(direct, 0.99) * 1000:.1f} us (target <= 1 ms);"
            f" through the hub (in-process MCP client, logged): p50 {pct(through, 0.5):.3f} ms"
            f"  p99 {pct(through, 0.99):.3f} ms"
        )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="hub-faults-") as name:
        tmp = Path(name)
        steps: list[Callable[[], Awaitable[None]]] = [
            lambda: stdio_faults(tmp),
            lambda: crash_loop(tmp, args.cycles),
            lambda: socket_faults(tmp),
            lambda: kill_9(tmp),
            lambda: sigterm(tmp, args.callers),
        ]
        if args.postgres:
            steps.append(lambda: postgres_outage(tmp, args.postgres, args.calls))
        steps.append(lambda: latency(tmp, args.latency_calls))
        for step in steps:
            await step()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=1000, help="crash/restart cycles")
    parser.add_argument("--calls", type=int, default=10_000, help="calls across the PostgreSQL outage")
    parser.add_argument("--callers", type=int, default=8, help="concurrent callers when SIGTERM comes")
    parser.add_argument(
        "--latency-calls", type=int, default=4000, help="calls per mode for the overhead figure"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "HUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
        help="maintenance URL of the PostgreSQL server for the outage ('' to skip)",
    )
    anyio.run(main, parser.parse_args())
