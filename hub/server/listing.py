"""``tools/list`` answers kept in their wire form while the listed tools stay the same.

A hub fronting many upstreams lists thousands of tools. The SDK builds every answer by dumping the
result model and validating it again against the protocol version's schema, which costs ~50 ms for
5,000 tools on every call although the list changes only when an upstream, a rule set or an
approval changes it. This cache sits in front of that work as a server middleware.

It needs no invalidation hooks: the registry and the routers replace a tool's description object
when it changes and never mutate one, so an entry is valid exactly while the caller's listed
objects are the very objects the entry was built from. The entry holds them, so their ids cannot be
reused while it lives; comparing 5,000 references costs well under a millisecond.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from hub.dispatch import Dispatcher
from hub.identity import Caller

__all__ = ["CURRENT_CALLER", "ToolListCache", "input_schema_lookup", "listed_now"]

# The caller of the HTTP request being served, set by the HTTP face's authentication: the SDK asks
# for a tool's input schema before any handler runs, with nothing but the tool's name.
CURRENT_CALLER: ContextVar[Caller | None] = ContextVar("hub_current_caller", default=None)

# Set by the middleware for the handler it calls, so a miss lists the tools once, not twice.
_LISTED: ContextVar[list[object] | None] = ContextVar("hub_listed_tools", default=None)

# One entry per (tenant, permission set, protocol version); a hub has few of each.
_MAX_ENTRIES = 256

Key = tuple[uuid.UUID, frozenset[str], str]


@dataclass(slots=True)
class _Entry:
    listed: list[object]
    wire: dict[str, Any]


def listed_now() -> list[object] | None:
    """What the middleware listed for the current ``tools/list`` request, if it ran."""
    return _LISTED.get()


def _same(a: Sequence[object], b: Sequence[object]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


class ToolListCache:
    """A server middleware answering repeated ``tools/list`` requests from their last wire form."""

    def __init__(
        self,
        caller_of: Callable[[ServerRequestContext[Any, Any]], Awaitable[Caller]],
        listed: Callable[[Caller], list[object]],
        on_listed: Callable[[Caller, ServerRequestContext[Any, Any]], None],
    ) -> None:
        self._caller_of = caller_of
        self._listed = listed
        self._on_listed = on_listed
        self._entries: dict[Key, _Entry] = {}
        self.hits = 0
        self.misses = 0

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/list" or not self._cacheable(ctx):
            return await call_next(ctx)
        caller = await self._caller_of(ctx)
        listed = self._listed(caller)
        key: Key = (caller.tenant_id, caller.permissions, ctx.protocol_version)
        entry = self._entries.get(key)
        if entry is not None and _same(entry.listed, listed):
            self.hits += 1
            self._on_listed(caller, ctx)
            # The pipeline copies the top level again; nothing downstream writes into nested values.
            return dict(entry.wire)
        self.misses += 1
        token = _LISTED.set(listed)
        try:
            wire = await call_next(ctx)
        finally:
            _LISTED.reset(token)
        if isinstance(wire, dict):
            if len(self._entries) >= _MAX_ENTRIES and key not in self._entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = _Entry(listed, dict(wire))
        return wire

    @staticmethod
    def _cacheable(ctx: ServerRequestContext[Any, Any]) -> bool:
        # Before the handshake the SDK's own gate must answer; a cursor or any other parameter
        # goes the whole way so that validation and paging stay the SDK's.
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS and ctx.session.client_params is None:
            return False
        return not ctx.params or set(ctx.params) <= {"_meta"}


def input_schema_lookup(dispatcher: Dispatcher) -> Callable[[str], Mapping[str, Any] | None]:
    """The input schema of a tool the current caller may call, for the SDK's ``Mcp-Param`` checks.

    Without it the SDK lists every tool on each 2026-07-28 ``tools/call`` that carries arguments
    to find one schema; with thousands of upstream tools that is most of the call's cost.
    """

    def lookup(name: str) -> Mapping[str, Any] | None:
        caller = CURRENT_CALLER.get()
        if caller is None:
            return None
        found = dispatcher.resolve(caller, name)
        if found is not None and caller.can(found.permission):
            return found.input_schema
        # Unknown or not the caller's: the call itself answers with the precise error.
        return None

    return lookup
