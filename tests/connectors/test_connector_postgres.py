"""The PostgreSQL connector against a real server: a scratch database per run."""

from __future__ import annotations

import anyio
import pytest

from connectors import PostgresConnector, build_connector, open_connector
from hub.errors import ConnectorError, ConnectorTimeout, InputError, QueryError
from tests.connectors.conftest import SqlServer
from tests.connectors.leaks import assert_secret_absent
from tests.connectors.services import Blackhole, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

INJECTIONS = ["'; DROP TABLE lines; --", "L1' OR '1'='1", "L1); DELETE FROM lines; --", "$1", ":line_code"]


async def test_a_query_binds_named_parameters_and_returns_json_safe_rows(postgres: SqlServer) -> None:
    async with open_connector("postgres", postgres.config(), postgres.credentials()) as db:
        assert isinstance(db, PostgresConnector)
        result = await db.query(
            "SELECT line_code, name, capacity, started, id, payload, meta FROM lines"
            " WHERE line_code = :line_code AND started >= :since",
            {"line_code": "L1", "since": "2026-01-01"},
        )
    assert result.columns == ("line_code", "name", "capacity", "started", "id", "payload", "meta")
    row = result.rows[0]
    assert (row["capacity"], row["started"], row["payload"], row["meta"]) == (
        "12.50",
        "2026-01-02",
        "AP8=",
        {"shift": 2},
    )
    assert isinstance(row["id"], str)
    assert (result.row_count, result.truncated) == (1, False)
    assert result.elapsed_ms > 0


@pytest.mark.parametrize("attack", INJECTIONS)
async def test_sql_injection_through_parameters_stays_a_value(postgres: SqlServer, attack: str) -> None:
    async with open_connector("postgres", postgres.config(read_only=False), postgres.credentials()) as db:
        result = await db.query(
            "SELECT count(*) AS n FROM lines WHERE line_code = :line_code", {"line_code": attack}
        )
        assert result.rows == [{"n": 0}]
        echoed = await db.query("SELECT :v::text AS v", {"v": attack})
        assert echoed.rows == [{"v": attack}]
        assert (await db.query("SELECT count(*) AS n FROM lines")).rows == [{"n": 2}]


async def test_a_read_only_connector_cannot_write_even_after_trying_to_lift_the_mode(
    postgres: SqlServer,
) -> None:
    config = postgres.config(connection_pool={"min_connections": 1, "max_connections": 1})
    async with open_connector("postgres", config, postgres.credentials()) as db:
        with pytest.raises(QueryError):
            await db.query("INSERT INTO notes (body) VALUES (:b)", {"b": "nope"})
        # Session-level SETs die with the pool's reset, so the next statement is read-only again.
        await db.query("SET default_transaction_read_only = off")
        await db.query("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        with pytest.raises(QueryError):
            await db.query("DELETE FROM lines")
        with pytest.raises(QueryError):
            await db.query("WITH gone AS (DELETE FROM lines RETURNING 1) SELECT count(*) FROM gone")
        assert (await db.query("SELECT count(*) AS n FROM lines")).rows == [{"n": 2}]


async def test_a_writable_connector_writes_and_returns_rows(postgres: SqlServer) -> None:
    async with open_connector("postgres", postgres.config(read_only=False), postgres.credentials()) as db:
        result = await db.query("INSERT INTO notes (body) VALUES (:b) RETURNING id, body", {"b": "written"})
        assert result.rows[0]["body"] == "written"
        empty = await db.query("DELETE FROM notes WHERE body = :b", {"b": "written"})
        assert (empty.columns, empty.rows) == ((), [])


async def test_the_row_cap_truncates_large_results_and_says_so(postgres: SqlServer) -> None:
    async with open_connector("postgres", postgres.config(max_rows=1000), postgres.credentials()) as db:
        capped = await db.query("SELECT n, h FROM big ORDER BY n")
        smaller = await db.query("SELECT n FROM big ORDER BY n", max_rows=10)
        exact = await db.query("SELECT n FROM big WHERE n <= 1000 ORDER BY n")
        wider = await db.query("SELECT n FROM big", max_rows=5000)
    assert (capped.row_count, capped.truncated, capped.rows[-1]["n"]) == (1000, True, 1000)
    assert (smaller.row_count, smaller.truncated) == (10, True)
    assert (exact.row_count, exact.truncated) == (1000, False)
    assert wider.row_count == 1000  # a caller may lower the cap, never raise it


async def test_a_slow_query_times_out_and_the_connector_stays_usable(postgres: SqlServer) -> None:
    config = postgres.config(
        query_timeout_seconds=5, connection_pool={"min_connections": 1, "max_connections": 1}
    )
    async with open_connector("postgres", config, postgres.credentials()) as db:
        with anyio.fail_after(3):
            with pytest.raises(ConnectorTimeout):
                await db.query("SELECT pg_sleep(10)", timeout=0.2)
        assert (await db.query("SELECT 1 AS one")).rows == [{"one": 1}]


async def test_the_server_side_statement_timeout_is_a_connector_timeout(postgres: SqlServer) -> None:
    async with open_connector(
        "postgres", postgres.config(query_timeout_seconds=0.2), postgres.credentials()
    ) as db:
        with anyio.fail_after(3), pytest.raises(ConnectorTimeout):
            await db.query("SELECT pg_sleep(5)")


async def test_the_pool_serves_more_concurrent_queries_than_connections(postgres: SqlServer) -> None:
    config = postgres.config(connection_pool={"min_connections": 2, "max_connections": 3})
    async with open_connector("postgres", config, postgres.credentials()) as db:
        pids: list[object] = []

        async def one() -> None:
            result = await db.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.05)")
            pids.append(result.rows[0]["pid"])

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for _ in range(12):
                    tg.start_soon(one)
    assert len(pids) == 12
    assert 1 < len(set(pids)) <= 3


