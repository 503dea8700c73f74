"""The ``hub`` command: serve, migrate the database, make API keys, check configuration.

Every error a user can cause ends as one line on stderr and a non-zero exit status (2 for bad
configuration or arguments), never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import typer

from hub import __version__
from hub.cli_connectors import connectors_cli
from hub.cli_servers import servers_cli
from hub.config import load_config
from hub.errors import ConfigError, HubError, InputError
from hub.settings import Settings

__all__ = ["main"]

T = TypeVar("T")

cli = typer.Typer(
    name="hub",
    help="An MCP integration hub: one endpoint for judgments, rules, connectors and upstream MCP servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Create, upgrade or downgrade the hub's database.", no_args_is_help=True)
keys_cli = typer.Typer(help="Make and revoke API keys.", no_args_is_help=True)
config_cli = typer.Typer(help="Check mcp.json, or make a running hub reload it.", no_args_is_help=True)
users_cli = typer.Typer(help="Add users to a tenant.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(config_cli, name="config")
cli.add_typer(users_cli, name="users")
cli.add_typer(servers_cli, name="servers")
cli.add_typer(connectors_cli, name="connectors")


class Role(StrEnum):
    """Roles of the core schema's RBAC matrix."""

    admin = "admin"
    approver = "approver"
    operator = "operator"
    viewer = "viewer"


class Transport(StrEnum):
    """Faces ``hub serve`` can offer."""

    stdio = "stdio"
    http = "http"


def _settings(config: Path | None = None) -> Settings:
    try:
        settings = Settings()
    except ValueError as exc:
        raise ConfigError(f"invalid HUB_* environment: {exc}") from exc
    if config is not None:
        settings = settings.model_copy(update={"config_file": config})
    return settings


def _use_uvloop(choice: str) -> bool:
    if choice not in ("auto", "asyncio", "uvloop"):
        raise ConfigError(f"HUB_EVENT_LOOP must be auto, asyncio or uvloop, not {choice!r}")
    if choice == "asyncio":
        return False
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if choice == "uvloop":
            raise ConfigError("HUB_EVENT_LOOP=uvloop, but uvloop is not installed") from None
        return False
    return True


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine, turning hub errors into one line and an exit status."""
    try:
        # HUB_EVENT_LOOP is read here, not in Settings: the loop is chosen before any command runs.
        loop = os.environ.get("HUB_EVENT_LOOP", "auto").strip().lower() or "auto"
        return anyio.run(fn, backend_options={"use_uvloop": _use_uvloop(loop)})
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2) from None
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@cli.command()
def version() -> None:
    """Print the hub's version."""
    typer.echo(__version__)


@cli.command()
def serve(
    transport: Annotated[
        Transport, typer.Option(help="stdio, or http (streamable HTTP /mcp, SSE /sse, websocket /ws)")
    ] = Transport.stdio,
    host: Annotated[str, typer.Option(help="address to listen on (http)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on (http)", min=0, max=65535)] = 8765,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="loopback only: every HTTP request acts as HUB_API_KEY's user or the seeded admin",
        ),
    ] = False,
    config: Annotated[
        Path | None, typer.Option(help="the mcp.json to apply (default: HUB_CONFIG_FILE or ./mcp.json)")
    ] = None,
) -> None:
    """Run the hub (on the embedded SQLite database unless HUB_DATABASE_URL says otherwise)."""
    from hub.server.run import serve_http, serve_stdio

    settings = _settings(config)
    _log_to_stderr()
    if transport is Transport.stdio:
        _run(lambda: serve_stdio(settings))
    else:
        _run(lambda: serve_http(settings, host=host, port=port, no_auth=no_auth))


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="target revision")] = "head") -> None:
    """Apply migrations up to REVISION (default: head); a database at head is left as it is."""
    from hub.store import migrate

    settings = _settings()
    typer.echo(_run(lambda: migrate.upgrade(settings.resolved_database_url(), revision)).message)


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Option(help="target revision")] = "base") -> None:
    """Undo migrations down to REVISION (default: base, an empty database)."""
    from hub.store import migrate

    settings = _settings()
    typer.echo(_run(lambda: migrate.downgrade(settings.resolved_database_url(), revision)).message)


