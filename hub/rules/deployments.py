"""Deploying rule versions (``rule_deployments``): canary, full, rollback.

The states and their meaning are those ``hub.judgment.routing`` routes by:

- ``canary``: takes the inputs its ``canary_target_filter`` admits and whose stable bucket falls
  under ``canary_pct``; a new canary of a rule set replaces (deprecates) the older one;
- ``active``: the base version; a full deploy deprecates the previous active deployment and ends any
  canary (a canary is measured against the base it was started on), and marks the rule set active;
- ``rolled_back``: a rollback ends the canary if there is one, else the active deployment, whose
  ``rollback_to`` names the version that was active before it; that version becomes active again as
  a new ``active`` row (history is appended, never rewritten). Rolling back the only deployment a
  rule set ever had leaves it with no active version and inactive.

Every row records its ``mode`` (``canary``, ``full``, ``rollback``) and, when replaced, the id of
the deployment that ``superseded`` it, in ``metadata``. Deploy and rollback need
``deployment:approve`` (admins hold ``*:*``), drop the judgment cache entries of the rule set,
detect conflicts among what now serves, and report ``rulesets_changed`` so the MCP face can send
``tools/list_changed`` (active rule sets are tools of their own).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Conflict, InputError, NotFound
from hub.identity import Caller
from hub.judgment.cache import invalidate_ruleset
from hub.rules.conflicts import Detection, detect_conflicts
from hub.rules.rulesets import get_ruleset, serving_versions, utc_now
from hub.store.audit import record_audit
from hub.store.models import RuleDeployment, RuleScript, Ruleset

__all__ = ["DEPLOY_PERMISSION", "Deployed", "deploy", "deployment_view", "list_deployments", "rollback"]

DEPLOY_PERMISSION = "deployment:approve"
_FILTER_KEYS = ("line_codes", "shift", "shifts", "product_categories", "user_groups")


def deployment_view(row: RuleDeployment) -> dict[str, Any]:
    """JSON form of a deployment row."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": str(row.id),
        "ruleset_id": str(row.ruleset_id),
        "version": row.version,
        "status": row.status,
        "mode": (row.metadata_ or {}).get("mode"),
        "canary_pct": row.canary_pct,
        "canary_target_filter": row.canary_target_filter,
        "rollback_to": row.rollback_to,
        "changelog": row.changelog,
        "approver_id": str(row.approver_id) if row.approver_id else None,
        "approved_at": iso(row.approved_at),
        "deployed_at": iso(row.deployed_at),
        "rolled_back_at": iso(row.rolled_back_at),
    }


@dataclass(frozen=True, slots=True)
class Deployed:
    """A deploy's or rollback's result."""

    ruleset: Ruleset
    deployment: RuleDeployment | None
    """The new row that now serves (None when a rollback left nothing active)."""
    ended: list[RuleDeployment]
    """Rows this change deprecated or rolled back."""
    detection: Detection
    cache_entries_dropped: int
    rulesets_changed: bool = True


