"""Upstream MCP servers and their tools in ``mcp_servers`` / ``mcp_tools``, tenant-scoped and audited.

A server's secrets (stdio ``env`` values and HTTP ``headers``) are sealed with the credential cipher
into ``auth_config``; ``config`` keeps everything else, so listings never show a secret.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import ServerEntry
from hub.errors import Conflict, NotFound
from hub.identity import Caller
from hub.secrets import CredentialCipher
from hub.store.audit import record_audit
from hub.store.models import MCPServer, MCPTool

__all__ = [
    "ServerRecord",
    "ToolDefinition",
    "definition_hash",
    "get_server",
    "list_servers",
    "remove_server",
    "save_server",
]

_SECRET_FIELDS = ("env", "headers")


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """A registered upstream, as the proxy needs it (secrets unsealed)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    entry: ServerEntry
    status: str
    source: str = "admin"

    @property
    def prefix(self) -> str:
        """The name prefix of its tools: configured, else the server's name."""
        return self.name if self.entry.prefix is None else self.entry.prefix


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """What an upstream says a tool is; hashed to notice silent changes."""

    name: str
    description: str | None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    title: str | None
    annotations: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        """The definition as stored in ``pending_definition``."""
        return {
            "description": self.description,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "title": self.title,
            "annotations": self.annotations,
        }


def definition_hash(d: ToolDefinition) -> str:
    """SHA-256 of the canonical JSON of a definition."""
    return hashlib.sha256(orjson.dumps(d.as_json(), option=orjson.OPT_SORT_KEYS)).hexdigest()


def _endpoint(entry: ServerEntry) -> str:
    if entry.command is not None:
        return " ".join([entry.command, *entry.args])
    assert entry.url is not None
    return entry.url


def _public(entry: ServerEntry) -> dict[str, Any]:
    data = entry.model_dump(mode="json", exclude_none=True, exclude=set(_SECRET_FIELDS))
    # Names of secret-bearing keys are not secret and help operators see what is set.
    data["env_keys"] = sorted(entry.env)
    data["header_keys"] = sorted(entry.headers)
    return data


def _record(row: MCPServer, cipher: CredentialCipher) -> ServerRecord:
    cfg = {k: v for k, v in row.config.items() if k not in ("env_keys", "header_keys", "source")}
    sealed = (row.auth_config or {}).get("sealed")
    if sealed:
        cfg.update(cipher.decrypt(str(sealed).encode()))
    source = str(row.config.get("source", "admin"))
    return ServerRecord(row.id, row.tenant_id, row.name, ServerEntry.model_validate(cfg), row.status, source)


def row_view(row: MCPServer) -> dict[str, Any]:
    """A JSON-safe view of a server row, without secrets."""
    return {
        "id": str(row.id),
        "name": row.name,
        "endpoint": row.endpoint,
        "protocol": row.protocol,
        "config": row.config,
        "status": row.status,
        "circuit_breaker_state": row.circuit_breaker_state,
        "fail_count": row.fail_count,
        "last_health_check_at": row.last_health_check_at.isoformat() if row.last_health_check_at else None,
    }


