"""The composition root: builds every part of a hub process from ``Settings`` and ``mcp.json``.

Nothing else in the hub creates engines, sessions, registries or background tasks: they are made
here and passed down, so a test can run several hubs side by side in one process.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol

import anyio
import mcp.types as types
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub import __version__
from hub.config import HubConfig, load_config
from hub.connectors_service import ConnectorService
from hub.dispatch import Dispatcher
from hub.errors import HubError, StoreError
from hub.identity import SYSTEM, Caller
from hub.judgment import JudgmentEngine
from hub.secrets import CredentialCipher
from hub.settings import Settings
from hub.store import accounts, toolrows
from hub.store.calllog import CallLog
from hub.store.db import create_engine, create_sessionmaker
from hub.tools import connectors as connector_tools
from hub.tools import health, judgments, rules, servers, status
from hub.tools.base import ToolSpec
from hub.upstreams import UpstreamRegistry

__all__ = ["App", "open_app"]

log = logging.getLogger(__name__)

# How long a resolved API key is trusted before it is looked up again: a revoked key stops
# working within this many seconds, and a busy HTTP face does not query the database per request.
AUTH_CACHE_SECONDS = 10.0


def _database_away(exc: Exception) -> bool:
    """Whether a failed look-up means the database is unreachable, not a verdict on the key.

    The driver's errors reach here in many shapes (wrapped by SQLAlchemy or not, as on connect, an
    OSError for a refused socket); the hub's own errors are verdicts, except ``StoreError``.
    """
    return not isinstance(exc, HubError) or isinstance(exc, StoreError)


class PromptProvider(Protocol):
    """Serves the hub's own MCP prompts (the judgment family plugs in here)."""

    async def list(self, caller: Caller) -> list[types.Prompt]: ...

    async def get(
        self, caller: Caller, name: str, arguments: dict[str, str]
    ) -> types.GetPromptResult | None: ...


