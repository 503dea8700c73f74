"""A small OpenAI-compatible ``/v1/chat/completions`` server on loopback, scripted per model name.

The model in the request picks the behaviour, so one server serves every test:

==============  =================================================================
``valid*``      a JSON verdict (``critical``, 0.9 unless a queued answer says otherwise)
``fenced*``     the same verdict inside a ```json fence
``prose*``      plain prose, no JSON
``badjson*``    broken JSON
``schema*``     JSON that violates the answer schema
``fail*``       HTTP 500
``hang*``       never answers until the server stops (client timeouts)
``garbage*``    HTTP 200 whose body is not a chat completion
==============  =================================================================

A model written ``valid@gpt-4o-mini`` reports ``gpt-4o-mini`` back.
``queue(model, *behaviours)`` scripts the next answers for one model (``"prose"``,
``"valid:warning:0.7"`` ...). Every request body is kept in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import deque
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class LLMServer:
    """The server, run by uvicorn in a thread on a socket bound before it starts."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        # Without NODELAY, Nagle plus delayed ACKs add 40 ms to every answer (headers and body go apart).
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.requests: list[dict[str, Any]] = []
        self._queues: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        config = uvicorn.Config(
            app, log_level="error", lifespan="off", ws="none", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> None:
        """Serve in the background; clients may connect at once, the socket already listens."""
        self._thread.start()

    def stop(self) -> None:
        """Release hanging requests and stop."""
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def reset(self) -> None:
        """Forget scripted answers and logged requests."""
        with self._lock:
            self._queues.clear()
            self.requests.clear()

    def queue(self, model: str, *behaviours: str) -> None:
        """Script the next answers for ``model``."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(behaviours)

    def models_asked(self) -> list[str]:
        """The model of every request so far, in order."""
        with self._lock:
            return [str(r.get("model")) for r in self.requests]

    def _next(self, model: str) -> str:
        with self._lock:
            queue = self._queues.get(model)
            if queue:
                return queue.popleft()
        for prefix in ("valid", "fenced", "prose", "badjson", "schema", "fail", "hang", "garbage"):
            if model.startswith(prefix):
                return prefix
        return "fail"

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._release = asyncio.Event()
        model = str(body.get("model"))
        kind, _, rest = self._next(model).partition(":")
        if kind == "fail":
            return JSONResponse({"error": {"message": "model overloaded"}}, status_code=500)
        if kind == "garbage":
            return Response("<html>proxy error</html>", media_type="text/html")
        if kind == "hang":
            assert self._release is not None
            await self._release.wait()
            return JSONResponse({"error": {"message": "released"}}, status_code=503)
        result, _, confidence = rest.partition(":")
        verdict = {
            "result": result or "critical",
            "confidence": float(confidence or 0.9),
            "explanation": "defect rate far above target, likely tooling wear",
            "recommended_actions": ["inspect_tooling"],
            "reasoning_trace": "compared with the target and the rules' trace",
        }
        text = {
            "valid": json.dumps(verdict),
            "fenced": "Here is my judgment:\n```json\n" + json.dumps(verdict, indent=2) + "\n```\n",
            "prose": "The line looks fairly bad; I would call it critical with high confidence.",
            "badjson": '{"result": "critical", "confidence": 0.9, "explanation": ',
            "schema": json.dumps({"result": "terrible", "confidence": 7, "explanation": 3}),
        }[kind]
        return JSONResponse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                # "valid@gpt-4o-mini" reports gpt-4o-mini, so cost estimates can be checked.
                "model": model.partition("@")[2] or model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160},
            }
        )
