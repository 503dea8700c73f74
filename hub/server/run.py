"""Running the hub: over stdio, or over HTTP (streamable HTTP, SSE and websocket) with uvicorn."""

from __future__ import annotations

import logging

import uvicorn
from mcp.server.stdio import stdio_server

from hub.app import open_app
from hub.errors import ConfigError
from hub.server.http import build_http_app, is_loopback
from hub.server.mcp import build_server
from hub.settings import Settings

__all__ = ["serve_http", "serve_stdio"]

log = logging.getLogger(__name__)


async def serve_stdio(settings: Settings) -> None:
    """Serve one caller on this process's stdin/stdout until it closes them."""
    async with open_app(settings) as app:
        await app.local_caller()  # fail fast on a bad HUB_API_KEY instead of at the first request
        server = build_server(app)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


async def serve_http(settings: Settings, *, host: str, port: int, no_auth: bool = False) -> None:
    """Serve callers over HTTP until interrupted."""
    if no_auth and not is_loopback(host):
        raise ConfigError(f"--no-auth is accepted only on a loopback address, not on {host!r}")
    async with open_app(settings) as app:
        server = build_server(app)
        asgi = build_http_app(app, server, host=host, no_auth=no_auth)
        config = uvicorn.Config(
            asgi, host=host, port=port, log_level="warning", lifespan="on", ws="websockets-sansio"
        )
        await uvicorn.Server(config).serve()
