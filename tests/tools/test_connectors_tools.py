"""Connector tools through the hub's one dispatch path, on a real hub (SQLite) and real services."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select, text

from hub.app import App
from hub.connectors_service import ConnectorService
from hub.dispatch import CallOutcome
from hub.errors import Conflict, InputError, NotFound, PermissionDenied, QueryError
from hub.identity import Caller
from hub.store.models import DataConnector, Tenant
from tests.connectors import conftest as connector_fixtures
from tests.connectors.conftest import SqlServer
from tests.connectors.hubs import connector_hub, migrated_template
from tests.connectors.leaks import rendered
from tests.connectors.services import API_TOKEN, ThreadedServer, build_api, free_port

pytestmark = pytest.mark.anyio

PASSWORD = "tool-Pw-never-seen-4f2a"

# The real services of the connector tests, shared rather than set up twice.
api = connector_fixtures.api
mysql = connector_fixtures.mysql
postgres = connector_fixtures.postgres


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("hub-template"))


@pytest.fixture
async def hub(template: Path, tmp_path: Path) -> AsyncIterator[tuple[App, ConnectorService]]:
    async with connector_hub(template, tmp_path / "hub", health_timeout_seconds=2) as pair:
        yield pair


async def admin(app: App) -> Caller:
    return await app.local_caller()


async def call(app: App, caller: Caller, name: str, args: dict[str, Any]) -> CallOutcome:
    return await app.dispatcher.call(caller, name, args)


def ok(outcome: CallOutcome) -> Any:
    assert outcome.error is None, outcome.error
    return outcome.value


async def test_a_registered_database_is_queried_listed_updated_and_removed(
    hub: tuple[App, ConnectorService], postgres: SqlServer
) -> None:
    app, _ = hub
    me = await admin(app)
    config = postgres.config(max_rows=1)
    registered = ok(
        await call(
            app,
            me,
            "connector_register",
            {"name": "mes", "type": "postgres", "config": config, "credentials": postgres.credentials()},
        )
    )
    assert (registered["status"], registered["health"]["ok"]) == ("active", True)
    assert registered["config"]["read_only"] is True  # defaults are filled in and stored

    result = ok(
        await call(
            app,
            me,
            "connector_query",
            {
                "name": "mes",
                "sql": "SELECT line_code FROM lines WHERE line_code <> :x ORDER BY 1",
                "params": {"x": "?"},
            },
        )
    )
    assert (result["rows"], result["truncated"]) == ([{"line_code": "L1"}], True)

    ok(await call(app, me, "connector_update", {"name": "mes", "config": postgres.config(max_rows=10)}))
    again = ok(await call(app, me, "connector_query", {"name": "mes", "sql": "SELECT line_code FROM lines"}))
    assert (again["row_count"], again["truncated"]) == (2, False)

    listed = ok(await call(app, me, "connector_list", {}))["connectors"]
    assert [(c["name"], c["type"], c["has_credentials"]) for c in listed] == [("mes", "postgres", True)]
    assert listed[0]["last_health_status"].startswith("ok in")

    ok(await call(app, me, "connector_remove", {"name": "mes"}))
    gone = await call(app, me, "connector_query", {"name": "mes", "sql": "SELECT 1"})
    assert isinstance(gone.error, NotFound)


async def test_credentials_are_sealed_and_never_appear_in_results_rows_audit_call_logs_or_log_lines(
    hub: tuple[App, ConnectorService], mysql: SqlServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app, _ = hub
    me = await admin(app)
    outcomes = [
        await call(
            app,
            me,
            "connector_register",
            {"name": "erp", "type": "mysql", "config": mysql.config(), "credentials": mysql.credentials()},
        ),
        await call(app, me, "connector_query", {"name": "erp", "sql": "SELECT * FROM no_such_table"}),
        await call(
            app,
            me,
            "connector_update",
            {"name": "erp", "credentials": {"user": mysql.user, "password": PASSWORD}},
        ),
        await call(app, me, "connector_query", {"name": "erp", "sql": "SELECT 1"}),
        await call(app, me, "connector_health_check", {"name": "erp"}),
        await call(app, me, "connector_list", {}),
    ]
    assert isinstance(outcomes[1].error, QueryError)
    assert outcomes[3].error is not None  # the wrong password is refused by the server
    assert ok(outcomes[4])["connectors"][0]["status"] == "error"
    await app.calllog.flush()
    async with app.sessions() as session:
        sealed = (await session.execute(select(DataConnector.credentials_encrypted))).scalar_one()
        dumped = [
            str(row)
            for table in ("data_connectors", "audit_logs", "mcp_call_logs")
            for row in (await session.execute(text(f"SELECT * FROM {table}"))).all()
        ]
        calls = (await session.execute(text("SELECT count(*) FROM mcp_call_logs"))).scalar_one()
    assert sealed is not None
    assert app.cipher.decrypt(sealed) == {"user": mysql.user, "password": PASSWORD}
    assert calls == len(outcomes)
    for secret in (PASSWORD, mysql.password):
        assert secret not in rendered(
            *outcomes, *(o.error for o in outcomes if o.error), *(o.value for o in outcomes)
        )
        assert secret not in "\n".join(dumped)
        assert secret not in caplog.text


async def test_another_tenant_neither_sees_nor_uses_a_connector(
    hub: tuple[App, ConnectorService], postgres: SqlServer
) -> None:
    app, _ = hub
    me = await admin(app)
    entry = {
        "name": "mes",
        "type": "postgres",
        "config": postgres.config(),
        "credentials": postgres.credentials(),
    }
    ok(await call(app, me, "connector_register", entry))
    other = uuid.uuid4()
    async with app.sessions() as session, session.begin():
        session.add(Tenant(id=other, name="other", display_name="Other plant"))
    stranger = Caller.of(tenant_id=other, tenant_name="other", user_id=None, username="eve", role="admin")
    assert ok(await call(app, stranger, "connector_list", {})) == {"connectors": []}
    for tool, args in [
        ("connector_query", {"name": "mes", "sql": "SELECT 1"}),
        ("connector_remove", {"name": "mes"}),
        ("connector_health_check", {"name": "mes"}),
    ]:
        assert isinstance((await call(app, stranger, tool, args)).error, NotFound)


async def test_a_caller_without_the_permission_is_refused(hub: tuple[App, ConnectorService]) -> None:
    app, _ = hub
    me = await admin(app)
    viewer = Caller.of(tenant_id=me.tenant_id, tenant_name="demo", user_id=None, username="v", role="viewer")
    with pytest.raises(PermissionDenied):
        await call(app, viewer, "connector_query", {"name": "mes", "sql": "SELECT 1"})


@pytest.mark.parametrize(
    ("args", "where"),
    [
        ({"name": "x", "type": "oracle", "config": {}}, "arguments.type"),
        ({"name": "x", "type": "postgres", "config": {"host": "db"}}, "arguments.config"),
        (
            {"name": "x", "type": "postgres", "config": {"host": "bad host", "database": "d"}},
            "arguments.config",
        ),
        ({"name": "x", "type": "rest_api", "config": {"base_url": "ftp://h"}}, "arguments.config"),
        (
            {"name": "x", "type": "rest_api", "config": {"base_url": "http://h", "auth": "bearer"}},
            "arguments.credentials",
        ),
        (
            {
                "name": "x",
                "type": "postgres",
                "config": {"host": "db", "database": "d"},
                "credentials": {"pw": "1"},
            },
            "arguments.credentials",
        ),
        ({"name": "../x", "type": "postgres", "config": {}}, "arguments.name"),
    ],
)
async def test_bad_registrations_are_precise_input_errors(
    hub: tuple[App, ConnectorService], args: dict[str, Any], where: str
) -> None:
    app, _ = hub
    outcome = await call(app, await admin(app), "connector_register", args)
    assert isinstance(outcome.error, InputError)
    assert outcome.error.where == where


async def test_a_name_is_registered_once_and_types_do_not_mix(
    hub: tuple[App, ConnectorService], api: ThreadedServer
) -> None:
    app, _ = hub
    me = await admin(app)
    entry = {"name": "api", "type": "rest_api", "config": {"base_url": api.url + "/api"}}
    ok(await call(app, me, "connector_register", entry))
    assert isinstance((await call(app, me, "connector_register", entry)).error, Conflict)
    wrong = await call(app, me, "connector_query", {"name": "api", "sql": "SELECT 1"})
    assert isinstance(wrong.error, InputError)
    answer = ok(await call(app, me, "connector_request", {"name": "api", "path": "/text"}))
    assert (answer["body"], answer["body_encoding"]) == ("plain words", "text")
    escape = await call(app, me, "connector_request", {"name": "api", "path": "http://192.0.2.1/x"})
    assert isinstance(escape.error, InputError)


async def test_health_follows_a_service_that_stops_and_starts_while_the_hub_runs(
    hub: tuple[App, ConnectorService],
) -> None:
    app, _ = hub
    me = await admin(app)
    server = ThreadedServer(build_api())
    server.start()
    try:
        config = {"base_url": server.url, "health_path": "/api/secure", "auth": "bearer"}
        entry = {"name": "svc", "type": "rest_api", "config": config, "credentials": {"token": API_TOKEN}}
        assert ok(await call(app, me, "connector_register", entry))["status"] == "active"
        await anyio.to_thread.run_sync(server.stop)
        down = ok(await call(app, me, "connector_health_check", {}))["connectors"]
        assert [c["status"] for c in down] == ["error"]
        await anyio.to_thread.run_sync(server.start)
        up = ok(await call(app, me, "connector_health_check", {"name": "svc"}))["connectors"]
        assert [c["status"] for c in up] == ["active"]
        assert API_TOKEN not in rendered(down, up)
    finally:
        server.stop()


async def test_one_silent_connector_does_not_hold_up_the_others(
    hub: tuple[App, ConnectorService], api: ThreadedServer
) -> None:
    app, _ = hub
    me = await admin(app)
    import socket

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)
    try:
        silent = {"base_url": f"http://127.0.0.1:{hole.getsockname()[1]}", "max_retries": 0}
        for name, config in [("silent", silent), ("good", {"base_url": api.url + "/api"})]:
            await call(app, me, "connector_register", {"name": name, "type": "rest_api", "config": config})
        with anyio.fail_after(4):
            reports = ok(await call(app, me, "connector_health_check", {"timeout_seconds": 1}))["connectors"]
    finally:
        hole.close()
    assert {r["name"]: r["ok"] for r in reports} == {"good": True, "silent": False}


async def test_the_background_checker_updates_every_connector(
    hub: tuple[App, ConnectorService], postgres: SqlServer
) -> None:
    app, _ = hub
    settings = app.settings
    rounds = anyio.Event()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) > 1:
            rounds.set()  # the first round has finished writing
            await anyio.sleep_forever()

    # A second service on the hub's database, with a sleep the test controls.
    service = ConnectorService(app.sessions, app.cipher, app.settings, sleep=sleep)
    me = await app.local_caller()
    await service.register(me, "mes", "postgres", postgres.config(), postgres.credentials())
    await service.register(me, "dead", "postgres", postgres.config(port=free_port()), postgres.credentials())
    async with anyio.create_task_group() as tg:
        await tg.start(service.run_health_checks)
        with anyio.fail_after(10):
            await rounds.wait()
        tg.cancel_scope.cancel()
    statuses = {c["name"]: c["status"] for c in await service.list_connectors(me.tenant_id)}
    await service.aclose()
    assert statuses == {"dead": "error", "mes": "active"}
    assert (
        settings.health_interval_seconds
        <= sleeps[0]
        <= settings.health_interval_seconds + settings.health_jitter_seconds
    )
