"""Rule sets (``rulesets``): creating one, finding one in a tenant, listing, and what serves it now.

Every function takes the session it uses and leaves the transaction to the caller, so a tool can
create, audit and detect conflicts in one commit. Timestamps are set here rather than left to server
defaults: an async session cannot lazily load a column the database filled in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Conflict, InputError, NotFound
from hub.identity import Caller
from hub.store.audit import record_audit
from hub.store.models import RuleDeployment, RuleScript, Ruleset

__all__ = [
    "CATEGORIES",
    "Serving",
    "create_ruleset",
    "get_ruleset",
    "list_rulesets",
    "ruleset_view",
    "serving_versions",
    "utc_now",
]

CATEGORIES = ("quality", "production", "equipment", "inventory", "safety")


def utc_now() -> dt.datetime:
    """Timezone-aware UTC now."""
    return dt.datetime.now(dt.UTC)


def ruleset_view(ruleset: Ruleset) -> dict[str, Any]:
    """JSON form of a rule set row."""
    return {
        "id": str(ruleset.id),
        "name": ruleset.name,
        "description": ruleset.description,
        "target_kpi": ruleset.target_kpi,
        "category": ruleset.category,
        "priority": ruleset.priority,
        "is_active": ruleset.is_active,
        "metadata": {k: v for k, v in (ruleset.metadata_ or {}).items() if k != "test_inputs"},
    }


async def create_ruleset(
    session: AsyncSession,
    caller: Caller,
    *,
    name: str,
    target_kpi: str,
    category: str | None = None,
    priority: int = 100,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    trace_id: str | None = None,
) -> Ruleset:
    """A new, inactive rule set in the caller's tenant (``Conflict`` when the name is taken); audited."""
    if not name.strip():
        raise InputError("must not be empty", where="name")
    if not target_kpi.strip():
        raise InputError("must not be empty", where="target_kpi")
    if category is not None and category not in CATEGORIES:
        raise InputError(f"must be one of {', '.join(CATEGORIES)}", where="category")
    taken = await session.scalar(
        sa.select(Ruleset.id).where(Ruleset.tenant_id == caller.tenant_id, Ruleset.name == name)
    )
    if taken is not None:
        raise Conflict(f"a rule set named '{name}' already exists", where="name")
    now = utc_now()
    ruleset = Ruleset(
        tenant_id=caller.tenant_id,
        name=name,
        description=description,
        target_kpi=target_kpi,
        category=category,
        is_active=False,
        priority=priority,
        metadata_=dict(metadata or {}),
        created_by=caller.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(ruleset)
    try:
        # A concurrent create of the same name passes the check above; the unique key decides.
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a rule set named '{name}' already exists", where="name") from exc
    await record_audit(
        session,
        caller=caller,
        action="create",
        resource_type="ruleset",
        resource_id=ruleset.id,
        after=ruleset_view(ruleset),
        trace_id=trace_id,
    )
    return ruleset


def _as_uuid(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


async def get_ruleset(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    ref: str | uuid.UUID,
    *,
    where: str = "ruleset",
    for_update: bool = False,
) -> Ruleset:
    """The tenant's rule set by id or name; ``NotFound`` otherwise (also for another tenant's).

    ``for_update`` locks the row on PostgreSQL so concurrent version numbering and deployments of
    one rule set serialise; SQLite serialises writers anyway.
    """
    stmt = sa.select(Ruleset).where(Ruleset.tenant_id == tenant_id)
    key = ref if isinstance(ref, uuid.UUID) else _as_uuid(ref)
    stmt = stmt.where(Ruleset.id == key) if key is not None else stmt.where(Ruleset.name == ref)
    if for_update:
        stmt = stmt.with_for_update()
    found: Ruleset | None = await session.scalar(stmt)
    if found is None and key is not None and not isinstance(ref, uuid.UUID):
        # A name that happens to look like a UUID.
        found = await session.scalar(
            sa.select(Ruleset).where(Ruleset.tenant_id == tenant_id, Ruleset.name == ref)
        )
    if found is None:
        raise NotFound(f"no rule set '{ref}'", where=where)
    return found


async def list_rulesets(
    session: AsyncSession, tenant_id: uuid.UUID, *, target_kpi: str | None = None, active_only: bool = False
) -> list[dict[str, Any]]:
    """The tenant's rule sets with their newest version and what serves them."""
    stmt = sa.select(Ruleset).where(Ruleset.tenant_id == tenant_id)
    if target_kpi is not None:
        stmt = stmt.where(Ruleset.target_kpi == target_kpi)
    if active_only:
        stmt = stmt.where(Ruleset.is_active)
    rulesets = (await session.scalars(stmt.order_by(Ruleset.name))).all()
    out = []
    for ruleset in rulesets:
        newest = await session.scalar(
            sa.select(sa.func.max(RuleScript.version)).where(RuleScript.ruleset_id == ruleset.id)
        )
        serving = await serving_versions(session, ruleset)
        out.append({**ruleset_view(ruleset), "latest_version": newest, **serving.as_dict()})
    return out


@dataclass(frozen=True, slots=True)
class Serving:
    """What judges a rule set's traffic now, as ``hub.judgment.rulesets.choose_script`` routes it."""

    active: int | None
    canary: int | None
    fallback: int | None
    """The newest non-failed, non-canary version, which serves while nothing is actively deployed."""

    @property
    def base(self) -> int | None:
        """The version that takes the traffic the canary does not."""
        return self.active if self.active is not None else self.fallback

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "active_version": self.active,
            "canary_version": self.canary,
            "fallback_version": self.fallback,
        }


async def serving_versions(session: AsyncSession, ruleset: Ruleset, *, besides: int | None = None) -> Serving:
    """The newest active and canary deployments' versions, and the fallback when none is active.

    ``besides`` leaves a version out of the fallback: a version being added is not yet what serves.
    """
    rows = (
        await session.execute(
            sa.select(RuleDeployment.version, RuleDeployment.status)
            .where(
                RuleDeployment.tenant_id == ruleset.tenant_id,
                RuleDeployment.ruleset_id == ruleset.id,
                RuleDeployment.status.in_(("active", "canary")),
            )
            .order_by(RuleDeployment.deployed_at.desc().nulls_last(), RuleDeployment.created_at.desc())
        )
    ).all()
    active = next((r.version for r in rows if r.status == "active"), None)
    canary = next((r.version for r in rows if r.status == "canary"), None)
    fallback = None
    if active is None:
        fallback = await session.scalar(
            sa.select(RuleScript.version)
            .where(
                RuleScript.ruleset_id == ruleset.id,
                RuleScript.compile_status != "failed",
                RuleScript.version.not_in([v for v in (canary, besides) if v is not None] or [-1]),
            )
            .order_by(RuleScript.version.desc())
            .limit(1)
        )
    return Serving(active, canary, fallback)
