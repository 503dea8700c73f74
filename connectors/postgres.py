"""PostgreSQL connector on an asyncpg pool.

Each statement is prepared once per pooled connection (asyncpg's statement cache; this
validates it and yields column names and parameter types), then executed with the extended
protocol's row limit, so the row cap bounds memory: only ``max_rows + 1`` rows cross the wire.

A read-only connector starts every pooled session with ``default_transaction_read_only`` on, so
each statement runs in its own READ ONLY transaction. A statement cannot lift that for a later
one: the extended protocol carries exactly one statement, each call acquires its own connection,
and the pool's reset on release (``RESET ALL``) restores the session default before reuse. The
query timeout is enforced on both sides: the client cancels and the server's
``statement_timeout`` stops the statement even if the cancel is lost.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

import anyio
import asyncpg

from hub.errors import ConnectorError, ConnectorTimeout, HubError, InputError, QueryError

from .base import Health, one_line, scrub
from .sql import NamedQuery, QueryResult, SqlConfig, SqlCredentials, compile_named, to_json, unique_columns

__all__ = ["PostgresConnector", "open"]

DEFAULT_PORT = 5432

# Strings from JSON callers are converted to what the prepared statement's parameter expects,
# so a workflow can pass "2026-11-26" for a date column.
_FROM_STRING: dict[str, Any] = {
    "date": dt.date.fromisoformat,
    "timestamp": dt.datetime.fromisoformat,
    "timestamptz": dt.datetime.fromisoformat,
    "time": dt.time.fromisoformat,
    "numeric": Decimal,
    "uuid": uuid.UUID,
    "int2": int,
    "int4": int,
    "int8": int,
    "float4": float,
    "float8": float,
}


async def _init_connection(conn: asyncpg.Connection) -> None:
    # json/jsonb come back parsed and go in from dicts and lists.
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class PostgresConnector:
    """A PostgreSQL database reached through one asyncpg pool."""

    kind = "postgres"

    def __init__(self, config: SqlConfig, credentials: SqlCredentials) -> None:
        self.config = config
        self._credentials = credentials
        self._pool: asyncpg.Pool | None = None
        self._lock = anyio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresConnector({self.config.host}:{self._port}/{self.config.database})"

    @property
    def _port(self) -> int:
        return self.config.port or DEFAULT_PORT

    def _error(self, exc: BaseException) -> str:
        return one_line(scrub(str(exc) or type(exc).__name__, [self._credentials.password]))

    async def open(self) -> None:
        """Create the pool (and its ``min_connections``); ConnectorError when that fails."""
        await self._ensure_pool()

    async def _ensure_pool(self) -> asyncpg.Pool:
        if self._closed:
            raise ConnectorError("connector is closed", where=repr(self))
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                cfg = self.config
                settings = {
                    "application_name": "mcp-hub",
                    "statement_timeout": str(int(cfg.query_timeout_seconds * 1000)),
                }
                if cfg.read_only:
                    settings["default_transaction_read_only"] = "on"
                try:
                    self._pool = await asyncpg.create_pool(
                        host=cfg.host,
                        port=self._port,
                        user=self._credentials.user,
                        password=self._credentials.password or None,
                        database=cfg.database,
                        ssl="require" if cfg.ssl_enabled else False,
                        min_size=cfg.connection_pool.min_connections,
                        max_size=cfg.connection_pool.max_connections,
                        max_inactive_connection_lifetime=cfg.connection_pool.idle_timeout_seconds,
                        timeout=cfg.connect_timeout_seconds,
                        server_settings=settings,
                        init=_init_connection,
                    )
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    raise ConnectorError(
                        f"cannot connect to PostgreSQL: {self._error(exc)}", where=repr(self)
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
        named = compile_named(sql, "postgres")
        values = named.bind(params)
        cap = min(max_rows or self.config.max_rows, self.config.max_rows)
        # A caller may shorten the timeout, never extend it past the server-side one.
        limit = min(timeout or self.config.query_timeout_seconds, self.config.query_timeout_seconds)
        started = time.perf_counter()
        try:
            with anyio.fail_after(limit):
                pool = await self._ensure_pool()
                async with pool.acquire() as conn:
                    records, columns = await _fetch(conn, named, values, cap + 1)
        except TimeoutError:
            raise ConnectorTimeout(f"query did not finish within {limit:g} s", where=repr(self)) from None
        except HubError:
            raise
        except asyncpg.QueryCanceledError:
            raise ConnectorTimeout(
                f"query cancelled by statement_timeout ({limit:g} s)", where=repr(self)
            ) from None
        except asyncpg.PostgresConnectionError as exc:
            raise ConnectorError(self._error(exc), where=repr(self)) from None
        except asyncpg.PostgresError as exc:
            raise QueryError(f"[{exc.sqlstate}] {self._error(exc)}", where=repr(self)) from None
        except (OSError, asyncpg.InterfaceError) as exc:
            if isinstance(exc, ValueError):  # asyncpg's client-side DataError: a value of the wrong type
                raise InputError(_name_params(self._error(exc), named), where="params") from None
            raise ConnectorError(self._error(exc), where=repr(self)) from None
        truncated = len(records) > cap
        rows = [dict(zip(columns, (to_json(v) for v in r.values()), strict=True)) for r in records[:cap]]
        elapsed = (time.perf_counter() - started) * 1000
        return QueryResult(columns, rows, len(rows), truncated, elapsed)

    async def health_check(self, timeout: float) -> Health:  # noqa: ASYNC109 - the timeout is reported in Health
        """``SELECT 1`` through the pool within ``timeout``."""
        started = time.perf_counter()
        try:
            with anyio.fail_after(timeout):
                pool = await self._ensure_pool()
                async with pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
        except TimeoutError:
            return Health(False, (time.perf_counter() - started) * 1000, f"no answer within {timeout:g} s")
        except HubError as exc:
            return Health(False, (time.perf_counter() - started) * 1000, one_line(exc.message))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return Health(False, (time.perf_counter() - started) * 1000, self._error(exc))
        latency = (time.perf_counter() - started) * 1000
        return Health(True, latency, f"ok in {latency:.1f} ms")

    async def aclose(self) -> None:
        """Close the pool; connections in use are terminated after a short grace."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                with anyio.fail_after(5):
                    await pool.close()
            except TimeoutError:
                pool.terminate()


