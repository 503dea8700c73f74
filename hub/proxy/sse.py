"""SSE upstreams (the 2024-11-05 HTTP+SSE transport): events in on one GET stream, messages out by POST.

Written here rather than taken from ``mcp.client.sse`` because the SDK's client caps events at 1 MiB with
no way to raise it, and a POST the server rejects (its session is gone) only gets logged there, leaving
the request waiting for its timeout; here it ends the link at once, naming the HTTP status.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urljoin, urlparse

import anyio
import anyio.abc
import httpx2
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

from hub.proxy.transport import CLOSE_GRACE_SECONDS, MAX_MESSAGE_BYTES, TransportStreams, UrlConnector

__all__ = ["MAX_EVENT_BYTES", "SseConnector"]

logger = logging.getLogger(__name__)

MAX_EVENT_BYTES = MAX_MESSAGE_BYTES


class SseConnector(UrlConnector):
    """Opens the spec's SSE endpoint (``.../sse``) with its headers and timeouts."""

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        spec = self._spec
        assert spec.url is not None
        self._status.reset()
        timeout = httpx2.Timeout(spec.connect_timeout, read=spec.read_timeout)
        client = httpx2.AsyncClient(headers=dict(spec.headers), timeout=timeout)
        try:
            headers = {"accept": "text/event-stream", "cache-control": "no-store"}
            async with client.stream("GET", spec.url, headers=headers) as response:
                response.raise_for_status()
                events = httpx2.EventSource(response, max_event_size=MAX_EVENT_BYTES)
                read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
                write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
                async with anyio.create_task_group() as tg:
                    endpoint: str = await tg.start(self._receive, events, read_writer)
                    tg.start_soon(self._post, client, endpoint, write_reader, read_writer)
                    try:
                        yield read_stream, write_stream
                    finally:
                        tg.cancel_scope.cancel()
                        for stream in (read_writer, read_stream, write_stream, write_reader):
                            stream.close()
        finally:
            # Closed even when the owner is being cancelled, or pooled sockets would leak until GC.
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_GRACE_SECONDS):
                await client.aclose()

    async def _receive(
        self,
        events: httpx2.EventSource,
        sink: MemoryObjectSendStream[SessionMessage | Exception],
        *,
        task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        url = self._spec.url
        assert url is not None
        started = False
        try:
            async for event in events:
                if event.event == "endpoint":
                    endpoint = urljoin(url, event.data)
                    if _origin(endpoint) != _origin(url):
                        raise ValueError(f"SSE endpoint {endpoint} is on another origin than {url}")
                    if not started:
                        started = True
                        task_status.started(endpoint)
                elif event.event == "message" and event.data:
                    try:
                        item: SessionMessage | Exception = SessionMessage(
                            types.jsonrpc_message_adapter.validate_json(event.data, by_name=False)
                        )
                    except ValueError as exc:
                        item = exc
                    await sink.send(item)
            self._note_closed("upstream ended the SSE stream")
        except httpx2.HTTPError as exc:
            self._note_closed(f"SSE stream failed: {type(exc).__name__}: {exc}")
            if not started:
                raise
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the session is gone already
        finally:
            sink.close()
        if not started:
            raise ConnectionError("SSE stream ended before the server named its message endpoint")

    async def _post(
        self,
        client: httpx2.AsyncClient,
        endpoint: str,
        source: MemoryObjectReceiveStream[SessionMessage],
        sink: MemoryObjectSendStream[SessionMessage | Exception],
    ) -> None:
        with source:
            async for message in source:
                body = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                try:
                    response = await client.post(
                        endpoint, content=body, headers={"content-type": "application/json"}
                    )
                    failure = f"HTTP {response.status_code}" if response.status_code >= 400 else None
                except httpx2.HTTPError as exc:
                    failure = f"{type(exc).__name__}: {exc}"
                if failure is not None:
                    # The server lost our session (or is gone): waiting on the GET stream would only run
                    # every pending request into its timeout, so the link ends now.
                    self._note_closed(f"SSE message POST failed ({failure})")
                    sink.close()
                    return

    def _note_closed(self, reason: str) -> None:
        if self._status.closed_reason is None:
            self._status.closed_reason = reason


def _origin(url: str) -> tuple[str, str]:
    parts = urlparse(url)
    return parts.scheme, parts.netloc
