"""rule_test: per-case results, pass rate, outcome coverage, script errors with their position."""

from __future__ import annotations

from typing import Any

import pytest

from hub.app import App
from hub.errors import InputError, PermissionDenied
from tests.rules.management.support import Tenant_, audit_rows, call, defect_rules, make_tenant, ok

pytestmark = pytest.mark.anyio


def _case(rate: float, expected: Any = None, **context: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "input": {"metrics": {"defect_rate": rate}, "context": context, "line_code": "L01"}
    }
    if expected is not None:
        case["expected"] = expected
    return case


async def _ruleset(app: App, t: Tenant_, script: str) -> None:
    await ok(app, t.author, "rule_create_ruleset", {"name": "defects", "target_kpi": "defect_rate"})
    await ok(app, t.author, "rule_add_version", {"ruleset": "defects", "script": script})


async def test_cases_report_results_pass_rate_and_coverage(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset(app, t, defect_rules())
    out = await ok(
        app,
        t.author,
        "rule_test",
        {
            "ruleset": "defects",
            "cases": [
                _case(0.01, "normal"),
                _case(0.09, {"result": "critical", "confidence": 1.0}),
                _case(0.07, "normal"),  # really a warning: this case fails
            ],
        },
    )
    assert [c["result"] for c in out["cases"]] == ["normal", "critical", "warning"]
    assert [c["passed"] for c in out["cases"]] == [True, True, False]
    assert out["cases"][1]["actions"] == ["alert_supervisor", "stop_line"]
    assert out["cases"][1]["rules"] == [
        {"rule": "judge_defect_rate", "result": "critical", "confidence": 1.0}
    ]
    assert out["pass_rate"] == pytest.approx(2 / 3)
    # Three outcomes (critical, warning, normal) of one judge function, all produced.
    assert out["coverage"] == 1.0
    assert out["outcomes_missed"] == []
    stored = await ok(app, t.author, "rule_get_version", {"ruleset": "defects", "include_script": False})
    assert stored["test_coverage"] == 1.0


async def test_coverage_counts_the_outcomes_the_cases_did_not_reach(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset(app, t, defect_rules())
    out = await ok(app, t.author, "rule_test", {"ruleset": "defects", "cases": [_case(0.01), _case(0.02)]})
    assert out["coverage"] == pytest.approx(1 / 3)
    assert out["outcomes_covered"] == ["judge_defect_rate:normal"]
    assert sorted(out["outcomes_missed"]) == ["judge_defect_rate:critical", "judge_defect_rate:warning"]
    assert out["pass_rate"] == 1.0  # no expectations, no errors


async def test_a_script_error_is_reported_per_case_with_kind_and_position(app: App) -> None:
    t = await make_tenant(app)
    script = 'fn judge_x(metrics, context) {\n  let r = metrics.count / metrics.zero;\n  #{ result: "normal" }\n}\n'
    await _ruleset(app, t, script)
    out = await ok(
        app,
        t.author,
        "rule_test",
        {
            "ruleset": "defects",
            "cases": [
                {"input": {"metrics": {"count": 4, "zero": 0}}},
                {"input": {"metrics": {"count": 4, "zero": 2}}, "expected": "normal"},
            ],
        },
    )
    broken, fine = out["cases"]
    assert broken["passed"] is False
    assert broken["result"] == "none"
    [error] = broken["errors"]
    assert error["kind"] == "ErrorArithmetic"
    assert (error["line"], error["rule"]) == (2, "judge_x")
    assert error["column"] is not None
    assert fine["passed"] is True
    assert out["pass_rate"] == 0.5


async def test_expecting_none_passes_when_every_rule_stays_silent(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset(
        app, t, 'fn judge_oee(metrics, context) { if metrics.oee < 0.5 { #{ result: "warning" } } }'
    )
    out = await ok(
        app,
        t.author,
        "rule_test",
        {"ruleset": "defects", "cases": [{"input": {"metrics": {"oee": 0.9}}, "expected": "none"}]},
    )
    assert out["cases"][0]["passed"] is True
    assert out["coverage"] == 0.0


def _strict_rule(limit: int) -> str:
    return f"""
fn judge_x(metrics, context) {{
  if (context.strict ?? false) && metrics.x > {limit} {{ #{{ result: "critical", explanation: "too high" }} }}
  else {{ #{{ result: "normal", explanation: "fine" }} }}
}}
"""


@pytest.mark.parametrize("recorded", [True, False])
async def test_recorded_test_inputs_are_used_to_compare_later_versions(app: App, recorded: bool) -> None:
    t = await make_tenant(app)
    await _ruleset(app, t, _strict_rule(5))
    # The versions differ only under a context the generated inputs never set: strict mode.
    case = {"input": {"metrics": {"x": 1}, "context": {"strict": True}}}
    await ok(app, t.author, "rule_test", {"ruleset": "defects", "cases": [case], "record": recorded})
    added = await ok(app, t.author, "rule_add_version", {"ruleset": "defects", "script": _strict_rule(6)})
    assert [c["severity"] for c in added["conflicts"]] == (["high"] if recorded else [])


async def test_running_tests_is_audited_and_needs_the_test_permission(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset(app, t, defect_rules())
    with pytest.raises(PermissionDenied):
        await call(app, t.operator, "rule_test", {"ruleset": "defects", "cases": [_case(0.01)]})
    await ok(app, t.author, "rule_test", {"ruleset": "defects", "version": 1, "cases": [_case(0.01)]})
    tests = [a for a in await audit_rows(app, t.id, "rule_script") if a.action == "test"]
    assert len(tests) == 1
    assert tests[0].after_state["cases"] == 1


async def test_malformed_cases_are_refused_with_their_location(app: App) -> None:
    t = await make_tenant(app)
    await _ruleset(app, t, defect_rules())
    malformed: list[list[dict[str, Any]]] = [
        [],
        [{"input": {}}],
        [{"input": {"metrics": {"defect_rate": "high"}}}],
        [{"input": {"metrics": {"defect_rate": 0.1}}, "expected": "bad"}],
        [{"input": {"metrics": {"defect_rate": 0.1}}, "extra": 1}],
    ]
    for cases in malformed:
        out = await call(app, t.author, "rule_test", {"ruleset": "defects", "cases": cases})
        assert isinstance(out.error, InputError), cases
        assert out.error.where is not None
        assert "cases" in out.error.where, out.error.where
