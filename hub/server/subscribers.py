"""Telling callers about changes: list changes to every caller of a tenant, resource updates to the
callers subscribed to them (the upstream asked once per tenant and URI).

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
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ToolsListChanged,
)
from mcp.shared.subscriptions import ResourceUpdated, ServerEvent
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["ChangeStreams", "ListChangedNotifier", "ResourceSubscribers"]

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


class ListChangedNotifier:
    """Tells connected handshake-era clients of a tenant that the lists changed."""

    def __init__(self) -> None:
        self._sessions: dict[int, tuple[Any, Any]] = {}

    def track(self, tenant_id: Any, ctx: ServerRequestContext[Any, Any]) -> None:
        """Remember the connection a request came on."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return
        key = _connection_of(ctx)
        self._sessions[key] = (tenant_id, ctx.session)

    async def notify(self, tenant_id: Any) -> None:
        """Send tools/prompts/resources list_changed to every tracked connection of the tenant."""
        for key, (tid, session) in list(self._sessions.items()):
            if tid != tenant_id:
                continue
            try:
                await session.send_tool_list_changed()
                await session.send_prompt_list_changed()
                await session.send_resource_list_changed()
            except Exception:
                # The connection is gone; forget it.
                self._sessions.pop(key, None)


class ChangeStreams:
    """``subscriptions/listen`` (2026-07-28): one bus per tenant, so a tenant hears only its own changes."""

    def __init__(self) -> None:
        self._tenants: dict[uuid.UUID, tuple[InMemorySubscriptionBus, ListenHandler]] = {}

    def handler(self, tenant_id: uuid.UUID) -> ListenHandler:
        """The listen handler of a tenant's streams."""
        entry = self._tenants.get(tenant_id)
        if entry is None:
            bus = InMemorySubscriptionBus()
            entry = self._tenants[tenant_id] = (bus, ListenHandler(bus))
        return entry[1]

    async def notify(self, tenant_id: uuid.UUID) -> None:
        """Tell the tenant's listeners that its lists changed (which ones, the registry does not say)."""
        entry = self._tenants.get(tenant_id)
        if entry is None:
            return
        for event in (ToolsListChanged(), PromptsListChanged(), ResourcesListChanged()):
            await entry[0].publish(event)

    async def publish(self, tenant_id: uuid.UUID, event: ServerEvent) -> None:
        """Hand one event to the tenant's listen streams, if it has any."""
        entry = self._tenants.get(tenant_id)
        if entry is not None:
            await entry[0].publish(event)
