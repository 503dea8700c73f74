"""What an upstream offers, discovered in full: every page of tools, resources, templates and prompts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence, Set
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import mcp_types as types
from mcp.client.session import ClientSession

from hub.errors import UpstreamProtocolError

__all__ = ["ALL_KINDS", "MAX_PAGES", "Snapshot", "discover", "walk_pages"]

# A server that keeps handing out cursors past this is looping; 1,000 pages of 100 is far past real ones.
MAX_PAGES = 1000

T = TypeVar("T")
P = TypeVar("P", bound="_Page")


class _Page(Protocol):
    @property
    def next_cursor(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One upstream's offer at one moment; replaced whole, never changed in place."""

    server: str
    generation: int
    protocol_version: str
    server_info: types.Implementation | None
    capabilities: types.ServerCapabilities | None
    instructions: str | None
    tools: tuple[types.Tool, ...] = ()
    resources: tuple[types.Resource, ...] = ()
    resource_templates: tuple[types.ResourceTemplate, ...] = ()
    prompts: tuple[types.Prompt, ...] = ()

    def tool(self, name: str) -> types.Tool | None:
        """The tool called ``name``, if offered."""
        return next((tool for tool in self.tools if tool.name == name), None)


async def walk_pages(
    fetch: Callable[[types.PaginatedRequestParams | None], Awaitable[P]],
    items: Callable[[P], Sequence[T]],
    *,
    where: str,
) -> tuple[T, ...]:
    """Every item of every page, following ``nextCursor`` until the server stops giving one."""
    collected: list[T] = []
    seen: set[str] = set()
    params: types.PaginatedRequestParams | None = None
    for _ in range(MAX_PAGES):
        page = await fetch(params)
        collected.extend(items(page))
        cursor = page.next_cursor
        if cursor is None:
            return tuple(collected)
        if cursor in seen:
            raise UpstreamProtocolError(f"pagination cursor {cursor[:40]!r} repeated", where=where)
        seen.add(cursor)
        params = types.PaginatedRequestParams(cursor=cursor)
    raise UpstreamProtocolError(f"more than {MAX_PAGES} pages", where=where)


ALL_KINDS = frozenset({"tools", "resources", "resource_templates", "prompts"})


async def discover(
    session: ClientSession, *, server: str, generation: int, kinds: Set[str], previous: Snapshot | None
) -> Snapshot:
    """A new snapshot: ``kinds`` listed afresh (every page), the rest kept from ``previous``.

    Only what the server's capabilities offer is listed; the rest is empty.
    """
    caps = session.server_capabilities
    base = previous or Snapshot(
        server=server,
        generation=generation,
        protocol_version=session.protocol_version or "",
        server_info=session.server_info,
        capabilities=caps,
        instructions=session.instructions,
    )
    found: dict[str, Any] = {}
    if caps is not None and caps.tools is not None and "tools" in kinds:
        found["tools"] = await walk_pages(
            lambda p: session.list_tools(params=p), lambda r: r.tools, where=server
        )
    if caps is not None and caps.resources is not None:
        if "resources" in kinds:
            found["resources"] = await walk_pages(
                lambda p: session.list_resources(params=p), lambda r: r.resources, where=server
            )
        if "resource_templates" in kinds:
            found["resource_templates"] = await walk_pages(
                lambda p: session.list_resource_templates(params=p),
                lambda r: r.resource_templates,
                where=server,
            )
    if caps is not None and caps.prompts is not None and "prompts" in kinds:
        found["prompts"] = await walk_pages(
            lambda p: session.list_prompts(params=p), lambda r: r.prompts, where=server
        )
    return replace(base, generation=generation, **found)
