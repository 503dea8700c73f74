"""Finding the rule set that judges a request, and the script version that canary routing picks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import ConfigError, Conflict, InputError, NotFound
from hub.judgment.inputs import JudgmentInput, RulesetSelector, canonical_json
from hub.judgment.routing import DeploymentView, Route, choose_version
from hub.store.models import RuleDeployment, RuleScript, Ruleset

__all__ = ["ChosenScript", "InputSchemas", "choose_script", "resolve_ruleset"]


async def resolve_ruleset(
    session: AsyncSession, tenant_id: uuid.UUID, selector: RulesetSelector
) -> Ruleset | None:
    """The tenant's active rule set the selector names; None when a target KPI has no active rule set.

    A rule set named by id or name must exist in the tenant (``NotFound``, also for another
    tenant's) and be active (``Conflict``). Several active rule sets for one KPI: the highest
    ``priority`` wins, then the most recently updated.
    """
    if selector.empty:
        return None
    stmt = sa.select(Ruleset).where(Ruleset.tenant_id == tenant_id)
    if selector.target_kpi is not None:
        stmt = (
            stmt.where(Ruleset.target_kpi == selector.target_kpi, Ruleset.is_active)
            .order_by(Ruleset.priority.desc(), Ruleset.updated_at.desc())
            .limit(1)
        )
        found: Ruleset | None = await session.scalar(stmt)
        return found
    if selector.ruleset_id is not None:
        stmt = stmt.where(Ruleset.id == selector.ruleset_id)
        label, where = str(selector.ruleset_id), "ruleset_id"
    else:
        stmt = stmt.where(Ruleset.name == selector.name)
        label, where = str(selector.name), "ruleset_name"
    ruleset = await session.scalar(stmt)
    if ruleset is None:
        raise NotFound(f"no rule set '{label}'", where=where)
    if not ruleset.is_active:
        raise Conflict(f"rule set '{ruleset.name}' is not active", where=where)
    return ruleset


@dataclass(frozen=True, slots=True)
class ChosenScript:
    """The script version that judges this input."""

    version: int
    canary: bool
    script: str
    script_hash: str


async def choose_script(
    session: AsyncSession, tenant_id: uuid.UUID, ruleset: Ruleset, data: JudgmentInput
) -> ChosenScript | None:
    """Route to a deployed version (``routing.choose_version``) and load its script; None if none exists.

    Without an active deployment the newest script that is not the canary's serves the rest of the
    traffic, so a rule set works before rule management has deployed anything.
    """
    deployments = (
        await session.execute(
            sa.select(
                RuleDeployment.version,
                RuleDeployment.status,
                RuleDeployment.canary_pct,
                RuleDeployment.canary_target_filter,
                RuleDeployment.deployed_at,
                RuleDeployment.created_at,
            ).where(
                RuleDeployment.tenant_id == tenant_id,
                RuleDeployment.ruleset_id == ruleset.id,
                RuleDeployment.status.in_(("active", "canary")),
            )
        )
    ).all()
    views = [
        DeploymentView(
            version=d.version,
            status=d.status,
            canary_pct=d.canary_pct,
            canary_target_filter=d.canary_target_filter,
            order=(d.deployed_at or d.created_at).timestamp(),
        )
        for d in deployments
    ]
    fallback: int | None = None
    if not any(v.status == "active" for v in views):
        canary_versions = {v.version for v in views if v.status == "canary"}
        versions = (
            await session.scalars(
                sa.select(RuleScript.version)
                .where(RuleScript.ruleset_id == ruleset.id, RuleScript.compile_status != "failed")
                .order_by(RuleScript.version.desc())
            )
        ).all()
        fallback = next((v for v in versions if v not in canary_versions), versions[0] if versions else None)
    route: Route | None = choose_version(
        views,
        ruleset_key=str(ruleset.id),
        line_code=data.line_code,
        shift=data.shift,
        context=data.context,
        fallback_version=fallback,
    )
    if route is None:
        return None
    row = (
        await session.execute(
            sa.select(RuleScript.script, RuleScript.script_hash).where(
                RuleScript.ruleset_id == ruleset.id, RuleScript.version == route.version
            )
        )
    ).first()
    if row is None:
        return None
    return ChosenScript(route.version, route.canary, row.script, row.script_hash)


class InputSchemas:
    """Validates inputs against a rule set's ``metadata.input_schema`` (JSON Schema), compiled once each."""

    def __init__(self, *, cache_size: int = 256) -> None:
        self._validators: dict[str, Draft202012Validator] = {}
        self._cache_size = cache_size

    def check(self, ruleset: Ruleset, data: JudgmentInput) -> None:
        """``InputError`` naming the first offending field (``input.metrics.defect_rate``)."""
        schema = (ruleset.metadata_ or {}).get("input_schema")
        if not isinstance(schema, Mapping):
            return
        key = canonical_json(schema)
        validator = self._validators.get(key)
        if validator is None:
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ConfigError(
                    f"rule set '{ruleset.name}' has an invalid input_schema: {exc.message}",
                    where="input_schema",
                ) from exc
            validator = Draft202012Validator(schema)
            if len(self._validators) >= self._cache_size:
                self._validators.clear()
            self._validators[key] = validator
        errors = sorted(validator.iter_errors(data.as_dict()), key=lambda e: list(e.absolute_path))
        if errors:
            error = errors[0]
            path: list[Any] = list(error.absolute_path)
            if error.validator == "required" and isinstance(error.validator_value, list):
                instance = error.instance if isinstance(error.instance, Mapping) else {}
                missing = next((k for k in error.validator_value if k not in instance), None)
                if missing is not None:
                    path.append(missing)
            where = "input" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            raise InputError(error.message, where=where)
