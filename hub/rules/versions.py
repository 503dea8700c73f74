"""Rule script versions (``rule_scripts``): adding one (compiled on the way in) and reading one.

A script that does not compile, or defines no ``judge_*(metrics, context)`` entry point, is still
stored, as ``failed`` with the error and its position: the author sees what went wrong next to the
text that caused it, and the version number is not reused for a different text later.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Conflict, InputError, NotFound
from hub.identity import Caller
from hub.rules.conflicts import Detection, detect_conflicts
from hub.rules.evaluation import CompileReport, compile_script
from hub.rules.rulesets import get_ruleset, utc_now
from hub.store.audit import record_audit
from hub.store.models import RuleScript, Ruleset

__all__ = ["MAX_SCRIPT_CHARS", "AddedVersion", "add_version", "get_version", "script_hash", "version_view"]

MAX_SCRIPT_CHARS = 256 * 1024


def script_hash(script: str) -> str:
    """SHA-256 of the script text, the key the judgment engine caches compiled scripts by."""
    return hashlib.sha256(script.encode()).hexdigest()


def version_view(row: RuleScript, *, with_script: bool = False) -> dict[str, Any]:
    """JSON form of a version row."""
    out: dict[str, Any] = {
        "ruleset_id": str(row.ruleset_id),
        "version": row.version,
        "script_hash": row.script_hash,
        "compile_status": row.compile_status,
        "compile_error": row.compile_error,
        "test_coverage": row.test_coverage,
        "created_by": str(row.created_by) if row.created_by else None,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }
    if with_script:
        out["script"] = row.script
    return out


@dataclass(frozen=True, slots=True)
class AddedVersion:
    """A stored version, how its compile went, and the conflicts it raised."""

    ruleset: Ruleset
    row: RuleScript
    report: CompileReport
    detection: Detection


async def add_version(
    session: AsyncSession,
    caller: Caller,
    ruleset_ref: str | uuid.UUID,
    script: str,
    *,
    trace_id: str | None = None,
    detect: bool = True,
) -> AddedVersion:
    """Compile and store the next version of a rule set; audited.

    A compiled version is compared with what serves the rule set now (``detect_conflicts`` with
    ``focus``), so a change of behaviour is visible before anyone deploys it.
    """
    if not script.strip():
        raise InputError("must not be empty", where="script")
    if len(script) > MAX_SCRIPT_CHARS:
        raise InputError(f"is longer than {MAX_SCRIPT_CHARS} characters", where="script")
    ruleset = await get_ruleset(session, caller.tenant_id, ruleset_ref, for_update=True)
    newest = await session.scalar(
        sa.select(sa.func.max(RuleScript.version)).where(RuleScript.ruleset_id == ruleset.id)
    )
    report = compile_script(script)
    row = RuleScript(
        ruleset_id=ruleset.id,
        version=(newest or 0) + 1,
        language="rhai",
        script=script,
        script_hash=script_hash(script),
        compile_status=report.status,
        compile_error=report.problem.as_text() if report.problem is not None else None,
        created_by=caller.user_id,
        created_at=utc_now(),
    )
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"version {row.version} of rule set '{ruleset.name}' was added concurrently; try again",
            where="ruleset",
        ) from exc
    await record_audit(
        session,
        caller=caller,
        action="create",
        resource_type="rule_script",
        resource_id=row.id,
        after={**version_view(row), "ruleset": ruleset.name, "rules": list(report.rules)},
        trace_id=trace_id,
    )
    detection = Detection([], False)
    if detect and report.status == "compiled":
        detection = await detect_conflicts(session, ruleset, focus=row.version)
    return AddedVersion(ruleset, row, report, detection)


async def get_version(
    session: AsyncSession, tenant_id: uuid.UUID, ruleset_ref: str | uuid.UUID, version: int | None = None
) -> tuple[Ruleset, RuleScript]:
    """A version of the tenant's rule set (the newest when ``version`` is None); ``NotFound`` otherwise."""
    ruleset = await get_ruleset(session, tenant_id, ruleset_ref)
    stmt = sa.select(RuleScript).where(RuleScript.ruleset_id == ruleset.id)
    stmt = stmt.where(RuleScript.version == version) if version is not None else stmt
    row = await session.scalar(stmt.order_by(RuleScript.version.desc()).limit(1))
    if row is None:
        what = f"version {version}" if version is not None else "any version"
        raise NotFound(f"rule set '{ruleset.name}' has no {what}", where="version")
    return ruleset, row
