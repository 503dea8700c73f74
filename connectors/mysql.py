"""MySQL / MariaDB connector on an asyncmy pool.

Statements run as server-side prepared statements (binary protocol): values never pass through
client-side escaping, and a prepared statement holds exactly one statement, which closes the
door asyncmy's always-on multi-statement flag would otherwise leave open. A read-only connector
wraps each statement in ``START TRANSACTION READ ONLY`` … ``ROLLBACK``. On a timeout the
connection is closed (the pool drops it) and the statement is killed from a fresh connection.

MySQL's binary protocol returns whole result sets, so the row cap bounds what is returned, not
what the server sends: put a ``LIMIT`` in queries over very large tables.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import asyncmy
from asyncmy.errors import MySQLError

from hub.errors import ConnectorError, ConnectorTimeout, HubError, InputError, QueryError

from .base import Health, one_line, scrub
from .sql import QueryResult, SqlConfig, SqlCredentials, compile_named, to_json, unique_columns

__all__ = ["MySQLConnector", "open"]

DEFAULT_PORT = 3306
# Server error codes that mean "stopped by max_statement_time / max_execution_time".
_TIMEOUT_CODES = {1969, 3024}
# Server error codes that are about the login, not the statement.
_LOGIN_CODES = {1040, 1044, 1045, 1129, 1130, 1203}


class MySQLConnector:
    """A MySQL or MariaDB database reached through one asyncmy pool."""

    kind = "mysql"

    def __init__(self, config: SqlConfig, credentials: SqlCredentials) -> None:
        self.config = config
        self._credentials = credentials
        self._pool: Any = None
        self._lock = anyio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"MySQLConnector({self.config.host}:{self._port}/{self.config.database})"

    @property
    def _port(self) -> int:
        return self.config.port or DEFAULT_PORT

    def _error(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, MySQLError) and len(exc.args) == 2:
            text = f"({exc.args[0]}) {exc.args[1]}"
        return one_line(scrub(text, [self._credentials.password]))

    def _connect_kwargs(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "host": cfg.host,
            "port": self._port,
            "user": self._credentials.user,
            "password": self._credentials.password,
            "db": cfg.database,
            "connect_timeout": cfg.connect_timeout_seconds,
            "ssl": ssl.create_default_context() if cfg.ssl_enabled else None,
            "autocommit": True,
        }

    async def open(self) -> None:
        """Create the pool (and its ``min_connections``); ConnectorError when that fails."""
        await self._ensure_pool()

    async def _ensure_pool(self) -> Any:
        if self._closed:
            raise ConnectorError("connector is closed", where=repr(self))
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                pool_cfg = self.config.connection_pool
                try:
                    # A refused or silent host is bounded by connect_timeout inside asyncmy;
                    # fail_after also bounds the handshake with a server that never answers.
                    with anyio.fail_after(self.config.connect_timeout_seconds + 1):
                        self._pool = await asyncmy.create_pool(
                            minsize=pool_cfg.min_connections,
                            maxsize=pool_cfg.max_connections,
                            pool_recycle=int(pool_cfg.idle_timeout_seconds),
                            **self._connect_kwargs(),
                        )
                except (OSError, TimeoutError, MySQLError) as exc:
                    raise ConnectorError(
                        f"cannot connect to MySQL: {self._error(exc)}", where=repr(self)
                    ) from None
        return self._pool

    async def query(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        max_rows: int | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - shortens the server-side limit too
    ) -> QueryResult:
        """Run one statement with named parameters bound; rows capped at ``max_rows``."""
        named = compile_named(sql, "mysql")
        values = named.bind(params)
        cap = min(max_rows or self.config.max_rows, self.config.max_rows)
        limit = min(timeout or self.config.query_timeout_seconds, self.config.query_timeout_seconds)
        started = time.perf_counter()
        pool = await self._ensure_pool()
        try:
            async with pool.acquire() as conn:
                try:
                    with anyio.fail_after(limit):
                        result = await self._run(conn, named.text, values)
                except TimeoutError:
                    thread_id = conn.thread_id()
                    conn.close()  # mid-result: unusable, and the pool drops closed connections
                    await self._kill(thread_id)
                    raise ConnectorTimeout(
                        f"query did not finish within {limit:g} s", where=repr(self)
                    ) from None
        except HubError:
            raise
        except MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            if code in _TIMEOUT_CODES:
                raise ConnectorTimeout(self._error(exc), where=repr(self)) from None
            if code >= 2000 or code in _LOGIN_CODES:
                raise ConnectorError(self._error(exc), where=repr(self)) from None
            raise QueryError(self._error(exc), where=repr(self)) from None
        except OSError as exc:
            raise ConnectorError(self._error(exc), where=repr(self)) from None
        columns = unique_columns([d[0] for d in result.description or ()])
        records = result.rows or ()
        truncated = len(records) > cap
        rows = [dict(zip(columns, (to_json(v) for v in r), strict=True)) for r in records[:cap]]
        elapsed = (time.perf_counter() - started) * 1000
        return QueryResult(columns, rows, len(rows), truncated, elapsed)

    async def _run(self, conn: Any, text: str, values: list[object]) -> Any:
        read_only = self.config.read_only
        if read_only:
            await conn.query("START TRANSACTION READ ONLY")
        try:
            async with await conn.prepare(text) as stmt:
                if stmt.parameter_count != len(values):
                    raise InputError(
                        f"the statement has {stmt.parameter_count} placeholders, {len(values)} values given",
                        where="sql",
                    )
                return await stmt.execute(values)
        finally:
            if read_only and conn.connected:
                await conn.rollback()

    async def _kill(self, thread_id: int) -> None:
        # The timed-out statement keeps running server-side until told otherwise.
        try:
            with anyio.fail_after(self.config.connect_timeout_seconds):
                conn: Any = await asyncmy.connect(**self._connect_kwargs())
                try:
                    await conn.query(f"KILL QUERY {int(thread_id)}")
                finally:
                    await conn.ensure_closed()
        except (OSError, TimeoutError, MySQLError):
            return  # best effort: the server ends it when the statement finishes or the socket closes

    async def health_check(self, timeout: float) -> Health:  # noqa: ASYNC109 - the timeout is reported in Health
        """``SELECT 1`` through the pool within ``timeout``."""
        started = time.perf_counter()
        try:
            with anyio.fail_after(timeout):
                pool = await self._ensure_pool()
                async with pool.acquire() as conn:
                    await conn.query("SELECT 1")
        except TimeoutError:
            return Health(False, (time.perf_counter() - started) * 1000, f"no answer within {timeout:g} s")
        except HubError as exc:
            return Health(False, (time.perf_counter() - started) * 1000, one_line(exc.message))
        except (OSError, MySQLError) as exc:
            return Health(False, (time.perf_counter() - started) * 1000, self._error(exc))
        latency = (time.perf_counter() - started) * 1000
        return Health(True, latency, f"ok in {latency:.1f} ms")

    async def aclose(self) -> None:
        """Close the pool and wait for its connections to go."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            try:
                with anyio.fail_after(5):
                    await pool.wait_closed()
            except TimeoutError:
                pool.terminate()


@asynccontextmanager
async def open(config: SqlConfig, credentials: SqlCredentials) -> AsyncIterator[MySQLConnector]:
    """An opened MySQL connector, closed on exit."""
    connector = MySQLConnector(config, credentials)
    try:
        await connector.open()
        yield connector
    finally:
        await connector.aclose()
