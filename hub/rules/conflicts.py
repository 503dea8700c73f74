"""Conflicts between rule versions and rule sets (``rule_conflicts``): detecting, listing, resolving.

Two kinds are detected by running the scripts on the same sample inputs (``hub.rules.probes``,
compared in ``hub.rules.comparison``, which also defines the severities):

- ``output_conflict``: two versions that serve together (the base and the canary of a rule set, a
  new version against what serves now) or two active rule sets with the same ``target_kpi`` give
  different combined verdicts for one input;
- ``condition_overlap``: two ``judge_*`` functions of one version that read a common metric both
  answer one input, with different results.

A conflict between rule sets is stored under the one with the smaller id, with the other's version
in ``rule_version_2`` and its name and id in the description (the table has one ``ruleset_id``), so
detection from either side finds the same row. Each finding has a subject (``v1 vs v2``,
``judge_a vs judge_b in v2``, ``v1 vs rule set 'x' (id) v3``) that starts its description; a subject
is stored once. Script versions never change, so a pair's disagreement is a fixed fact: re-detection
does not re-open a conflict someone has resolved or accepted, it only raises the severity of an
open one when new recorded inputs make it worse.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import InputError, NotFound
from hub.identity import Caller
from hub.rules.comparison import RANK, Finding, VersionScript, sweep
from hub.rules.rulesets import get_ruleset, serving_versions, utc_now
from hub.store.audit import record_audit
from hub.store.models import RuleConflict, RuleScript, Ruleset

__all__ = [
    "CONFLICT_STATUSES",
    "Detection",
    "conflict_view",
    "detect_conflicts",
    "list_conflicts",
    "resolve_conflict",
]

CONFLICT_STATUSES = ("unresolved", "investigating", "resolved", "accepted")


async def _load(session: AsyncSession, ruleset: Ruleset, version: int) -> VersionScript | None:
    row = (
        await session.execute(
            sa.select(RuleScript.script, RuleScript.script_hash).where(
                RuleScript.ruleset_id == ruleset.id,
                RuleScript.version == version,
                RuleScript.compile_status == "compiled",
            )
        )
    ).first()
    if row is None:
        return None
    return VersionScript(ruleset.id, ruleset.name, version, row.script, row.script_hash)


def _recorded(ruleset: Ruleset, version: int) -> list[Any]:
    stored = (ruleset.metadata_ or {}).get("test_inputs", {})
    found = stored.get(str(version), []) if isinstance(stored, dict) else []
    return list(found) if isinstance(found, list) else []


@dataclass(frozen=True, slots=True)
class Detection:
    """What a detection run stored: new or raised conflicts, and whether it ran out of time."""

    conflicts: list[RuleConflict]
    partial: bool


async def detect_conflicts(
    session: AsyncSession, ruleset: Ruleset, *, focus: int | None = None, across: bool = True
) -> Detection:
    """Detect and store conflicts of a rule set; returns the rows it added or made more severe.

    With ``focus`` (a version just added), that version is compared with what serves now and checked
    for overlaps. Without it, the serving versions are compared with each other and each checked for
    overlaps, and with ``across`` the serving base is compared with the base of every other active
    rule set of the tenant with the same target KPI.
    """
    serving = await serving_versions(session, ruleset, besides=focus)
    live = [v for v in dict.fromkeys((serving.base, serving.canary)) if v is not None]
    pairs: list[tuple[VersionScript, VersionScript, list[Any]]] = []
    overlaps: list[tuple[VersionScript, list[Any]]] = []

    async def pair(a: VersionScript | None, b: VersionScript | None, other: Ruleset | None = None) -> None:
        if a is None or b is None:
            return
        recorded = _recorded(ruleset, a.version) + _recorded(other or ruleset, b.version)
        # One orientation per pair, whichever side or event detects it: one row, not two. Versions
        # of one rule set go oldest first; a pair of rule sets goes smaller id first.
        if (other is None and a.version > b.version) or (
            other is not None and str(other.id) < str(ruleset.id)
        ):
            a, b = b, a
        pairs.append((a, b, recorded))

    if focus is not None and focus not in live:
        new = await _load(session, ruleset, focus)
        for version in live:
            await pair(await _load(session, ruleset, version), new)
        if new is not None:
            overlaps.append((new, _recorded(ruleset, focus)))
    else:
        loaded = [v for v in [await _load(session, ruleset, n) for n in live] if v is not None]
        if len(loaded) == 2:
            await pair(loaded[0], loaded[1])
        overlaps.extend((v, _recorded(ruleset, v.version)) for v in loaded)
    if across and focus is None and ruleset.is_active and serving.base is not None:
        base = await _load(session, ruleset, serving.base)
        others = (
            await session.scalars(
                sa.select(Ruleset).where(
                    Ruleset.tenant_id == ruleset.tenant_id,
                    Ruleset.target_kpi == ruleset.target_kpi,
                    Ruleset.is_active,
                    Ruleset.id != ruleset.id,
                )
            )
        ).all()
        for other in others:
            other_base = (await serving_versions(session, other)).base
            if other_base is not None:
                await pair(base, await _load(session, other, other_base), other)
    if not pairs and not overlaps:
        return Detection([], False)
    findings, partial = await anyio.to_thread.run_sync(sweep, pairs, overlaps)
    stored = [row for row in [await _store(session, ruleset.tenant_id, f) for f in findings] if row]
    return Detection(stored, partial)


async def _store(session: AsyncSession, tenant_id: uuid.UUID, finding: Finding) -> RuleConflict | None:
    existing = await session.scalar(
        sa.select(RuleConflict)
        .where(
            RuleConflict.tenant_id == tenant_id,
            RuleConflict.ruleset_id == finding.ruleset_id,
            RuleConflict.conflict_type == finding.conflict_type,
            RuleConflict.rule_version_1 == finding.version_1,
            RuleConflict.rule_version_2 == finding.version_2,
            RuleConflict.description.startswith(f"{finding.subject}:", autoescape=True),
        )
        .limit(1)
    )
    if existing is None:
        row = RuleConflict(
            tenant_id=tenant_id,
            ruleset_id=finding.ruleset_id,
            rule_version_1=finding.version_1,
            rule_version_2=finding.version_2,
            conflict_type=finding.conflict_type,
            description=finding.description,
            severity=finding.severity,
            resolution_status="unresolved",
            detected_at=utc_now(),
        )
        session.add(row)
        await session.flush()
        return row
    open_ = existing.resolution_status in ("unresolved", "investigating")
    if open_ and RANK[finding.severity] > RANK[existing.severity]:
        existing.severity = finding.severity
        existing.description = finding.description
        await session.flush()
        return existing
    return None


def conflict_view(row: RuleConflict, ruleset_name: str | None = None) -> dict[str, Any]:
    """JSON form of a conflict row."""
    return {
        "id": str(row.id),
        "ruleset_id": str(row.ruleset_id),
        "ruleset": ruleset_name,
        "rule_version_1": row.rule_version_1,
        "rule_version_2": row.rule_version_2,
        "conflict_type": row.conflict_type,
        "severity": row.severity,
        "description": row.description,
        "resolution_status": row.resolution_status,
        "resolution_note": row.resolution_note,
        "detected_at": row.detected_at.isoformat() if row.detected_at else None,
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "resolved_by": str(row.resolved_by) if row.resolved_by else None,
    }


async def list_conflicts(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    status: str | None = None,
    ruleset: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The tenant's conflicts, newest first, optionally of one status and one rule set (either side)."""
    stmt = (
        sa.select(RuleConflict, Ruleset.name)
        .join(Ruleset, Ruleset.id == RuleConflict.ruleset_id)
        .where(RuleConflict.tenant_id == tenant_id)
    )
    if status is not None:
        if status not in CONFLICT_STATUSES:
            raise InputError(f"must be one of {', '.join(CONFLICT_STATUSES)}", where="status")
        stmt = stmt.where(RuleConflict.resolution_status == status)
    if ruleset is not None:
        found = await get_ruleset(session, tenant_id, ruleset)
        # A conflict between two rule sets is stored under one of them and names the other.
        named = RuleConflict.description.contains(f"({found.id})", autoescape=True)
        stmt = stmt.where(sa.or_(RuleConflict.ruleset_id == found.id, named))
    rows = (await session.execute(stmt.order_by(RuleConflict.detected_at.desc()).limit(limit))).all()
    return [conflict_view(row, name) for row, name in rows]