def _check_filter(flt: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if flt is None:
        return None
    out: dict[str, Any] = {}
    for key, value in flt.items():
        where = f"canary_target_filter.{key}"
        if key not in _FILTER_KEYS:
            raise InputError(f"unknown key (expected one of {', '.join(_FILTER_KEYS)})", where=where)
        if isinstance(value, str):
            value = [value] if key != "shift" else value
        if not isinstance(value, str) and not (
            isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
        ):
            raise InputError("must be a non-empty string or array of strings", where=where)
        out[key] = value
    return out or None


async def _live(session: AsyncSession, ruleset: Ruleset, status: str) -> list[RuleDeployment]:
    rows = await session.scalars(
        sa.select(RuleDeployment)
        .where(
            RuleDeployment.tenant_id == ruleset.tenant_id,
            RuleDeployment.ruleset_id == ruleset.id,
            RuleDeployment.status == status,
        )
        .order_by(RuleDeployment.deployed_at.desc().nulls_last(), RuleDeployment.created_at.desc())
    )
    return list(rows.all())


def _end(row: RuleDeployment, status: str, by: RuleDeployment | None) -> None:
    row.status = status
    if by is not None:
        row.metadata_ = {**(row.metadata_ or {}), "superseded_by": str(by.id)}


async def _finish(
    session: AsyncSession,
    caller: Caller,
    ruleset: Ruleset,
    action: str,
    before: dict[str, Any],
    new: RuleDeployment | None,
    ended: list[RuleDeployment],
    trace_id: str | None,
) -> Deployed:
    ruleset.updated_at = utc_now()
    await session.flush()
    dropped = await invalidate_ruleset(session, ruleset.tenant_id, ruleset.id)
    after = (await serving_versions(session, ruleset)).as_dict()
    await record_audit(
        session,
        caller=caller,
        action=action,
        resource_type="rule_deployment",
        resource_id=new.id if new is not None else (ended[0].id if ended else None),
        before={"ruleset": ruleset.name, **before},
        after={
            "ruleset": ruleset.name,
            **after,
            "is_active": ruleset.is_active,
            "deployment": deployment_view(new) if new is not None else None,
            "ended": [str(e.id) for e in ended],
        },
        trace_id=trace_id,
    )
    detection = await detect_conflicts(session, ruleset)
    return Deployed(ruleset, new, ended, detection, dropped)


async def deploy(
    session: AsyncSession,
    caller: Caller,
    ruleset_ref: str | uuid.UUID,
    version: int,
    *,
    mode: str,
    canary_pct: float | None = None,
    canary_target_filter: Mapping[str, Any] | None = None,
    changelog: str | None = None,
    trace_id: str | None = None,
) -> Deployed:
    """Deploy a compiled version as a canary or fully; audited."""
    caller.require(DEPLOY_PERMISSION)
    if mode not in ("canary", "full"):
        raise InputError("must be canary or full", where="mode")
    flt = _check_filter(canary_target_filter)
    if mode == "canary":
        if canary_pct is None:
            raise InputError("is required for a canary deployment", where="canary_pct")
        if not 0 < canary_pct <= 1:
            raise InputError("must be greater than 0 and at most 1", where="canary_pct")
    elif canary_pct is not None or flt is not None:
        raise InputError(
            "applies to canary deployments only", where="canary_pct" if canary_pct else "canary_target_filter"
        )
    ruleset = await get_ruleset(session, caller.tenant_id, ruleset_ref, for_update=True)
    status = await session.scalar(
        sa.select(RuleScript.compile_status).where(
            RuleScript.ruleset_id == ruleset.id, RuleScript.version == version
        )
    )
    if status is None:
        raise NotFound(f"rule set '{ruleset.name}' has no version {version}", where="version")
    if status != "compiled":
        raise Conflict(
            f"version {version} of rule set '{ruleset.name}' is {status}, not compiled", where="version"
        )
    before = (await serving_versions(session, ruleset)).as_dict()
    actives = await _live(session, ruleset, "active")
    canaries = await _live(session, ruleset, "canary")
    if actives and actives[0].version == version:
        raise Conflict(f"version {version} of rule set '{ruleset.name}' is already active", where="version")
    now = utc_now()
    row = RuleDeployment(
        tenant_id=ruleset.tenant_id,
        ruleset_id=ruleset.id,
        version=version,
        status="canary" if mode == "canary" else "active",
        canary_pct=canary_pct if mode == "canary" else None,
        canary_target_filter=flt,
        changelog=changelog or f"{mode} deployment of version {version}",
        approver_id=caller.user_id,
        approved_at=now,
        deployed_at=now,
        created_at=now,
        metadata_={"mode": mode},
    )
    session.add(row)
    ended = canaries + (actives if mode == "full" else [])
    for old in ended:
        _end(old, "deprecated", row)
    if mode == "full":
        ruleset.is_active = True
    return await _finish(session, caller, ruleset, "deploy", before, row, ended, trace_id)


async def rollback(
    session: AsyncSession,
    caller: Caller,
    ruleset_ref: str | uuid.UUID,
    *,
    reason: str | None = None,
    trace_id: str | None = None,
) -> Deployed:
    """Roll back the canary if there is one, else the active deployment; audited."""
    caller.require(DEPLOY_PERMISSION)
    ruleset = await get_ruleset(session, caller.tenant_id, ruleset_ref, for_update=True)
    before = await serving_versions(session, ruleset)
    now = utc_now()
    canaries = await _live(session, ruleset, "canary")
    if canaries:
        for row in canaries:
            row.status = "rolled_back"
            row.rolled_back_at = now
            row.rollback_to = before.base
        return await _finish(session, caller, ruleset, "rollback", before.as_dict(), None, canaries, trace_id)
    actives = await _live(session, ruleset, "active")
    if not actives:
        raise Conflict(
            f"rule set '{ruleset.name}' has no canary or active deployment to roll back", where="ruleset"
        )
    current = actives[0]
    previous = next(
        (
            d
            for d in await _live(session, ruleset, "deprecated")
            if (d.metadata_ or {}).get("mode") != "canary"
            and d.version != current.version
            and (d.deployed_at is None or current.deployed_at is None or d.deployed_at <= current.deployed_at)
        ),
        None,
    )
    for row in actives:
        row.status = "rolled_back"
        row.rolled_back_at = now
        row.rollback_to = previous.version if previous is not None else None
    restored: RuleDeployment | None = None
    if previous is not None:
        note = f"rollback of version {current.version} to version {previous.version}"
        restored = RuleDeployment(
            tenant_id=ruleset.tenant_id,
            ruleset_id=ruleset.id,
            version=previous.version,
            status="active",
            changelog=f"{note}: {reason}" if reason else note,
            approver_id=caller.user_id,
            approved_at=now,
            deployed_at=now,
            created_at=now,
            metadata_={"mode": "rollback", "rollback_of": str(current.id)},
        )
        session.add(restored)
    else:
        ruleset.is_active = False
    return await _finish(session, caller, ruleset, "rollback", before.as_dict(), restored, actives, trace_id)


async def list_deployments(
    session: AsyncSession, tenant_id: uuid.UUID, ruleset_ref: str | uuid.UUID, *, limit: int = 50
) -> list[dict[str, Any]]:
    """A rule set's deployments, newest first."""
    ruleset = await get_ruleset(session, tenant_id, ruleset_ref)
    rows = await session.scalars(
        sa.select(RuleDeployment)
        .where(RuleDeployment.tenant_id == tenant_id, RuleDeployment.ruleset_id == ruleset.id)
        .order_by(RuleDeployment.created_at.desc())
        .limit(limit)
    )
    return [deployment_view(r) for r in rows.all()]
