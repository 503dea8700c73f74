"""Fixtures for connector tests: scratch databases, a test HTTP API and a Kafka-protocol broker.

Every address comes from the environment so CI and developers can point elsewhere:
``HUB_TEST_POSTGRES_URL``, ``HUB_TEST_MYSQL_URL``, ``HUB_TEST_KAFKA_BOOTSTRAP`` (a real cluster;
otherwise a noida-db broker is started from the installed ``noida-db`` wheel). A service that is
absent skips its tests locally and fails them when ``CI=true``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import asyncmy
import asyncpg
import pytest

from tests.connectors.services import API_TOKEN, Broker, ThreadedServer, build_api, kafka_ready, noida_binary

PG_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("HUB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
MYSQL_USER_PASSWORD = "my-5ecret-Pw-7c1d"


def in_ci() -> bool:
    """Whether this run is CI, where a missing service is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a skip there would hide a missing install step."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """The hub runs on asyncio (session scope so session fixtures may be async-free but share it)."""
    return "asyncio"


@dataclass(frozen=True)
class SqlServer:
    """A scratch database on a real server and how to reach it."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def config(self, **overrides: Any) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "database": self.database, **overrides}

    def credentials(self) -> dict[str, str]:
        return {"user": self.user, "password": self.password}


def _scratch_name() -> str:
    return f"hub_conn_{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[SqlServer]:
    """A scratch PostgreSQL database for this run, with a few tables, dropped at the end."""
    url = urlsplit(PG_URL)
    host, port, user = url.hostname or "127.0.0.1", url.port or 5432, url.username or "postgres"
    name = _scratch_name()

    async def setup() -> None:
        admin = await asyncpg.connect(PG_URL, timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(host=host, port=port, user=user, password=url.password, database=name)
        try:
            await conn.execute(
                """
                CREATE TABLE lines (line_code text PRIMARY KEY, name text, capacity numeric(10,2),
                                    started date, id uuid DEFAULT gen_random_uuid(), payload bytea,
                                    meta jsonb);
                INSERT INTO lines (line_code, name, capacity, started, payload, meta) VALUES
                    ('L1', 'press', 12.50, '2026-01-02', '\\x00ff', '{"shift": 2}'),
                    ('L2', 'paint', 7.25, '2026-02-03', NULL, NULL);
                CREATE TABLE big AS SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 50000) g;
                CREATE TABLE notes (id serial PRIMARY KEY, body text);
                """
            )
        finally:
            await conn.close()

    async def teardown() -> None:
        admin = await asyncpg.connect(PG_URL, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    try:
        anyio.run(setup)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable(f"PostgreSQL is not reachable at {host}:{port}: {exc}")
    yield SqlServer(host, port, user, url.password or "", name)
    anyio.run(teardown)


@pytest.fixture(scope="session")
def mysql() -> Iterator[SqlServer]:
    """A scratch MariaDB/MySQL database and a password-protected user for it, dropped at the end."""
    url = urlsplit(MYSQL_URL)
    host, port = url.hostname or "127.0.0.1", url.port or 3306
    admin_kwargs = {
        "host": host,
        "port": port,
        "user": url.username or "root",
        "password": url.password or "",
    }
    name = _scratch_name()

    async def run(*statements: str, db: str | None = None) -> None:
        conn = await asyncmy.connect(**admin_kwargs, db=db, connect_timeout=5, autocommit=True)
        try:
            async with conn.cursor() as cur:
                for statement in statements:
                    await cur.execute(statement)
        finally:
            await conn.ensure_closed()

    async def create() -> None:
        await run(
            f"CREATE DATABASE `{name}`",
            f"CREATE USER '{name}'@'%' IDENTIFIED BY '{MYSQL_USER_PASSWORD}'",
            f"GRANT ALL ON `{name}`.* TO '{name}'@'%'",
        )
        await run(
            "CREATE TABLE plant_lines (line_code varchar(16) PRIMARY KEY, name text, capacity decimal(10,2),"
            " started date, shift_start time, payload blob)",
            "INSERT INTO plant_lines VALUES ('L1', 'press', 12.50, '2026-01-02', '06:30:00', x'00ff'),"
            " ('L2', 'paint', 7.25, '2026-02-03', NULL, NULL)",
            "CREATE TABLE digits (d int)",
            "INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)",
            "CREATE TABLE big (n int PRIMARY KEY)",
            # Portable across MariaDB and MySQL (no sequence engine, no recursion limit).
            "INSERT INTO big SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d"
            " FROM digits a, digits b, digits c, digits e, digits f WHERE f.d < 2",
            db=name,
        )

    async def drop() -> None:
        await run(f"DROP DATABASE IF EXISTS `{name}`", f"DROP USER IF EXISTS '{name}'@'%'")

    try:
        anyio.run(create)
    except (OSError, asyncmy.errors.MySQLError) as exc:
        anyio.run(drop)
        unavailable(f"MariaDB/MySQL is not usable at {host}:{port}: {exc}")
    yield SqlServer(host, port, name, MYSQL_USER_PASSWORD, name)
    anyio.run(drop)


@pytest.fixture(scope="session")
def api() -> Iterator[ThreadedServer]:
    """The test HTTP API, up for the whole run."""
    server = ThreadedServer(build_api())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api_token() -> str:
    """The bearer token the test API accepts."""
    return API_TOKEN


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a Kafka-protocol broker: HUB_TEST_KAFKA_BOOTSTRAP, else a fresh noida-db."""
    if env := os.environ.get("HUB_TEST_KAFKA_BOOTSTRAP"):
        host, _, port = env.split(",")[0].rpartition(":")
        if not kafka_ready(host, int(port)):
            unavailable(f"HUB_TEST_KAFKA_BOOTSTRAP={env} does not answer ApiVersions")
        yield env
        return
    broker = start_broker(tmp_path_factory.mktemp("kafka"))
    yield broker.bootstrap
    broker.stop()


def start_broker(data_dir: Path, port: int | None = None) -> Broker:
    """A running noida-db broker, or a skip (a failure in CI) when its binary is not installed."""
    binary = noida_binary()
    if binary is None:
        unavailable(
            "no Kafka broker: install the test dependency noida-db==0.2.3 or set HUB_TEST_KAFKA_BOOTSTRAP"
        )
        raise AssertionError("unreachable")
    broker = Broker(binary, data_dir, port)
    broker.start()
    return broker
