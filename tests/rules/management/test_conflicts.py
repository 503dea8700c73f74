"""Conflict detection (output conflicts, condition overlaps), listing and resolving conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from hub.app import App
from hub.errors import InputError, NotFound, PermissionDenied
from tests.rules.management.support import Tenant_, audit_rows, call, defect_rules, make_tenant, ok

pytestmark = pytest.mark.anyio


def _threshold_rule(op: str) -> str:
    return f"""
fn judge_x(metrics, context) {{
  if metrics.x {op} 10 {{ #{{ result: "critical", confidence: 1.0, explanation: "x {op} 10" }} }}
  else {{ #{{ result: "normal", confidence: 1.0, explanation: "fine" }} }}
}}
"""


async def _versions(
    app: App, t: Tenant_, *scripts: str, name: str = "defects", kpi: str = "defect_rate"
) -> list[dict[str, Any]]:
    await ok(app, t.author, "rule_create_ruleset", {"name": name, "target_kpi": kpi})
    return [await ok(app, t.author, "rule_add_version", {"ruleset": name, "script": s}) for s in scripts]


async def test_tc_rule_002_versions_with_different_thresholds_are_a_high_output_conflict(app: App) -> None:
    t = await make_tenant(app)
    # v2 calls critical what v1 still calls normal (a defect rate of 0.055 against a 0.05 target).
    _, added = await _versions(app, t, defect_rules(1.2, 1.5), defect_rules(0.9, 1.0))
    [conflict] = added["conflicts"]
    assert conflict["conflict_type"] == "output_conflict"
    assert conflict["severity"] == "high"
    assert (conflict["rule_version_1"], conflict["rule_version_2"]) == (1, 2)
    assert conflict["resolution_status"] == "unresolved"
    assert conflict["description"].startswith("v1 vs v2:")
    listed = await ok(app, t.author, "rule_list_conflicts", {"ruleset": "defects"})
    assert [c["id"] for c in listed["conflicts"]] == [conflict["id"]]


async def test_adjacent_results_are_a_medium_conflict(app: App) -> None:
    t = await make_tenant(app)
    _, added = await _versions(app, t, defect_rules(1.2, 1.5), defect_rules(1.3, 1.5))
    assert [(c["conflict_type"], c["severity"]) for c in added["conflicts"]] == [
        ("output_conflict", "medium")
    ]


async def test_versions_that_judge_alike_do_not_conflict(app: App) -> None:
    t = await make_tenant(app)
    _, added = await _versions(app, t, defect_rules(), "// reworded\n" + defect_rules())
    assert added["conflicts"] == []


async def test_disagreement_in_both_directions_is_critical(app: App) -> None:
    t = await make_tenant(app)
    _, added = await _versions(app, t, _threshold_rule(">"), _threshold_rule("<"), kpi="x")
    assert [c["severity"] for c in added["conflicts"]] == ["critical"]


async def test_two_rules_of_one_version_answering_differently_are_a_condition_overlap(app: App) -> None:
    t = await make_tenant(app)
    script = """
fn judge_high(metrics, context) {
  if metrics.x > 10 { #{ result: "critical", confidence: 1.0, explanation: "high" } }
}
fn judge_ok(metrics, context) {
  if metrics.x < 20 { #{ result: "normal", confidence: 0.8, explanation: "below 20" } }
}
"""
    [added] = await _versions(app, t, script, kpi="x")
    [overlap] = added["conflicts"]
    assert overlap["conflict_type"] == "condition_overlap"
    assert overlap["severity"] == "high"
    assert (overlap["rule_version_1"], overlap["rule_version_2"]) == (1, 1)
    assert overlap["description"].startswith("judge_high vs judge_ok in v1:")


async def test_detecting_again_stores_no_duplicate(app: App) -> None:
    t = await make_tenant(app)
    await _versions(app, t, defect_rules(1.2, 1.5), defect_rules(0.9, 1.0))
    await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "full"})
    canary = await ok(
        app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 2, "mode": "canary", "canary_pct": 0.1}
    )
    assert canary["conflicts"] == []
    again = await ok(app, t.author, "rule_detect_conflicts", {"ruleset": "defects"})
    assert again["conflicts"] == []
    listed = await ok(app, t.author, "rule_list_conflicts", {})
    assert len(listed["conflicts"]) == 1


async def test_active_rule_sets_for_one_kpi_that_disagree_conflict_once(app: App) -> None:
    t = await make_tenant(app)
    await _versions(app, t, defect_rules(1.2, 1.5), name="line_a")
    await _versions(app, t, defect_rules(0.9, 1.0), name="line_b")
    await ok(app, t.admin, "rule_deploy", {"ruleset": "line_a", "version": 1, "mode": "full"})
    out = await ok(app, t.admin, "rule_deploy", {"ruleset": "line_b", "version": 1, "mode": "full"})
    [conflict] = out["conflicts"]
    assert conflict["conflict_type"] == "output_conflict"
    assert conflict["severity"] == "high"
    assert "rule set 'line_a'" in conflict["description"] or "rule set 'line_b'" in conflict["description"]
    # Detection from the other side finds the same pair and stores nothing new.
    again = await ok(app, t.author, "rule_detect_conflicts", {"ruleset": "line_a"})
    assert again["conflicts"] == []
    for name in ("line_a", "line_b"):
        listed = await ok(app, t.author, "rule_list_conflicts", {"ruleset": name})
        assert [c["id"] for c in listed["conflicts"]] == [conflict["id"]]


async def test_a_runaway_version_ends_detection_in_bounded_time(app: App) -> None:
    t = await make_tenant(app)
    _, added = await _versions(app, t, defect_rules(), "fn judge_defect_rate(metrics, context) { loop { } }")
    assert added["conflicts"] == []
    assert added["conflict_detection_partial"] is True


async def test_resolving_a_conflict_records_who_when_and_why_and_is_audited(app: App) -> None:
    t = await make_tenant(app)
    _, added = await _versions(app, t, defect_rules(1.2, 1.5), defect_rules(0.9, 1.0))
    conflict_id = added["conflicts"][0]["id"]
    looking = await ok(
        app, t.approver, "rule_resolve_conflict", {"conflict_id": conflict_id, "status": "investigating"}
    )
    assert looking["conflict"]["resolved_at"] is None
    out = await ok(
        app,
        t.approver,
        "rule_resolve_conflict",
        {"conflict_id": conflict_id, "status": "accepted", "note": "v2 is meant to be stricter"},
    )
    conflict = out["conflict"]
    assert conflict["resolution_status"] == "accepted"
    assert conflict["resolution_note"] == "v2 is meant to be stricter"
    assert conflict["resolved_by"] == str(t.approver.user_id)
    assert conflict["resolved_at"] is not None
    audits = await audit_rows(app, t.id, "rule_conflict")
    assert [(a.action, a.after_state["resolution_status"]) for a in audits] == [
        ("resolve", "investigating"),
        ("resolve", "accepted"),
    ]
    unresolved = await ok(app, t.author, "rule_list_conflicts", {"status": "unresolved"})
    assert unresolved["conflicts"] == []
    accepted = await ok(app, t.author, "rule_list_conflicts", {"status": "accepted"})
    assert [c["id"] for c in accepted["conflicts"]] == [conflict_id]


async def test_resolving_needs_a_note_the_permission_and_the_tenant(app: App) -> None:
    t, other = await make_tenant(app), await make_tenant(app)
    _, added = await _versions(app, t, defect_rules(1.2, 1.5), defect_rules(0.9, 1.0))
    conflict_id = added["conflicts"][0]["id"]
    no_note = await call(
        app, t.approver, "rule_resolve_conflict", {"conflict_id": conflict_id, "status": "resolved"}
    )
    assert isinstance(no_note.error, InputError)
    assert no_note.error.where == "note"
    with pytest.raises(PermissionDenied):
        await call(
            app, t.operator, "rule_resolve_conflict", {"conflict_id": conflict_id, "status": "investigating"}
        )
    elsewhere = await call(
        app, other.admin, "rule_resolve_conflict", {"conflict_id": conflict_id, "status": "investigating"}
    )
    assert isinstance(elsewhere.error, NotFound)
    assert (await ok(app, other.admin, "rule_list_conflicts", {}))["conflicts"] == []


async def test_a_canary_older_than_the_active_version_is_the_same_pair_as_before(app: App) -> None:
    t = await make_tenant(app)
    await _versions(app, t, defect_rules(1.2, 1.5), defect_rules(0.9, 1.0))
    await ok(app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 2, "mode": "full"})
    out = await ok(
        app, t.admin, "rule_deploy", {"ruleset": "defects", "version": 1, "mode": "canary", "canary_pct": 0.5}
    )
    assert out["conflicts"] == []
    listed = await ok(app, t.author, "rule_list_conflicts", {"ruleset": "defects"})
    assert [(c["rule_version_1"], c["rule_version_2"]) for c in listed["conflicts"]] == [(1, 2)]
