"""Databases for the store tests, each once on SQLite and once on PostgreSQL.

Migration tests get an empty database each (a new SQLite file; the scratch PostgreSQL database
with an empty ``public`` schema). Model tests share a database migrated once per session and
roll back what they write. Scratch PostgreSQL databases (``hub_test_<random>``) are created on
the server of ``HUB_TEST_POSTGRES_URL`` (default: the local server) and dropped at the end. An unreachable server skips those tests, except under ``CI=true``,
where it fails them: CI must never pass by skipping PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession

from hub.store import migrate
from hub.store.db import create_engine, mask_url
from tests.store.support import execute, reset_postgres, run

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def anyio_backend() -> str:
    """The hub runs on asyncio."""
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server() -> URL:
    """The PostgreSQL server's maintenance URL, once it has answered."""
    server = make_url(os.environ.get("HUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    try:
        run(execute(server, "SELECT 1"))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = f"PostgreSQL at {mask_url(server)} is not usable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(reason)
    return server


def _scratch_database(server: URL) -> Iterator[str]:
    name = f"hub_test_{secrets.token_hex(6)}"
    run(execute(server, f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE ends sessions a failed test may have left open.
        run(execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_database(postgres_server: URL) -> Iterator[str]:
    """A scratch database for tests that migrate it themselves (emptied before each)."""
    yield from _scratch_database(postgres_server)


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: URL) -> Iterator[str]:
    """A scratch database migrated to head once; tests on it roll back what they write."""
    for url in _scratch_database(postgres_server):
        run(migrate.upgrade(url))
        yield url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An SQLite file migrated to head once; tests on it roll back what they write."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('migrated') / 'hub.sqlite3'}"
    run(migrate.upgrade(url))
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated_url(request: pytest.FixtureRequest) -> str:
    """A database at head, once SQLite and once PostgreSQL."""
    return str(request.getfixturevalue(f"migrated_{request.param.replace('postgresql', 'postgres')}"))


@pytest.fixture
async def session(migrated_url: str) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test; commits become savepoints."""
    engine = create_engine(migrated_url)
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            session = AsyncSession(
                bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            try:
                yield session
            finally:
                await session.close()
                await transaction.rollback()
    finally:
        await engine.dispose()


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
