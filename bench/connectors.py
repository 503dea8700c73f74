"""Connector benchmarks, each against a baseline measured in the same run.

1. A one-row SELECT through ``PostgresConnector.query`` vs raw asyncpg (``pool.fetch``) on a pool
   of the same size, interleaved in rounds so both see the same server and cache state; prints the
   median and p90 of each and the median overhead (target: at most 0.2 ms).
2. The same one-row SELECT as the MCP tool ``connector_query``: through the hub's dispatch path
   (``Dispatcher.call``: permission, schema validation, call log) and over MCP with an in-process
   client, against the Python API in the same run (a hub on a temporary SQLite database).
3. Health checks of 50 connectors of which 5 point at a port that accepts nothing: run
   concurrently with a bounded semaphore (``connectors.check_health``) the whole sweep should take
   about one timeout, not five; prints the wall time against the timeout and against the sum of
   the individual check times (what a sequential sweep would cost).

Usage: ``.venv/bin/python bench/connectors.py [--rounds N]``; addresses from
``HUB_TEST_POSTGRES_URL`` / ``HUB_TEST_MYSQL_URL`` like the tests. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import asyncpg

# Run as a script, this file's own directory comes first on sys.path and its name shadows the
# connectors package; drop that entry so the import below finds the package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

from connectors import Connector, PostgresConnector, build_connector, check_health

PG_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("HUB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


def pg_config(**extra: object) -> tuple[dict[str, object], dict[str, object]]:
    url = urlsplit(PG_URL)
    config = {"host": url.hostname, "port": url.port or 5432, "database": url.path.lstrip("/") or "postgres"}
    return {**config, **extra}, {"user": url.username or "postgres", "password": url.password or ""}


def mysql_config(**extra: object) -> tuple[dict[str, object], dict[str, object]]:
    url = urlsplit(MYSQL_URL)
    config = {"host": url.hostname, "port": url.port or 3306, "database": url.path.lstrip("/") or "test"}
    return {**config, **extra}, {"user": url.username or "root", "password": url.password or ""}


async def timed(fn: Callable[[], Awaitable[object]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


async def bench_query(rounds: int, per_round: int) -> None:
    config, credentials = pg_config(connection_pool={"min_connections": 1, "max_connections": 1})
    db = build_connector("postgres", config, credentials)
    assert isinstance(db, PostgresConnector)
    await db.open()
    url = urlsplit(PG_URL)
    raw = await asyncpg.create_pool(
        host=url.hostname,
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.path.lstrip("/"),
        min_size=1,
        max_size=1,
        ssl=False,
    )
    cases: list[tuple[str, Callable[[], Awaitable[object]], Callable[[], Awaitable[object]]]] = [
        ("SELECT 1", lambda: db.query("SELECT 1 AS one"), lambda: raw.fetch("SELECT 1 AS one")),
        (
            "SELECT :n::int + 1 (bound)",
            lambda: db.query("SELECT :n::int + 1 AS n", {"n": 41}),
            lambda: raw.fetch("SELECT $1::int + 1 AS n", 41),
        ),
    ]
    print(f"one-row SELECT, {rounds} rounds x {per_round} calls each, pool of one connection")
    print(
        f"{'statement':<28} {'raw med':>9} {'hub med':>9} {'overhead':>9} {'raw p90':>9} {'hub p90':>9} {'ratio':>6}"
    )
    for label, hub_call, raw_call in cases:
        await timed(hub_call, 200)  # warm the statement caches of both
        await timed(raw_call, 200)
        hub_t: list[float] = []
        raw_t: list[float] = []
        for _ in range(rounds):
            raw_t += await timed(raw_call, per_round)
            hub_t += await timed(hub_call, per_round)
        raw_med, hub_med = statistics.median(raw_t), statistics.median(hub_t)
        print(
            f"{label:<28} {raw_med:>7.3f}ms {hub_med:>7.3f}ms {hub_med - raw_med:>7.3f}ms"
            f" {p90(raw_t):>7.3f}ms {p90(hub_t):>7.3f}ms {hub_med / raw_med:>6.2f}"
        )
    print("target: median overhead <= 0.200 ms")
    await raw.close()
    await db.aclose()


async def bench_mcp(rounds: int, per_round: int) -> None:
    import tempfile

    from mcp import Client
    from pydantic import SecretStr

    from hub.app import open_app
    from hub.config import HubConfig
    from hub.secrets import CredentialCipher
    from hub.server.mcp import build_server
    from hub.settings import Settings

    config, credentials = pg_config(connection_pool={"min_connections": 1, "max_connections": 1})
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), secret_key=SecretStr(CredentialCipher.generate_key()))
        async with open_app(settings, config=HubConfig()) as app:
            service = app.connectors
            caller = await app.local_caller()
            await service.register(caller, "bench", "postgres", config, credentials)
            db = await service.sql(caller.tenant_id, "bench")
            args = {"name": "bench", "sql": "SELECT 1 AS one"}

            async def dispatched() -> object:
                outcome = await app.dispatcher.call(caller, "connector_query", args)
                assert outcome.error is None, outcome.error
                return outcome.value

            async with Client(build_server(app)) as client:

                async def over_mcp() -> object:
                    return await client.call_tool("connector_query", args)

                calls = [
                    ("Python API", lambda: db.query("SELECT 1 AS one")),
                    ("dispatch path", dispatched),
                    ("MCP, in-process", over_mcp),
                ]
                times: dict[str, list[float]] = {label: [] for label, _ in calls}
                for _, fn in calls:
                    await timed(fn, 100)
                for _ in range(rounds):
                    for label, fn in calls:
                        times[label] += await timed(fn, per_round)
    base = statistics.median(times["Python API"])
    print()
    print(f"connector_query SELECT 1, {rounds} rounds x {per_round} calls each")
    for label, values in times.items():
        med = statistics.median(values)
        print(
            f"  {label:<16} median {med:7.3f} ms  p90 {p90(values):7.3f} ms  +{med - base:6.3f} ms over the API"
        )


async def bench_health(seconds: float, concurrency: int) -> None:
    # Listening but never accepting: the TCP handshake completes, then nothing ever answers,
    # so each check against it costs its full timeout (a refused port would fail at once).
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    hole_port = hole.getsockname()[1]
    connectors: list[Connector] = []
    pool = {"min_connections": 0, "max_connections": 1}
    for i in range(45):
        config, credentials = (pg_config if i % 2 else mysql_config)(connection_pool=pool)
        connectors.append(build_connector("postgres" if i % 2 else "mysql", config, credentials))
    for i in range(5):
        config, credentials = (pg_config if i % 2 else mysql_config)(
            port=hole_port, connection_pool=pool, connect_timeout_seconds=seconds
        )
        connectors.append(build_connector("postgres" if i % 2 else "mysql", config, credentials))
    try:
        started = time.perf_counter()
        results = await check_health(connectors, timeout=seconds, concurrency=concurrency)
        wall = time.perf_counter() - started
    finally:
        for connector in connectors:
            await connector.aclose()
        hole.close()
    healthy = sum(r.ok for r in results)
    sequential = sum(r.latency_ms for r in results) / 1000
    print()
    print(
        f"health check of {len(results)} connectors (5 silent), timeout {seconds:g} s, concurrency {concurrency}"
    )
    print(f"  healthy {healthy}, unhealthy {len(results) - healthy}")
    print(f"  wall time {wall:.3f} s = {wall / seconds:.2f} x timeout (5 silent hosts in sequence: 5.00 x)")
    print(f"  sum of check times {sequential:.3f} s (a sequential sweep); speed-up {sequential / wall:.1f} x")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    await bench_query(args.rounds, args.per_round)
    await bench_mcp(max(1, args.rounds // 2), max(50, args.per_round // 5))
    await bench_health(args.timeout, args.concurrency)


if __name__ == "__main__":
    anyio.run(main)
