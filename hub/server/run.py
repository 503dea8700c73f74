"""Running the hub: over stdio, or over HTTP (streamable HTTP, SSE and websocket) with uvicorn.

Signals: SIGHUP re-applies ``mcp.json`` (``hub config reload`` sends it, finding the process through
the pid file in the data directory); SIGTERM and SIGINT stop accepting, let in-flight calls finish up
to a deadline, flush the call log and stop every upstream child.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import uvicorn
from mcp.server.stdio import stdio_server

from hub.app import App, open_app
from hub.errors import ConfigError, HubError
from hub.server.http import build_http_app, is_loopback
from hub.server.mcp import build_server
from hub.settings import Settings

__all__ = ["PID_FILE", "serve_http", "serve_stdio"]

log = logging.getLogger(__name__)

PID_FILE = "hub.pid"
# How long in-flight HTTP requests may take to finish after SIGTERM.
SHUTDOWN_GRACE_SECONDS = 10.0


@asynccontextmanager
async def pid_file(settings: Settings) -> AsyncIterator[None]:
    """Advertise this process for ``hub config reload`` while it serves."""
    path = Path(settings.data_dir) / PID_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(os.getpid()))
    try:
        yield
    finally:
        if path.exists() and path.read_text().strip() == str(os.getpid()):
            path.unlink()


class _WebServer(uvicorn.Server):
    """uvicorn without its own signal handling: the hub's watcher owns SIGHUP, SIGTERM and SIGINT."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _watch_signals(app: App, stop: anyio.CancelScope | None, web: uvicorn.Server | None = None) -> None:
    with anyio.open_signal_receiver(signal.SIGHUP, signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                try:
                    report = await app.reload()
                    log.warning("configuration reloaded: %s", report)
                except HubError as exc:
                    # A bad file on reload keeps the running configuration.
                    log.error("reload refused, keeping the running configuration: %s", exc)
                continue
            if web is not None:
                # Stop accepting and let in-flight requests finish (up to the grace period).
                web.should_exit = True
            if stop is not None:
                stop.cancel()
            return


async def serve_stdio(settings: Settings) -> None:
    """Serve one caller on this process's stdin/stdout until it closes them or a signal stops it."""
    async with open_app(settings) as app, pid_file(settings):
        await app.local_caller()  # fail fast on a bad HUB_API_KEY instead of at the first request
        server = build_server(app)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch_signals, app, tg.cancel_scope)
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())
            tg.cancel_scope.cancel()


async def serve_http(settings: Settings, *, host: str, port: int, no_auth: bool = False) -> None:
    """Serve callers over HTTP until SIGTERM/SIGINT."""
    if no_auth and not is_loopback(host):
        raise ConfigError(f"--no-auth is accepted only on a loopback address, not on {host!r}")
    async with open_app(settings) as app, pid_file(settings):
        server = build_server(app)
        asgi = build_http_app(app, server, host=host, no_auth=no_auth)
        config = uvicorn.Config(
            asgi,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE_SECONDS),
        )
        web = _WebServer(config)
        async with anyio.create_task_group() as tg:
            # After uvicorn has finished, open_app's exit stops the upstreams and flushes the log.
            tg.start_soon(_watch_signals, app, None, web)
            await web.serve()
            tg.cancel_scope.cancel()
