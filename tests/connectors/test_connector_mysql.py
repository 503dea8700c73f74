"""The MySQL connector against a real MariaDB/MySQL server: a scratch database and user per run."""

from __future__ import annotations

import anyio
import pytest

from connectors import MySQLConnector, build_connector, open_connector
from hub.errors import ConnectorError, ConnectorTimeout, InputError, QueryError
from tests.connectors.conftest import SqlServer
from tests.connectors.leaks import assert_secret_absent
from tests.connectors.services import Blackhole, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.mysql]

INJECTIONS = ["'; DROP TABLE plant_lines; --", "L1' OR '1'='1", "L1\\' OR 1=1 -- ", "?", ":line_code", "%s"]


async def test_a_query_binds_named_parameters_and_returns_json_safe_rows(mysql: SqlServer) -> None:
    async with open_connector("mysql", mysql.config(), mysql.credentials()) as db:
        assert isinstance(db, MySQLConnector)
        result = await db.query(
            "SELECT line_code, capacity, started, shift_start, payload, 'a%b' AS pct FROM plant_lines"
            " WHERE line_code = :line_code",
            {"line_code": "L1"},
        )
    assert result.rows == [
        {
            "line_code": "L1",
            "capacity": "12.50",
            "started": "2026-01-02",
            "shift_start": 6.5 * 3600,
            "payload": "AP8=",
            "pct": "a%b",
        }
    ]


@pytest.mark.parametrize("attack", INJECTIONS)
async def test_sql_injection_through_parameters_stays_a_value(mysql: SqlServer, attack: str) -> None:
    async with open_connector("mysql", mysql.config(read_only=False), mysql.credentials()) as db:
        result = await db.query(
            "SELECT count(*) AS n FROM plant_lines WHERE line_code = :code", {"code": attack}
        )
        assert result.rows == [{"n": 0}]
        assert (await db.query("SELECT :v AS v", {"v": attack})).rows == [{"v": attack}]
        assert (await db.query("SELECT count(*) AS n FROM plant_lines")).rows == [{"n": 2}]


async def test_a_read_only_connector_cannot_write(mysql: SqlServer) -> None:
    config = mysql.config(connection_pool={"min_connections": 1, "max_connections": 1})
    async with open_connector("mysql", config, mysql.credentials()) as db:
        with pytest.raises(QueryError):
            await db.query("DELETE FROM plant_lines")
        with pytest.raises(QueryError):
            await db.query("INSERT INTO big VALUES (:n)", {"n": 999999})
        # Stacked statements are refused outright, so COMMIT cannot end the read-only transaction.
        with pytest.raises(QueryError):
            await db.query("COMMIT; DELETE FROM plant_lines")
        await db.query("SET SESSION TRANSACTION READ WRITE")
        with pytest.raises(QueryError):
            await db.query("DELETE FROM plant_lines")
        assert (await db.query("SELECT count(*) AS n FROM plant_lines")).rows == [{"n": 2}]


async def test_a_writable_connector_writes(mysql: SqlServer) -> None:
    async with open_connector("mysql", mysql.config(read_only=False), mysql.credentials()) as db:
        await db.query("INSERT INTO big VALUES (:n)", {"n": 123456})
        assert (await db.query("SELECT n FROM big WHERE n = :n", {"n": 123456})).rows == [{"n": 123456}]
        await db.query("DELETE FROM big WHERE n = :n", {"n": 123456})


async def test_the_row_cap_truncates_large_results_and_says_so(mysql: SqlServer) -> None:
    async with open_connector("mysql", mysql.config(max_rows=500), mysql.credentials()) as db:
        capped = await db.query("SELECT n FROM big ORDER BY n")
        exact = await db.query("SELECT n FROM big WHERE n < 500 ORDER BY n")
    assert (capped.row_count, capped.truncated, capped.rows[-1]) == (500, True, {"n": 499})
    assert (exact.row_count, exact.truncated) == (500, False)


async def test_a_slow_query_times_out_and_the_connector_stays_usable(mysql: SqlServer) -> None:
    config = mysql.config(connection_pool={"min_connections": 1, "max_connections": 1})
    async with open_connector("mysql", config, mysql.credentials()) as db:
        with anyio.fail_after(5), pytest.raises(ConnectorTimeout):
            await db.query("SELECT SLEEP(10)", timeout=0.2)
        assert (await db.query("SELECT 1 AS one")).rows == [{"one": 1}]


async def test_the_pool_serves_more_concurrent_queries_than_connections(mysql: SqlServer) -> None:
    config = mysql.config(connection_pool={"min_connections": 1, "max_connections": 3})
    async with open_connector("mysql", config, mysql.credentials()) as db:
        ids: list[object] = []

        async def one() -> None:
            result = await db.query("SELECT CONNECTION_ID() AS id, SLEEP(0.05) AS s")
            ids.append(result.rows[0]["id"])

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for _ in range(9):
                    tg.start_soon(one)
    assert len(ids) == 9
    assert 1 < len(set(ids)) <= 3


@pytest.mark.parametrize(
    ("sql", "params", "error"),
    [
        ("SELEC 1", {}, QueryError),
        ("SELECT * FROM no_such_table", {}, QueryError),
        ("SELECT :a", {}, InputError),
        ("SELECT :a", {"a": 1, "b": 2}, InputError),
        ("SELECT 1; SELECT 2", {}, QueryError),
    ],
)
async def test_bad_statements_and_parameters_are_precise_errors(
    mysql: SqlServer, sql: str, params: dict[str, object], error: type[Exception]
) -> None:
    async with open_connector("mysql", mysql.config(), mysql.credentials()) as db:
        with pytest.raises(error):
            await db.query(sql, params)
        assert (await db.query("SELECT 1 AS ok")).rows == [{"ok": 1}]


async def test_wrong_credentials_fail_without_leaking_the_password(mysql: SqlServer) -> None:
    secret = "my-wrong-Pw-5b2a"
    credentials = {"user": mysql.user, "password": secret}
    with pytest.raises(ConnectorError) as info:
        async with open_connector("mysql", mysql.config(), credentials):
            pass
    assert_secret_absent(secret, info.value)
    assert_secret_absent(mysql.password, info.value)
    db = build_connector("mysql", mysql.config(), credentials)
    health = await db.health_check(timeout=5)
    await db.aclose()
    assert not health.ok
    assert_secret_absent(secret, health)


async def test_the_right_password_opens_and_never_shows(mysql: SqlServer) -> None:
    async with open_connector("mysql", mysql.config(), mysql.credentials()) as db:
        result = await db.query("SELECT CURRENT_USER() AS me")
        health = await db.health_check(timeout=5)
        with pytest.raises(QueryError) as info:
            await db.query("SELECT * FROM nope")
        assert_secret_absent(mysql.password, db, result, health, info.value)
    assert health.ok


async def test_an_unreachable_or_silent_host_is_unhealthy_within_the_timeout(mysql: SqlServer) -> None:
    hole = Blackhole()
    try:
        for port in (free_port(), hole.port):
            db = build_connector(
                "mysql", mysql.config(port=port, connect_timeout_seconds=1), mysql.credentials()
            )
            with anyio.fail_after(1):
                health = await db.health_check(timeout=0.5)
            with anyio.fail_after(3), pytest.raises(ConnectorError):
                await db.query("SELECT 1")
            await db.aclose()
            assert not health.ok
    finally:
        hole.close()
