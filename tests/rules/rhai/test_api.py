"""The engine's Python API: compile once, call functions, scopes, caching and value mapping."""

from __future__ import annotations

from typing import Any

import pytest

import hub.rules.rhai as rhai
from hub.errors import RuleError
from hub.rules.rhai import AST, Char, Engine, RhaiError, Scope, sandboxed_engine, type_of

JUDGE = """
fn judge_defect_rate(metrics, context) {
  let defect_rate = metrics.defect_rate;
  let target = context.target_defect_rate ?? 0.05;
  if defect_rate > target * 1.5 {
    #{ result: "critical", confidence: 1.0, explanation: `불량률 ${defect_rate}이 목표치 ${target}의 150% 초과`, actions: ["alert_supervisor", "stop_line"] }
  } else if defect_rate > target * 1.2 {
    #{ result: "warning", confidence: 0.9, explanation: `불량률 ${defect_rate}이 목표치 ${target}의 120% 초과`, actions: ["notify_operator"] }
  } else {
    #{ result: "normal", confidence: 1.0, explanation: "불량률 정상 범위" }
  }
}
"""


def test_public_names_are_exported_in_sorted_order() -> None:
    assert rhai.__all__ == sorted(rhai.__all__)
    for name in rhai.__all__:
        assert hasattr(rhai, name)


@pytest.mark.parametrize(
    ("metrics", "context", "result"),
    [
        ({"defect_rate": 0.09}, {"target_defect_rate": 0.05}, "critical"),
        ({"defect_rate": 0.065}, {"target_defect_rate": 0.05}, "warning"),
        ({"defect_rate": 0.01}, {}, "normal"),
    ],
)
def test_the_spec_judgment_rule_answers_through_call_fn(
    metrics: dict[str, Any], context: dict[str, Any], result: str
) -> None:
    engine = sandboxed_engine()
    ast = engine.compile(JUDGE)
    verdict = engine.call_fn(ast, "judge_defect_rate", metrics, context)
    assert verdict["result"] == result
    assert ast.functions() == [("judge_defect_rate", 2)]


def test_rule_explanations_interpolate_floats_as_rhai_prints_them() -> None:
    engine = Engine()
    verdict = engine.call_fn(engine.compile(JUDGE), "judge_defect_rate", {"defect_rate": 0.09}, {})
    assert verdict["explanation"] == "불량률 0.09이 목표치 0.05의 150% 초과"


def test_call_fn_does_not_change_the_callers_values() -> None:
    engine = Engine()
    ast = engine.compile("fn grow(a) { a.push(1); a }")
    host = [0]
    assert engine.call_fn(ast, "grow", host) == [0, 1]
    assert host == [0]


def test_call_fn_of_an_unknown_function_raises_function_not_found() -> None:
    engine = Engine()
    with pytest.raises(RhaiError) as info:
        engine.call_fn(engine.compile("fn f(x) { x }"), "f", 1, 2)
    assert info.value.kind == "ErrorFunctionNotFound"


def test_call_fn_sees_global_constants_of_the_script() -> None:
    engine = Engine()
    ast = engine.compile("const LIMIT = 10; fn over(x) { x > global::LIMIT }")
    assert engine.call_fn(ast, "over", 11) is True


def test_scope_variables_are_visible_and_assignments_write_back() -> None:
    scope = Scope().push("x", 40).push_constant("k", 2)
    engine = Engine()
    assert engine.eval("x += k; x", scope) == 42
    assert scope.get("x") == 42


def test_top_level_declarations_stay_in_the_scope_after_a_run() -> None:
    scope = Scope()
    Engine().run("let total = 40 + 2; const LIMIT = 7;", scope)
    assert scope.get("total") == 42
    assert scope.is_constant("LIMIT")


def test_scope_constants_cannot_be_assigned() -> None:
    scope = Scope().push_constant("k", 2)
    with pytest.raises(RhaiError) as info:
        Engine().run("k = 3;", scope)
    assert info.value.kind == "ErrorAssignmentToConstant"


def test_compiled_ast_runs_many_times_with_fresh_counters() -> None:
    engine = Engine(max_operations=200)
    ast = engine.compile("let s = 0; for i in 0..20 { s += i; } s")
    assert isinstance(ast, AST)
    assert [engine.eval_ast(ast) for _ in range(3)] == [190, 190, 190]
    assert engine.run_ast(ast) is None


