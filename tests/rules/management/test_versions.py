"""Rule sets and versions through the tools: creation, compile results, tenant isolation, audit."""

from __future__ import annotations

import hashlib

import anyio
import pytest

from hub.app import App
from hub.errors import Conflict, InputError, NotFound, PermissionDenied
from tests.rules.management.support import audit_rows, call, defect_rules, make_tenant, ok

pytestmark = pytest.mark.anyio


async def test_creating_a_rule_set_stores_it_inactive_and_audits_it(app: App) -> None:
    t = await make_tenant(app)
    out = await ok(
        app,
        t.author,
        "rule_create_ruleset",
        {"name": "defects", "target_kpi": "defect_rate", "category": "quality", "priority": 50},
    )
    assert out["ruleset"]["is_active"] is False
    assert out["ruleset"]["priority"] == 50
    audits = await audit_rows(app, t.id, "ruleset")
    assert [(a.action, a.resource_id, a.actor_id) for a in audits] == [
        ("create", out["ruleset"]["id"], t.author.user_id)
    ]


async def test_a_rule_set_name_is_unique_within_a_tenant_but_not_across_tenants(app: App) -> None:
    t, other = await make_tenant(app), await make_tenant(app)
    args = {"name": "defects", "target_kpi": "defect_rate"}
    await ok(app, t.admin, "rule_create_ruleset", args)
    again = await call(app, t.admin, "rule_create_ruleset", args)
    assert isinstance(again.error, Conflict)
    assert again.error.where == "name"
    await ok(app, other.admin, "rule_create_ruleset", args)


async def test_adding_versions_compiles_hashes_and_numbers_them(app: App) -> None:
    t = await make_tenant(app)
    await ok(app, t.author, "rule_create_ruleset", {"name": "defects", "target_kpi": "defect_rate"})
    script = defect_rules()
    first = await ok(app, t.author, "rule_add_version", {"ruleset": "defects", "script": script})
    second = await ok(app, t.author, "rule_add_version", {"ruleset": "defects", "script": defect_rules(1.1)})
    assert (first["version"], second["version"]) == (1, 2)
    assert first["compile_status"] == "compiled"
    assert first["compiled"] is True
    assert first["error"] is None
    assert first["rules"] == ["judge_defect_rate"]
    assert first["script_hash"] == hashlib.sha256(script.encode()).hexdigest()
    shown = await ok(app, t.author, "rule_get_version", {"ruleset": "defects", "version": 1})
    assert shown["script"] == script
    newest = await ok(app, t.author, "rule_get_version", {"ruleset": "defects", "include_script": False})
    assert newest["version"] == 2
    assert "script" not in newest


async def test_a_script_that_does_not_compile_is_stored_as_failed_with_its_position(app: App) -> None:
    t = await make_tenant(app)
    await ok(app, t.author, "rule_create_ruleset", {"name": "broken", "target_kpi": "oee"})
    script = 'fn judge_oee(metrics, context) {\n  if metrics.oee < 0.5 {\n    #{ result: "warning" \n  }\n'
    out = await ok(app, t.author, "rule_add_version", {"ruleset": "broken", "script": script})
    assert out["compile_status"] == "failed"
    assert out["compiled"] is False
    assert out["error"]["kind"] == "ErrorParsing"
    assert out["error"]["line"] is not None
    assert out["error"]["column"] is not None
    assert f"line {out['error']['line']}, column {out['error']['column']}" in out["compile_error"]
    stored = await ok(app, t.author, "rule_get_version", {"ruleset": "broken", "version": 1})
    assert stored["compile_status"] == "failed"
    assert stored["compile_error"] == out["compile_error"]


async def test_a_script_without_a_judge_function_is_stored_as_failed(app: App) -> None:
    t = await make_tenant(app)
    await ok(app, t.author, "rule_create_ruleset", {"name": "norules", "target_kpi": "oee"})
    out = await ok(
        app,
        t.author,
        "rule_add_version",
        {"ruleset": "norules", "script": "fn judge_oee(metrics) { () }\nfn helper(x, y) { x + y }"},
    )
    assert out["compile_status"] == "failed"
    assert out["error"]["kind"] == "NoRules"


async def test_another_tenants_rule_sets_are_invisible(app: App) -> None:
    t, other = await make_tenant(app), await make_tenant(app)
    created = await ok(app, t.author, "rule_create_ruleset", {"name": "mine", "target_kpi": "oee"})
    await ok(app, t.author, "rule_add_version", {"ruleset": "mine", "script": defect_rules()})
    for ref in ("mine", created["ruleset"]["id"]):
        seen = await call(app, other.admin, "rule_get_version", {"ruleset": ref})
        assert isinstance(seen.error, NotFound)
        added = await call(app, other.admin, "rule_add_version", {"ruleset": ref, "script": defect_rules()})
        assert isinstance(added.error, NotFound)
    listed = await ok(app, other.admin, "rule_list_rulesets", {})
    assert listed["rulesets"] == []
    mine = await ok(app, t.author, "rule_list_rulesets", {})
    assert [(r["name"], r["latest_version"], r["fallback_version"]) for r in mine["rulesets"]] == [
        ("mine", 1, 1)
    ]


async def test_adding_a_version_is_audited(app: App) -> None:
    t = await make_tenant(app)
    await ok(app, t.author, "rule_create_ruleset", {"name": "defects", "target_kpi": "defect_rate"})
    await ok(app, t.author, "rule_add_version", {"ruleset": "defects", "script": defect_rules()})
    audits = await audit_rows(app, t.id, "rule_script")
    assert [a.action for a in audits] == ["create"]
    assert audits[0].after_state["version"] == 1
    assert audits[0].after_state["compile_status"] == "compiled"


async def test_an_operator_can_neither_create_nor_change_rule_sets(app: App) -> None:
    t = await make_tenant(app)
    with pytest.raises(PermissionDenied):
        await call(app, t.operator, "rule_create_ruleset", {"name": "x", "target_kpi": "oee"})
    with pytest.raises(PermissionDenied):
        await call(app, t.operator, "rule_add_version", {"ruleset": "x", "script": defect_rules()})


async def test_unknown_arguments_are_refused_with_their_location(app: App) -> None:
    t = await make_tenant(app)
    out = await call(app, t.admin, "rule_create_ruleset", {"name": "x", "target_kpi": "oee", "colour": "red"})
    assert isinstance(out.error, InputError)
    bad = await call(
        app, t.admin, "rule_create_ruleset", {"name": "x", "target_kpi": "oee", "category": "fun"}
    )
    assert isinstance(bad.error, InputError)
    assert bad.error.where is not None
    assert "category" in bad.error.where


async def test_concurrent_additions_get_distinct_version_numbers(app: App) -> None:
    t = await make_tenant(app)
    await ok(app, t.author, "rule_create_ruleset", {"name": "busy", "target_kpi": "defect_rate"})
    outcomes = []

    async def add(i: int) -> None:
        script = defect_rules(1.2, 1.5) + f"\n// variant {i}\n"
        outcomes.append(await call(app, t.author, "rule_add_version", {"ruleset": "busy", "script": script}))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(add, i)
    assert [o.error for o in outcomes] == [None] * 5
    assert sorted(o.value["version"] for o in outcomes) == [1, 2, 3, 4, 5]