async def save_server(
    session: AsyncSession,
    cipher: CredentialCipher,
    caller: Caller,
    tenant_id: uuid.UUID,
    name: str,
    entry: ServerEntry,
    *,
    create: bool | None = None,
    trace_id: str | None = None,
    source: str = "admin",
) -> tuple[ServerRecord, str]:
    """Create or update a server; returns it and "created", "updated" or "unchanged".

    ``create=True`` refuses an existing active name, ``create=False`` refuses a missing one.
    """
    if name == "hub":
        raise Conflict("the name 'hub' is reserved for the hub's own tools")
    row = (
        await session.execute(
            select(MCPServer).where(MCPServer.tenant_id == tenant_id, MCPServer.name == name)
        )
    ).scalar_one_or_none()
    public = _public(entry)
    # Where the entry came from decides what a reload of mcp.json may retire.
    public["source"] = source
    secrets = {k: getattr(entry, k) for k in _SECRET_FIELDS if getattr(entry, k)}
    sealed = {"sealed": cipher.encrypt(secrets).decode()} if secrets else None
    now = datetime.now(UTC)
    status = "inactive" if entry.disabled else "active"
    if row is None:
        if create is False:
            raise NotFound(f"no server named '{name}'")
        row = MCPServer(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            name=name,
            endpoint=_endpoint(entry),
            protocol=entry.kind,
            config=public,
            auth_config=sealed,
            status=status,
            circuit_breaker_state="closed",
            fail_count=0,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        await record_audit(
            session,
            caller=caller,
            action="create",
            resource_type="mcp_server",
            resource_id=row.id,
            after=row_view(row),
            trace_id=trace_id,
            tenant_id=tenant_id,
        )
        return _record(row, cipher), "created"
    if create is True and row.status != "inactive":
        raise Conflict(f"a server named '{name}' is already registered in this tenant")
    before = row_view(row)
    old_secrets = _record(row, cipher).entry
    changed = (
        row.config != public
        or row.endpoint != _endpoint(entry)
        or row.protocol != entry.kind
        or row.status != status
        or old_secrets.env != entry.env
        or old_secrets.headers != entry.headers
    )
    if not changed:
        return _record(row, cipher), "unchanged"
    row.endpoint = _endpoint(entry)
    row.protocol = entry.kind
    row.config = public
    row.auth_config = sealed
    row.status = status
    row.updated_at = now
    await session.flush()
    await record_audit(
        session,
        caller=caller,
        action="update",
        resource_type="mcp_server",
        resource_id=row.id,
        before=before,
        after=row_view(row),
        trace_id=trace_id,
        tenant_id=tenant_id,
    )
    return _record(row, cipher), "updated"


async def remove_server(
    session: AsyncSession, caller: Caller, tenant_id: uuid.UUID, name: str, *, trace_id: str | None = None
) -> None:
    """Set a server inactive (its rows and call history stay) and disable its tools."""
    row = (
        await session.execute(
            select(MCPServer).where(MCPServer.tenant_id == tenant_id, MCPServer.name == name)
        )
    ).scalar_one_or_none()
    if row is None or name == "hub":
        raise NotFound(f"no server named '{name}'")
    if row.status == "inactive":
        return
    before = row_view(row)
    row.status = "inactive"
    row.updated_at = datetime.now(UTC)
    await session.execute(update(MCPTool).where(MCPTool.mcp_server_id == row.id).values(is_enabled=False))
    await session.flush()
    await record_audit(
        session,
        caller=caller,
        action="delete",
        resource_type="mcp_server",
        resource_id=row.id,
        before=before,
        after=row_view(row),
        trace_id=trace_id,
        tenant_id=tenant_id,
    )


async def get_server(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> MCPServer:
    """A server row of the tenant; ``NotFound`` otherwise."""
    row = (
        await session.execute(
            select(MCPServer).where(MCPServer.tenant_id == tenant_id, MCPServer.name == name)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no server named '{name}'")
    return row


async def list_servers(
    session: AsyncSession,
    cipher: CredentialCipher,
    tenant_id: uuid.UUID | None = None,
    *,
    active_only: bool = False,
) -> list[ServerRecord]:
    """Registered upstreams (not the hub itself), of one tenant or all."""
    stmt = select(MCPServer).where(MCPServer.name != "hub")
    if tenant_id is not None:
        stmt = stmt.where(MCPServer.tenant_id == tenant_id)
    if active_only:
        stmt = stmt.where(MCPServer.status != "inactive")
    rows = (await session.execute(stmt.order_by(MCPServer.name))).scalars()
    return [_record(r, cipher) for r in rows]


async def sync_tools(
    session: AsyncSession, server_id: uuid.UUID, definitions: list[ToolDefinition], *, tenant_id: uuid.UUID
) -> tuple[dict[str, uuid.UUID], set[str]]:
    """Upsert a server's tool rows from a discovery; returns row ids and the names held back.

    A new tool is approved as first seen. A known tool whose definition changed keeps its approved
    definition in place, gets the new one parked in ``pending_definition``, and is held back from
    callers until an admin approves it; the change is audited (actor ``system``).
    """
    rows = {
        r.tool_name: r
        for r in (await session.execute(select(MCPTool).where(MCPTool.mcp_server_id == server_id))).scalars()
    }
    ids: dict[str, uuid.UUID] = {}
    held: set[str] = set()
    seen = set()
    now = datetime.now(UTC)
    for d in definitions:
        seen.add(d.name)
        digest = definition_hash(d)
        row = rows.get(d.name)
        if row is None:
            row = MCPTool(
                id=uuid.uuid4(),
                mcp_server_id=server_id,
                tool_name=d.name,
                description=d.description,
                input_schema=d.input_schema,
                output_schema=d.output_schema,
                title=d.title,
                annotations=d.annotations,
                is_enabled=True,
                usage_count=0,
                definition_hash=digest,
                approved_hash=digest,
                created_at=now,
            )
            session.add(row)
        elif row.approved_hash in (None, digest):
            row.description, row.input_schema, row.output_schema = (
                d.description,
                d.input_schema,
                d.output_schema,
            )
            row.title, row.annotations = d.title, d.annotations
            row.definition_hash = row.approved_hash = digest
            row.pending_definition = None
            row.is_enabled = True
        else:
            if row.definition_hash != digest:
                await record_audit(
                    session,
                    caller=_system(tenant_id),
                    action="definition_changed",
                    resource_type="mcp_tool",
                    resource_id=row.id,
                    before={"definition_hash": row.approved_hash},
                    after={"definition_hash": digest, "definition": d.as_json()},
                    tenant_id=tenant_id,
                    actor_type="system",
                )
            row.definition_hash = digest
            row.pending_definition = d.as_json()
            row.is_enabled = True
            held.add(d.name)
        ids[d.name] = row.id
    for name, row in rows.items():
        if name not in seen:
            row.is_enabled = False
    await session.flush()
    return ids, held


async def approve_tool(
    session: AsyncSession,
    caller: Caller,
    tenant_id: uuid.UUID,
    server: str,
    tool: str,
    *,
    trace_id: str | None,
) -> dict[str, Any]:
    """Accept a held-back tool's new definition."""
    srv = await get_server(session, tenant_id, server)
    row = (
        await session.execute(
            select(MCPTool).where(MCPTool.mcp_server_id == srv.id, MCPTool.tool_name == tool)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"server '{server}' has no tool '{tool}'")
    if row.pending_definition is None:
        return {"server": server, "tool": tool, "approved": True, "changed": False}
    before = {"definition_hash": row.approved_hash}
    pending = row.pending_definition
    row.description, row.input_schema = pending.get("description"), pending.get("input_schema") or {}
    row.output_schema, row.title = pending.get("output_schema"), pending.get("title")
    row.annotations = pending.get("annotations")
    row.approved_hash = row.definition_hash
    row.pending_definition = None
    await session.flush()
    await record_audit(
        session,
        caller=caller,
        action="approve",
        resource_type="mcp_tool",
        resource_id=row.id,
        before=before,
        after={"definition_hash": row.approved_hash},
        trace_id=trace_id,
        tenant_id=tenant_id,
    )
    return {"server": server, "tool": tool, "approved": True, "changed": True}


def _system(tenant_id: uuid.UUID) -> Caller:
    return Caller(tenant_id, "", None, "system", "admin", frozenset({"*:*"}), "system")