def test_compile_cached_reuses_the_compiled_script() -> None:
    engine = Engine()
    assert engine.compile_cached("1 + 1") is engine.compile_cached("1 + 1")
    assert engine.compile_cached("1 + 1").hash != engine.compile_cached("1 + 2").hash


def test_expressions_reject_statements() -> None:
    engine = Engine()
    assert engine.eval_expression("2 + (10 + 10) * 2") == 42
    for script in ["40 + 2;", "x = 42", "40 + { 2 }", "let x = 1"]:
        with pytest.raises(RhaiError):
            engine.compile_expression(script)


def test_values_map_to_python_types() -> None:
    engine = Engine()
    assert type(engine.eval("'c'")) is Char
    assert type_of(Char("c")) == "char"
    assert type_of(bytearray(b"ab")) == "blob"
    assert engine.eval("x[1]", Scope().push("x", b"\x01\x02")) == 2
    assert engine.eval("()") is None
    assert [type_of(v) for v in (1, 1.0, True, "s", [1], {"a": 1}, None)] == [
        "i64",
        "f64",
        "bool",
        "string",
        "array",
        "map",
        "()",
    ]


def test_script_errors_are_hub_rule_errors_with_positions() -> None:
    with pytest.raises(RuleError) as info:
        Engine().eval("let x = 1;\nx + true")
    err = info.value
    assert isinstance(err, RhaiError)
    assert (err.kind, err.line, err.column) == ("ErrorFunctionNotFound", 2, 3)


def test_print_and_debug_go_to_host_callbacks() -> None:
    engine = Engine()
    seen: list[str] = []
    engine.on_print = seen.append
    engine.on_debug = seen.append
    engine.run('print(40 + 2); debug("x");')
    assert seen == ["42", '"x"']


def test_unknown_options_are_refused() -> None:
    with pytest.raises(TypeError):
        Engine(max_bananas=1)


def test_strict_variables_reject_undeclared_names_at_compile_time() -> None:
    engine = Engine(strict_variables=True)
    with pytest.raises(RhaiError) as info:
        engine.compile("let f = |y| x * y;")
    assert info.value.detail == "VariableUndefined"
    engine.compile("let x = 42; let f = |y| x * y;")


@pytest.mark.parametrize(
    ("option", "script"),
    [
        ("allow_if_expression", "let x = if true { 1 } else { 2 };"),
        ("allow_looping", "while false {}"),
        ("allow_anonymous_fn", "let f = |x| x;"),
        ("allow_statement_expression", "let x = { 1 };"),
    ],
)
def test_language_switches_turn_constructs_into_parse_errors(option: str, script: str) -> None:
    Engine().compile(script)
    with pytest.raises(RhaiError) as info:
        Engine(**{option: False}).compile(script)
    assert info.value.kind == "ErrorParsing"


def test_closures_can_read_host_scope_variables() -> None:
    scope = Scope().push("limit", 1)
    assert Engine().eval("[1, 2, 3].filter(|x| x > limit)", scope) == [2, 3]


def test_host_decimals_and_tuples_become_floats_and_arrays() -> None:
    from decimal import Decimal

    scope = Scope().push("rate", Decimal("0.25")).push("pair", (1, 2))
    assert Engine().eval("[rate * 2.0, pair]", scope) == [0.5, [1, 2]]


def test_host_functions_can_be_registered_per_engine() -> None:
    engine = Engine().register_fn("join", lambda items, sep: sep.join(map(str, items)), (list, str))
    assert engine.eval('[1, 2, 3].join(", ")') == "1, 2, 3"
    with pytest.raises(RhaiError) as info:
        Engine().eval('[1].join(",")')
    assert info.value.kind == "ErrorFunctionNotFound"


def test_failing_host_functions_raise_catchable_runtime_errors() -> None:
    engine = Engine().register_fn("boom", lambda: 1 / 0)
    with pytest.raises(RhaiError) as info:
        engine.eval("boom()")
    assert info.value.kind == "ErrorRuntime"
    assert engine.eval('try { boom() } catch (e) { return "caught"; }') == "caught"


def test_raw_engines_have_operators_but_no_standard_library() -> None:
    engine = Engine(raw=True)
    assert engine.eval("let x = 40; `hello ${x + 2}`") == "hello 42"
    with pytest.raises(RhaiError) as info:
        engine.eval("[1].len()")
    assert info.value.kind == "ErrorFunctionNotFound"
