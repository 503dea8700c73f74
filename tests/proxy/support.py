"""The echo server as a test upstream: spawned by the hub (stdio) or running on a local port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import anyio.to_thread

from hub.proxy import TransportKind, UpstreamSpec

ROOT = Path(__file__).resolve().parents[2]
ECHO_SERVER = ROOT / "tests" / "servers" / "echo_server.py"
TRANSPORTS: tuple[TransportKind, ...] = ("stdio", "sse", "streamable_http", "websocket")
_PATHS = {"sse": "/sse", "streamable_http": "/mcp", "websocket": "/ws"}


class EchoServer:
    """The echo server as an upstream: spawned by the hub (stdio) or running on a local port."""

    def __init__(self, transport: TransportKind, many: int) -> None:
        self.transport = transport
        self.many = many
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    def _argv(self) -> list[str]:
        return [sys.executable, str(ECHO_SERVER), "--many", str(self.many)]

    def start(self) -> None:
        """Start the network server (again on the same port, if it ran before); stdio starts with the hub."""
        if self.transport == "stdio":
            return
        wire = self.transport.replace("_", "-")
        argv = [*self._argv(), "--transport", wire, "--port", str(self.port)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("READY"), f"echo server did not start: {line!r}"
        self.port = int(line.split()[1])

    async def restart(self) -> None:
        """Stop the server and start it again on the same port."""
        self.stop()
        await anyio.to_thread.run_sync(self.start)

    def stop(self) -> None:
        """Stop the network server."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def spec(self, name: str = "echo", **options: object) -> UpstreamSpec:
        """How the hub reaches this server."""
        if self.transport == "stdio":
            argv = self._argv()
            return UpstreamSpec(
                name=name, transport="stdio", command=argv[0], args=tuple(argv[1:]), **options
            )  # type: ignore[arg-type]
        scheme = "ws" if self.transport == "websocket" else "http"
        url = f"{scheme}://127.0.0.1:{self.port}{_PATHS[self.transport]}"
        return UpstreamSpec(name=name, transport=self.transport, url=url, **options)  # type: ignore[arg-type]
