"""The Alembic migrations on SQLite and PostgreSQL: round trips, idempotence, seed, agreement with the models."""

from __future__ import annotations

import uuid
from typing import Any

import bcrypt
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.errors import Conflict, InputError, StoreError
from hub.store import migrate
from hub.store.db import create_engine
from hub.store.models import Base

pytestmark = pytest.mark.anyio

DEMO_TENANT_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")
ALL_TABLES = set(Base.metadata.tables)


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def _scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            return (await connection.execute(sa.text(sql), params)).scalar()
    finally:
        await engine.dispose()


async def _execute(url: str, sql: str, **params: Any) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(sql), params)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade_round_trips(database_url: str) -> None:
    first = await migrate.upgrade(database_url)
    assert first.before is None
    assert first.after == migrate.head()
    assert await _tables(database_url) == ALL_TABLES | {"alembic_version"}

    down = await migrate.downgrade(database_url)
    assert down.after is None
    # Alembic keeps its (now empty) bookkeeping table; everything of the hub is gone.
    assert await _tables(database_url) <= {"alembic_version"}
    if database_url.startswith("postgresql"):
        assert (
            await _scalar(database_url, "SELECT count(*) FROM pg_proc WHERE proname = 'set_updated_at'") == 0
        )
        assert await _scalar(database_url, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == 0

    again = await migrate.upgrade(database_url)
    assert again.changed
    assert await _tables(database_url) == ALL_TABLES | {"alembic_version"}
    assert await migrate.current(database_url) == migrate.head()


async def test_second_upgrade_is_a_no_op_that_says_already_at_head(database_url: str) -> None:
    await migrate.upgrade(database_url)
    second = await migrate.upgrade(database_url)
    assert not second.changed
    assert second.before == second.after == second.head
    assert second.message.startswith("already at head")


async def test_current_is_none_before_the_first_upgrade(database_url: str) -> None:
    assert await migrate.current(database_url) is None


async def test_seed_is_present_exactly_once_after_two_upgrades(database_url: str) -> None:
    await migrate.upgrade(database_url)
    await migrate.upgrade(database_url)
    assert await _scalar(database_url, "SELECT count(*) FROM tenants WHERE name = 'demo'") == 1
    assert await _scalar(database_url, "SELECT count(*) FROM users WHERE email = 'admin@demo.com'") == 1
    tenant_id = await _scalar(database_url, "SELECT tenant_id FROM users WHERE email = 'admin@demo.com'")
    assert uuid.UUID(str(tenant_id)) == DEMO_TENANT_ID


async def test_seed_leaves_a_demo_tenant_made_by_hand_alone(database_url: str) -> None:
    await migrate.upgrade(database_url, "0001_core_schema")
    await _execute(
        database_url,
        "INSERT INTO tenants (id, name, display_name) VALUES (:id, 'demo', 'Made by hand')",
        id=str(DEMO_TENANT_ID),
    )
    await migrate.upgrade(database_url)
    assert await _scalar(database_url, "SELECT count(*) FROM tenants") == 1
    assert await _scalar(database_url, "SELECT display_name FROM tenants") == "Made by hand"
    assert await _scalar(database_url, "SELECT count(*) FROM users WHERE username = 'admin'") == 1


async def test_seeded_admin_has_a_bcrypt_hash_of_the_demo_password_and_every_permission(
    database_url: str,
) -> None:
    await migrate.upgrade(database_url)
    password_hash = await _scalar(database_url, "SELECT password_hash FROM users WHERE username = 'admin'")
    assert bcrypt.checkpw(b"admin123", password_hash.encode())
    role = await _scalar(database_url, "SELECT role FROM users WHERE username = 'admin'")
    assert role == "admin"
    plan = await _scalar(database_url, "SELECT subscription_plan FROM tenants WHERE name = 'demo'")
    assert plan == "trial"


async def test_downgrade_to_base_succeeds_when_the_demo_tenant_owns_rows(database_url: str) -> None:
    await migrate.upgrade(database_url)
    await _execute(
        database_url,
        "INSERT INTO mcp_servers (tenant_id, name, endpoint, config) VALUES (:tenant, 'hub', 'stdio:hub', '{}')",
        tenant=str(DEMO_TENANT_ID),
    )
    result = await migrate.downgrade(database_url)
    assert result.after is None
    assert await _tables(database_url) <= {"alembic_version"}


async def test_downgrading_extensions_refuses_while_a_server_uses_streamable_http(database_url: str) -> None:
    await migrate.upgrade(database_url)
    await _execute(
        database_url,
        "INSERT INTO mcp_servers (tenant_id, name, endpoint, protocol, config) "
        "VALUES (:tenant, 'remote', 'http://127.0.0.1:1/mcp', 'streamable_http', '{}')",
        tenant=str(DEMO_TENANT_ID),
    )
    with pytest.raises(Conflict):
        await migrate.downgrade(database_url, "0002_seed")
    assert await migrate.current(database_url) == migrate.head()


async def test_unknown_revision_is_an_input_error(database_url: str) -> None:
    with pytest.raises(InputError):
        await migrate.upgrade(database_url, "no_such_revision")


async def test_unreachable_database_is_a_store_error_that_hides_the_password() -> None:
    url = "postgresql+asyncpg://hub:sup3r-s3cret@127.0.0.1:9/hub"
    with pytest.raises(StoreError) as caught:
        await migrate.upgrade(url)
    assert "sup3r-s3cret" not in str(caught.value)
    assert caught.value.retriable


async def test_updated_at_follows_an_update_that_does_not_set_it(database_url: str) -> None:
    await migrate.upgrade(database_url)
    # On SQLite this backdates the row; on PostgreSQL the trigger already overrides it with now().
    await _execute(database_url, "UPDATE tenants SET updated_at = '2000-01-01 00:00:00' WHERE name = 'demo'")
    before = await _scalar(database_url, "SELECT updated_at FROM tenants WHERE name = 'demo'")
    await _execute(database_url, "UPDATE tenants SET display_name = 'Renamed' WHERE name = 'demo'")
    after = await _scalar(database_url, "SELECT updated_at FROM tenants WHERE name = 'demo'")
    assert after > before


def _gin_only_on_postgres(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # GIN indexes exist on PostgreSQL only (ddl_if); SQLite has none to compare with.
    return not (type_ == "index" and not reflected and obj.dialect_kwargs.get("postgresql_using") == "gin")


async def test_migrations_create_exactly_what_the_models_describe(database_url: str) -> None:
    await migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:

            def differences(sync: sa.Connection) -> list[Any]:
                context = MigrationContext.configure(
                    sync,
                    opts={
                        "compare_type": True,
                        "include_object": _gin_only_on_postgres if sync.dialect.name == "sqlite" else None,
                    },
                )
                return list(compare_metadata(context, Base.metadata))

            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
