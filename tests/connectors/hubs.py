"""A hub with the connector family wired in, on a copy of a SQLite database migrated once per run."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from pydantic import SecretStr

from hub.app import App, open_app
from hub.config import HubConfig
from hub.connectors_service import ConnectorService
from hub.secrets import CredentialCipher
from hub.settings import Settings
from hub.store import migrate


def migrated_template(directory: Path) -> Path:
    """A SQLite file at the schema's head, built on a private event loop (once per run)."""
    path = directory / "template.sqlite3"
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@asynccontextmanager
async def connector_hub(
    template: Path, data_dir: Path, **settings: object
) -> AsyncIterator[tuple[App, ConnectorService]]:
    """A running hub (its connector service and tools wired in by the composition root) on a copy of ``template``."""
    database = data_dir / "hub.sqlite3"
    await anyio.to_thread.run_sync(_copy, template, database)
    config = Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{database}",
        secret_key=SecretStr(CredentialCipher.generate_key()),
        **settings,  # type: ignore[arg-type]
    )
    async with open_app(config, config=HubConfig(), migrate=False) as app:
        yield app, app.connectors


def _copy(template: Path, database: Path) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, database)
