"""Alembic environment of the hub: async engines, and a connection handed in by the caller.

``hub.store.migrate`` opens the connection itself and passes it (a sync ``Connection``, inside
``AsyncConnection.run_sync``) as ``config.attributes["connection"]``; the ``alembic`` command line
has none, so an async engine is built from ``sqlalchemy.url``. Revisions are written out by hand;
``target_metadata`` is set only so that ``alembic revision --autogenerate`` can draft the next one.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context

from hub.errors import StoreError
from hub.store.db import create_engine
from hub.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit the SQL of the migrations instead of running them (``alembic upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def include_object(
    obj: sa.schema.SchemaItem, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave GIN indexes out of autogenerate on SQLite, which has none (the models skip them there)."""
    if type_ == "index" and not reflected and isinstance(obj, sa.Index):
        dialect = context.get_context().dialect
        return not (dialect.name != "postgresql" and obj.dialect_kwargs.get("postgresql_using") == "gin")
    return True


def do_run_migrations(connection: sa.Connection) -> None:
    """Run the pending revisions on one connection, in one transaction."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite changes constraints only by rebuilding a table ("batch" mode).
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=include_object,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            # Foreign keys are off while SQLite tables are rebuilt; prove nothing was left dangling.
            dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise StoreError(f"migration left rows with dangling foreign keys: {dangling[:5]}")


async def run_async_migrations() -> None:
    """Build an engine from the configured URL and run the migrations on one of its connections."""
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no sqlalchemy.url configured for the migrations")
    engine = create_engine(url, enforce_foreign_keys=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Use the caller's connection if there is one, else an engine of our own."""
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    elif isinstance(connection, sa.Connection):
        do_run_migrations(connection)
    else:
        raise TypeError(
            "config.attributes['connection'] must be the sync Connection given by AsyncConnection.run_sync"
        )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
