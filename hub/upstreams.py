"""Live upstream servers of every tenant, and the catalog callers see of them.

``UpstreamRegistry`` keeps one ``hub.proxy.Upstream`` (one long-lived shared session) per registered
server, syncs each discovery into ``mcp_tools`` (pinning definitions by hash), and answers the
dispatcher's question "which upstream tool is this public name?". Public names are
``<prefix>__<tool>`` (prefix = server name unless configured; an empty prefix keeps the tool's own
name), always matching ``^[a-zA-Z0-9_-]{1,64}$``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc
import mcp.types as types
from mcp.shared.dispatcher import ProgressFnT

from hub.config import HubConfig, ServerEntry, expand_env
from hub.dispatch import Passthrough
from hub.errors import Conflict, HubError, NotFound, UpstreamUnavailable
from hub.identity import Caller
from hub.proxy import Forwarder, Snapshot, Upstream, UpstreamSpec
from hub.redaction import cap_json
from hub.resilience import UpstreamGuard, is_idempotent
from hub.settings import Settings
from hub.store import servers as server_rows
from hub.store.servers import ServerRecord, ToolDefinition
from hub.tools.base import ToolContext

if TYPE_CHECKING:
    from hub.app import App

__all__ = ["UpstreamRegistry", "UpstreamTool", "hop_meta", "public_name", "public_uri"]

log = logging.getLogger(__name__)

_VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
SEPARATOR = "__"
RESOURCE_SCHEME = "hub"

# Calling an upstream tool needs this permission (reading the lists needs "mcp:read"). The spec's
# RBAC matrix gives no role but admin ("*:*") any "mcp:" write permission, so other users are
# granted it per user ("users.permissions"), like any permission outside their role.
CALL_PERMISSION = "mcp:execute"


def public_name(prefix: str, name: str) -> str:
    """The name a caller uses for an upstream's tool or prompt; stable and always valid."""
    raw = f"{prefix}{SEPARATOR}{name}" if prefix else name
    if _VALID.match(raw):
        return raw
    cleaned = _BAD_CHARS.sub("_", raw) or "_"
    if len(cleaned) <= 64:
        return cleaned
    digest = hashlib.sha256(raw.encode()).hexdigest()[:10]
    return f"{cleaned[:53]}_{digest}"


