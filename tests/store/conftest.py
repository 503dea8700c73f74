"""Databases for the store tests: an SQLite file per test and one scratch PostgreSQL database.

The PostgreSQL database ``hub_test_<random>`` is created once per session on the server of
``HUB_TEST_POSTGRES_URL`` (default: the local server) and dropped at the end; each test gets it
with an empty ``public`` schema. An unreachable server skips those tests, except under ``CI=true``,
where it fails them: CI must never pass by skipping PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from hub.store.db import mask_url

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

T = TypeVar("T")


@pytest.fixture
def anyio_backend() -> str:
    """The hub runs on asyncio."""
    return "asyncio"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a private event loop, leaving the test runner's loop alone."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(coroutine)


def _dsn(url: URL) -> str:
    """The libpq-style DSN asyncpg takes, from an SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: URL, *statements: str) -> None:
    connection = await asyncpg.connect(_dsn(url), timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The SQLAlchemy URL of a scratch PostgreSQL database that lives for the test session."""
    server = make_url(os.environ.get("HUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    name = f"hub_test_{secrets.token_hex(6)}"
    try:
        run(_admin(server, f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = f"PostgreSQL at {mask_url(server)} is not usable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(reason)
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE ends sessions a failed test may have left open.
        run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def reset_postgres(url: str) -> None:
    """Empty the scratch database: its ``public`` schema with every table, function and extension."""
    run(
        _admin(
            make_url(url),
            "DROP SCHEMA public CASCADE",
            "CREATE SCHEMA public",
            # Extensions made by the migrations live in public and go with it, but be explicit.
            *(
                f'DROP EXTENSION IF EXISTS "{name}"'
                for name in ("uuid-ossp", "pgcrypto", "pg_trgm", "btree_gin")
            ),
        )
    )


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The scratch PostgreSQL database, empty."""
    reset_postgres(postgres_database)
    return postgres_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new SQLite file in the test's temporary directory (not yet created)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'hub.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database, once SQLite and once PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))
