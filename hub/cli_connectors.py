"""``hub connectors``: register, list, remove and health-check data connectors from the shell.

The same service the MCP tools use does the work (tenant-scoped, credentials sealed, audited).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import typer

from hub.connectors_service import ConnectorService
from hub.identity import Caller
from hub.secrets import CredentialCipher
from hub.settings import Settings
from hub.store import migrate
from hub.store.db import create_engine, create_sessionmaker

__all__ = ["connectors_cli"]

connectors_cli = typer.Typer(
    help="Register, list, remove and health-check data connectors.", no_args_is_help=True
)


@asynccontextmanager
async def _service(settings: Settings, tenant: str) -> AsyncIterator[tuple[ConnectorService, Caller]]:
    from hub.store.accounts import tenant_id_of

    url = settings.resolved_database_url()
    await migrate.upgrade(url)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    service = ConnectorService(sessions, CredentialCipher.from_settings(settings), settings)
    try:
        async with sessions() as session:
            tenant_id = await tenant_id_of(session, tenant)
        caller = Caller(tenant_id, tenant, None, "cli", "admin", frozenset({"*:*"}), "system")
        yield service, caller
    finally:
        await service.aclose()
        await engine.dispose()


@connectors_cli.command("add")
def connectors_add(
    name: Annotated[str, typer.Argument(help="connector name, unique in the tenant")],
    type_name: Annotated[str, typer.Option("--type", help="postgres, mysql, rest_api or kafka")],
    config: Annotated[str, typer.Option(help="config as JSON (host, port, database, read_only, ...)")],
    credentials: Annotated[str, typer.Option(help="credentials as JSON; encrypted at rest")] = "{}",
    tenant: Annotated[str, typer.Option(help="tenant name")] = "demo",
) -> None:
    """Register a connector and check its health once."""
    from hub.cli import _run, _settings
    from hub.errors import InputError

    try:
        cfg, creds = json.loads(config), json.loads(credentials)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc.msg} at column {exc.colno}") from None
    settings = _settings()

    async def add() -> dict[str, Any]:
        if not isinstance(cfg, dict) or not isinstance(creds, dict):
            raise InputError("--config and --credentials must be JSON objects")
        async with _service(settings, tenant) as (service, caller):
            return dict(await service.register(caller, name, type_name, cfg, creds))

    view = _run(add)
    typer.echo(f"registered {name} ({type_name}) in {tenant}: status {view.get('status')}")


@connectors_cli.command("list")
def connectors_list(tenant: Annotated[str, typer.Option(help="tenant name")] = "demo") -> None:
    """List a tenant's connectors (no secrets) with their last health."""
    from hub.cli import _run, _settings

    settings = _settings()

    async def show() -> list[dict[str, Any]]:
        async with _service(settings, tenant) as (service, caller):
            return await service.list_connectors(caller.tenant_id)

    for row in _run(show):
        typer.echo(
            f"{row['name']:24} {row['type']:10} {row['status']:9} {row.get('last_health_status') or ''}"
        )


@connectors_cli.command("remove")
def connectors_remove(
    name: Annotated[str, typer.Argument(help="connector name")],
    tenant: Annotated[str, typer.Option(help="tenant name")] = "demo",
) -> None:
    """Delete a connector (audited)."""
    from hub.cli import _run, _settings

    settings = _settings()

    async def remove() -> None:
        async with _service(settings, tenant) as (service, caller):
            await service.remove(caller, name)

    _run(remove)
    typer.echo(f"removed {name}")


@connectors_cli.command("health")
def connectors_health(
    name: Annotated[str | None, typer.Argument(help="one connector; all of the tenant when omitted")] = None,
    tenant: Annotated[str, typer.Option(help="tenant name")] = "demo",
) -> None:
    """Check connectors now, concurrently; exit 1 if any is down."""
    from hub.cli import _run, _settings

    settings = _settings()

    async def check() -> list[tuple[str, str, str]]:
        async with _service(settings, tenant) as (service, caller):
            reports = await service.check(caller.tenant_id, name)
            return [(r.name, r.status, r.health.detail) for r in reports]

    results = _run(check)
    for conn, status, detail in results:
        typer.echo(f"{conn:24} {status:9} {detail}")
    if any(status != "active" for _, status, _ in results):
        raise typer.Exit(1)
