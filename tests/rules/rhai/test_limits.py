"""Engine limits and the hub sandbox: hostile scripts end with the right RhaiError, quickly."""

from __future__ import annotations

import time

import pytest

from hub.rules.rhai import Engine, RhaiError, Scope, sandboxed_engine

from .conftest import error_of


def test_operation_limit_stops_an_empty_loop() -> None:
    assert error_of("for x in 0..500 {}", max_operations=500).kind == "ErrorTooManyOperations"


def test_operation_limit_allows_a_small_loop() -> None:
    Engine(max_operations=500).run("let x = 0; while x < 20 { x += 1; }")


def test_operation_counter_counts_literal_elements() -> None:
    Engine(max_operations=10).run("[1, 2, 3, 4, 5, 6, 7]")
    assert error_of("#{a:1, b:2, c:3, d:4, e:5, f:6, g:7, h:8, i:9}", max_operations=10).kind == (
        "ErrorTooManyOperations"
    )


def test_operation_limits_cannot_be_caught_by_try() -> None:
    err = error_of("try { loop {} } catch { 1 }", max_operations=1000)
    assert err.kind == "ErrorTooManyOperations"


def test_call_depth_limit_raises_stack_overflow() -> None:
    err = error_of("fn f(n) { f(n + 1) } f(0)", max_call_levels=8)
    assert err.kind == "ErrorStackOverflow"


def test_recursion_within_the_call_limit_works() -> None:
    assert Engine(max_call_levels=8).eval("fn f(n) { if n == 0 { 0 } else { 1 + f(n - 1) } } f(6)") == 6


@pytest.mark.parametrize(
    "script",
    [
        "1" + " + 1" * 40,
        "(" * 40 + "1" + ")" * 40,
        "[" * 40 + "]" * 40,
        "{" * 40 + "}" * 40,
    ],
)
def test_expression_depth_limit_is_a_parse_error(script: str) -> None:
    err = error_of(script, max_expr_depths=(32, 16))
    assert (err.kind, err.detail) == ("ErrorParsing", "ExprTooDeep")


def test_function_bodies_have_their_own_lower_depth_limit() -> None:
    script = "fn f() { " + "(" * 20 + "1" + ")" * 20 + " }"
    Engine(max_expr_depths=(64, 32)).compile(script)
    err = error_of(script, max_expr_depths=(64, 16))
    assert err.detail == "ExprTooDeep"


@pytest.mark.parametrize(
    ("script", "options"),
    [
        ('let x = "hello, "; x + "world!"', {"max_string_size": 10}),
        ("let x = [1, 2, 3, 4, 5, 6]; x + x", {"max_array_size": 10}),
        ("let x = [1, 2, 3]; [x, x, x, x]", {"max_array_size": 10}),
        ("let x = #{a: 1, b: 2, c: 3}; #{u: x, v: x, w: x, z: x}", {"max_map_size": 10}),
        ("let a = []; for i in 0..11 { a.push(i); }", {"max_array_size": 10}),
        ('let s = "ab"; s.pad(20, "x");', {"max_string_size": 10}),
    ],
)
def test_data_size_limits_raise_error_data_too_large(script: str, options: dict[str, object]) -> None:
    assert error_of(script, **options).kind == "ErrorDataTooLarge"


def test_oversized_literals_are_rejected_at_parse_time() -> None:
    err = error_of('let x = "朝に紅顔、暮に白骨";', max_string_size=10)
    assert err.detail == "LiteralTooLarge"


def test_variable_limit_counts_live_variables_per_function() -> None:
    Engine(max_variables=5).run("let a = 0; let b = 0; let c = 0; let d = 0; let e = 0;")
    assert error_of(
        "let a = 0; let b = 0; let c = 0; let d = 0; let e = 0; let f = 0;", max_variables=5
    ).kind == ("ErrorTooManyVariables")
    assert error_of("fn foo(a, b, c, d, e, f) { 42 } foo(0, 0, 0, 0, 0, 0);", max_variables=5).kind == (
        "ErrorTooManyVariables"
    )


def test_wall_clock_limit_terminates_a_long_run() -> None:
    engine = Engine(max_seconds=0.05, check_every=100)
    start = time.monotonic()
    with pytest.raises(RhaiError) as info:
        engine.run("loop {}")
    assert info.value.kind == "ErrorTerminated"
    assert time.monotonic() - start < 2