@pytest.mark.parametrize(
    ("sql", "params", "error"),
    [
        ("SELEC 1", {}, QueryError),
        ("SELECT * FROM no_such_table", {}, QueryError),
        ("SELECT :a::int", {}, InputError),
        ("SELECT :a::int", {"a": 1, "b": 2}, InputError),
        ("SELECT :a::int", {"a": "twelve"}, InputError),
        ("SELECT :a::date", {"a": "not a date"}, InputError),
        ("SELECT 1; SELECT 2", {}, QueryError),
    ],
)
async def test_bad_statements_and_parameters_are_precise_errors(
    postgres: SqlServer, sql: str, params: dict[str, object], error: type[Exception]
) -> None:
    async with open_connector("postgres", postgres.config(), postgres.credentials()) as db:
        with pytest.raises(error):
            await db.query(sql, params)
        assert (await db.query("SELECT 1 AS ok")).rows == [{"ok": 1}]


async def test_wrong_credentials_fail_to_open_without_leaking_the_password(postgres: SqlServer) -> None:
    secret = "pg-wrong-Pw-0e1f"
    config = postgres.config()
    with pytest.raises(ConnectorError) as info:
        async with open_connector("postgres", config, {"user": "no_such_role_x", "password": secret}):
            pass
    assert_secret_absent(secret, info.value)
    db = build_connector("postgres", config, {"user": "no_such_role_x", "password": secret})
    health = await db.health_check(timeout=5)
    await db.aclose()
    assert not health.ok
    assert_secret_absent(secret, health)


async def test_an_unreachable_host_is_a_connector_error_and_an_unhealthy_check(postgres: SqlServer) -> None:
    config = postgres.config(port=free_port(), connect_timeout_seconds=2)
    db = build_connector("postgres", config, postgres.credentials())
    with anyio.fail_after(5):
        with pytest.raises(ConnectorError):
            await db.open()
        health = await db.health_check(timeout=2)
    await db.aclose()
    assert not health.ok
    assert "\n" not in health.detail


async def test_a_silent_host_fails_the_health_check_within_its_timeout(postgres: SqlServer) -> None:
    hole = Blackhole()
    try:
        db = build_connector("postgres", postgres.config(port=hole.port), postgres.credentials())
        with anyio.fail_after(3):
            health = await db.health_check(timeout=0.5)
        await db.aclose()
    finally:
        hole.close()
    assert not health.ok
    assert health.latency_ms < 2000


async def test_a_healthy_database_reports_its_latency(postgres: SqlServer) -> None:
    async with open_connector("postgres", postgres.config(), postgres.credentials()) as db:
        health = await db.health_check(timeout=5)
    assert health.ok
    assert health.latency_ms > 0
