"""Finding the rule set that judges a request, and the script version that canary routing picks."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import ConfigError, Conflict, InputError, NotFound
from hub.judgment.inputs import JudgmentInput, RulesetSelector, canonical_json, input_schema
from hub.judgment.routing import DeploymentView, Route, choose_version
from hub.judgment.rules import script_inputs
from hub.store.models import RuleDeployment, RuleScript, Ruleset

__all__ = [
    "ChosenScript",
    "InputSchemas",
    "Routing",
    "RulesetInfo",
    "RulesetTool",
    "choose_script",
    "describe_active_rulesets",
    "load_routing",
    "load_script",
    "resolve_ruleset",
    "tool_name_for",
]


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
    """The script version that judges this input; ``script`` is None when the caller has it compiled."""

    version: int
    canary: bool
    script_hash: str
    script: str | None


@dataclass(frozen=True, slots=True)
class RulesetInfo:
    """What judging reads of a ``rulesets`` row, detached from any session (the engine keeps it a while)."""

    id: uuid.UUID
    name: str
    metadata_: Mapping[str, Any]

    @classmethod
    def of(cls, ruleset: Ruleset) -> RulesetInfo:
        """Copy the fields of a row."""
        return cls(ruleset.id, ruleset.name, dict(ruleset.metadata_ or {}))


@dataclass(frozen=True, slots=True)
class Routing:
    """A rule set's script versions and live deployments, read once; routes any input without I/O."""

    ruleset_id: uuid.UUID
    views: tuple[DeploymentView, ...]
    hashes: Mapping[int, str]
    fallback: int | None

    def choose(self, data: JudgmentInput) -> ChosenScript | None:
        """The version that judges ``data`` (``routing.choose_version``), without its text; None if none."""
        route: Route | None = choose_version(
            self.views,
            ruleset_key=str(self.ruleset_id),
            line_code=data.line_code,
            shift=data.shift,
            context=data.context,
            fallback_version=self.fallback,
        )
        if route is None:
            return None
        return ChosenScript(route.version, route.canary, self.hashes[route.version], None)


async def load_routing(session: AsyncSession, tenant_id: uuid.UUID, ruleset_id: uuid.UUID) -> Routing:
    """One query: the rule set's versions with their active or canary deployments.

    Without an active deployment the newest script that is not the canary's serves the rest of the
    traffic, so a rule set works before rule management has deployed anything.
    """
    deployed = sa.and_(
        RuleDeployment.ruleset_id == RuleScript.ruleset_id,
        RuleDeployment.version == RuleScript.version,
        RuleDeployment.tenant_id == tenant_id,
        RuleDeployment.status.in_(("active", "canary")),
    )
    rows = (
        await session.execute(
            sa.select(
                RuleScript.version,
                RuleScript.script_hash,
                RuleScript.compile_status,
                RuleDeployment.status,
                RuleDeployment.canary_pct,
                RuleDeployment.canary_target_filter,
                RuleDeployment.deployed_at,
                RuleDeployment.created_at,
            )
            .select_from(RuleScript)
            .outerjoin(RuleDeployment, deployed)
            .where(RuleScript.ruleset_id == ruleset_id)
            .order_by(RuleScript.version.desc())
        )
    ).all()
    views = tuple(
        DeploymentView(
            version=r.version,
            status=r.status,
            canary_pct=r.canary_pct,
            canary_target_filter=r.canary_target_filter,
            order=(r.deployed_at or r.created_at).timestamp(),
        )
        for r in rows
        if r.status is not None
    )
    fallback: int | None = None
    if not any(v.status == "active" for v in views):
        canary_versions = {v.version for v in views if v.status == "canary"}
        usable = [r.version for r in rows if r.compile_status != "failed"]
        fallback = next((v for v in usable if v not in canary_versions), usable[0] if usable else None)
    return Routing(ruleset_id, views, {r.version: r.script_hash for r in rows}, fallback)


