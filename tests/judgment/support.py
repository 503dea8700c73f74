"""Builders for the judgment tests: tenants with users, rule sets with scripts and deployments."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.identity import Caller
from hub.judgment import JudgmentInput, JudgmentPolicy, JudgmentRequest, RulesetSelector
from hub.store.models import (
    PromptTemplate,
    PromptTemplateBody,
    RuleDeployment,
    RuleScript,
    Ruleset,
    Tenant,
    User,
)

# The rule of spec section 5.2, plus a "watch" band whose confidence is below the 0.8 threshold.
DEFECT_RULES = """
// defect_rate judgment rule
fn judge_defect_rate(metrics, context) {
  let defect_rate = metrics.defect_rate;
  let target = context.target_defect_rate ?? 0.05;

  if defect_rate > target * 1.5 {
    #{
      result: "critical",
      confidence: 1.0,
      explanation: `defect rate ${defect_rate} above 150% of target ${target}`,
      actions: ["alert_supervisor", "stop_line"]
    }
  } else if defect_rate > target * 1.2 {
    #{
      result: "warning",
      confidence: 0.9,
      explanation: `defect rate ${defect_rate} above 120% of target ${target}`,
      actions: ["notify_operator"]
    }
  } else if defect_rate > target {
    #{
      result: "warning",
      confidence: 0.5,
      explanation: "defect rate slightly above target"
    }
  } else {
    #{
      result: "normal",
      confidence: 1.0,
      explanation: "defect rate within range"
    }
  }
}

fn judge_oee(metrics, context) {
  if "oee" in metrics && metrics.oee < 0.5 {
    #{ result: "warning", confidence: 0.95, explanation: "OEE below 50%", actions: ["check_availability"] }
  }
}
"""


@dataclass(frozen=True)
class TenantFixture:
    """A tenant and callers of each role."""

    id: uuid.UUID
    admin: Caller
    approver: Caller
    operator: Caller


async def make_tenant(
    sessions: async_sessionmaker[AsyncSession], settings: Mapping[str, Any] | None = None
) -> TenantFixture:
    """A new tenant (unique name) with an admin, an approver and an operator."""
    tenant_id = uuid.uuid4()
    name = f"t-{tenant_id.hex[:10]}"
    callers: dict[str, Caller] = {}
    async with sessions() as session:
        session.add(Tenant(id=tenant_id, name=name, display_name=name, settings=dict(settings or {})))
        await session.flush()
        for role in ("admin", "approver", "operator"):
            user_id = uuid.uuid4()
            session.add(
                User(
                    id=user_id,
                    tenant_id=tenant_id,
                    email=f"{role}@{name}.example",
                    username=role,
                    password_hash="x",
                    role=role,
                )
            )
            callers[role] = Caller.of(
                tenant_id=tenant_id, tenant_name=name, user_id=user_id, username=role, role=role
            )
        await session.commit()
    return TenantFixture(tenant_id, callers["admin"], callers["approver"], callers["operator"])


async def make_ruleset(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    *,
    name: str = "defect_rules",
    target_kpi: str = "defect_rate",
    scripts: Sequence[str] = (DEFECT_RULES,),
    deployments: Sequence[Mapping[str, Any]] = (),
    metadata: Mapping[str, Any] | None = None,
    is_active: bool = True,
    script_hash: str | None = None,
) -> uuid.UUID:
    """A rule set with script versions 1..n and the given ``rule_deployments`` rows."""
    ruleset_id = uuid.uuid4()
    async with sessions() as session:
        session.add(
            Ruleset(
                id=ruleset_id,
                tenant_id=tenant_id,
                name=name,
                target_kpi=target_kpi,
                category="quality",
                is_active=is_active,
                metadata_=dict(metadata or {}),
            )
        )
        await session.flush()
        for version, script in enumerate(scripts, start=1):
            session.add(
                RuleScript(
                    ruleset_id=ruleset_id,
                    version=version,
                    script=script,
                    script_hash=script_hash or hashlib.sha256(script.encode()).hexdigest(),
                    compile_status="compiled",
                )
            )
        await session.flush()
        for dep in deployments:
            session.add(RuleDeployment(tenant_id=tenant_id, ruleset_id=ruleset_id, changelog="test", **dep))
        await session.commit()
    return ruleset_id


async def make_prompt_template(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    *,
    name: str,
    version: int = 1,
    bodies: Mapping[str, tuple[str, str]],
    a_b_test_group: str | None = None,
    variables: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | None = None,
    template_type: str = "judgment",
) -> uuid.UUID:
    """An active template with one body per locale: ``{locale: (system, user)}``."""
    template_id = uuid.uuid4()
    async with sessions() as session:
        session.add(
            PromptTemplate(
                id=template_id,
                tenant_id=tenant_id,
                name=name,
                purpose=f"{name} purpose",
                version=version,
                template_type=template_type,
                model_config=dict(model_config or {}),
                variables=dict(variables or {"required": ["input_data"], "optional": ["historical_data"]}),
                is_active=True,
                a_b_test_group=a_b_test_group,
            )
        )
        await session.flush()
        for locale, (system, user) in bodies.items():
            session.add(
                PromptTemplateBody(
                    template_id=template_id, locale=locale, system_prompt=system, user_prompt_template=user
                )
            )
        await session.commit()
    return template_id


def defect_input(
    rate: float = 0.073, *, line: str = "L01", shift: str = "day", **context: Any
) -> JudgmentInput:
    """The input of spec section 4.1 with a chosen defect rate."""
    return JudgmentInput(
        line_code=line,
        shift=shift,
        date="2025-01-26",
        metrics={"defect_rate": rate, "production_qty": 1500, "cycle_time_avg": 45.2, "oee": 0.78},
        context={"previous_defect_rate": 0.045, "target_defect_rate": 0.05, **context},
    )


def request(
    data: JudgmentInput,
    *,
    ruleset: str | None = "defect_rules",
    method: str | None = None,
    use_cache: bool = True,
    **kwargs: Any,
) -> JudgmentRequest:
    """A request judged by the named rule set (None: no rule set)."""
    return JudgmentRequest(
        input=data,
        ruleset=RulesetSelector(name=ruleset),
        policy=JudgmentPolicy(method=method, use_cache=use_cache),  # type: ignore[arg-type]
        **kwargs,
    )
