"""Less common corners: blobs, bit fields, time, modules, eval, caller-scope calls and engine options."""

from __future__ import annotations

from typing import Any

import pytest

from hub.rules.rhai import Engine, RhaiError, Scope, type_of

BLOBS = [
    ("let b = blob(3, 7); b", bytearray([7, 7, 7])),
    ("let b = blob(2); b[0] = 300; b", bytearray([44, 0])),
    ("let b = blob(); b.push(1); b += 2; b.len()", 2),
    ("let b = blob(4, 1); b.insert(999, 9); b[-1]", 9),
    ("blob(2, 1) + blob(1, 2)", bytearray([1, 1, 2])),
    ("let b = blob(8); b.write_le(0, 8, 258); b.parse_le_int(0, 2)", 258),
    ("let b = blob(8); b.write_be(0, 8, 258); b.parse_be_int(0..8)", 258),
    ("let b = blob(8); b.write_be(0, 8, 258); b.parse_be_int(6..8)", 0x0102 << 48),
    ("let b = blob(8); b.write_le(0, 8, 2.5); b.parse_le_float(0, 8)", 2.5),
    ('to_blob("hé").len()', 3),
    ('to_blob("hi").as_string()', "hi"),
    ("let b = blob(4, 5); b.extract(1, 2)", bytearray([5, 5])),
    ("let b = blob(3, 5); b.contains(5)", True),
    ("let b = blob(3, 1); b.pop(); b.len()", 2),
    ("type_of(blob())", "blob"),
]


@pytest.mark.parametrize(("script", "expected"), BLOBS)
def test_blobs_are_byte_arrays(script: str, expected: Any) -> None:
    result = Engine().eval(script)
    assert result == expected
    assert type(result) is type(expected)


BITS = [
    ("let x = 10; x[0]", False),
    ("let x = 10; x[-1]", False),
    ("let x = 10; x[1..=3]", 5),
    ("let x = 0; set_bits(x, -60, 2, 15); x", 48),
    ("let x = 0; x.set_bit(3, true); x", 8),
    ("get_bit(5, 2)", True),
    ("let n = 0; for b in bits(0b1011, 0, 4) { if b { n += 1; } } n", 3),
    ("(-1)[63]", True),
]


@pytest.mark.parametrize(("script", "expected"), BITS)
def test_integers_index_as_bit_fields(script: str, expected: Any) -> None:
    assert Engine().eval(script) == expected


def test_bit_field_ranges_out_of_bounds_raise() -> None:
    with pytest.raises(RhaiError) as info:
        Engine().eval("let x = 10; x[-1..3]")
    assert info.value.kind == "ErrorBitFieldBounds"


def test_timestamps_subtract_to_seconds() -> None:
    engine = Engine()
    assert engine.eval("type_of(timestamp())") == "timestamp"
    assert engine.eval("let t = timestamp(); let u = t - 1.5; t - u") == pytest.approx(1.5)
    assert engine.eval("timestamp().elapsed() >= 0.0") is True


def test_modules_compile_but_cannot_be_imported() -> None:
    engine = Engine()
    engine.compile('import "hello" as h; print(h::y::z);')
    with pytest.raises(RhaiError) as info:
        engine.run('import "hello" as h;')
    assert info.value.kind == "ErrorModuleNotFound"
    with pytest.raises(RhaiError):
        engine.compile("abc.def::xyz()")


def test_strict_variables_need_declared_modules() -> None:
    engine = Engine(strict_variables=True)
    engine.compile('import "hello" as h; fn foo() { h::a::b::c() } let x = h::y::foo();')
    with pytest.raises(RhaiError):
        engine.compile("let x = h::y::foo();")


def test_unit_needs_no_space_inside() -> None:
    assert Engine().eval("let x = (); x") is None
    with pytest.raises(RhaiError):
        Engine().run("let x = ( ); x")


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("fn foo() { hello + bar } let hello = 42; let bar = 123; foo!()", 165),
        ("fn foo() { let hello = bar + 42; } let bar = 999; let hello = 123; foo!(); hello", 123),
        ("fn foo(y) { x += y; } let x = 40; foo!(2); x", 42),
    ],
)
def test_bang_calls_run_functions_in_the_callers_scope(script: str, expected: Any) -> None:
    assert Engine().eval(script) == expected


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ('let foo = 42; eval("{ let foo = 123; }"); foo', 42),
        (
            'let x = 999; eval("let x = x - 1000"); let y = if x < 0 { eval("let x = 42"); x } else { 0 }; x + y',
            41,
        ),
        ('let foo = 42; { { { eval("let foo = 123"); } } } foo', 42),
        ('const XYZ = 123; fn foo() { global::XYZ } eval("const XYZ = 42;"); foo()', 42),
        ('const XYZ = 123; fn foo() { global::XYZ } { eval("const XYZ = 42;"); } foo()', 123),
        ('let s = "x"; s += "y"; eval(`${s} + 1`)', None),
    ],
)
def test_eval_runs_text_against_the_callers_variables(script: str, expected: Any) -> None:
    if expected is None:
        with pytest.raises(RhaiError) as info:
            Engine().eval(script)
        assert info.value.kind == "ErrorInFunctionCall"
    else:
        assert Engine().eval(script) == expected


def test_eval_errors_are_wrapped_as_calls_to_eval() -> None:
    with pytest.raises(RhaiError) as info:
        Engine(max_operations=500).run('eval("for x in 0..500 {}");')
    assert info.value.kind == "ErrorInFunctionCall"
    assert info.value.root.kind == "ErrorTooManyOperations"


def test_fail_on_invalid_map_property_raises_for_missing_keys() -> None:
    with pytest.raises(RhaiError) as info:
        Engine(fail_on_invalid_map_property=True).eval("let x = #{a: 42}; x.b")
    assert info.value.kind == "ErrorPropertyNotFound"


def test_shadowing_can_be_forbidden() -> None:
    scope = Scope().push("x", 1)
    with pytest.raises(RhaiError) as info:
        Engine(allow_shadowing=False).eval("let x = 42;", scope)
    assert info.value.detail == "VariableExists"


def test_loop_expressions_can_be_forbidden() -> None:
    with pytest.raises(RhaiError):
        Engine(allow_loop_expressions=False).eval("let v = loop { break 42; }; v")


def test_switch_cases_match_exact_types_and_ranges_come_after_values() -> None:
    engine = Engine()
    scope = Scope().push("x", 42)
    script = "switch x { 42 if x < 40 => 2, 42.0 => 5, 42 if x > 40 => 3, 10..20 => 1, 30..100 => 4 }"
    assert engine.eval(script, scope) == 3
    assert engine.eval("switch 50 { 42 => 0, 10..20 => 1, 30..100 => 4 }") == 4
    with pytest.raises(RhaiError) as info:
        engine.compile("switch x { 10..20 => 1, 42 => 2 }")
    assert info.value.detail == "WrongSwitchIntegerCase"
    assert engine.eval("let r = 1..42; switch r { 1..42 => true, _ => false }") is True


def test_function_pointer_names_and_closures_are_inspectable() -> None:
    engine = Engine()
    assert engine.eval('Fn("foo").name') == "foo"
    assert engine.eval("(|x| x).is_anonymous") is True
    assert type_of(engine.eval('Fn("foo")')) == "Fn"
    assert engine.eval("let a = 1; let f = || a; is_shared(a)") is True
