"""Builders for the rule-management tests: tenants with callers of each role, scripts, tool calls."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from hub.app import App
from hub.dispatch import CallOutcome
from hub.identity import Caller
from hub.store.models import AuditLog, Tenant, User


def defect_rules(warning: float = 1.2, critical: float = 1.5) -> str:
    """The rule of spec section 5.2 with chosen warning and critical factors of the target."""
    return f"""
// defect_rate judgment rule
fn judge_defect_rate(metrics, context) {{
  let defect_rate = metrics.defect_rate;
  let target = context.target_defect_rate ?? 0.05;

  if defect_rate > target * {critical} {{
    #{{
      result: "critical",
      confidence: 1.0,
      explanation: `defect rate ${{defect_rate}} above 150% of target ${{target}}`,
      actions: ["alert_supervisor", "stop_line"]
    }}
  }} else if defect_rate > target * {warning} {{
    #{{
      result: "warning",
      confidence: 0.9,
      explanation: `defect rate ${{defect_rate}} above 120% of target ${{target}}`,
      actions: ["notify_operator"]
    }}
  }} else {{
    #{{ result: "normal", confidence: 1.0, explanation: "defect rate within range" }}
  }}
}}
"""


@dataclass(frozen=True)
class Tenant_:
    """A tenant and callers of each role, plus a rule author holding ``rule:*``."""

    id: uuid.UUID
    admin: Caller
    approver: Caller
    operator: Caller
    author: Caller


async def make_tenant(app: App) -> Tenant_:
    """A new tenant (unique name) with one user per role."""
    tenant_id = uuid.uuid4()
    name = f"t-{tenant_id.hex[:10]}"
    callers: dict[str, Caller] = {}
    async with app.sessions() as session, session.begin():
        session.add(Tenant(id=tenant_id, name=name, display_name=name, settings={}))
        await session.flush()
        for username, role, extra in (
            ("admin", "admin", []),
            ("approver", "approver", []),
            ("operator", "operator", []),
            ("author", "viewer", ["rule:*"]),
        ):
            user_id = uuid.uuid4()
            session.add(
                User(
                    id=user_id,
                    tenant_id=tenant_id,
                    email=f"{username}@{name}.example",
                    username=username,
                    password_hash="x",
                    role=role,
                    permissions=extra,
                )
            )
            callers[username] = Caller.of(
                tenant_id=tenant_id,
                tenant_name=name,
                user_id=user_id,
                username=username,
                role=role,
                extra_permissions=extra,
            )
    return Tenant_(tenant_id, callers["admin"], callers["approver"], callers["operator"], callers["author"])


async def call(app: App, caller: Caller, tool: str, arguments: Mapping[str, Any]) -> CallOutcome:
    """One call through the dispatcher, the path every MCP call takes."""
    return await app.dispatcher.call(caller, tool, dict(arguments))


async def ok(app: App, caller: Caller, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A call that must succeed; its value."""
    outcome = await call(app, caller, tool, arguments)
    assert outcome.error is None, f"{tool}: {outcome.error!r} {outcome.error}"
    value: dict[str, Any] = outcome.value
    return value


async def audit_rows(app: App, tenant_id: uuid.UUID, resource_type: str) -> list[AuditLog]:
    """The tenant's audit rows of one resource type, oldest first."""
    async with app.sessions() as session:
        rows = await session.scalars(
            sa.select(AuditLog)
            .where(AuditLog.tenant_id == tenant_id, AuditLog.resource_type == resource_type)
            .order_by(AuditLog.created_at)
        )
        return list(rows.all())


@dataclass
class Changes:
    """The ``on_rulesets_changed`` callback of the tests: which tenants were reported."""

    tenants: list[uuid.UUID] = field(default_factory=list)

    async def record(self, tenant_id: uuid.UUID) -> None:
        """Note a change."""
        self.tenants.append(tenant_id)
