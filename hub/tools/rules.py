"""Rule management tools: rule sets, versions, tests, deployments, conflicts.

Permissions follow the core schema's RBAC pattern ``resource:action`` (admins hold ``*:*``):

==========================  ======================  ===================================
tool                        permission              who holds it by role
==========================  ======================  ===================================
rule_list_rulesets          ``rule:read``           admin
rule_get_version            ``rule:read``           admin
rule_list_deployments       ``rule:read``           admin
rule_list_conflicts         ``rule:read``           admin
rule_create_ruleset         ``rule:create``         admin
rule_add_version            ``rule:update``         admin
rule_test                   ``rule:test``           admin
rule_detect_conflicts       ``rule:test``           admin
rule_resolve_conflict       ``rule:approve``        admin, approver
rule_deploy                 ``deployment:approve``  admin, approver
rule_rollback               ``deployment:approve``  admin, approver
==========================  ======================  ===================================

Rule authors who are not admins get ``rule:*`` (or the single permissions) in their user row's
``permissions``. Deploying and rolling back are approvals, hence ``deployment:approve`` as the
issue requires; resolving a conflict is a rule approval, hence ``rule:approve``. Operators and
viewers hold none of these.

Deploy and rollback change which rule sets are active, and active rule sets are tools of their own:
their results carry ``rulesets_changed: true`` and, when the family is built with
``on_rulesets_changed``, that callback runs after the commit so the MCP face can send
``tools/list_changed``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from hub.errors import InputError
from hub.rules import conflicts, deployments, rulesets, testing, versions
from hub.rules.conflicts import Detection
from hub.rules.versions import MAX_SCRIPT_CHARS
from hub.tools.base import JSONObject, ToolContext, ToolSpec, obj

__all__ = ["RulesetsChanged", "tools"]

RulesetsChanged = Callable[[uuid.UUID], Awaitable[None]]

_RULESET: JSONObject = {"type": "string", "minLength": 1, "description": "the rule set's name or id"}
_VERSION: JSONObject = {"type": "integer", "minimum": 1}
_STRINGS: JSONObject = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
    ]
}
_CASE: JSONObject = obj(
    {
        "name": {"type": "string"},
        "input": obj(
            {
                "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
                "context": {"type": "object"},
                "line_code": {"type": "string"},
                "shift": {"type": "string"},
                "date": {"type": "string"},
            },
            ["metrics"],
        ),
        "expected": {
            "oneOf": [
                {"enum": ["normal", "warning", "critical", "none"]},
                obj(
                    {
                        "result": {"enum": ["normal", "warning", "critical", "none"]},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                    ["result"],
                ),
            ]
        },
    },
    ["input"],
)


def _detected(detection: Detection) -> dict[str, Any]:
    return {
        "conflicts": [conflicts.conflict_view(c) for c in detection.conflicts],
        "conflict_detection_partial": detection.partial,
    }


async def create_ruleset(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Create an inactive rule set in the caller's tenant."""
    async with ctx.app.sessions() as session, session.begin():
        row = await rulesets.create_ruleset(
            session,
            ctx.caller,
            name=args["name"],
            target_kpi=args["target_kpi"],
            category=args.get("category"),
            priority=args.get("priority", 100),
            description=args.get("description"),
            metadata=args.get("metadata"),
            trace_id=ctx.trace_id,
        )
    return {"ruleset": rulesets.ruleset_view(row)}


