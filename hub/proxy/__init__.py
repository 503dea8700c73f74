"""The upstream side of the proxy: transports to upstream MCP servers and the ``Upstream`` that shares one."""

from __future__ import annotations

from hub.proxy.errors import UpstreamRPCError, map_errors
from hub.proxy.forwarder import Forwarder
from hub.proxy.snapshot import Snapshot
from hub.proxy.transport import Connect, Connector, LinkStatus, TransportKind, UpstreamSpec, connect_for
from hub.proxy.upstream import Mode, Upstream

__all__ = [
    "Connect",
    "Connector",
    "Forwarder",
    "LinkStatus",
    "Mode",
    "Snapshot",
    "TransportKind",
    "Upstream",
    "UpstreamRPCError",
    "UpstreamSpec",
    "connect_for",
    "map_errors",
]
