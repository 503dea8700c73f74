"""Canary and full deployments, rollback, permissions, cache invalidation, and routing agreement."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from hub.app import App
from hub.errors import Conflict, InputError, PermissionDenied
from hub.judgment.inputs import JudgmentInput, RulesetSelector
from hub.judgment.rulesets import choose_script, resolve_ruleset
from hub.rules import deployments
from hub.store.models import JudgmentCache, JudgmentExecution, RuleDeployment
from tests.rules.management.support import Changes, Tenant_, audit_rows, call, defect_rules, make_tenant, ok

pytestmark = pytest.mark.anyio


async def _ruleset_with_versions(app: App, t: Tenant_, n: int = 2, name: str = "defects") -> None:
    await ok(app, t.author, "rule_create_ruleset", {"name": name, "target_kpi": "defect_rate"})
    for i in range(n):
        await ok(app, t.author, "rule_add_version", {"ruleset": name, "script": defect_rules(1.2 + i / 10)})


async def _deployments(app: App, t: Tenant_) -> list[tuple[int, str]]:
    async with app.sessions() as session:
        rows = await session.execute(
            sa.select(RuleDeployment.version, RuleDeployment.status)
            .where(RuleDeployment.tenant_id == t.id)
            .order_by(RuleDeployment.created_at)
        )
        return [(r.version, r.status) for r in rows]


async def test_tc_rule_001_a_canary_deployment_has_status_canary_and_its_share(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t)
    await ok(app, t.approver, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    out = await ok(
        app,
        t.approver,
        "rule_deploy",
        {
            "ruleset": "defects",
            "version": 2,
            "mode": "canary",
            "canary_pct": 0.1,
            "canary_target_filter": {"line_codes": ["L01", "L02"]},
            "changelog": "tighter warning band",
        },
    )
    deployment = out["deployment"]
    assert deployment["status"] == "canary"
    assert deployment["canary_pct"] == 0.1
    assert deployment["canary_target_filter"] == {"line_codes": ["L01", "L02"]}
    assert deployment["approver_id"] == str(t.approver.user_id)
    assert deployment["approved_at"] is not None
    assert deployment["deployed_at"] is not None
    assert out["rulesets_changed"] is True
    assert await _deployments(app, t) == [(1, "active"), (2, "canary")]


async def test_canary_routing_of_the_judgment_engine_follows_the_deployment(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t)
    await ok(app, t.approver, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    await ok(
        app,
        t.approver,
        "rule_deploy",
        {
            "ruleset": "defects",
            "version": 2,
            "mode": "canary",
            "canary_pct": 1.0,
            "canary_target_filter": {"line_codes": ["L01"]},
        },
    )

    def data(line: str) -> JudgmentInput:
        return JudgmentInput(line_code=line, shift="day", date="2026-01-26", metrics={"defect_rate": 0.01})

    async with app.sessions() as session:
        ruleset = await resolve_ruleset(session, t.id, RulesetSelector(target_kpi="defect_rate"))
        assert ruleset is not None
        on_canary = await choose_script(session, t.id, ruleset, data("L01"))
        elsewhere = await choose_script(session, t.id, ruleset, data("L02"))
    assert on_canary is not None
    assert (on_canary.version, on_canary.canary) == (2, True)
    assert elsewhere is not None
    assert (elsewhere.version, elsewhere.canary) == (1, False)


async def test_a_full_deploy_deprecates_the_previous_active_one_and_activates_the_rule_set(
    app: App, changes: Changes
) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 3)
    first = await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    assert first["ruleset_active"] is True
    await ok(
        app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 2, "mode": "canary", "canary_pct": 0.5}
    )
    out = await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 3, "mode": "full"})
    assert sorted((e["version"], e["status"]) for e in out["ended"]) == [(1, "deprecated"), (2, "deprecated")]
    assert await _deployments(app, t) == [(1, "deprecated"), (2, "deprecated"), (3, "active")]
    assert changes.tenants == [t.id, t.id, t.id]
    listed = await ok(app, t.admin, "rule_list_rulesets", {})
    assert listed["rulesets"][0]["is_active"] is True
    assert listed["rulesets"][0]["active_version"] == 3


async def test_a_new_canary_replaces_the_older_canary(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 3)
    await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    await ok(
        app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 2, "mode": "canary", "canary_pct": 0.2}
    )
    await ok(
        app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 3, "mode": "canary", "canary_pct": 0.3}
    )
    assert await _deployments(app, t) == [(1, "active"), (2, "deprecated"), (3, "canary")]


async def test_only_compiled_versions_can_be_deployed(app: App) -> None:
    t = await make_tenant(app)
    await ok(app, t.author, "rule_create_ruleset", {"name": "defects", "target_kpi": "defect_rate"})
    await ok(app, t.author, "rule_add_version", {"ruleset": "defects", "script": "fn judge_x(m, c) {"})
    failed = await call(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    assert isinstance(failed.error, Conflict)
    assert failed.error.where == "version"
    missing = await call(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 7, "mode": "full"})
    assert missing.error is not None
    assert missing.error.where == "version"


async def test_deploy_arguments_are_checked(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 1)
    cases: list[dict[str, Any]] = [
        {"mode": "canary"},
        {"mode": "canary", "canary_pct": 0},
        {"mode": "canary", "canary_pct": 1.5},
        {"mode": "full", "canary_pct": 0.5},
        {"mode": "canary", "canary_pct": 0.5, "canary_target_filter": {"lines": ["L01"]}},
        {"mode": "sideways"},
    ]
    for extra in cases:
        out = await call(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, **extra})
        assert isinstance(out.error, InputError), extra
        assert out.error.where, extra


async def test_an_operator_cannot_deploy_or_roll_back_and_an_approver_can(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 1)
    with pytest.raises(PermissionDenied):
        await call(app, t.operator, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    with pytest.raises(PermissionDenied):
        await call(app, t.author, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    with pytest.raises(PermissionDenied):
        await call(app, t.operator, "rule_rollback", {"ruleset": "defects"})
    assert await _deployments(app, t) == []
    await ok(app, t.approver, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})


async def test_the_python_api_also_refuses_a_caller_without_deployment_approval(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 1)
    async with app.sessions() as session, session.begin():
        with pytest.raises(PermissionDenied):
            await deployments.deploy(session, t.operator, "defects", 1, mode="full")


async def test_rollback_restores_the_previously_active_version(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 2)
    await ok(app, t.approver, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    await ok(app, t.approver, "rule_deploy", {"ruleset": "defects", "version": 2, "mode": "full"})
    out = await ok(app, t.approver, "rule_rollback", {"ruleset": "defects", "reason": "false alarms"})
    assert out["deployment"]["version"] == 1
    assert out["deployment"]["status"] == "active"
    assert out["deployment"]["mode"] == "rollback"
    [ended] = out["ended"]
    assert (ended["version"], ended["status"], ended["rollback_to"]) == (2, "rolled_back", 1)
    assert ended["rolled_back_at"] is not None
    assert await _deployments(app, t) == [(1, "deprecated"), (2, "rolled_back"), (1, "active")]
    shown = await ok(app, t.admin, "rule_get_version", {"ruleset": "defects", "include_script": False})
    assert shown["active_version"] == 1


async def test_rolling_back_a_canary_ends_it_and_keeps_the_active_version(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 2)
    await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    await ok(
        app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 2, "mode": "canary", "canary_pct": 0.1}
    )
    out = await ok(app, t.admin, "rule_rollback", {"ruleset": "defects"})
    assert out["deployment"] is None
    assert [(e["version"], e["status"], e["rollback_to"]) for e in out["ended"]] == [(2, "rolled_back", 1)]
    assert await _deployments(app, t) == [(1, "active"), (2, "rolled_back")]


async def test_rolling_back_the_only_deployment_deactivates_the_rule_set(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 1)
    await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    out = await ok(app, t.admin, "rule_rollback", {"ruleset": "defects"})
    assert out["ruleset_active"] is False
    assert out["deployment"] is None
    nothing = await call(app, t.admin, "rule_rollback", {"ruleset": "defects"})
    assert isinstance(nothing.error, Conflict)


async def test_deploy_and_rollback_are_audited(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 2)
    await ok(app, t.approver, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    await ok(app, t.approver, "rule_deploy", {"ruleset": "defects", "version": 2, "mode": "full"})
    await ok(app, t.approver, "rule_rollback", {"ruleset": "defects"})
    audits = await audit_rows(app, t.id, "rule_deployment")
    assert [a.action for a in audits] == ["deploy", "deploy", "rollback"]
    assert all(a.actor_id == t.approver.user_id for a in audits)
    assert audits[1].before_state["active_version"] == 1
    assert audits[1].after_state["active_version"] == 2
    assert audits[2].after_state["active_version"] == 1


async def test_deploying_drops_the_rule_sets_judgment_cache_entries(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 2)
    first = await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    ruleset_id = first["deployment"]["ruleset_id"]
    now = dt.datetime.now(dt.UTC)
    async with app.sessions() as session, session.begin():
        for rid in (ruleset_id, str(uuid.uuid4())):
            execution = JudgmentExecution(
                tenant_id=t.id,
                source="api",
                input_data={},
                result="normal",
                method_used="rule_only",
                rule_trace={"ruleset_id": rid},
                trace_id="t",
                created_at=now,
            )
            session.add(execution)
            await session.flush()
            session.add(
                JudgmentCache(
                    tenant_id=t.id,
                    cache_key=f"judgment:-:{rid}",
                    judgment_execution_id=execution.id,
                    input_hash=rid,
                    result="normal",
                    created_at=now,
                    expires_at=now + dt.timedelta(hours=1),
                )
            )
    out = await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 2, "mode": "full"})
    assert out["cache_entries_dropped"] == 1
    async with app.sessions() as session:
        left = (
            await session.scalars(sa.select(JudgmentCache.input_hash).where(JudgmentCache.tenant_id == t.id))
        ).all()
    assert ruleset_id not in left
    assert len(left) == 1


async def test_deploying_the_canary_fully_promotes_it(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset_with_versions(app, t, 2)
    await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    same = await call(
        app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "canary", "canary_pct": 0.5}
    )
    assert isinstance(same.error, Conflict)
    await ok(
        app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 2, "mode": "canary", "canary_pct": 0.5}
    )
    await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 2, "mode": "full"})
    assert await _deployments(app, t) == [(1, "deprecated"), (2, "deprecated"), (2, "active")]
    back = await ok(app, t.admin, "rule_rollback", {"ruleset": "defects"})
    assert back["deployment"]["version"] == 1