async def list_rulesets(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """The tenant's rule sets with their newest, active and canary versions."""
    async with ctx.app.sessions() as session:
        found = await rulesets.list_rulesets(
            session,
            ctx.caller.tenant_id,
            target_kpi=args.get("target_kpi"),
            active_only=args.get("active_only", False),
        )
    return {"rulesets": found}


async def add_version(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Compile and store the next version; a script that does not compile is stored as failed."""
    async with ctx.app.sessions() as session, session.begin():
        added = await versions.add_version(
            session, ctx.caller, args["ruleset"], args["script"], trace_id=ctx.trace_id
        )
    report = added.report
    return {
        **versions.version_view(added.row),
        "ruleset": added.ruleset.name,
        "compiled": report.status == "compiled",
        "rules": list(report.rules),
        "error": report.problem.as_dict() if report.problem is not None else None,
        **_detected(added.detection),
    }


async def get_version(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """One version (the newest by default), with its script."""
    async with ctx.app.sessions() as session:
        ruleset, row = await versions.get_version(
            session, ctx.caller.tenant_id, args["ruleset"], args.get("version")
        )
        serving = await rulesets.serving_versions(session, ruleset)
    view = versions.version_view(row, with_script=args.get("include_script", True))
    return {**view, "ruleset": ruleset.name, **serving.as_dict()}


async def run_test_cases(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Run a version on the given cases; returns per-case results, pass rate and coverage."""
    cases = testing.parse_cases(args["cases"])
    async with ctx.app.sessions() as session, session.begin():
        report = await testing.run_tests(
            session,
            ctx.caller,
            args["ruleset"],
            args.get("version"),
            cases,
            record=args.get("record", True),
            trace_id=ctx.trace_id,
        )
    return report.as_dict()


def _deployed(result: deployments.Deployed) -> dict[str, Any]:
    new = result.deployment
    return {
        "ruleset": result.ruleset.name,
        "ruleset_active": result.ruleset.is_active,
        "deployment": deployments.deployment_view(new) if new is not None else None,
        "ended": [deployments.deployment_view(e) for e in result.ended],
        "cache_entries_dropped": result.cache_entries_dropped,
        "rulesets_changed": result.rulesets_changed,
        **_detected(result.detection),
    }


def _deploy(
    on_changed: RulesetsChanged | None,
) -> Callable[[ToolContext, JSONObject], Awaitable[dict[str, Any]]]:
    async def deploy(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
        """Deploy a compiled version as a canary or fully."""
        async with ctx.app.sessions() as session, session.begin():
            result = await deployments.deploy(
                session,
                ctx.caller,
                args["ruleset"],
                args["version"],
                mode=args["mode"],
                canary_pct=args.get("canary_pct"),
                canary_target_filter=args.get("canary_target_filter"),
                changelog=args.get("changelog"),
                trace_id=ctx.trace_id,
            )
        if on_changed is not None:
            await on_changed(ctx.caller.tenant_id)
        return _deployed(result)

    return deploy


def _rollback(
    on_changed: RulesetsChanged | None,
) -> Callable[[ToolContext, JSONObject], Awaitable[dict[str, Any]]]:
    async def rollback(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
        """Roll back the canary, else the active deployment, to the previous active version."""
        async with ctx.app.sessions() as session, session.begin():
            result = await deployments.rollback(
                session, ctx.caller, args["ruleset"], reason=args.get("reason"), trace_id=ctx.trace_id
            )
        if on_changed is not None:
            await on_changed(ctx.caller.tenant_id)
        return _deployed(result)

    return rollback


async def list_deployments(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """A rule set's deployment history, newest first."""
    async with ctx.app.sessions() as session:
        rows = await deployments.list_deployments(
            session, ctx.caller.tenant_id, args["ruleset"], limit=args.get("limit", 50)
        )
    return {"deployments": rows}


async def detect(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Detect conflicts of a rule set's serving versions now."""
    async with ctx.app.sessions() as session, session.begin():
        ruleset = await rulesets.get_ruleset(session, ctx.caller.tenant_id, args["ruleset"])
        detection = await conflicts.detect_conflicts(session, ruleset)
    return {"ruleset": ruleset.name, **_detected(detection)}


async def list_conflicts(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """The tenant's detected conflicts, newest first."""
    async with ctx.app.sessions() as session:
        rows = await conflicts.list_conflicts(
            session,
            ctx.caller.tenant_id,
            status=args.get("status"),
            ruleset=args.get("ruleset"),
            limit=args.get("limit", 100),
        )
    return {"conflicts": rows}


async def resolve_conflict(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
    """Mark a conflict investigating, resolved or accepted, with a note."""
    if args["status"] != "investigating" and not str(args.get("note", "")).strip():
        raise InputError("is required to resolve or accept a conflict", where="note")
    async with ctx.app.sessions() as session, session.begin():
        row = await conflicts.resolve_conflict(
            session,
            ctx.caller,
            args["conflict_id"],
            status=args["status"],
            note=args.get("note"),
            trace_id=ctx.trace_id,
        )
    return {"conflict": conflicts.conflict_view(row)}


def tools(*, on_rulesets_changed: RulesetsChanged | None = None) -> list[ToolSpec]:
    """The rule-management family; ``on_rulesets_changed(tenant_id)`` runs after a deploy or rollback."""
    read_only = {"readOnlyHint": True}
    ruleset_only = obj({"ruleset": _RULESET}, ["ruleset"])
    return [
        ToolSpec(
            "rule_create_ruleset",
            "Create a rule set (a group of Rhai rules for one KPI) in the caller's tenant. It is inactive"
            " until a version is deployed fully.",
            obj(
                {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
                    "target_kpi": {"type": "string", "minLength": 1, "maxLength": 128},
                    "category": {"enum": list(rulesets.CATEGORIES)},
                    "priority": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                    "description": {"type": "string", "maxLength": 2000},
                    "metadata": {"type": "object"},
                },
                ["name", "target_kpi"],
            ),
            "rule:create",
            create_ruleset,
            annotations={"destructiveHint": False, "idempotentHint": False},
        ),
        ToolSpec(
            "rule_list_rulesets",
            "List the tenant's rule sets with their newest, active and canary versions.",
            obj({"target_kpi": {"type": "string"}, "active_only": {"type": "boolean", "default": False}}),
            "rule:read",
            list_rulesets,
            annotations=read_only,
        ),
        ToolSpec(
            "rule_add_version",
            "Add the next version of a rule set's Rhai script. It is compiled in the sandbox and must define"
            " at least one judge_<name>(metrics, context) function returning #{result, confidence,"
            " explanation, actions}. A script that does not compile is stored as failed with the error's"
            " kind, line and column. Conflicts with the serving versions are detected and returned.",
            obj(
                {
                    "ruleset": _RULESET,
                    "script": {"type": "string", "minLength": 1, "maxLength": MAX_SCRIPT_CHARS},
                },
                ["ruleset", "script"],
            ),
            "rule:update",
            add_version,
            annotations={"destructiveHint": False, "idempotentHint": False},
        ),
        ToolSpec(
            "rule_get_version",
            "Show one version of a rule set (the newest by default): script, hash, compile status, coverage.",
            obj(
                {
                    "ruleset": _RULESET,
                    "version": _VERSION,
                    "include_script": {"type": "boolean", "default": True},
                },
                ["ruleset"],
            ),
            "rule:read",
            get_version,
            annotations=read_only,
        ),
        ToolSpec(
            "rule_test",
            "Run a version (the newest by default) on test cases, each an input {metrics, context} with an"
            " optional expected result. Returns each case's verdict and rule answers, script errors with"
            " kind, line and column, the pass rate, and the outcome coverage (fraction of the (judge"
            " function, result) outcomes the cases produced), which is stored with the version.",
            obj(
                {
                    "ruleset": _RULESET,
                    "version": _VERSION,
                    "cases": {"type": "array", "items": _CASE, "minItems": 1, "maxItems": testing.MAX_CASES},
                    "record": {"type": "boolean", "default": True},
                },
                ["ruleset", "cases"],
            ),
            "rule:test",
            run_test_cases,
            annotations={"destructiveHint": False, "idempotentHint": True},
        ),
        ToolSpec(
            "rule_deploy",
            "Deploy a compiled version: mode 'canary' routes canary_pct (0 < pct <= 1) of the inputs the"
            " optional canary_target_filter admits (stable per line and shift); mode 'full' makes it the"
            " active version and the rule set active. Needs deployment:approve.",
            obj(
                {
                    "ruleset": _RULESET,
                    "version": _VERSION,
                    "mode": {"enum": ["canary", "full"]},
                    "canary_pct": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "canary_target_filter": obj(
                        {
                            "line_codes": _STRINGS,
                            "shift": _STRINGS,
                            "product_categories": _STRINGS,
                            "user_groups": _STRINGS,
                        },
                        minProperties=1,
                    ),
                    "changelog": {"type": "string", "minLength": 1, "maxLength": 4000},
                },
                ["ruleset", "version", "mode"],
            ),
            deployments.DEPLOY_PERMISSION,
            _deploy(on_rulesets_changed),
            annotations={"destructiveHint": True, "idempotentHint": False},
        ),
        ToolSpec(
            "rule_rollback",
            "Roll back a rule set's canary if it has one, else its active deployment, restoring the"
            " previously active version. Needs deployment:approve.",
            obj({"ruleset": _RULESET, "reason": {"type": "string", "maxLength": 4000}}, ["ruleset"]),
            deployments.DEPLOY_PERMISSION,
            _rollback(on_rulesets_changed),
            annotations={"destructiveHint": True, "idempotentHint": False},
        ),
        ToolSpec(
            "rule_list_deployments",
            "A rule set's deployment history (canary, active, rolled back, deprecated), newest first.",
            obj(
                {"ruleset": _RULESET, "limit": {"type": "integer", "minimum": 1, "maximum": 500}}, ["ruleset"]
            ),
            "rule:read",
            list_deployments,
            annotations=read_only,
        ),
        ToolSpec(
            "rule_detect_conflicts",
            "Compare a rule set's serving versions (and other active rule sets of its KPI) on sampled"
            " inputs now, and store the conflicts found.",
            ruleset_only,
            "rule:test",
            detect,
            annotations={"destructiveHint": False, "idempotentHint": True},
        ),
        ToolSpec(
            "rule_list_conflicts",
            "List detected rule conflicts (output_conflict, condition_overlap), optionally of one status"
            " and one rule set, newest first.",
            obj(
                {
                    "status": {"enum": list(conflicts.CONFLICT_STATUSES)},
                    "ruleset": _RULESET,
                    "limit": {"type": "integer", "minimum": 1, "maximum": 500},
                }
            ),
            "rule:read",
            list_conflicts,
            annotations=read_only,
        ),
        ToolSpec(
            "rule_resolve_conflict",
            "Set a conflict's status to investigating, resolved or accepted; a note is required to resolve"
            " or accept.",
            obj(
                {
                    "conflict_id": {"type": "string", "format": "uuid"},
                    "status": {"enum": ["investigating", "resolved", "accepted"]},
                    "note": {"type": "string", "maxLength": 4000},
                },
                ["conflict_id", "status"],
            ),
            "rule:approve",
            resolve_conflict,
            annotations={"destructiveHint": False, "idempotentHint": True},
        ),
    ]
