"""The connector service on its own: mcp.json entries, the live cache, broken rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from hub.app import App
from hub.config import HubConfig, parse_config
from hub.connectors_service import ConnectorService
from hub.store.models import DataConnector
from tests.connectors import conftest as connector_fixtures
from tests.connectors.conftest import SqlServer
from tests.connectors.hubs import connector_hub, migrated_template

pytestmark = pytest.mark.anyio

postgres = connector_fixtures.postgres


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("hub-template"))


@pytest.fixture
async def hub(template: Path, tmp_path: Path) -> AsyncIterator[tuple[App, ConnectorService]]:
    async with connector_hub(template, tmp_path / "hub") as pair:
        yield pair


def mcp_json(postgres: SqlServer, **config: object) -> HubConfig:
    entry = {
        "type": "postgres",
        "config": postgres.config(**config),
        "credentials": {"user": "${HUB_TEST_CONNECTOR_USER}", "password": ""},
    }
    return parse_config({"connectors": {"mes": entry}})


async def test_mcp_json_connectors_are_created_then_left_unchanged_then_updated(
    hub: tuple[App, ConnectorService], postgres: SqlServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, service = hub
    me = await app.local_caller()
    monkeypatch.setenv("HUB_TEST_CONNECTOR_USER", postgres.user)
    assert (await service.apply_config(mcp_json(postgres), me))["created"] == ["mes"]
    assert (await service.apply_config(mcp_json(postgres), me))["unchanged"] == ["mes"]
    assert (await service.apply_config(mcp_json(postgres, max_rows=5), me))["updated"] == ["mes"]
    db = await service.sql(me.tenant_id, "mes")
    assert db.config.max_rows == 5
    assert (await db.query("SELECT current_user AS u")).rows == [{"u": postgres.user}]


async def test_a_missing_environment_variable_fails_only_its_entry(
    hub: tuple[App, ConnectorService], postgres: SqlServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, service = hub
    monkeypatch.delenv("HUB_TEST_CONNECTOR_USER", raising=False)
    report = await service.apply_config(mcp_json(postgres), await app.local_caller())
    assert report["created"] == []
    assert report["failed"][0].startswith("mes:")


async def test_the_live_connector_survives_health_writes_and_is_replaced_on_change(
    hub: tuple[App, ConnectorService], postgres: SqlServer
) -> None:
    app, service = hub
    me = await app.local_caller()
    await service.register(me, "mes", "postgres", postgres.config(), postgres.credentials())
    first = await service.connector(me.tenant_id, "mes")
    await service.check(me.tenant_id)  # moves updated_at through the schema's trigger
    assert await service.connector(me.tenant_id, "mes") is first
    await service.update(me, "mes", config=postgres.config(max_rows=3))
    assert await service.connector(me.tenant_id, "mes") is not first


async def test_a_broken_stored_row_is_reported_unhealthy_without_stopping_the_others(
    hub: tuple[App, ConnectorService], postgres: SqlServer
) -> None:
    app, service = hub
    me = await app.local_caller()
    await service.register(me, "good", "postgres", postgres.config(), postgres.credentials())
    await service.register(me, "bad", "postgres", postgres.config(), postgres.credentials())
    async with app.sessions() as session, session.begin():
        await session.execute(
            update(DataConnector).where(DataConnector.name == "bad").values(config={"host": "x y"})
        )
    reports = {r.name: r for r in await service.check(me.tenant_id)}
    assert (reports["good"].status, reports["bad"].status) == ("active", "error")
    assert "invalid" in reports["bad"].health.detail
