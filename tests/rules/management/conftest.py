"""Fixtures of the rule-management tests: a migrated database per backend and a real hub on it.

The SQLite file and the scratch PostgreSQL database (``hub_rules_<random>`` on the server of
``HUB_TEST_POSTGRES_URL``) are migrated once per run; tests isolate themselves by creating their own
tenants. An unreachable PostgreSQL server skips its tests, except under ``CI=true``, where it fails
them: CI must never pass by skipping PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from hub.app import App, open_app
from hub.settings import Settings
from hub.store import migrate
from hub.tools import rules
from tests.rules.management.support import Changes

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on a private event loop: session fixtures live outside the tests' loops."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(coroutine)


async def _admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An SQLite file migrated to head, shared by the run."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('rules') / 'hub.sqlite3'}"
    _run(migrate.upgrade(url))
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A scratch PostgreSQL database migrated to head, dropped at the end of the run."""
    server = make_url(os.environ.get("HUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"hub_rules_{secrets.token_hex(6)}"
    try:
        _run(_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = f"PostgreSQL at {server.render_as_string(hide_password=True)} is not usable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(reason)
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        _run(migrate.upgrade(url))
        yield url
    finally:
        # FORCE ends sessions a failed test may have left open.
        _run(_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """The hub runs on asyncio; module scope lets one hub serve a module's tests."""
    return "asyncio"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database, once SQLite and once PostgreSQL."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))


@pytest.fixture(scope="module")
def module_changes() -> Changes:
    """The callback's record for the module's hub."""
    return Changes()


@pytest.fixture
def changes(module_changes: Changes) -> Changes:
    """Records the tenants whose rule sets changed, as the MCP face would be told; empty per test."""
    module_changes.tenants.clear()
    return module_changes


@pytest.fixture(scope="module")
async def app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, module_changes: Changes
) -> AsyncIterator[App]:
    """A real hub on the database with the rule-management family registered, shared by a module.

    Starting a hub registers its own tools in every active tenant, and the tests' tenants pile up
    in the shared database, so one hub per test would make the suite quadratic. Tests stay
    independent by working in tenants of their own.
    """
    tmp_path = tmp_path_factory.mktemp("hub")
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        config_file=tmp_path / "mcp.json",
        api_key=None,
        llm_base_url=None,
    )
    async with open_app(settings, migrate=False) as hub:
        # The composition root may already register the family (without a callback): replace it.
        family = rules.tools(on_rulesets_changed=module_changes.record)
        for spec in family:
            hub.dispatcher.remove(spec.name)
        hub.dispatcher.add(family)
        yield hub