async def _fetch(
    conn: Any, named: NamedQuery, values: list[object], limit: int
) -> tuple[list[Any], tuple[str, ...]]:
    # asyncpg has no public "fetch at most N rows" outside a transaction block, yet the
    # Execute message carries a row limit: ``_execute(..., limit)`` uses it, and ``_prepare``
    # with the statement cache gives column names and parameter types without a round trip.
    # One round trip per query keeps the hub's overhead over raw asyncpg near zero.
    stmt = await conn._prepare(named.text, use_cache=True)
    args = _coerce(named, stmt.get_parameters(), values)
    columns = unique_columns([a.name for a in stmt.get_attributes()])
    records = await conn._execute(named.text, args, limit, None)
    return records, columns


def _coerce(named: NamedQuery, types: Any, values: list[object]) -> list[object]:
    out = []
    for name, pg_type, value in zip(named.names, types, values, strict=True):
        convert = _FROM_STRING.get(pg_type.name) if isinstance(value, str) else None
        if convert is None:
            out.append(value)
            continue
        try:
            out.append(convert(value))
        except (ValueError, InvalidOperation):
            raise InputError(f"parameter :{name} is not a valid {pg_type.name}", where="params") from None
    return out


def _name_params(message: str, named: NamedQuery) -> str:
    """Driver messages say ``$2``; callers wrote ``:line_code``."""
    for number in range(len(named.names), 0, -1):
        message = message.replace(f"${number}", f":{named.names[number - 1]}")
    return message


@asynccontextmanager
async def open(config: SqlConfig, credentials: SqlCredentials) -> AsyncIterator[PostgresConnector]:
    """An opened PostgreSQL connector, closed on exit."""
    connector = PostgresConnector(config, credentials)
    try:
        await connector.open()
        yield connector
    finally:
        await connector.aclose()
