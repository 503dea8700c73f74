"""The hub's async engine and session factory, built from settings and passed down explicitly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from hub.errors import StoreError
from hub.settings import Settings

__all__ = ["check_connection", "create_engine", "create_sessionmaker", "map_connect_errors", "mask_url"]

# How long a SQLite transaction waits for another's lock before failing with "database is locked".
# Every transaction takes the write lock up front (see _begin), so a burst — a hundred upstreams
# discovered at once, each recording its tools and health — queues here; transactions are short,
# so a generous wait costs nothing in the normal case and avoids failing a burst.
SQLITE_BUSY_TIMEOUT_MS = 30000
# Seconds to wait for PostgreSQL to accept a connection: an unreachable host must fail promptly.
POSTGRES_CONNECT_TIMEOUT = 10.0


def mask_url(url: str | URL) -> str:
    """The URL as text with its password replaced by ``***``, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable database URL>"


def create_engine(
    settings_or_url: Settings | str | URL, *, enforce_foreign_keys: bool = True, echo: bool = False
) -> AsyncEngine:
    """An engine for the hub's database: SQLite (WAL, foreign keys on) or PostgreSQL via asyncpg.

    ``enforce_foreign_keys=False`` is for migrations only: rebuilding an SQLite table (the only way
    to change a constraint there) drops it, and with enforcement on that drop would cascade.
    """
    raw = (
        settings_or_url.resolved_database_url() if isinstance(settings_or_url, Settings) else settings_or_url
    )
    try:
        url = make_url(raw)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"invalid database URL {mask_url(raw)}") from exc
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, enforce_foreign_keys=enforce_foreign_keys, echo=echo)
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
    if url.get_backend_name() == "postgresql":
        # pre_ping notices connections a server restart has cut; recycle bounds their age for
        # proxies (pgbouncer, cloud load balancers) that drop idle connections silently.
        kwargs.update(pool_size=10, max_overflow=10, pool_recycle=1800)
        if url.get_driver_name() == "asyncpg":
            kwargs["connect_args"] = {"timeout": POSTGRES_CONNECT_TIMEOUT}
    try:
        return create_async_engine(url, **kwargs)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database URL {mask_url(url)}: {exc}") from exc


def _create_sqlite_engine(url: URL, *, enforce_foreign_keys: bool, echo: bool) -> AsyncEngine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file:")
    if not in_memory:
        directory = Path(database).expanduser().parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {directory}: {exc.strerror}") from exc
    engine = create_async_engine(url, echo=echo)

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # The driver's own transaction handling skips BEGIN before DDL, which would leave a failed
        # migration half applied; SQLAlchemy emits BEGIN itself instead (see _begin below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys={'ON' if enforce_foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                # WAL: readers do not block the writer, which matters while calls are being logged.
                cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes gets SQLITE_BUSY at once (busy_timeout does not apply to that upgrade) whenever
        # another connection wrote in between. With WAL, readers are not blocked by it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory of the hub; objects stay readable after commit (no lazy reloads)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@contextmanager
def map_connect_errors(url: str | URL) -> Iterator[None]:
    """Turn a failure to reach the database into one ``StoreError`` line without the password."""
    try:
        yield
    # asyncpg raises its own errors (unknown role, no such database) at connect, not wrapped.
    except (OSError, TimeoutError, sa.exc.DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreError(f"cannot connect to the database {mask_url(url)}: {_reason(exc, url)}") from exc


def _reason(exc: BaseException, url: str | URL) -> str:
    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    try:
        password = make_url(url).password
    except sa.exc.ArgumentError:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text


async def check_connection(engine: AsyncEngine) -> None:
    """Connect once and run ``SELECT 1``; a failure becomes a ``StoreError``."""
    with map_connect_errors(engine.url):
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
