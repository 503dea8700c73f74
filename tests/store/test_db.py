"""The engine and session factory: SQLite set-up, PostgreSQL reachability, errors without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from hub.errors import StoreError
from hub.settings import Settings
from hub.store.db import check_connection, create_engine, create_sessionmaker, mask_url

pytestmark = pytest.mark.anyio


async def _pragma(url: str, name: str, *, enforce_foreign_keys: bool = True) -> object:
    engine = create_engine(url, enforce_foreign_keys=enforce_foreign_keys)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(sa.text(f"PRAGMA {name}"))).scalar()
    finally:
        await engine.dispose()


async def test_sqlite_engine_creates_the_data_directory_with_wal_foreign_keys_and_a_busy_timeout(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a' / 'b' / 'hub.sqlite3'}"
    assert await _pragma(url, "journal_mode") == "wal"
    assert await _pragma(url, "foreign_keys") == 1
    assert await _pragma(url, "busy_timeout") == 30000
    assert (tmp_path / "a" / "b" / "hub.sqlite3").is_file()


async def test_migrations_can_have_an_sqlite_engine_without_foreign_key_enforcement(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}"
    assert await _pragma(url, "foreign_keys", enforce_foreign_keys=False) == 0


async def test_settings_without_a_database_url_mean_an_sqlite_file_in_the_data_directory(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = create_engine(settings)
    try:
        await check_connection(engine)
    finally:
        await engine.dispose()
    assert engine.dialect.name == "sqlite"
    assert (tmp_path / "data" / "hub.sqlite3").is_file()


async def test_sessions_come_from_the_engine_and_keep_objects_after_commit(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    try:
        sessions = create_sessionmaker(engine)
        assert sessions.kw["expire_on_commit"] is False
        async with sessions() as session:
            assert (await session.execute(sa.text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


def test_a_data_directory_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError):
        create_engine(f"sqlite+aiosqlite:///{blocker / 'sub' / 'hub.sqlite3'}")


def test_an_invalid_url_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        create_engine("this is not a database url")


def test_masked_urls_never_show_the_password() -> None:
    url = "postgresql+asyncpg://hub:p%40ss-w0rd@db.example:5432/hub"
    assert "p%40ss" not in mask_url(url)
    assert "p@ss" not in mask_url(url)
    assert mask_url(url) == "postgresql+asyncpg://hub:***@db.example:5432/hub"
    assert "w0rd" not in mask_url(URL.create("postgresql+asyncpg", "hub", "w0rd", "db", 5432, "hub"))


async def test_an_unreachable_server_is_a_retriable_store_error_without_the_password() -> None:
    # Port 9 (discard) on loopback: nothing listens there, the connection is refused at once.
    engine = create_engine("postgresql+asyncpg://hub:sup3r-s3cret@127.0.0.1:9/hub")
    try:
        with pytest.raises(StoreError) as caught:
            await check_connection(engine)
    finally:
        await engine.dispose()
    assert "sup3r-s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.retriable


@pytest.mark.postgres
async def test_a_missing_postgres_database_is_a_store_error(postgres_server: URL) -> None:
    engine = create_engine(postgres_server.set(database="hub_no_such_database"))
    try:
        with pytest.raises(StoreError):
            await check_connection(engine)
    finally:
        await engine.dispose()