@pytest.mark.parametrize(
    ("script", "kind"),
    [
        ("loop {}", "ErrorTooManyOperations"),
        ("let x = 0; while true { x += 1; }", "ErrorTooManyOperations"),
        ("fn f(n) { f(n + 1) } f(0)", "ErrorStackOverflow"),
        ("fn a(n) { b(n) } fn b(n) { a(n) } a(1)", "ErrorStackOverflow"),
        ("fn f(n) { try { f(n + 1) } catch { f(n + 1) } } f(0)", "ErrorStackOverflow"),
        ('let s = "ab"; loop { s += s; }', "ErrorDataTooLarge"),
        ('let s = "ab"; loop { s = s + s; }', "ErrorDataTooLarge"),
        ("let a = [1]; loop { a += a; }", "ErrorDataTooLarge"),
        ("let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }", "ErrorDataTooLarge"),
        ('let s = ""; s.pad(100000000000, "x");', "ErrorDataTooLarge"),
        ("blob(10000000000)", "ErrorDataTooLarge"),
        ("2 ** 1000000000000", "ErrorArithmetic"),
        ("for i in 0..9223372036854775807 { }", "ErrorTooManyOperations"),
        ('eval("1 + 1")', "ErrorFunctionNotFound"),
        ("let a = []; loop { a = [a]; }", "ErrorStackOverflow"),
        ("(" * 10000 + "1" + ")" * 10000, "ErrorParsing"),
        ("[" * 10000 + "]" * 10000, "ErrorParsing"),
        ("{" * 10000 + "}" * 10000, "ErrorParsing"),
        ("!" * 10000 + "true", "ErrorParsing"),
        ("if true { " * 5000 + "1" + " }" * 5000, "ErrorParsing"),
        ("+".join(["1"] * 10000), "ErrorParsing"),
    ],
)
def test_hostile_scripts_end_with_the_right_error_in_bounded_time(script: str, kind: str) -> None:
    engine = sandboxed_engine()
    start = time.monotonic()
    with pytest.raises(RhaiError) as info:
        engine.run(script)
    assert info.value.kind == kind
    assert time.monotonic() - start < 5


def test_the_sandbox_cannot_reach_python_objects() -> None:
    engine = sandboxed_engine()
    for script in ["__import__", "open", 'Fn("__import__").call("os")', "print.__class__", "().__class__"]:
        with pytest.raises(RhaiError):
            engine.run(script)


def test_host_values_without_a_rhai_type_are_refused() -> None:
    with pytest.raises(RhaiError):
        Scope().push("x", object())


def test_sandbox_defaults_can_be_overridden() -> None:
    engine = sandboxed_engine(max_operations=50)
    assert engine.options.max_operations == 50
    assert engine.options.max_call_levels == 32


def test_progress_callback_can_stop_a_run_with_a_token() -> None:
    engine = Engine(check_every=100)
    seen: list[int] = []

    def progress(ops: int) -> object:
        seen.append(ops)
        return "enough" if ops > 1000 else None

    engine.on_progress = progress
    with pytest.raises(RhaiError) as info:
        engine.run("loop {}")
    assert (info.value.kind, info.value.value) == ("ErrorTerminated", "enough")
    assert seen == sorted(seen)


@pytest.mark.parametrize(
    "script",
    [
        'let s = "abcdefghijklmnop"; s.split("")',
        'let s = "abcdefghijklmnop"; s.to_chars()',
        "let m = #{}; for i in 0..20 { m[`${i}`] = i; }",
        "[1, 2, 3, 4, 5, 6].map(|x| [x, x])",
    ],
)
def test_arrays_and_maps_built_by_natives_are_held_to_the_size_limits(script: str) -> None:
    assert error_of(script, max_array_size=10, max_map_size=10).kind == "ErrorDataTooLarge"


def test_repeated_break_and_continue_do_not_accumulate_tracebacks() -> None:
    from hub.rules.rhai.runtime import CONTINUE

    Engine().run("let n = 0; for i in 0..2000 { if i % 2 == 0 { continue; } n += 1; }")
    depth = 0
    tb = CONTINUE.__traceback__
    while tb is not None:
        depth += 1
        tb = tb.tb_next
    assert depth < 20


def test_string_replace_is_sized_before_it_is_built() -> None:
    script = 'let s = "a"; s.pad(200000, "a"); let t = s; s.replace("a", t); s.len()'
    start = time.monotonic()
    with pytest.raises(RhaiError) as info:
        sandboxed_engine().run(script)
    assert info.value.kind == "ErrorDataTooLarge"
    assert time.monotonic() - start < 2


@pytest.mark.parametrize(
    "script",
    [
        "let a = []; a.pad(9000, 0); let b = [" + ", ".join(["a"] * 300) + "];",
        "let m = #{}; for i in 0..9000 { m[`${i}`] = i; } let n = #{"
        + ", ".join(f"k{i}: m" for i in range(300))
        + "};",
        'let s = ""; s.pad(200000, "x"); let t = `' + "${s}" * 300 + "`;",
    ],
)
def test_literals_and_templates_stop_at_the_limit_while_they_fill(script: str) -> None:
    start = time.monotonic()
    with pytest.raises(RhaiError) as info:
        sandboxed_engine().run(script)
    assert info.value.kind == "ErrorDataTooLarge"
    assert time.monotonic() - start < 2
