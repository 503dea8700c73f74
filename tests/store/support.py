"""Helpers of the store tests: a private event loop for sync fixtures, PostgreSQL administration."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import URL, make_url

T = TypeVar("T")

EXTENSIONS = ("uuid-ossp", "pgcrypto", "pg_trgm", "btree_gin")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a private event loop, leaving the test runner's loop alone."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(coroutine)


def admin_dsn(url: str | URL) -> str:
    """The libpq-style DSN asyncpg takes, from an SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def execute(url: str | URL, *statements: str) -> None:
    """Run statements on their own asyncpg connection, outside any transaction."""
    connection = await asyncpg.connect(admin_dsn(url), timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def reset_postgres(url: str) -> None:
    """Empty a scratch database: its ``public`` schema with every table, function and extension."""
    run(
        execute(
            url,
            "DROP SCHEMA public CASCADE",
            "CREATE SCHEMA public",
            # The extensions' objects live in public and went with it; this removes what is left.
            *(f'DROP EXTENSION IF EXISTS "{name}"' for name in EXTENSIONS),
        )
    )
