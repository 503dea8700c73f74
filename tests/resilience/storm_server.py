"""The echo server over streamable HTTP behind a switch that makes every request answer HTTP 500.

    python tests/resilience/storm_server.py    → prints "READY <port>"

``POST /storm/on`` starts the storm, ``POST /storm/off`` ends it; while it rages the MCP endpoint
answers 500 to everything, as an overloaded or broken backend behind a load balancer does.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import anyio
import uvicorn
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "servers"))

from echo_server import State, build, http_app


class Storm:
    """ASGI middleware: 500 for every request while on; /storm/on and /storm/off flip it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.on = False
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in ("/storm/on", "/storm/off"):
            self.on = path.endswith("on")
            await PlainTextResponse(str(self.refused))(scope, receive, send)
            return
        if path == "/storm/count":
            await PlainTextResponse(str(self.refused))(scope, receive, send)
            return
        if self.on:
            self.refused += 1
            await Response("storm", status_code=500)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def main() -> None:
    server = build(State(0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sys.stdout.write(f"READY {sock.getsockname()[1]}\n")
    sys.stdout.flush()
    config = uvicorn.Config(Storm(http_app(server, "streamable-http")), log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    anyio.run(main)
