"""The one seam between an upstream and its wire: ``Connect``, the upstream's spec, and the choice by name.

A transport is what the MCP SDK calls one: an async context manager yielding a pair of ``SessionMessage``
streams. ``Connect`` makes a fresh one each time it is called, so reconnecting is calling it again. What a
transport learns about its own death (a child's exit code, an expired HTTP session) it writes to a shared
``LinkStatus`` before it closes the read stream, so whoever holds the session can name the cause.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from mcp.client._transport import TransportStreams

__all__ = [
    "Connect",
    "Connector",
    "LinkStatus",
    "TransportKind",
    "TransportStreams",
    "UpstreamSpec",
    "connect_for",
]

TransportKind = Literal["stdio", "sse", "streamable_http", "websocket"]

Connect = Callable[[], AbstractAsyncContextManager[TransportStreams]]
"""Opens one connection to an upstream; call it again to reconnect."""


@dataclass(slots=True)
class LinkStatus:
    """What the current connection's transport knows about itself; rewritten on every connect.

    Mutable on purpose: the transport writes it from its own tasks, the upstream reads it when a
    request fails, and both hold the same object for the connector's lifetime.
    """

    pid: int | None = None
    exit_code: int | None = None
    closed_reason: str | None = None
    session_expired: bool = False
    stderr: Callable[[], str] | None = None

    def reset(self) -> None:
        """Forget the previous connection's facts before a new one opens."""
        self.pid = None
        self.exit_code = None
        self.closed_reason = None
        self.session_expired = False


class Connector(Protocol):
    """A ``Connect`` that also reports on its link through ``status``."""

    @property
    def status(self) -> LinkStatus:
        """Facts about the most recent connection."""
        ...

    def __call__(self) -> AbstractAsyncContextManager[TransportStreams]:
        """Open one connection."""
        ...


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """How to reach one upstream MCP server and how patient to be with it."""

    name: str
    transport: TransportKind
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    # False: the child sees only the SDK's safe allow-list (HOME, PATH, USER, ...) plus ``env``, never
    # the hub's own secrets (HUB_SECRET_KEY, database URLs).
    inherit_env: bool = False
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout: float = 30.0
    call_timeout: float = 60.0
    # SSE and streamable HTTP hold a stream open for server messages; it may idle this long.
    read_timeout: float = 300.0
    # stdio shutdown: time to exit after stdin closes, then after SIGTERM before SIGKILL.
    exit_grace: float = 2.0
    kill_grace: float = 2.0
    stderr_limit: int = 64 * 1024
    # "legacy" keeps the handshake era (2025-11-25), where upstream tools may push sampling and
    # elicitation to the caller; "auto" prefers 2026-07-28 when the server offers it.
    mode: Literal["legacy", "auto"] = "legacy"

    def __post_init__(self) -> None:
        if self.transport == "stdio":
            if not self.command:
                raise ValueError(f"upstream {self.name!r}: stdio needs a command")
        elif not self.url:
            raise ValueError(f"upstream {self.name!r}: {self.transport} needs a url")


def connect_for(spec: UpstreamSpec) -> Connector:
    """The connector for ``spec``'s transport, chosen by name."""
    # Imported here so each transport's dependencies load only when that transport is used.
    if spec.transport == "stdio":
        from hub.proxy.stdio import StdioConnector

        return StdioConnector(spec)
    if spec.transport == "sse":
        from hub.proxy.sse import SseConnector

        return SseConnector(spec)
    if spec.transport == "streamable_http":
        from hub.proxy.streamable_http import StreamableHttpConnector

        return StreamableHttpConnector(spec)
    if spec.transport == "websocket":
        from hub.proxy.websocket import WebSocketConnector

        return WebSocketConnector(spec)
    raise ValueError(f"unknown transport {spec.transport!r}")


# MCP payloads may be far larger than the 1 MiB that websockets and the SDK's SSE reader allow by
# default (the hub accepts 10 MB arguments); one bound serves every network transport.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# How long closing a network link (DELETE, close handshake) may take before it is dropped.
CLOSE_GRACE_SECONDS = 1.0


class UrlConnector:
    """The shared part of the network connectors: the spec, the status and "call to connect".

    Each transport supplies ``_open``, one connection as an async context manager.
    """

    def __init__(self, spec: UpstreamSpec) -> None:
        assert spec.url is not None
        self._spec = spec
        self._status = LinkStatus()

    @property
    def status(self) -> LinkStatus:
        """Facts about the most recent connection."""
        return self._status

    def __call__(self) -> AbstractAsyncContextManager[TransportStreams]:
        """Open a fresh connection."""
        return self._open()

    def _open(self) -> AbstractAsyncContextManager[TransportStreams]:
        raise NotImplementedError