@db_cli.command("current")
def db_current() -> None:
    """Print the database's current revision."""
    from hub.store import migrate

    settings = _settings()
    typer.echo(_run(lambda: migrate.current(settings.resolved_database_url())) or "(empty)")


@keys_cli.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="tenant name")] = "demo",
    user: Annotated[str, typer.Option(help="username in that tenant")] = "admin",
    name: Annotated[str | None, typer.Option(help="a label for the key")] = None,
) -> None:
    """Make an API key for a user and print it once (only its hash is stored)."""
    from hub.store import accounts, migrate
    from hub.store.db import create_engine, create_sessionmaker

    settings = _settings()

    async def create() -> tuple[str, dict[str, Any]]:
        url = settings.resolved_database_url()
        await migrate.upgrade(url)
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await accounts.create_api_key(session, tenant=tenant, username=user, name=name)
        finally:
            await engine.dispose()

    key, row = _run(create)
    typer.echo(key)
    typer.echo(f"prefix {row['prefix']} for {user}@{tenant}; store it now, it is not shown again", err=True)


@keys_cli.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="the key's visible prefix, e.g. hub_AbCd1234")],
) -> None:
    """Revoke an API key by its prefix."""
    from hub.store import accounts
    from hub.store.db import create_engine, create_sessionmaker

    settings = _settings()

    async def revoke() -> None:
        engine = create_engine(settings.resolved_database_url())
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                await accounts.revoke_api_key(session, prefix)
        finally:
            await engine.dispose()

    _run(revoke)
    typer.echo(f"revoked {prefix}")


@users_cli.command("add")
def users_add(
    username: Annotated[str, typer.Option(help="login name, unique in the tenant")],
    email: Annotated[str, typer.Option(help="e-mail address, unique in the tenant")],
    role: Annotated[Role, typer.Option(help="RBAC role")] = Role.viewer,
    tenant: Annotated[str, typer.Option(help="tenant name")] = "demo",
    permission: Annotated[
        list[str] | None, typer.Option(help="an extra permission, e.g. mcp:read (repeatable)")
    ] = None,
) -> None:
    """Add a user (who then gets API keys with `hub keys create`)."""
    from hub.store import accounts, migrate
    from hub.store.db import create_engine, create_sessionmaker

    settings = _settings()

    async def add() -> dict[str, Any]:
        url = settings.resolved_database_url()
        await migrate.upgrade(url)
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await accounts.create_user(
                    session,
                    tenant=tenant,
                    username=username,
                    email=email,
                    role=role.value,
                    permissions=permission,
                )
        finally:
            await engine.dispose()

    row = _run(add)
    typer.echo(f"added {row['username']} ({row['role']}) to {tenant}: {row['id']}")


@config_cli.command("reload")
def config_reload() -> None:
    """Make the running hub (found through its pid file in HUB_DATA_DIR) re-apply mcp.json (SIGHUP)."""
    import os
    import signal

    from hub.server.run import PID_FILE

    settings = _settings()
    path = settings.data_dir / PID_FILE

    async def send() -> str:
        if not path.exists():
            raise ConfigError(f"no running hub: {path} does not exist")
        # Check the file first so a bad one is not found only after the running hub refuses it.
        load_config(settings.config_file)
        pid = int(path.read_text().strip())
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError as exc:
            raise ConfigError(f"no running hub: process {pid} from {path} is gone") from exc
        return f"asked hub process {pid} to reload {settings.config_file}"

    typer.echo(_run(send))


@config_cli.command("check")
def config_check(
    file: Annotated[Path | None, typer.Argument(help="default: HUB_CONFIG_FILE or ./mcp.json")] = None,
) -> None:
    """Validate mcp.json; print each problem with its JSON path and exit 2 if there are any."""
    path = file or _settings().config_file

    async def check() -> str:
        if not path.exists():
            raise ConfigError(f"{path} does not exist")
        cfg = load_config(path)
        return f"{path}: ok ({len(cfg.mcpServers)} server(s), {len(cfg.connectors)} connector(s))"

    typer.echo(_run(check))


def _log_to_stderr() -> None:
    # stdout carries the MCP stream on stdio, so logs always go to stderr.
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main() -> None:
    """Entry point of the ``hub`` console script."""
    cli()
