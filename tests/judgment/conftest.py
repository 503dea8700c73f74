"""Fixtures of the judgment tests: a database per backend, a loopback LLM server, a movable clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from hub.store.db import create_engine
from hub.store.models import Base
from tests.judgment.llm_server import LLMServer

PG_ADMIN_DSN = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def anyio_backend() -> str:
    """The hub runs on asyncio."""
    return "asyncio"


class Clock:
    """A clock the tests move by hand; starts at a fixed instant."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 26, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    """A fresh movable clock."""
    return Clock()


async def _create_schema(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite file with the schema for the whole run; tests isolate by creating their own tenants."""
    path: Path = tmp_path_factory.mktemp("judgment") / "hub.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(_create_schema(url))
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL database with the schema for the whole run, dropped at the end."""
    name = f"hub_judgment_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if _in_ci():
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_DSN}: {exc}")
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    url = f"{base}/{name}"
    asyncio.run(_create_schema(url))
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each backend's URL; resolved outside the event loop, since building a database runs its own."""
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    return url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The hub's own engine setup on each backend (the schema is shared; each test makes its own tenants)."""
    engine = create_engine(database_url)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def llm_server() -> Iterator[LLMServer]:
    """An OpenAI-compatible HTTP server on a loopback port, shared by the run."""
    server = LLMServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llm(llm_server: LLMServer) -> LLMServer:
    """The LLM server with its scripted answers and request log cleared."""
    llm_server.reset()
    return llm_server
