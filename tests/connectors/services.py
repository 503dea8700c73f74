"""Real services the connector tests run against: an HTTP API in a thread, a Kafka-protocol broker.

The broker is noida-db (a Kafka-protocol emulator, not Apache Kafka): its binary is started
directly, not through its Python wrapper, so stopping our child PID stops the broker.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import struct
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

API_TOKEN = "tok-9f3c2a7e-rest-secret"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Blackhole:
    """A listening socket that never accepts: connections hang until the client gives up."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = int(self._sock.getsockname()[1])

    def close(self) -> None:
        self._sock.close()


def build_api() -> Starlette:
    """A small HTTP API with the awkward answers a REST connector must handle."""
    calls: Counter[str] = Counter()

    async def items(request: Request) -> Response:
        return JSONResponse({"items": [1, 2, 3], "query": sorted(request.query_params.multi_items())})

    async def echo(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"method": request.method, "body": body, "path": request.url.path})

    async def text(request: Request) -> Response:
        return PlainTextResponse("plain words", headers={"X-Kind": "text"})

    async def html(request: Request) -> Response:
        return Response("<p>hi</p>", media_type="text/html; charset=utf-8")

    async def binary(request: Request) -> Response:
        return Response(bytes(range(256)), media_type="application/octet-stream")

    async def lying_json(request: Request) -> Response:
        return Response("not json at all", media_type="application/json")

    async def flaky(request: Request) -> Response:
        key = request.path_params["key"]
        calls[key] += 1
        if calls[key] <= int(request.query_params.get("fail", "0")):
            headers = {}
            if "retry_after" in request.query_params:
                headers["Retry-After"] = request.query_params["retry_after"]
            return JSONResponse(
                {"try": calls[key]}, status_code=int(request.query_params["status"]), headers=headers
            )
        return JSONResponse({"ok": True, "calls": calls[key]})

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("seconds", "5")))
        return JSONResponse({"slow": True})

    async def big(request: Request) -> Response:
        return PlainTextResponse("x" * int(request.query_params.get("size", "1000000")))

    async def secure(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_TOKEN}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"secure": True})

    async def status(request: Request) -> Response:
        return JSONResponse({"status": "as asked"}, status_code=int(request.path_params["code"]))

    async def redirect(request: Request) -> Response:
        return RedirectResponse("http://192.0.2.1/elsewhere", status_code=302)

    async def anything(request: Request) -> Response:
        return JSONResponse({"path": request.url.path, "raw": request.scope.get("raw_path", b"").decode()})

    return Starlette(
        routes=[
            Route("/api/items", items),
            Route("/api/echo", echo, methods=["POST", "PUT", "PATCH"]),
            Route("/api/text", text),
            Route("/api/html", html),
            Route("/api/binary", binary),
            Route("/api/lying-json", lying_json),
            Route("/api/flaky/{key}", flaky),
            Route("/api/slow", slow),
            Route("/api/big", big),
            Route("/api/secure", secure),
            Route("/api/status/{code:int}", status),
            Route("/api/redirect", redirect),
            Route("/health", items),
            Route("/{rest:path}", anything),
        ]
    )


class ThreadedServer:
    """uvicorn serving an app on a loopback port from a thread; start and stop at will."""

    def __init__(self, app: Starlette, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"api:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        # uvicorn flips `started` once it listens; nothing to wait on but the flag.
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the test API did not start on port {self.port}")
            time.sleep(0.005)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None


def noida_binary() -> Path | None:
    """The noida-db broker binary from the installed wheel (or HUB_TEST_NOIDA_BIN)."""
    if env := os.environ.get("HUB_TEST_NOIDA_BIN"):
        return Path(env) if Path(env).is_file() else None
    spec = importlib.util.find_spec("noida_db")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "noida-db"
    return binary if binary.exists() else None


def kafka_ready(host: str, port: int) -> bool:
    """True when the broker answers ApiVersions v0 with error code 0; an open port is not enough."""
    correlation = 7357
    client_id = b"hub-test"
    body = struct.pack(">hhih", 18, 0, correlation, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv(sock, 4)
            size = struct.unpack(">i", header)[0]
            reply = _recv(sock, size)
    except OSError:
        return False
    got_correlation, error_code = struct.unpack(">ih", reply[:6])
    return got_correlation == correlation and error_code == 0


def _recv(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


class Broker:
    """A noida-db broker process on a loopback port with its own data directory."""

    def __init__(self, binary: Path, data_dir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "broker.log").open("ab")
        self._proc = subprocess.Popen(
            [
                *(str(self.binary), "start", "--only", "kafka", "--host", "127.0.0.1"),
                *("--kafka-port", str(self.port), "--data-dir", str(self.data_dir)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not kafka_ready("127.0.0.1", self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"noida-db did not answer ApiVersions on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
