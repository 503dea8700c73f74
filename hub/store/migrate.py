"""Apply the schema migrations from Python; ``hub db upgrade|downgrade`` is a thin wrapper of these.

There is no ``alembic.ini``: :func:`alembic_config` builds the configuration in code, pointing at
the ``migrations`` directory next to the ``hub`` package (a source checkout or editable install).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL

from hub.errors import HubError, InputError, StoreError
from hub.store.db import create_engine, map_connect_errors

__all__ = ["MIGRATIONS_DIR", "MigrationResult", "alembic_config", "current", "downgrade", "head", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

# Any constant will do; it only has to be the same for every hub process migrating one database.
_POSTGRES_LOCK_KEY = 0x6875625F6462  # "hub_db"


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """Where the database was before and is after a migration command (``None``: no schema)."""

    before: str | None
    after: str | None
    head: str

    @property
    def changed(self) -> bool:
        """Whether any revision was applied or reverted."""
        return self.before != self.after

    @property
    def message(self) -> str:
        """One line for a person: what happened."""
        after = self.after or "base"
        if not self.changed:
            return f"already at head ({after})" if self.after == self.head else f"already at {after}"
        suffix = " (head)" if self.after == self.head else ""
        return f"migrated from {self.before or 'base'} to {after}{suffix}"


def alembic_config(url: str | URL) -> Config:
    """An Alembic configuration for the database at ``url`` and the hub's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    # The options are ConfigParser values, where "%" starts an interpolation.
    config.set_main_option("sqlalchemy.url", text.replace("%", "%%"))
    return config


def head() -> str:
    """The newest revision the migrations define."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    revision = script.get_current_head()
    if revision is None:
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return revision


async def upgrade(url: str | URL, revision: str = "head") -> MigrationResult:
    """Apply every revision up to ``revision``; at head already, change nothing and say so."""
    return await _migrate(url, lambda config: command.upgrade(config, revision), f"upgrade to {revision}")


async def downgrade(url: str | URL, revision: str = "base") -> MigrationResult:
    """Revert revisions down to ``revision``; ``base`` drops everything the migrations made."""
    return await _migrate(url, lambda config: command.downgrade(config, revision), f"downgrade to {revision}")


async def current(url: str | URL) -> str | None:
    """The revision the database is at, ``None`` when the migrations never ran on it."""
    engine = create_engine(url)
    try:
        async with AsyncExitStack() as stack:
            with map_connect_errors(url):
                connection = await stack.enter_async_context(engine.connect())
            return await connection.run_sync(_revision_of)
    finally:
        await engine.dispose()


async def _migrate(url: str | URL, action: Callable[[Config], None], what: str) -> MigrationResult:
    config = alembic_config(url)
    newest = head()
    # Foreign keys stay off on SQLite while migrating: a table rebuild would cascade otherwise.
    engine = create_engine(url, enforce_foreign_keys=False)
    try:
        async with AsyncExitStack() as stack:
            with map_connect_errors(url):
                connection = await stack.enter_async_context(engine.connect())
            try:
                before, after = await connection.run_sync(_apply, config, action)
                await connection.commit()
            except HubError:
                raise
            except CommandError as exc:
                raise InputError(f"cannot {what}: {exc}") from exc
            except (sa.exc.SQLAlchemyError, asyncpg.PostgresError, OSError) as exc:
                raise StoreError(f"{what} failed: {_first_line(exc)}") from exc
    finally:
        await engine.dispose()
    return MigrationResult(before=before, after=after, head=newest)


def _apply(
    connection: sa.Connection, config: Config, action: Callable[[Config], None]
) -> tuple[str | None, str | None]:
    if connection.dialect.name == "postgresql":
        # Two hub processes starting at once must not both create the schema.
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_POSTGRES_LOCK_KEY)))
    before = _revision_of(connection)
    # The connection-sharing recipe: env.py runs the revisions on this very connection and
    # transaction, so everything commits together (or not at all, where the database allows).
    config.attributes["connection"] = connection
    action(config)
    return before, _revision_of(connection)


def _revision_of(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _first_line(exc: BaseException) -> str:
    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