class App:
    """One hub process's parts, wired together."""

    def __init__(
        self,
        settings: Settings,
        config: HubConfig,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        calllog: CallLog,
    ) -> None:
        self.settings = settings
        self.config = config
        self.engine = engine
        self.sessions = sessions
        self.calllog = calllog
        self.started_monotonic = time.monotonic()
        self.dispatcher = Dispatcher(
            app=self,
            tool_id=self.tool_id,
            record=calllog.record,
            max_payload_bytes=settings.max_payload_bytes,
            log_output_max_bytes=settings.log_output_max_bytes,
            redact_keys=settings.redact_keys,
        )
        self.cipher = CredentialCipher.from_settings(settings)
        self.upstreams = UpstreamRegistry(self)
        self.upstreams.listeners.append(self.notify_list_changed)
        self.dispatcher.routers.append(self.upstreams)
        self.connectors = ConnectorService(sessions, self.cipher, settings)
        self.dispatcher.add(status.tools())
        self.dispatcher.add(servers.tools())
        self.dispatcher.add(health.tools())
        self.dispatcher.add(connector_tools.tools(self.connectors))
        self.dispatcher.add(rules.tools(on_rulesets_changed=self.notify_list_changed))
        self._tool_ids: dict[tuple[uuid.UUID, str, str], uuid.UUID] = {}
        self._auth_cache: dict[str, tuple[float, Caller]] = {}
        self._tool_lock = anyio.Lock()
        self.prompt_provider: PromptProvider | None = None
        # Called with a tenant id whenever that tenant's tool, prompt or resource lists change.
        self.list_changed_listeners: list[Callable[[uuid.UUID], Awaitable[None]]] = []
        # Judgments: fixed tools, one judge_<name> tool per active rule set, templates as prompts.
        # The router's refresh is the first listener, so the MCP face (which registers its notifier
        # when it is built, later) tells clients to list again only once the new list is ready.
        self.judgments = JudgmentEngine(sessions, settings)
        self.judge_tools = judgments.RulesetToolRouter(self.judgments, on_loaded=self.notify_list_changed)
        self.list_changed_listeners.append(self.judge_tools.refresh)
        self.dispatcher.routers.append(self.judge_tools)
        self.dispatcher.add(judgments.tools(self.judgments))
        self.prompt_provider = judgments.JudgmentPrompts(self.judgments)

    # -- identity ----------------------------------------------------------------------------

    async def authenticate(self, key: str) -> Caller:
        """The caller of an API key (cached briefly); ``AuthError`` when it is not usable."""
        now = time.monotonic()
        hit = self._auth_cache.get(key)
        if hit is not None and now - hit[0] < AUTH_CACHE_SECONDS:
            return hit[1]
        try:
            async with self.sessions() as session, session.begin():
                caller = await accounts.resolve_api_key(session, key)
        except Exception as exc:
            # The database is away: a key that was valid moments ago keeps working, so an outage
            # of the hub's own database does not fail calls to upstreams that are fine.
            if hit is not None and _database_away(exc):
                return hit[1]
            raise
        self._auth_cache[key] = (now, caller)
        return caller

    async def local_caller(self) -> Caller:
        """The identity of stdio and ``--no-auth`` callers: ``HUB_API_KEY``, else the seeded admin."""
        if self.settings.api_key is not None:
            return await self.authenticate(self.settings.api_key.get_secret_value())
        now = time.monotonic()
        hit = self._auth_cache.get("")
        if hit is not None and now - hit[0] < AUTH_CACHE_SECONDS:
            return hit[1]
        try:
            async with self.sessions() as session:
                caller = await accounts.caller_for_user(session, "demo", "admin")
        except Exception as exc:
            if hit is not None and _database_away(exc):
                return hit[1]
            raise
        self._auth_cache[""] = (now, caller)
        return caller

    # -- tool rows ---------------------------------------------------------------------------

    async def tool_id(
        self, tenant_id: uuid.UUID, server: str, tool: str, spec: ToolSpec | None = None
    ) -> uuid.UUID | None:
        """The ``mcp_tools`` id a call is logged against (the hub's own rows are made on demand)."""
        key = (tenant_id, server, tool)
        found = self._tool_ids.get(key)
        if found is not None:
            return found
        async with self._tool_lock:
            found = self._tool_ids.get(key)
            if found is not None:
                return found
            # Shielded: a caller's cancel must not abandon a database connection half-way.
            with anyio.CancelScope(shield=True):
                found = await self._lookup_tool_id(tenant_id, server, tool, spec)
            if found is not None:
                self._tool_ids[key] = found
            return found

    async def _lookup_tool_id(
        self, tenant_id: uuid.UUID, server: str, tool: str, spec: ToolSpec | None
    ) -> uuid.UUID | None:
        async with self.sessions() as session, session.begin():
            if server != toolrows.HUB_SERVER_NAME:
                return await toolrows.find_tool_id(session, tenant_id, server, tool)
            specs = self.dispatcher.own_tools
            if spec is not None and spec not in specs:
                specs = [*specs, spec]
            ids = await toolrows.ensure_builtin_tools(session, tenant_id, specs, version=__version__)
        for name, tid in ids.items():
            self._tool_ids[(tenant_id, server, name)] = tid
        return ids.get(tool)

    def forget_tool_ids(self, tenant_id: uuid.UUID | None = None) -> None:
        """Drop cached tool ids (after rows were re-created), for one tenant or all."""
        if tenant_id is None:
            self._tool_ids.clear()
        else:
            for key in [k for k in self._tool_ids if k[0] == tenant_id]:
                del self._tool_ids[key]

    async def start(self) -> None:
        """Register the hub's own tools in every active tenant."""
        async with self.sessions() as session, session.begin():
            tenants = await toolrows.active_tenant_ids(session)
            for tenant_id in tenants:
                ids = await toolrows.ensure_builtin_tools(
                    session, tenant_id, self.dispatcher.own_tools, version=__version__
                )
                for name, tid in ids.items():
                    self._tool_ids[(tenant_id, toolrows.HUB_SERVER_NAME, name)] = tid
        await self.judge_tools.refresh_all(list(tenants))

    async def notify_list_changed(self, tenant_id: uuid.UUID) -> None:
        """Tell the tenant's connected callers that tools, prompts or resources changed."""
        for listener in list(self.list_changed_listeners):
            try:
                await listener(tenant_id)
            except Exception:
                # One broken listener (a client gone) must not stop the others.
                log.exception("a list_changed listener failed")

    async def reload(self) -> dict[str, object]:
        """Apply ``mcp.json`` again and pick up servers changed in the database by other processes."""
        config = load_config(self.settings.config_file)
        self.config = config
        servers_report = await self.upstreams.apply_config(config, SYSTEM)
        synced = await self.upstreams.sync_from_store()
        connectors_report = await self.connectors.apply_config(config, SYSTEM)
        # Rule sets deployed by another process (or the CLI) show up as judge_* tools after a reload.
        async with self.sessions() as session:
            tenants = await toolrows.active_tenant_ids(session)
        for tenant_id in tenants:
            await self.notify_list_changed(tenant_id)
        return {"servers": servers_report, "store": synced, "connectors": connectors_report}

    async def own_prompts(self, caller: Caller) -> list[types.Prompt]:
        """Prompts the hub itself serves (the active judgment prompt templates)."""
        provider = self.prompt_provider
        return await provider.list(caller) if provider is not None else []

    async def get_own_prompt(
        self, caller: Caller, name: str, arguments: dict[str, str]
    ) -> types.GetPromptResult | None:
        """One of the hub's own prompts, rendered; ``None`` when the name is not the hub's."""
        provider = self.prompt_provider
        return await provider.get(caller, name, arguments) if provider is not None else None

    async def aclose(self) -> None:
        """Stop the upstreams, write what the call log holds and close the database."""
        await self.upstreams.aclose()
        await self.connectors.aclose()
        await self.judgments.aclose()
        await self.calllog.aclose()
        await self.engine.dispose()


@asynccontextmanager
async def open_app(
    settings: Settings, *, config: HubConfig | None = None, migrate: bool = True
) -> AsyncIterator[App]:
    """Build a hub, run its background tasks while the block runs, and close it afterwards."""
    from hub.store import migrate as migrations

    if config is None:
        config = load_config(settings.config_file)
    url = settings.resolved_database_url()
    if migrate:
        await migrations.upgrade(url)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    # Rows wait in a spool file while the database is away, and a crash's spool is replayed at start.
    calllog = CallLog(sessions, spool_dir=settings.data_dir / "spool")
    app = App(settings, config, engine, sessions, calllog)
    async with anyio.create_task_group() as tg:
        tg.start_soon(calllog.run)
        # Judgments are stored in batches off the caller's path; aclose() writes what is left.
        tg.start_soon(app.judgments.run)
        await tg.start(app.upstreams.run)
        await app.start()
        await app.upstreams.load()
        await app.upstreams.apply_config(config, SYSTEM)
        await app.connectors.apply_config(config, SYSTEM)
        await tg.start(app.connectors.run_health_checks)
        try:
            yield app
        finally:
            with anyio.CancelScope(shield=True):
                await app.aclose()
            tg.cancel_scope.cancel()
