"""The database-free parts: reading scripts, probe inputs, compiling, comparing versions, tool schemas."""

from __future__ import annotations

import time
import uuid
from typing import Any

from hub.rules.comparison import Evaluations, VersionScript, compare_versions, find_overlaps
from hub.rules.evaluation import compile_script
from hub.rules.probes import boundary_values, probe_inputs
from hub.rules.source import read_script
from hub.rules.versions import script_hash
from hub.tools import rules
from tests.rules.management.support import defect_rules


def test_strings_and_comments_hold_no_thresholds_or_outcomes() -> None:
    script = """
// result: "critical" when above 99
fn judge_a(metrics, context) {
  /* nested /* 42 */ comment */
  if metrics.x > 0.5 { #{ result: "warning", explanation: "over 150% of 7" } }
  else { #{ "result": "normal" } }
}
"""
    text = read_script(script)
    assert text.numbers == (0.5,)
    assert text.results == {"judge_a": ("warning", "normal")}
    assert text.judge_functions == ("judge_a",)


def test_a_unary_minus_belongs_to_the_literal_and_a_binary_one_does_not() -> None:
    assert read_script("fn f(x) { x < -3 || x - 2 > 1_000 }").numbers == (-3.0, 2.0, 1000.0)


def test_functions_are_found_with_their_bodies_even_in_a_script_that_does_not_compile() -> None:
    script = (
        'fn judge_a(m, c) { if m.x > 1 { #{ result: "critical" } } }\nfn judge_b(m, c) { #{ result: "normal" '
    )
    text = read_script(script)
    assert list(text.functions) == ["judge_a", "judge_b"]
    assert text.results == {"judge_a": ("critical",), "judge_b": ("normal",)}


def test_boundary_values_straddle_literals_and_their_products() -> None:
    values = boundary_values([0.05, 1.5])
    for threshold in (0.05, 1.5, 0.075):
        near = threshold * 2e-6
        assert any(threshold - near < v < threshold for v in values), threshold
        assert any(threshold < v < threshold + near for v in values), threshold
    assert 0.0 in values
    assert values == sorted(values)


def test_probes_start_with_recorded_inputs_and_vary_each_metric_read() -> None:
    recorded: list[dict[str, Any]] = [
        {"metrics": {"defect_rate": 0.2, "oee": 0.9}, "context": {"shift": "night"}}
    ]
    script = defect_rules() + "\nfn judge_oee(metrics, context) { if metrics.oee < 0.6 { () } }"
    probes = probe_inputs([script], recorded, limit=500)
    assert probes[0].metrics == {"defect_rate": 0.2, "oee": 0.9}
    assert len(probes) == 500
    assert len({p.key() for p in probes}) == 500
    assert {frozenset(p.metrics) for p in probes[1:]} == {frozenset({"defect_rate", "oee"})}
    assert any(p.context == {"shift": "night"} for p in probes[1:])


def test_compiling_names_the_judge_functions_or_says_why_it_failed() -> None:
    assert compile_script(defect_rules()).rules == ("judge_defect_rate",)
    failed = compile_script("fn judge_a(m, c) {\n  let x = ;\n}")
    assert failed.status == "failed"
    assert failed.problem is not None
    assert (failed.problem.kind, failed.problem.line) == ("ErrorParsing", 2)
    assert failed.problem.as_text().startswith("ErrorParsing at line 2, column ")


def test_every_tool_input_schema_is_a_closed_object() -> None:
    def closed(schema: Any) -> bool:
        if isinstance(schema, dict):
            if (
                schema.get("type") == "object"
                and "properties" in schema
                and schema.get("additionalProperties") is not False
            ):
                return False
            return all(closed(v) for v in schema.values())
        if isinstance(schema, list):
            return all(closed(v) for v in schema)
        return True

    specs = rules.tools()
    assert len({s.name for s in specs}) == len(specs)
    for spec in specs:
        assert spec.name.startswith("rule_")
        assert closed(spec.input_schema), spec.name
        assert spec.permission


def _version(number: int, script: str) -> VersionScript:
    return VersionScript(_RULESET, "defects", number, script, script_hash(script))


_RULESET = uuid.uuid4()


def test_comparing_versions_grades_how_far_their_answers_are_apart() -> None:
    base = _version(1, defect_rules(1.2, 1.5))
    cases = {
        "high": _version(2, defect_rules(0.9, 1.0)),
        "medium": _version(3, defect_rules(1.3, 1.5)),
    }
    for severity, other in cases.items():
        probes = probe_inputs([base.script, other.script])
        found = compare_versions(base, other, probes, Evaluations(time.monotonic() + 10))
        assert found is not None
        assert found[0] == severity
    same = _version(4, defect_rules(1.2, 1.5))
    probes = probe_inputs([base.script, same.script])
    assert compare_versions(base, same, probes, Evaluations(time.monotonic() + 10)) is None


def test_a_sweep_past_its_deadline_is_partial_and_finds_nothing() -> None:
    base, other = _version(1, defect_rules(1.2, 1.5)), _version(2, defect_rules(0.9, 1.0))
    probes = probe_inputs([base.script, other.script])
    evaluations = Evaluations(time.monotonic() - 1)
    assert compare_versions(base, other, probes, evaluations) is None
    assert evaluations.partial is True


def test_rules_about_different_metrics_do_not_overlap_but_rules_about_one_do() -> None:
    script = """
fn judge_defects(metrics, context) { if metrics.defect_rate > 0.1 { #{ result: "critical" } } }
fn judge_oee(metrics, context) { if metrics.oee < 0.9 { #{ result: "normal" } } }
fn judge_defects_ok(metrics, context) { if metrics.defect_rate < 0.2 { #{ result: "normal" } } }
"""
    version = _version(1, script)
    found = find_overlaps(version, probe_inputs([script]), Evaluations(time.monotonic() + 10))
    assert [(subject, severity) for subject, severity, _ in found] == [
        ("judge_defects vs judge_defects_ok in v1", "high")
    ]