async def resolve_conflict(
    session: AsyncSession,
    caller: Caller,
    conflict_id: str,
    *,
    status: str,
    note: str | None = None,
    trace_id: str | None = None,
) -> RuleConflict:
    """Set a conflict's status (``investigating``, ``resolved``, ``accepted``) with a note; audited.

    ``resolved_by`` is whoever set the status; ``resolved_at`` is set for the final statuses only.
    """
    if status not in ("investigating", "resolved", "accepted"):
        raise InputError("must be one of investigating, resolved, accepted", where="status")
    try:
        key = uuid.UUID(conflict_id)
    except ValueError as exc:
        raise InputError("is not a UUID", where="conflict_id") from exc
    row = await session.scalar(
        sa.select(RuleConflict).where(RuleConflict.id == key, RuleConflict.tenant_id == caller.tenant_id)
    )
    if row is None:
        raise NotFound(f"no conflict '{conflict_id}'", where="conflict_id")
    before = conflict_view(row)
    row.resolution_status = status
    row.resolution_note = note
    row.resolved_by = caller.user_id
    row.resolved_at = utc_now() if status in ("resolved", "accepted") else None
    await session.flush()
    await record_audit(
        session,
        caller=caller,
        action="resolve",
        resource_type="rule_conflict",
        resource_id=row.id,
        before=before,
        after=conflict_view(row),
        trace_id=trace_id,
    )
    return row
