"""A tenant's data connectors: stored in ``data_connectors``, opened lazily, health-checked.

Rows hold the validated, normalised config and the credentials sealed with the credential
cipher; nothing here returns, logs or audits a credential. Live connectors are cached by row id
and a fingerprint of type, config and sealed credentials (not ``updated_at``: the schema's trigger
moves it on every UPDATE, health-status writes included, which would reopen every pool after
each check). A connector that is down only fails its own calls and checks: opening is lazy,
every check has its own timeout, and checks run concurrently under a bound.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
from anyio.abc import TaskStatus
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors import (
    AnyConnector,
    Health,
    KafkaConnector,
    MySQLConnector,
    PostgresConnector,
    RestConnector,
    build_connector,
    check_health,
)
from hub.config import HubConfig, expand_env
from hub.errors import ConfigError, Conflict, HubError, InputError, NotFound
from hub.identity import Caller
from hub.redaction import redact
from hub.secrets import CredentialCipher
from hub.settings import Settings
from hub.store.audit import record_audit
from hub.store.models import DataConnector

__all__ = ["ConnectorService", "HealthReport"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# How long a resolved (tenant, name) is trusted before its row is read again. Changes made through
# this service apply at once; another hub process's changes are seen within this many seconds.
ROW_CACHE_SECONDS = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class HealthReport:
    """One connector's checked health, as written to its row."""

    name: str
    type: str
    status: str
    health: Health


