"""The hub's HTTP faces: streamable HTTP at ``/mcp``, SSE at ``/sse``, websocket at ``/ws``, ``/healthz``.

Every MCP path sits behind ``BearerAuth``: a request without a usable API key gets 401 and
reaches nothing else. With ``no_auth`` (loopback only) every request acts as the local identity.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import orjson
from mcp.server.lowlevel import Server
from mcp.server.sse import SseServerTransport
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from hub import __version__
from hub.app import App
from hub.errors import AuthError, ConfigError, HubError
from hub.server import wire
from hub.server.events import RecentEvents
from hub.server.listing import CURRENT_CALLER
from hub.server.mcp import CALLER_SCOPE_KEY
from hub.server.websocket import websocket_endpoint

__all__ = ["BearerAuth", "build_http_app", "is_loopback"]

log = logging.getLogger(__name__)

_PROTECTED = ("/mcp", "/sse", "/messages", "/ws")
# How long a client whose SSE stream broke waits before reconnecting (the SSE "retry" field), in ms.
SSE_RETRY_MS = 1000


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerAuth:
    """ASGI middleware: resolve ``Authorization: Bearer <key>`` to a caller, or answer 401."""

    def __init__(self, inner: ASGIApp, app: App, *, no_auth: bool) -> None:
        self._inner = inner
        self._app = app
        self._no_auth = no_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith(_PROTECTED):
            await self._inner(scope, receive, send)
            return
        if scope["type"] == "http":
            # RFC 9110 5.5: a field value excludes the whitespace around it. h11 trims it, httptools
            # does not, and the MCP headers (Mcp-Name, ...) are compared with the body verbatim.
            scope["headers"] = [(name, value.strip(b" \t")) for name, value in scope.get("headers", ())]
        try:
            if self._no_auth:
                caller = await self._app.local_caller()
            else:
                caller = await self._app.authenticate(_bearer(scope))
        except HubError as exc:
            await _deny(scope, receive, send, exc)
            return
        scope.setdefault("state", {})[CALLER_SCOPE_KEY] = caller
        token = CURRENT_CALLER.set(caller)
        try:
            await self._inner(scope, receive, send)
        finally:
            CURRENT_CALLER.reset(token)


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("the Authorization header must be 'Bearer <api key>'")
            return token.strip()
    raise AuthError("missing Authorization: Bearer <api key>")


async def _deny(scope: Scope, receive: Receive, send: Send, exc: HubError) -> None:
    status = 401 if isinstance(exc, AuthError) else 503
    if scope["type"] == "websocket":
        # Refusing the handshake with an HTTP response keeps the reason visible to the client.
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": orjson.dumps({"error": str(exc)})})
        return
    body = orjson.dumps({"error": str(exc)})
    response = Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="mcp-hub"'} if status == 401 else None,
    )
    await response(scope, receive, send)


def build_http_app(
    app: App, server: Server[Any], *, host: str = "127.0.0.1", no_auth: bool = False
) -> ASGIApp:
    """The ASGI application of the HTTP faces."""
    if no_auth and not is_loopback(host):
        raise ConfigError(f"--no-auth is accepted only on a loopback address, not on {host!r}")
    wire.install()

    async def healthz(request: Request) -> Response:
        try:
            async with app.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any database failure means "not healthy", reported, not raised
            log.warning("health check: database unreachable: %s", type(exc).__name__)
            return Response(
                orjson.dumps({"status": "unhealthy", "database": "unreachable"}),
                status_code=503,
                media_type="application/json",
            )
        return Response(orjson.dumps({"status": "ok", "version": __version__}), media_type="application/json")

    sse = SseServerTransport("/messages/")

    async def handle_sse(request: Request) -> Response:
        async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return Response()

    routes: list[Route | Mount | WebSocketRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/sse", handle_sse, methods=["GET"]),
        Mount("/messages/", app=sse.handle_post_message),
        WebSocketRoute("/ws", websocket_endpoint(server)),
    ]
    starlette = server.streamable_http_app(
        streamable_http_path="/mcp",
        # Resumable SSE (SEP-1699): streams open with a priming event, and a client cut off reconnects.
        event_store=RecentEvents(),
        retry_interval=SSE_RETRY_MS,
        host=host,
        custom_starlette_routes=routes,  # type: ignore[arg-type]
        max_request_body_size=app.settings.max_payload_bytes + 64 * 1024,
    )
    return BearerAuth(starlette, app, no_auth=no_auth)
