"""Tenants, users and API keys as the identity layer needs them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import AuthError, Conflict, NotFound
from hub.identity import Caller, ensure_usable, hash_api_key, new_api_key, same_hash, split_api_key
from hub.store.audit import record_audit
from hub.store.models import Base

__all__ = ["caller_for_user", "create_api_key", "create_user", "resolve_api_key", "revoke_api_key"]

_t = Base.metadata.tables


async def caller_for_user(session: AsyncSession, tenant: str, username: str) -> Caller:
    """The caller for a tenant's user, by names; ``NotFound`` when either is missing."""
    tenants, users = _t["tenants"], _t["users"]
    row = (
        await session.execute(
            select(
                tenants.c.id.label("tid"),
                tenants.c.name.label("tname"),
                users.c.id.label("uid"),
                users.c.username,
                users.c.role,
                users.c.permissions,
            )
            .join(users, users.c.tenant_id == tenants.c.id)
            .where(tenants.c.name == tenant, users.c.username == username)
        )
    ).first()
    if row is None:
        exists = (await session.execute(select(tenants.c.id).where(tenants.c.name == tenant))).first()
        raise NotFound(
            f"no user '{username}' in tenant '{tenant}'" if exists else f"no tenant named '{tenant}'"
        )
    return Caller.of(
        tenant_id=row.tid,
        tenant_name=row.tname,
        user_id=row.uid,
        username=row.username,
        role=row.role,
        extra_permissions=list(row.permissions or ()),
    )


async def create_api_key(
    session: AsyncSession, *, tenant: str, username: str, name: str | None = None, actor: Caller | None = None
) -> tuple[str, dict[str, Any]]:
    """Make a new key for a user; returns the key (shown once) and its stored row, without hash."""
    owner = await caller_for_user(session, tenant, username)
    key, prefix = new_api_key()
    key_id = uuid.uuid4()
    row: dict[str, Any] = {
        "id": key_id,
        "tenant_id": owner.tenant_id,
        "user_id": owner.user_id,
        "name": name or f"{username} key",
        "prefix": prefix,
        "key_hash": hash_api_key(key),
        "created_at": datetime.now(UTC),
    }
    await session.execute(insert(_t["api_keys"]).values(**row))
    public = {k: v for k, v in row.items() if k != "key_hash"}
    await record_audit(
        session,
        caller=actor or owner,
        action="create",
        resource_type="api_key",
        resource_id=key_id,
        after=public,
        tenant_id=owner.tenant_id,
        actor_type="system" if actor is None else None,
    )
    return key, public


async def revoke_api_key(session: AsyncSession, prefix: str, *, actor: Caller | None = None) -> None:
    """Revoke a key by its visible prefix."""
    keys = _t["api_keys"]
    row = (await session.execute(select(keys).where(keys.c.prefix == prefix))).mappings().first()
    if row is None:
        raise NotFound(f"no API key with prefix '{prefix}'")
    now = datetime.now(UTC)
    await session.execute(update(keys).where(keys.c.id == row["id"]).values(revoked_at=now))
    if actor is not None:
        await record_audit(
            session,
            caller=actor,
            action="revoke",
            resource_type="api_key",
            resource_id=row["id"],
            before={"revoked_at": None},
            after={"revoked_at": now.isoformat()},
        )


async def resolve_api_key(session: AsyncSession, key: str) -> Caller:
    """The caller a presented key stands for; ``AuthError`` for anything unusable."""
    prefix = split_api_key(key)
    keys, users, tenants = _t["api_keys"], _t["users"], _t["tenants"]
    row = (
        await session.execute(
            select(
                keys.c.id.label("kid"),
                keys.c.key_hash,
                keys.c.revoked_at,
                keys.c.expires_at,
                users.c.id.label("uid"),
                users.c.username,
                users.c.role,
                users.c.permissions,
                users.c.status.label("ustatus"),
                tenants.c.id.label("tid"),
                tenants.c.name.label("tname"),
                tenants.c.status.label("tstatus"),
            )
            .join(users, users.c.id == keys.c.user_id)
            .join(tenants, tenants.c.id == keys.c.tenant_id)
            .where(keys.c.prefix == prefix)
        )
    ).first()
    if row is None or not same_hash(row.key_hash, hash_api_key(key)):
        raise AuthError("unknown API key")
    ensure_usable(
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
        user_status=row.ustatus,
        tenant_status=row.tstatus,
    )
    await session.execute(update(keys).where(keys.c.id == row.kid).values(last_used_at=func.now()))
    return Caller.of(
        tenant_id=row.tid,
        tenant_name=row.tname,
        user_id=row.uid,
        username=row.username,
        role=row.role,
        extra_permissions=list(row.permissions or ()),
        actor_type="api",
        api_key_prefix=prefix,
    )


async def create_user(
    session: AsyncSession,
    *,
    tenant: str,
    username: str,
    email: str,
    role: str,
    password: str | None = None,
    permissions: list[str] | None = None,
    actor: Caller | None = None,
) -> dict[str, Any]:
    """Add a user to a tenant (audited); the password, when given, is stored as a bcrypt hash."""
    import bcrypt

    tenants, users = _t["tenants"], _t["users"]
    tenant_id = (await session.execute(select(tenants.c.id).where(tenants.c.name == tenant))).scalar()
    if tenant_id is None:
        raise NotFound(f"no tenant named '{tenant}'")
    taken = (
        await session.execute(
            select(users.c.id).where(
                users.c.tenant_id == tenant_id, (users.c.username == username) | (users.c.email == email)
            )
        )
    ).first()
    if taken is not None:
        raise Conflict(f"tenant '{tenant}' already has a user with username '{username}' or email '{email}'")
    # A user who logs in only with API keys gets an unusable random password.
    secret = password if password is not None else uuid.uuid4().hex + uuid.uuid4().hex
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "email": email,
        "username": username,
        "password_hash": bcrypt.hashpw(secret.encode(), bcrypt.gensalt()).decode(),
        "role": role,
        "permissions": list(permissions or []),
        "created_at": now,
        "updated_at": now,
    }
    await session.execute(insert(users).values(**row))
    public = {k: v for k, v in row.items() if k != "password_hash"}
    await record_audit(
        session,
        caller=actor
        or Caller.of(tenant_id=tenant_id, tenant_name=tenant, user_id=None, username="system", role="admin"),
        action="create",
        resource_type="user",
        resource_id=row["id"],
        after=public,
        tenant_id=tenant_id,
        actor_type="system" if actor is None else None,
    )
    return public


async def tenant_id_of(session: AsyncSession, tenant: str) -> uuid.UUID:
    """The id of a tenant by name; ``NotFound`` when there is none."""
    tenants = _t["tenants"]
    found = (await session.execute(select(tenants.c.id).where(tenants.c.name == tenant))).scalar()
    if found is None:
        raise NotFound(f"no tenant named '{tenant}'")
    return uuid.UUID(str(found))
