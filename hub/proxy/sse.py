"""SSE upstreams (the 2024-11-05 HTTP+SSE transport), on the MCP SDK's client."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import cast

from mcp.client.sse import sse_client

from hub.proxy.transport import LinkStatus, TransportStreams, UpstreamSpec

__all__ = ["SseConnector"]


class SseConnector:
    """Opens the spec's SSE endpoint (``.../sse``) with its headers and timeouts."""

    def __init__(self, spec: UpstreamSpec) -> None:
        assert spec.url is not None
        self._spec = spec
        self._status = LinkStatus()

    @property
    def status(self) -> LinkStatus:
        """Facts about the most recent connection."""
        return self._status

    def __call__(self) -> AbstractAsyncContextManager[TransportStreams]:
        """Open a fresh SSE stream."""
        spec = self._spec
        assert spec.url is not None
        self._status.reset()
        transport = sse_client(
            spec.url,
            headers=dict(spec.headers),
            timeout=spec.connect_timeout,
            sse_read_timeout=spec.read_timeout,
        )
        # The SDK leaves sse_client unannotated; it yields the same pair as every transport.
        return cast(AbstractAsyncContextManager[TransportStreams], transport)
