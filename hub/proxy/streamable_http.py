"""Streamable HTTP upstreams, on the MCP SDK's client, noticing when the server forgets the session.

A server that restarts, or expires idle sessions, answers the old ``Mcp-Session-Id`` with HTTP 404. The
SDK turns that into a JSON-RPC error for the request; this connector records it in ``LinkStatus`` so the
upstream can open a new session and retry the request once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
from mcp.client.streamable_http import streamable_http_client

from hub.proxy.transport import CLOSE_GRACE_SECONDS, MAX_MESSAGE_BYTES, TransportStreams, UrlConnector

__all__ = ["StreamableHttpConnector"]

_SESSION_HEADER = "mcp-session-id"


class StreamableHttpConnector(UrlConnector):
    """Opens an MCP session on the spec's URL with its headers and timeouts."""

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        spec = self._spec
        assert spec.url is not None
        status = self._status
        status.reset()

        async def note_expiry(response: httpx2.Response) -> None:
            # Only a 404 to a request that carried a session id means "session gone"; before the
            # session exists a 404 is just an unknown path or method.
            if response.status_code == 404 and _SESSION_HEADER in response.request.headers:
                status.session_expired = True
                status.closed_reason = "upstream expired the session (HTTP 404)"

        timeout = httpx2.Timeout(spec.connect_timeout, read=spec.read_timeout)
        client = httpx2.AsyncClient(
            headers=dict(spec.headers), timeout=timeout, event_hooks={"response": [note_expiry]}
        )
        try:
            async with streamable_http_client(
                spec.url, http_client=client, max_sse_event_size=MAX_MESSAGE_BYTES
            ) as streams:
                yield streams
        finally:
            # Closed even when the owner is being cancelled, or pooled sockets would leak until GC.
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_GRACE_SECONDS):
                await client.aclose()
