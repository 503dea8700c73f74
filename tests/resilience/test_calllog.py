"""The call log loses nothing: a locked or unreachable database, memory full, and a process killed with SIGKILL."""

from __future__ import annotations

import functools
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.lowlevel
import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub.identity import DEMO_TENANT_ID
from hub.store import migrate, toolrows
from hub.store.calllog import CallLog, CallRecord
from hub.store.db import create_engine, create_sessionmaker
from hub.store.models import Base
from hub.tools import status
from tests.resilience.support import (
    PG_URL,
    echo_entry,
    hub,
    unavailable,
    wait_for_tool,
    write_then_kill,
)

pytestmark = pytest.mark.anyio

_logs = Base.metadata.tables["mcp_call_logs"]
_tools = Base.metadata.tables["mcp_tools"]


def record(i: int, tool_id: uuid.UUID) -> CallRecord:
    return CallRecord(
        tenant_id=DEMO_TENANT_ID,
        tool_id=tool_id,
        input_data={"i": i},
        output_data={"ok": True},
        success=True,
        error_message=None,
        latency_ms=2,
        trace_id=str(i),
        created_at=datetime.now(UTC),
    )


async def tool_row(engine: AsyncEngine) -> uuid.UUID:
    async with create_sessionmaker(engine)() as session, session.begin():
        ids = await toolrows.ensure_builtin_tools(session, DEMO_TENANT_ID, status.tools(), version="test")
    return ids["hub_status"]


async def stored(engine: AsyncEngine) -> tuple[int, int, int]:
    """(rows, distinct trace ids, usage_count of the tool)."""
    async with engine.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(_logs))).scalar_one()
        distinct = (await conn.execute(select(func.count(func.distinct(_logs.c.trace_id))))).scalar_one()
        usage = (await conn.execute(select(func.max(_tools.c.usage_count)))).scalar_one()
    return n, distinct, usage


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}"
    await migrate.upgrade(url)
    return url