class ConnectorService:
    """Registers, opens, caches and health-checks the data connectors of every tenant."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: CredentialCipher,
        settings: Settings,
        *,
        sleep: Sleep = anyio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._settings = settings
        self._sleep = sleep
        self._now = now
        self._live: dict[uuid.UUID, tuple[str, AnyConnector]] = {}
        self._names: dict[tuple[uuid.UUID, str], tuple[float, uuid.UUID]] = {}

    # -- registration ------------------------------------------------------------------------

    async def register(
        self,
        caller: Caller,
        name: str,
        type_name: str,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any] | None = None,
        *,
        engine: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """Store a new connector in the caller's tenant; Conflict when the name is taken."""
        normalised = _validated(type_name, config, credentials)
        sealed = self._cipher.encrypt(dict(credentials)) if credentials else None
        now = self._now()
        async with self._sessions() as session, session.begin():
            if await _find(session, caller.tenant_id, name) is not None:
                raise Conflict(f"a connector named '{name}' already exists in this tenant")
            row = DataConnector(
                id=uuid.uuid4(),
                tenant_id=caller.tenant_id,
                name=name,
                type=type_name,
                engine=engine,
                config=normalised,
                credentials_encrypted=sealed,
                status="inactive",
                created_by=caller.user_id,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            view = self._view(row)
            await record_audit(
                session,
                caller=caller,
                action="create",
                resource_type="data_connector",
                resource_id=row.id,
                after=view,
                trace_id=trace_id,
            )
        return view

    async def update(
        self,
        caller: Caller,
        name: str,
        *,
        config: Mapping[str, Any] | None = None,
        credentials: Mapping[str, Any] | None = None,
        engine: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """Replace a connector's config and/or credentials (``{}`` clears them); reopened on next use."""
        async with self._sessions() as session, session.begin():
            row = await _get(session, caller.tenant_id, name)
            before = self._view(row)
            new_config = dict(config) if config is not None else dict(row.config)
            new_credentials = dict(credentials) if credentials is not None else self._credentials(row)
            normalised = _validated(row.type, new_config, new_credentials)
            row.config = normalised
            if credentials is not None:
                row.credentials_encrypted = self._cipher.encrypt(new_credentials) if new_credentials else None
            if engine is not None:
                row.engine = engine
            row.updated_at = self._now()
            await session.flush()
            view = self._view(row)
            await record_audit(
                session,
                caller=caller,
                action="update",
                resource_type="data_connector",
                resource_id=row.id,
                before=before,
                after=view,
                trace_id=trace_id,
            )
            connector_id = row.id
        await self._forget(connector_id)
        return view

    async def remove(self, caller: Caller, name: str, *, trace_id: str | None = None) -> None:
        """Delete a connector of the caller's tenant and close its connections."""
        async with self._sessions() as session, session.begin():
            row = await _get(session, caller.tenant_id, name)
            before = self._view(row)
            connector_id = row.id
            await session.execute(delete(DataConnector).where(DataConnector.id == connector_id))
            await record_audit(
                session,
                caller=caller,
                action="delete",
                resource_type="data_connector",
                resource_id=connector_id,
                before=before,
                trace_id=trace_id,
            )
        await self._forget(connector_id)

    async def apply_config(self, config: HubConfig, caller: Caller) -> dict[str, list[str]]:
        """Create or update the connectors of ``mcp.json`` (``connectors`` section).

        ``${NAME}`` references in credentials are expanded from the environment here, and the
        values sealed. A connector that disappears from the file is left alone: it may hold
        changes made through the tools since, so removing it is an operator's explicit act.
        """
        from hub.store.accounts import tenant_id_of

        report: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "failed": []}
        for name, entry in config.connectors.items():
            try:
                credentials = expand_env(entry.credentials, where=f"$.connectors.{name}.credentials")
                async with self._sessions() as session:
                    tenant_id = await tenant_id_of(session, entry.tenant)
                    row = await _find(session, tenant_id, name)
                    same = (
                        row is not None
                        and row.type == entry.type
                        and row.config == _validated(entry.type, entry.config, credentials)
                        and self._credentials(row) == credentials
                    )
                owner = dataclasses.replace(caller, tenant_id=tenant_id)
                if row is None:
                    await self.register(owner, name, entry.type, entry.config, credentials)
                    report["created"].append(name)
                elif same:
                    report["unchanged"].append(name)
                elif row.type != entry.type:
                    raise Conflict(
                        f"connector '{name}' is a {row.type} connector, mcp.json says {entry.type}"
                    )
                else:
                    await self.update(owner, name, config=entry.config, credentials=credentials)
                    report["updated"].append(name)
            except HubError as exc:
                log.warning("connector %s from mcp.json: %s", name, exc)
                report["failed"].append(f"{name}: {exc}")
        return report

    async def list_connectors(self, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every connector of a tenant, by name, without credentials."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(DataConnector)
                    .where(DataConnector.tenant_id == tenant_id)
                    .order_by(DataConnector.name)
                )
            ).scalars()
            return [self._view(row) for row in rows]

    # -- use ---------------------------------------------------------------------------------

    async def connector(self, tenant_id: uuid.UUID, name: str) -> AnyConnector:
        """The live connector ``name`` of the tenant (built on first use; connections open lazily)."""
        known = self._names.get((tenant_id, name))
        if known is not None and known[0] > time.monotonic() and known[1] in self._live:
            # A query must not pay a round trip to the hub's own database for the row.
            return self._live[known[1]][1]
        async with self._sessions() as session:
            row = await _get(session, tenant_id, name)
            connector = await self._live_for(row)
        self._names[(tenant_id, name)] = (time.monotonic() + ROW_CACHE_SECONDS, row.id)
        return connector

    async def sql(self, tenant_id: uuid.UUID, name: str) -> PostgresConnector | MySQLConnector:
        """A SQL connector; InputError when ``name`` is another type."""
        found = await self.connector(tenant_id, name)
        if not isinstance(found, PostgresConnector | MySQLConnector):
            raise InputError(f"connector '{name}' is of type {found.kind}, not a SQL database", where="name")
        return found

    async def rest(self, tenant_id: uuid.UUID, name: str) -> RestConnector:
        """A REST connector; InputError when ``name`` is another type."""
        found = await self.connector(tenant_id, name)
        if not isinstance(found, RestConnector):
            raise InputError(f"connector '{name}' is of type {found.kind}, not rest_api", where="name")
        return found

    async def kafka(self, tenant_id: uuid.UUID, name: str) -> KafkaConnector:
        """A Kafka connector; InputError when ``name`` is another type."""
        found = await self.connector(tenant_id, name)
        if not isinstance(found, KafkaConnector):
            raise InputError(f"connector '{name}' is of type {found.kind}, not kafka", where="name")
        return found

    # -- health ------------------------------------------------------------------------------

    async def check(
        self, tenant_id: uuid.UUID | None, name: str | None = None, *, seconds: float | None = None
    ) -> list[HealthReport]:
        """Check one connector, all of a tenant, or (``tenant_id=None``) all; rows are updated."""
        async with self._sessions() as session:
            stmt = select(DataConnector).order_by(DataConnector.name)
            if tenant_id is not None:
                stmt = stmt.where(DataConnector.tenant_id == tenant_id)
            if name is not None:
                stmt = stmt.where(DataConnector.name == name)
            rows = list((await session.execute(stmt)).scalars())
            if name is not None and not rows:
                raise NotFound(f"no connector named '{name}'")
            live: dict[int, AnyConnector] = {}
            broken: dict[int, Health] = {}
            for index, row in enumerate(rows):
                try:
                    live[index] = await self._live_for(row)
                except HubError as exc:  # one bad row must not stop the others' checks
                    broken[index] = Health(False, 0.0, exc.message)
        timeout = seconds or self._settings.health_timeout_seconds
        checked = await check_health(
            list(live.values()), timeout=timeout, concurrency=self._settings.health_concurrency
        )
        by_index = dict(zip(live.keys(), checked, strict=True)) | broken
        results = [by_index[i] for i in range(len(rows))]
        checked_at = self._now()
        reports = []
        async with self._sessions() as session, session.begin():
            for row, health in zip(rows, results, strict=True):
                status = "active" if health.ok else "error"
                await session.execute(
                    update(DataConnector)
                    .where(DataConnector.id == row.id)
                    .values(status=status, last_health_check_at=checked_at, last_health_status=health.detail)
                )
                reports.append(HealthReport(row.name, row.type, status, health))
        return reports

    async def run_health_checks(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Check every connector every ``health_interval_seconds`` (plus jitter) until cancelled."""
        settings = self._settings
        task_status.started()
        while True:
            await self._sleep(
                settings.health_interval_seconds + random.uniform(0, settings.health_jitter_seconds)
            )
            try:
                await self.check(None)
            except Exception:
                # The loop must outlive a bad round (the hub's database briefly away, say).
                log.exception("periodic connector health check failed")

    async def aclose(self) -> None:
        """Close every live connector."""
        live, self._live = self._live, {}
        for _, connector in live.values():
            await connector.aclose()

    # -- inside ------------------------------------------------------------------------------

    def _credentials(self, row: DataConnector) -> dict[str, Any]:
        return self._cipher.decrypt(row.credentials_encrypted) if row.credentials_encrypted else {}

    async def _live_for(self, row: DataConnector) -> AnyConnector:
        fingerprint = hashlib.sha256(
            json.dumps([row.type, row.config], sort_keys=True).encode() + (row.credentials_encrypted or b"")
        ).hexdigest()
        cached = self._live.get(row.id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        try:
            connector = build_connector(row.type, row.config, self._credentials(row))
        except ConfigError as exc:
            raise ConfigError(f"stored connector '{row.name}' is invalid: {exc.message}") from None
        self._live[row.id] = (fingerprint, connector)
        if cached is not None:
            await cached[1].aclose()
        return connector

    async def _forget(self, connector_id: uuid.UUID) -> None:
        self._names = {k: v for k, v in self._names.items() if v[1] != connector_id}
        cached = self._live.pop(connector_id, None)
        if cached is not None:
            await cached[1].aclose()

    def _view(self, row: DataConnector) -> dict[str, Any]:
        """A JSON-safe view of a row: no credentials, config values under secret-looking keys masked."""
        return {
            "id": str(row.id),
            "name": row.name,
            "type": row.type,
            "engine": row.engine,
            "config": redact(row.config, self._settings.redact_keys),
            "has_credentials": row.credentials_encrypted is not None,
            "status": row.status,
            "last_health_check_at": row.last_health_check_at.isoformat()
            if row.last_health_check_at
            else None,
            "last_health_status": row.last_health_status,
        }


def _validated(
    type_name: str, config: Mapping[str, Any], credentials: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The normalised config (defaults filled in); InputError pointing at each bad key."""
    try:
        connector = build_connector(type_name, config, credentials)
    except ConfigError as exc:
        raise InputError(exc.message, where=f"arguments.{exc.where or 'config'}") from None
    return dataclasses.asdict(connector.config)


async def _find(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> DataConnector | None:
    stmt = select(DataConnector).where(DataConnector.tenant_id == tenant_id, DataConnector.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _get(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> DataConnector:
    row = await _find(session, tenant_id, name)
    if row is None:
        raise NotFound(f"no connector named '{name}'")
    return row