async def choose_script(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    ruleset: Ruleset,
    data: JudgmentInput,
    *,
    compiled: Callable[[int, str], bool] = lambda _version, _hash: False,
) -> ChosenScript | None:
    """Route to a deployed version (``load_routing`` then ``Routing.choose``); None if no script exists.

    The script text is fetched only when ``compiled(version, script_hash)`` says the runner lacks it.
    """
    chosen = (await load_routing(session, tenant_id, ruleset.id)).choose(data)
    if chosen is None or compiled(chosen.version, chosen.script_hash):
        return chosen
    return dataclasses.replace(chosen, script=await load_script(session, ruleset.id, chosen.version))


async def load_script(session: AsyncSession, ruleset_id: uuid.UUID, version: int) -> str | None:
    """The text of one script version."""
    script: str | None = await session.scalar(
        sa.select(RuleScript.script).where(RuleScript.ruleset_id == ruleset_id, RuleScript.version == version)
    )
    return script


class SchemaHolder(Protocol):
    """A rule set as input validation reads it (a ``Ruleset`` row or a ``RulesetInfo``)."""

    @property
    def name(self) -> str: ...

    @property
    def metadata_(self) -> Mapping[str, Any] | None: ...


class InputSchemas:
    """Validates inputs against a rule set's ``metadata.input_schema`` (JSON Schema), compiled once each."""

    def __init__(self, *, cache_size: int = 256) -> None:
        self._validators: dict[str, Draft202012Validator] = {}
        self._cache_size = cache_size

    @staticmethod
    def declares(ruleset: SchemaHolder) -> bool:
        """Whether the rule set declares an input schema in its metadata."""
        return isinstance((ruleset.metadata_ or {}).get("input_schema"), Mapping)

    def check(self, ruleset: SchemaHolder, data: JudgmentInput) -> None:
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


_TOOL_NAME_BAD = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass(frozen=True, slots=True)
class RulesetTool:
    """An active rule set as its own tool: ``judge_<name>`` with the input its rules read."""

    ruleset_id: uuid.UUID
    name: str
    tool_name: str
    description: str
    target_kpi: str
    version: int | None
    input_schema: Mapping[str, Any]


def tool_name_for(ruleset_name: str) -> str:
    """``judge_<name>`` within ``^[a-zA-Z0-9_-]{1,64}$``, the names every major LLM API accepts."""
    return ("judge_" + _TOOL_NAME_BAD.sub("_", ruleset_name))[:64]


async def describe_active_rulesets(session: AsyncSession, tenant_id: uuid.UUID) -> list[RulesetTool]:
    """The tenant's active rule sets with an input schema each: ``metadata.input_schema`` if set,
    else derived from what the serving script reads (``metrics.x``, ``context.y``)."""
    rulesets = (
        await session.scalars(
            sa.select(Ruleset).where(Ruleset.tenant_id == tenant_id, Ruleset.is_active).order_by(Ruleset.name)
        )
    ).all()
    tools: list[RulesetTool] = []
    for ruleset in rulesets:
        active = await session.scalar(
            sa.select(RuleDeployment.version)
            .where(
                RuleDeployment.tenant_id == tenant_id,
                RuleDeployment.ruleset_id == ruleset.id,
                RuleDeployment.status == "active",
            )
            .order_by(RuleDeployment.deployed_at.desc().nulls_last(), RuleDeployment.created_at.desc())
            .limit(1)
        )
        stmt = sa.select(RuleScript.version, RuleScript.script).where(RuleScript.ruleset_id == ruleset.id)
        stmt = stmt.where(RuleScript.version == active) if active is not None else stmt
        row = (await session.execute(stmt.order_by(RuleScript.version.desc()).limit(1))).first()
        declared = (ruleset.metadata_ or {}).get("input_schema")
        if isinstance(declared, Mapping):
            schema: Mapping[str, Any] = declared
        else:
            metrics, required, context = script_inputs(row.script) if row is not None else ([], [], [])
            schema = input_schema(metrics, context, required=required)
        tools.append(
            RulesetTool(
                ruleset_id=ruleset.id,
                name=ruleset.name,
                tool_name=tool_name_for(ruleset.name),
                description=ruleset.description
                or f"Judge {ruleset.target_kpi} with the rule set '{ruleset.name}'",
                target_kpi=ruleset.target_kpi,
                version=None if row is None else row.version,
                input_schema=schema,
            )
        )
    return tools