async def test_rows_logged_while_sqlite_is_locked_are_spooled_and_written_when_it_is_free(
    sqlite_url: str, tmp_path: Path
) -> None:
    # The hub's engine waits 5 s for a lock; this one gives up after 50 ms so the outage is quick.
    engine = create_async_engine(sqlite_url, connect_args={"timeout": 0.05})
    try:
        tool_id = await tool_row(engine)
        log = CallLog(create_sessionmaker(engine), spool_dir=tmp_path / "spool", max_memory_rows=300)
        blocker = sqlite3.connect(tmp_path / "hub.sqlite3", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        async with anyio.create_task_group() as tg:
            tg.start_soon(log.run)
            for i in range(2000):
                log.record(record(i, tool_id))
                if i % 100 == 0:
                    await anyio.lowlevel.checkpoint()
            await log.flush()
            assert log.database_down
            assert log.pending == 2000
            assert log.written == 0
            assert list((tmp_path / "spool").glob("*.jsonl"))  # spilled to disk past 300 rows
            blocker.execute("ROLLBACK")
            blocker.close()
            with anyio.fail_after(20):
                while log.pending:
                    await log.flush()
            await log.aclose()
        assert await stored(engine) == (2000, 2000, 2000)
        assert not any(p.stat().st_size for p in (tmp_path / "spool").glob("*.jsonl"))
    finally:
        await engine.dispose()


async def test_a_graceful_close_writes_everything_and_leaves_no_spool(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = create_engine(sqlite_url)
    try:
        tool_id = await tool_row(engine)
        log = CallLog(create_sessionmaker(engine), spool_dir=tmp_path / "spool")
        async with anyio.create_task_group() as tg:
            tg.start_soon(log.run)
            for i in range(1234):
                log.record(record(i, tool_id))
            await log.aclose()
        assert await stored(engine) == (1234, 1234, 1234)
        assert list((tmp_path / "spool").glob("*.jsonl")) == []
    finally:
        await engine.dispose()


async def test_after_kill_9_at_most_the_last_100_ms_are_missing_and_the_spool_is_replayed(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = create_engine(sqlite_url)
    try:
        tool_id = await tool_row(engine)
        spool = tmp_path / "spool"
        last, killed = await anyio.to_thread.run_sync(
            functools.partial(
                write_then_kill,
                sqlite_url,
                spool,
                tool_id,
                tmp_path / "hub.sqlite3",
                lock_at=500,
                kill_at=1500,
            )
        )
        killed_at = datetime.fromtimestamp(killed, UTC)

        log = CallLog(create_sessionmaker(engine), spool_dir=spool)
        replayed = await log.replay()
        assert replayed > 0
        await log.aclose()
        async with engine.connect() as conn:
            found = (await conn.execute(select(_logs.c.trace_id, _logs.c.created_at))).all()
        traces = [int(t) for t, _ in found]
        assert len(traces) == len(set(traces))  # nothing written twice
        present = set(traces)
        missing = [i for i in range(last + 1) if i not in present]
        # Whatever is missing was recorded within the last 100 ms before the kill.
        assert len(missing) <= 100
        assert all(i > last - 100 for i in missing)
        recent = max(created for _, created in found)
        assert (killed_at.replace(tzinfo=None) - recent.replace(tzinfo=None)).total_seconds() < 0.1
    finally:
        await engine.dispose()


@pytest.fixture
async def postgres_db() -> AsyncIterator[tuple[str, str]]:
    """A scratch PostgreSQL database at head: (its URL, the maintenance URL)."""
    admin = PG_URL.replace("+asyncpg", "")
    try:
        conn = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at {admin} is not reachable: {exc}")
    name = f"hub_resil_{uuid.uuid4().hex[:10]}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    url = f"{base}/{name}"
    try:
        await migrate.upgrade(url)
        yield url, admin
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@pytest.mark.postgres
async def test_ten_thousand_calls_across_a_postgres_outage_lose_no_row(
    postgres_db: tuple[str, str], tmp_path: Path
) -> None:
    url, admin = postgres_db
    name = url.rpartition("/")[2]
    engine = create_engine(url)
    try:
        tool_id = await tool_row(engine)
        log = CallLog(create_sessionmaker(engine), spool_dir=tmp_path / "spool", max_memory_rows=2000)
        control = await asyncpg.connect(admin)
        async with anyio.create_task_group() as tg:
            tg.start_soon(log.run)
            for i in range(10_000):
                log.record(record(i, tool_id))
                if i == 3000:
                    await log.flush()
                    # The outage: no new connections, and the pool's are cut.
                    await control.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                    await control.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
                    )
                if i == 7000:
                    await log.flush()
                    assert log.database_down
                    await control.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                if i % 250 == 0:
                    await anyio.lowlevel.checkpoint()
            with anyio.fail_after(30):
                while log.pending:
                    await log.flush()
            await log.aclose()
        await control.close()
        assert await stored(engine) == (10_000, 10_000, 10_000)
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_known_caller_keeps_calling_through_a_postgres_outage_after_its_cache_entry_aged(
    postgres_db: tuple[str, str], tmp_path: Path
) -> None:
    url, admin = postgres_db
    name = url.rpartition("/")[2]
    async with hub(tmp_path, {"echo": echo_entry()}, database_url=url) as (app, client):
        await wait_for_tool(client, "echo__echo")
        assert not (await client.call_tool("echo__echo", {"text": "before"})).is_error
        # Older than the cache's freshness: the next call asks the database, which is away by then.
        for key, (_, caller) in list(app._auth_cache.items()):
            app._auth_cache[key] = (time.monotonic() - 3600, caller)
        control = await asyncpg.connect(admin)
        try:
            await control.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await control.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            assert not (await client.call_tool("echo__echo", {"text": "during"})).is_error
            await control.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            with anyio.fail_after(30):
                while app.calllog.pending:
                    await app.calllog.flush()
        finally:
            await control.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await control.close()
        async with app.engine.connect() as conn:
            texts = (await conn.execute(select(_logs.c.input_data))).scalars().all()
    assert sorted(t["text"] for t in texts) == ["before", "during"]