def hop_meta(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The caller's ``_meta`` minus the protocol's own per-hop keys (era, client info, capabilities).

    Those describe the caller's connection to the hub; the hub's session to the upstream has its
    own, and a handshake-era upstream refuses a request that carries the 2026-07-28 envelope.
    """
    if not meta:
        return None
    kept = {k: v for k, v in meta.items() if not k.startswith("io.modelcontextprotocol/")}
    return kept or None


def public_uri(prefix: str, uri: str) -> str:
    """The URI a caller uses for an upstream's resource (unchanged when the prefix is empty)."""
    return f"{RESOURCE_SCHEME}://{prefix}/{uri}" if prefix else uri


@dataclass(frozen=True, slots=True)
class UpstreamTool:
    """One upstream tool as callers see it; implements the dispatcher's ``RoutedTool``."""

    name: str
    server_name: str
    tool_name: str
    input_schema: dict[str, Any]
    tool: types.Tool
    live: LiveServer
    permission: str = CALL_PERMISSION

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> Passthrough:
        """Forward the call upstream; the result comes back as the upstream sent it."""
        if self.name in self.live.held:
            raise UpstreamUnavailable(
                f"tool '{self.tool_name}' of server '{self.server_name}' changed its definition and is held"
                " back until an admin approves it (mcp_approve_tool)"
            )
        upstream = self.live.upstream
        timeout = self.live.record.entry.tool_timeouts.get(
            self.tool_name, self.live.record.entry.timeout_seconds
        )
        forwarder = ctx.forwarder
        progress: ProgressFnT | None = None
        if ctx.progress is not None:
            report = ctx.progress

            async def forward(progress: float, total: float | None, message: str | None) -> None:
                await report(progress, total, message)

            progress = forward

        meta = hop_meta(ctx.meta)
        caller = forwarder if isinstance(forwarder, Forwarder) else None
        # A 2026-era caller takes the upstream's questions as an InputRequiredResult and answers on its
        # retry, which brings them back here; any other caller is asked through its forwarder mid-call.
        takes_questions = caller is not None and caller.modern

        async def request() -> types.CallToolResult | types.InputRequiredResult:
            return await upstream.call_tool(
                self.tool_name,
                arguments,
                meta=meta or None,
                progress_callback=progress,
                timeout_seconds=timeout,
                forwarder=caller,
                input_responses=caller.input_responses if caller is not None else None,
                request_state=caller.request_state if caller is not None else None,
                resolve_input_required=not takes_questions,
            )

        guard = self.live.guard
        result = await (guard.call(request, idempotent=is_idempotent(self.tool)) if guard else request())
        if isinstance(result, types.InputRequiredResult):
            return Passthrough(result, False, {"input_required": True})
        log_value = cap_json(result.model_dump(mode="json", by_alias=True, exclude_none=True), 64 * 1024)
        return Passthrough(result, bool(result.is_error), log_value)


@dataclass(slots=True, eq=False)
class LiveServer:
    """A running upstream and what the hub knows of it."""

    record: ServerRecord
    upstream: Upstream
    stop: anyio.Event = field(default_factory=anyio.Event)
    stopped: anyio.Event = field(default_factory=anyio.Event)
    held: set[str] = field(default_factory=set)
    tools: dict[str, UpstreamTool] = field(default_factory=dict)
    # Breaker, health check, state mirror and retries (hub.resilience); attached by start().
    guard: UpstreamGuard | None = None

    @property
    def prefix(self) -> str:
        """The prefix of its public names."""
        return self.record.prefix


ChangeListener = Callable[[uuid.UUID], Awaitable[None]]
ResourceListener = Callable[[uuid.UUID, str], Awaitable[None]]


class UpstreamRegistry:
    """Every tenant's live upstreams; the dispatcher's ``ToolRouter``."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._live: dict[tuple[uuid.UUID, str], LiveServer] = {}
        self._catalog: dict[uuid.UUID, dict[str, UpstreamTool]] = {}
        self._connect_gate = anyio.Semaphore(app.settings.connect_concurrency)
        self._tg: anyio.abc.TaskGroup | None = None
        self.listeners: list[ChangeListener] = []
        # Told (tenant, public URI) when an upstream says a subscribed resource changed.
        self.resource_listeners: list[ResourceListener] = []
        self._sync_lock = anyio.Lock()

    # -- the router --------------------------------------------------------------------------

    def resolve(self, caller: Caller, name: str) -> UpstreamTool | None:
        """The upstream tool a caller means by ``name``, if any."""
        return self._catalog.get(caller.tenant_id, {}).get(name)

    def listed(self, caller: Caller) -> list[types.Tool]:
        """What tools/list shows of the upstreams (the dispatcher's router protocol)."""
        return self.tools_for(caller)

    def tools_for(self, caller: Caller) -> list[types.Tool]:
        """Upstream tools the caller may see (held-back ones are hidden)."""
        if not caller.can(CALL_PERMISSION):
            return []
        return [t.tool for t in self._catalog.get(caller.tenant_id, {}).values() if t.name not in t.live.held]

    def servers_of(self, tenant_id: uuid.UUID) -> list[LiveServer]:
        """Live upstreams of a tenant."""
        return [live for (tid, _), live in self._live.items() if tid == tenant_id]

    def live(self, tenant_id: uuid.UUID, name: str) -> LiveServer | None:
        """One live upstream."""
        return self._live.get((tenant_id, name))

    # -- resources and prompts ----------------------------------------------------------------

    def resources_for(self, caller: Caller) -> list[types.Resource]:
        """Every upstream resource of the caller's tenant, with unique URIs."""
        out: list[types.Resource] = []
        for live in self.servers_of(caller.tenant_id):
            snap = live.upstream.snapshot
            if snap is None:
                continue
            out.extend(
                r.model_copy(update={"uri": public_uri(live.prefix, str(r.uri))}) for r in snap.resources
            )
        return out

    def templates_for(self, caller: Caller) -> list[types.ResourceTemplate]:
        """Every upstream resource template, with unique URI templates."""
        out: list[types.ResourceTemplate] = []
        for live in self.servers_of(caller.tenant_id):
            snap = live.upstream.snapshot
            if snap is None:
                continue
            out.extend(
                t.model_copy(update={"uri_template": public_uri(live.prefix, t.uri_template)})
                for t in snap.resource_templates
            )
        return out

    def prompts_for(self, caller: Caller) -> list[types.Prompt]:
        """Every upstream prompt, named like tools."""
        out: list[types.Prompt] = []
        for live in self.servers_of(caller.tenant_id):
            snap = live.upstream.snapshot
            if snap is None:
                continue
            out.extend(p.model_copy(update={"name": public_name(live.prefix, p.name)}) for p in snap.prompts)
        return out

    def route_uri(self, caller: Caller, uri: str) -> tuple[LiveServer, str]:
        """The upstream and its own URI for a public resource URI."""
        lives = self.servers_of(caller.tenant_id)
        head = f"{RESOURCE_SCHEME}://"
        if uri.startswith(head):
            prefix, _, rest = uri[len(head) :].partition("/")
            for live in lives:
                if live.prefix == prefix:
                    return live, rest
        for live in lives:
            if live.prefix:
                continue
            snap = live.upstream.snapshot
            if snap is not None and (
                any(str(r.uri) == uri for r in snap.resources) or snap.resource_templates
            ):
                return live, uri
        raise NotFound(f"no upstream offers resource '{uri}'")

    def route_prompt(self, caller: Caller, name: str) -> tuple[LiveServer, str]:
        """The upstream and its own name for a public prompt name."""
        for live in self.servers_of(caller.tenant_id):
            snap = live.upstream.snapshot
            if snap is None:
                continue
            for p in snap.prompts:
                if public_name(live.prefix, p.name) == name:
                    return live, p.name
        raise NotFound(f"unknown prompt '{name}'")

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Host upstreams until cancelled; started by the composition root."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self._tg = None
                for live in list(self._live.values()):
                    live.stop.set()

    async def aclose(self) -> None:
        """Stop every upstream (stdio children with their process groups)."""
        lives = list(self._live.values())
        for live in lives:
            live.stop.set()
        with anyio.move_on_after(15):
            for live in lives:
                await live.stopped.wait()

    async def load(self) -> None:
        """Start every active server registered in the database."""
        async with self._app.sessions() as session:
            records = await server_rows.list_servers(session, self._app.cipher, active_only=True)
        for record in records:
            await self.start(record)

    async def sync_from_store(self) -> dict[str, list[str]]:
        """Start active servers that are not live and stop live ones no longer active (after a reload)."""
        async with self._app.sessions() as session:
            records = await server_rows.list_servers(session, self._app.cipher)
        report: dict[str, list[str]] = {"started": [], "stopped": []}
        for record in records:
            live = self.live(record.tenant_id, record.name)
            if record.status == "active" and (live is None or live.record.entry != record.entry):
                try:
                    await self.start(record)
                    report["started"].append(record.name)
                except HubError as exc:
                    log.warning("server %s: %s", record.name, exc)
            elif record.status != "active" and live is not None:
                await self.stop(record.tenant_id, record.name)
                report["stopped"].append(record.name)
        return report

    async def start(self, record: ServerRecord) -> LiveServer:
        """Start (or restart) one upstream from its record."""
        key = (record.tenant_id, record.name)
        old = self._live.get(key)
        if old is not None:
            await self.stop(record.tenant_id, record.name)
        if self._tg is None:
            raise UpstreamUnavailable("the hub is shutting down", where=record.name)
        self.check_prefix(record.tenant_id, record.name, record.prefix)
        upstream = Upstream.from_spec(
            spec_of(record.name, record.entry, self._app.settings),
            on_change=lambda snap, rec=record: self._on_change(rec, snap),
            on_resource_updated=lambda _name, uri, rec=record: self._resource_updated(rec, uri),
            connect_gate=self._connect_gate,
        )
        # One limiter for every live server's health checks: found on the others, made by the first.
        limiter = next(
            (lv.guard.health.limiter for lv in self._live.values() if lv.guard is not None),
            None,
        ) or anyio.CapacityLimiter(self._app.settings.health_concurrency)
        guard = UpstreamGuard.build(
            server_id=record.id,
            tenant_id=record.tenant_id,
            name=record.name,
            entry=record.entry,
            upstream=upstream,
            settings=self._app.settings,
            sessions=self._app.sessions,
            limiter=limiter,
        )
        live = LiveServer(record, upstream, guard=guard)
        self._live[key] = live
        await self._tg.start(self._host, live)
        await self._tg.start(guard.run, live.stop)
        return live

    async def stop(self, tenant_id: uuid.UUID, name: str) -> None:
        """Stop one upstream and drop its tools from the catalog."""
        live = self._live.pop((tenant_id, name), None)
        if live is None:
            return
        live.stop.set()
        with anyio.move_on_after(15):
            await live.stopped.wait()
        self._rebuild(tenant_id)
        await self._notify(tenant_id)

    async def _host(self, live: LiveServer, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        try:
            async with live.upstream:
                task_status.started()
                await live.stop.wait()
        finally:
            live.stopped.set()

    def check_prefix(self, tenant_id: uuid.UUID, name: str, prefix: str) -> None:
        """Refuse a prefix another live server of the tenant already uses (collisions at registration)."""
        for other in self.servers_of(tenant_id):
            if other.record.name != name and other.prefix == prefix and prefix:
                raise Conflict(
                    f"prefix '{prefix}' of server '{name}' is already used by server"
                    f" '{other.record.name}'; configure another prefix"
                )

    async def _on_change(self, record: ServerRecord, snap: Snapshot) -> None:
        live = self._live.get((record.tenant_id, record.name))
        if live is None or live.record is not record:
            return
        definitions = [
            ToolDefinition(
                name=t.name,
                description=t.description,
                input_schema=dict(t.input_schema),
                output_schema=dict(t.output_schema) if t.output_schema else None,
                title=t.title,
                annotations=t.annotations.model_dump(mode="json", by_alias=True, exclude_none=True)
                if t.annotations
                else None,
            )
            for t in snap.tools
        ]
        try:
            # Shielded: a cancel half-way through (the upstream closing) would leak the connection.
            # One discovery is written at a time: a hundred upstreams connecting together would
            # otherwise queue on SQLite's single writer until some time out.
            with anyio.CancelScope(shield=True):
                async with self._sync_lock, self._app.sessions() as session, session.begin():
                    _, held = await server_rows.sync_tools(
                        session, record.id, definitions, tenant_id=record.tenant_id
                    )
        except HubError:
            raise
        except Exception:
            # A database hiccup must not drop a working upstream: serve what was discovered.
            log.exception("recording the tools of %s failed", record.name)
            held = set()
        live.held = {public_name(live.prefix, n) for n in held}
        self._app.forget_tool_ids(record.tenant_id)
        self._rebuild(record.tenant_id)
        await self._notify(record.tenant_id)

    def _rebuild(self, tenant_id: uuid.UUID) -> None:
        own = {s.name for s in self._app.dispatcher.own_tools}
        catalog: dict[str, UpstreamTool] = {}
        for live in sorted(self.servers_of(tenant_id), key=lambda lv: lv.record.name):
            live.tools = {}
            snap = live.upstream.snapshot
            if snap is None:
                continue
            for t in snap.tools:
                name = public_name(live.prefix, t.name)
                if name in own or name in catalog:
                    log.warning(
                        "tool %s of %s collides with another tool; not exposed", t.name, live.record.name
                    )
                    continue
                entry = UpstreamTool(
                    name=name,
                    server_name=live.record.name,
                    tool_name=t.name,
                    input_schema=dict(t.input_schema),
                    tool=t.model_copy(update={"name": name}),
                    live=live,
                )
                catalog[name] = entry
                live.tools[name] = entry
        self._catalog[tenant_id] = catalog

    async def _resource_updated(self, record: ServerRecord, uri: str) -> None:
        live = self._live.get((record.tenant_id, record.name))
        if live is None:
            return
        public = public_uri(live.prefix, uri)
        for listener in list(self.resource_listeners):
            try:
                await listener(record.tenant_id, public)
            except Exception:
                log.exception("telling subscribers that %s changed failed", public)

    async def _notify(self, tenant_id: uuid.UUID) -> None:
        for listener in list(self.listeners):
            try:
                await listener(tenant_id)
            except Exception:
                log.exception("a list_changed listener failed")

    # -- configuration -----------------------------------------------------------------------

    async def apply_config(self, config: HubConfig, caller: Caller) -> dict[str, list[str]]:
        """Make the servers of ``mcp.json`` so: add new, restart changed, set removed inactive."""
        from hub.store.accounts import tenant_id_of

        report: dict[str, list[str]] = {
            "created": [],
            "updated": [],
            "unchanged": [],
            "removed": [],
            "failed": [],
        }
        wanted: dict[tuple[uuid.UUID, str], ServerEntry] = {}
        async with self._app.sessions() as session, session.begin():
            for name, entry in config.mcpServers.items():
                tenant_id = await tenant_id_of(session, entry.tenant)
                wanted[(tenant_id, name)] = entry
            known = await server_rows.list_servers(session, self._app.cipher, active_only=True)
        for (tenant_id, name), entry in wanted.items():
            try:
                async with self._app.sessions() as session, session.begin():
                    record, what = await server_rows.save_server(
                        session, self._app.cipher, caller, tenant_id, name, entry, source="mcp.json"
                    )
                report[what].append(name)
                if record.status == "active" and (what != "unchanged" or self.live(tenant_id, name) is None):
                    await self.start(record)
                elif record.status != "active":
                    await self.stop(tenant_id, name)
            except HubError as exc:
                log.warning("server %s from mcp.json: %s", name, exc)
                report["failed"].append(f"{name}: {exc}")
        for record in known:
            if (record.tenant_id, record.name) in wanted or record.source != "mcp.json":
                continue
            async with self._app.sessions() as session, session.begin():
                await server_rows.remove_server(session, caller, record.tenant_id, record.name)
            await self.stop(record.tenant_id, record.name)
            report["removed"].append(record.name)
        return report


def spec_of(name: str, entry: ServerEntry, settings: Settings) -> UpstreamSpec:
    """The proxy's spec for a server entry, with ``${ENV}`` references resolved."""
    timeout = entry.timeout_seconds or settings.call_timeout_seconds
    connect_timeout = entry.connect_timeout_seconds or settings.connect_timeout_seconds
    mode: Literal["legacy", "auto"] = "auto" if entry.protocol_era in ("auto", "modern") else "legacy"
    if entry.command is not None:
        return UpstreamSpec(
            name=name,
            transport="stdio",
            command=entry.command,
            args=tuple(entry.args),
            env=expand_env(entry.env, where=f"$.mcpServers.{name}.env"),
            cwd=Path(entry.cwd) if entry.cwd else None,
            connect_timeout=connect_timeout,
            call_timeout=timeout,
            mode=mode,
        )
    assert entry.url is not None
    return UpstreamSpec(
        name=name,
        transport=entry.kind,  # type: ignore[arg-type]
        url=entry.url,
        headers=expand_env(entry.headers, where=f"$.mcpServers.{name}.headers"),
        connect_timeout=connect_timeout,
        call_timeout=timeout,
        mode=mode,
    )
