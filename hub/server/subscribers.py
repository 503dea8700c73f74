"""Resource subscriptions through the hub: who asked for which resource, and the upstream asked once.

Callers subscribe to the public URI of an upstream resource. The hub subscribes upstream when the
first caller of a tenant asks for a URI and unsubscribes when the last one leaves, so one upstream
subscription serves every caller. Updates go to the handshake-era sessions that subscribed and, as
an event, to the tenant's 2026-07-28 listen streams (the SDK's listen handler passes each event
only to the streams whose filter names the URI).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.shared.subscriptions import ResourceUpdated, ServerEvent
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["ResourceSubscribers"]

log = logging.getLogger(__name__)

Key = tuple[uuid.UUID, str]


class ResourceSubscribers:
    """Subscribers per (tenant, public URI) and the fan-out of ``notifications/resources/updated``."""

    def __init__(self, publish: Callable[[uuid.UUID, ServerEvent], Awaitable[None]]) -> None:
        self._publish = publish
        # Handshake-era sessions by connection; 2026-era callers have no session to remember, so they
        # count by how many subscribed and hear updates on their listen streams.
        self._sessions: dict[Key, dict[int, Any]] = {}
        self._stateless: dict[Key, int] = {}

    def add(self, tenant_id: uuid.UUID, uri: str, ctx: ServerRequestContext[Any, Any]) -> bool:
        """Remember a subscriber; true when it is the first of the tenant for ``uri``."""
        key = (tenant_id, uri)
        first = not self._sessions.get(key) and not self._stateless.get(key)
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            self._stateless[key] = self._stateless.get(key, 0) + 1
        else:
            self._sessions.setdefault(key, {})[_connection_of(ctx)] = ctx.session
        return first

    def remove(self, tenant_id: uuid.UUID, uri: str, ctx: ServerRequestContext[Any, Any]) -> bool:
        """Forget a subscriber; true when none of the tenant is left for ``uri``."""
        key = (tenant_id, uri)
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            left = self._stateless.get(key, 0) - 1
            if left > 0:
                self._stateless[key] = left
            else:
                self._stateless.pop(key, None)
        else:
            sessions = self._sessions.get(key, {})
            sessions.pop(_connection_of(ctx), None)
            if not sessions:
                self._sessions.pop(key, None)
        return not self._sessions.get(key) and not self._stateless.get(key)

    async def deliver(self, tenant_id: uuid.UUID, uri: str) -> None:
        """Tell the tenant's subscribers of ``uri`` that it changed."""
        sessions = self._sessions.get((tenant_id, uri), {})
        for conn, session in list(sessions.items()):
            try:
                await session.send_resource_updated(uri)
            except Exception:
                # The connection is gone; it cannot unsubscribe any more, so forget it here.
                log.debug("dropping a closed subscriber of %s", uri)
                sessions.pop(conn, None)
        await self._publish(tenant_id, ResourceUpdated(uri=uri))


def _connection_of(ctx: ServerRequestContext[Any, Any]) -> int:
    return id(getattr(ctx.session, "_connection", ctx.session))
