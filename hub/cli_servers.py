"""``hub servers``: register, list, remove and health-check upstream MCP servers from the shell.

Changes go to the database (audited, as the admin tools do); a running hub picks them up at once
when it is found through its pid file (it is sent SIGHUP), else at its next start.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.config import ServerEntry
from hub.secrets import CredentialCipher
from hub.settings import Settings
from hub.store import migrate
from hub.store.db import create_engine, create_sessionmaker

__all__ = ["servers_cli"]

servers_cli = typer.Typer(
    help="Register, list, remove and health-check upstream MCP servers.", no_args_is_help=True
)


def _poke_running_hub(data_dir: Path) -> str:
    from hub.server.run import PID_FILE

    path = data_dir / PID_FILE
    if not path.exists():
        return "no running hub found; it applies the change at its next start"
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (ValueError, ProcessLookupError):
        return "no running hub found; it applies the change at its next start"
    return f"running hub {pid} told to apply it"


@servers_cli.command("add")
def servers_add(
    name: Annotated[str, typer.Argument(help="server name, unique in the tenant")],
    command: Annotated[str | None, typer.Option(help="stdio: program to run")] = None,
    arg: Annotated[list[str] | None, typer.Option(help="stdio: an argument (repeatable)")] = None,
    url: Annotated[str | None, typer.Option(help="sse / streamable_http / websocket URL")] = None,
    transport: Annotated[str | None, typer.Option(help="sse, streamable_http or websocket")] = None,
    prefix: Annotated[
        str | None, typer.Option(help="tool name prefix (default: the name; '' for none)")
    ] = None,
    tenant: Annotated[str, typer.Option(help="tenant name")] = "demo",
    entry_json: Annotated[str | None, typer.Option("--json", help="the whole mcp.json entry as JSON")] = None,
) -> None:
    """Register an upstream server (audited)."""
    from hub.cli import _run, _settings

    data: dict[str, Any] = json.loads(entry_json) if entry_json else {}
    for key, value in (
        ("command", command),
        ("args", arg),
        ("url", url),
        ("transport", transport),
        ("prefix", prefix),
    ):
        if value is not None:
            data[key] = value
    data["tenant"] = tenant
    try:
        entry = ServerEntry.model_validate(data)
    except ValueError as exc:
        raise typer.BadParameter(str(exc).splitlines()[-1]) from None
    settings = _settings()

    async def add() -> str:
        async with _store(settings) as (sessions, cipher):
            from hub.identity import SYSTEM
            from hub.store import servers as rows
            from hub.store.accounts import tenant_id_of

            async with sessions() as session, session.begin():
                tenant_id = await tenant_id_of(session, tenant)
                record, what = await rows.save_server(
                    session, cipher, SYSTEM, tenant_id, name, entry, create=True
                )
        return (
            f"{what} server {name} ({record.entry.kind}) in {tenant}; {_poke_running_hub(settings.data_dir)}"
        )

    typer.echo(_run(add))


@servers_cli.command("list")
def servers_list(tenant: Annotated[str, typer.Option(help="tenant name")] = "demo") -> None:
    """List a tenant's upstream servers with their recorded state."""
    from hub.cli import _run, _settings

    settings = _settings()

    async def show() -> list[dict[str, Any]]:
        from sqlalchemy import select

        from hub.store.accounts import tenant_id_of
        from hub.store.models import MCPServer
        from hub.store.servers import row_view

        async with _store(settings) as (sessions, _), sessions() as session:
            tenant_id = await tenant_id_of(session, tenant)
            found = (
                await session.execute(
                    select(MCPServer)
                    .where(MCPServer.tenant_id == tenant_id, MCPServer.name != "hub")
                    .order_by(MCPServer.name)
                )
            ).scalars()
            return [row_view(r) for r in found]

    for row in _run(show):
        typer.echo(
            f"{row['name']:24} {row['protocol']:16} {row['status']:9} breaker={row['circuit_breaker_state']:9}"
            f" {row['endpoint']}"
        )


@servers_cli.command("remove")
def servers_remove(
    name: Annotated[str, typer.Argument(help="server name")],
    tenant: Annotated[str, typer.Option(help="tenant name")] = "demo",
) -> None:
    """Set a server inactive (its rows and history stay)."""
    from hub.cli import _run, _settings

    settings = _settings()

    async def remove() -> str:
        from hub.identity import SYSTEM
        from hub.store import servers as rows
        from hub.store.accounts import tenant_id_of

        async with _store(settings) as (sessions, _), sessions() as session, session.begin():
            tenant_id = await tenant_id_of(session, tenant)
            await rows.remove_server(session, SYSTEM, tenant_id, name)
        return f"server {name} set inactive; {_poke_running_hub(settings.data_dir)}"

    typer.echo(_run(remove))


@servers_cli.command("health")
def servers_health(
    tenant: Annotated[str, typer.Option(help="tenant name")] = "demo",
    timeout: Annotated[float, typer.Option(help="seconds per server")] = 10.0,
) -> None:
    """Connect to every active server of the tenant now, concurrently, and report each (exit 1 if any is down)."""
    from hub.cli import _run, _settings

    settings = _settings()

    async def check() -> list[tuple[str, bool, str]]:
        from hub.proxy import Upstream
        from hub.store import servers as rows
        from hub.store.accounts import tenant_id_of
        from hub.upstreams import spec_of

        async with _store(settings) as (sessions, cipher), sessions() as session:
            tenant_id = await tenant_id_of(session, tenant)
            records = await rows.list_servers(session, cipher, tenant_id, active_only=True)
        results: list[tuple[str, bool, str]] = []

        async def one(record: rows.ServerRecord) -> None:
            started = time.perf_counter()
            try:
                spec = spec_of(record.name, record.entry, settings)
                async with Upstream.from_spec(spec) as upstream:
                    snap = await upstream.wait_ready(timeout)
                ms = (time.perf_counter() - started) * 1000
                results.append((record.name, True, f"up in {ms:.0f} ms, {len(snap.tools)} tools"))
            except Exception as exc:  # every failure is a report line, not a crash
                results.append((record.name, False, str(exc).splitlines()[0][:200]))

        async with anyio.create_task_group() as tg:
            for record in records:
                tg.start_soon(one, record)
        return sorted(results)

    results = _run(check)
    for name, ok, detail in results:
        typer.echo(f"{name:24} {'up' if ok else 'DOWN':5} {detail}")
    if any(not ok for _, ok, _ in results):
        raise typer.Exit(1)


@asynccontextmanager
async def _store(
    settings: Settings,
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], CredentialCipher]]:
    """The database (migrated) and the credential cipher, for one command."""
    url = settings.resolved_database_url()
    await migrate.upgrade(url)
    engine = create_engine(url)
    try:
        yield create_sessionmaker(engine), CredentialCipher.from_settings(settings)
    finally:
        await engine.dispose()
