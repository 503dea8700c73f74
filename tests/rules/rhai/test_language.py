"""Language features, one parametrized table per area, checked by value and Rhai type."""

from __future__ import annotations

from typing import Any

import pytest

from hub.rules.rhai import Char, Engine, type_of

from .conftest import error_of

LITERALS = [
    ("42", 42, "i64"),
    ("1_000_000", 1000000, "i64"),
    ("0xff", 255, "i64"),
    ("0o17", 15, "i64"),
    ("0b1010_1010", 170, "i64"),
    ("0xffffffffffffffff", -1, "i64"),
    ("-9223372036854775808", -(2**63), "i64"),
    ("9223372036854775808", 9.223372036854776e18, "f64"),
    ("1.5e3", 1500.0, "f64"),
    ("1.", 1.0, "f64"),
    ("42.type_of()", "i64", "string"),
    ("'x'", "x", "char"),
    ("'\\u2764'", "❤", "char"),
    ('"a\\tb"', "a\tb", "string"),
    ('"say ""hi"""', 'say "hi"', "string"),
    ('#"raw \\n"#', "raw \\n", "string"),
    ("`a``b`", "a`b", "string"),
    ("let x = 2; `x = ${x * 21}!`", "x = 42!", "string"),
    ("`${[1, 2]} ${#{a: 'c'}} ${()}`", "[1, 2] #{\"a\": 'c'} ", "string"),
    ("()", None, "()"),
    ("true", True, "bool"),
    ("[1, 'a', \"b\", ()]", [1, "a", "b", None], "array"),
    ("#{b: 1, a: 2}", {"a": 2, "b": 1}, "map"),
    ("// comment\n/* nested /* block */ comment */ 7", 7, "i64"),
]

OPERATORS = [
    ("2 + 3 * 4", 14, "i64"),
    ("2 ** 3 ** 2", 512, "i64"),
    ("-2 ** 2", 4, "i64"),
    ("(-2.0 ** -2.0)", 0.25, "f64"),
    ("1 << 3 + 1", 9, "i64"),
    ("-7 / 2", -3, "i64"),
    ("-7 % 2", -1, "i64"),
    ("7 % -2", 1, "i64"),
    ("10 >> -1", 20, "i64"),
    ("1 << 64", 0, "i64"),
    ("-8 >> 70", -1, "i64"),
    ("41.0 + 1", 42.0, "f64"),
    ("42 == 42.0", True, "bool"),
    ("0.1 + 0.2 == 0.3", True, "bool"),
    ("0 < 1e-16", False, "bool"),
    ("0 < 1e-15", True, "bool"),
    ("1.0 / 0.0 > 1e308", True, "bool"),
    ('42 == "42"', False, "bool"),
    ('1 < "a"', False, "bool"),
    ("() == ()", True, "bool"),
    ("'x' == \"x\"", True, "bool"),
    ("[1, [2]] == [1, [2]]", True, "bool"),
    ("#{a: 1} != #{a: 2}", True, "bool"),
    ("true & false | true ^ false", True, "bool"),
    ("false && 1", False, "bool"),
    ("true || 1", True, "bool"),
    ("() ?? 5", 5, "i64"),
    ("3 ?? 5", 3, "i64"),
    ("2 in [1, 2]", True, "bool"),
    ('"b" !in "abc"', False, "bool"),
    ("'c' in \"abc\"", True, "bool"),
    ('"k" in #{k: 1}', True, "bool"),
    ("5 in 1..5", False, "bool"),
    ("5 in 1..=5", True, "bool"),
    ("5 - -+ + + - -+-5", 0, "i64"),
    ("!true", False, "bool"),
]

STRINGS = [
    ('"foo" + 123', "foo123", "string"),
    ('123 + "foo"', "123foo", "string"),
    ("'a' + 'b'", "ab", "string"),
    ('"x" + ()', "x", "string"),
    ("\"hello\" - 'l'", "heo", "string"),
    ('let s = "abc"; s += 1.5; s', "abc1.5", "string"),
    ('"hello"[1]', "e", "char"),
    ('"hello"[-1]', "o", "char"),
    ('"hello"[1..3]', "el", "string"),
    ('"hello"[..=2]', "hel", "string"),
    ("let s = \"hello\"; s[0] = 'j'; s", "jello", "string"),
    ('let s = "hello"; s[1..=2] = "EE"; s', "hEElo", "string"),
    ('"héllo".len', 5, "i64"),
    ('"héllo".bytes', 6, "i64"),
    ('"a,b,c".split(",")', ["a", "b", "c"], "array"),
    ('"a b  c".split()', ["a", "b", "c"], "array"),
    ('"a,b,c".split(",", 2)', ["a", "b,c"], "array"),
    ('"hello".sub_string(1, 3)', "ell", "string"),
    ('"hello".sub_string(-3)', "llo", "string"),
    ("\"hello\".index_of('l')", 2, "i64"),
    ('"hello".index_of("z")', -1, "i64"),
    ('let s = "  x  "; s.trim(); s', "x", "string"),
    ('let s = "  x  "; let t = s.trim(); t', None, "()"),
    ('let s = "abc"; s.replace("b", "XX"); s', "aXXc", "string"),
    ("let s = \"abc\"; s.pad(5, '-'); s", "abc--", "string"),
    ('let s = "abc"; s.pop()', "c", "char"),
    ('"AbC".to_upper()', "ABC", "string"),
    ('let s = "AbC"; s.make_lower(); s', "abc", "string"),
    ('"abc".to_chars()', ["a", "b", "c"], "array"),
    ('"abc".contains("bc")', True, "bool"),
    ('"abc".starts_with("ab")', True, "bool"),
    ("to_string(3.0)", "3.0", "string"),
    ("(1e14).to_string()", "1e14", "string"),
    ("(0.00001).to_string()", "0.00001", "string"),
    ("(1.5e-14).to_string()", "1.5e-14", "string"),
    ('to_debug("a")', '"a"', "string"),
    ('parse_int("ff", 16)', 255, "i64"),
    ('parse_float(" 2.5 ")', 2.5, "f64"),
    ("to_int('A')", 65, "i64"),
]

ARRAYS = [
    ("let a = [1, 2]; a.push(3); a", [1, 2, 3], "array"),
    ("let a = [1, 2]; a += 3; a", [1, 2, 3], "array"),
    ("let a = [1, 2]; a += [3, 4]; a", [1, 2, 3, 4], "array"),
    ("[1] + [2]", [1, 2], "array"),
    ("let a = [1, 2, 3]; a[-1]", 3, "i64"),
    ("let a = [[1, 2], [3]]; a[0][1] = 9; a", [[1, 9], [3]], "array"),
    ("let a = [1, 2, 3]; let b = a; b.push(4); a.len()", 3, "i64"),
    ("let a = [1, 2, 3]; a.insert(-1, 9); a", [1, 2, 9, 3], "array"),
    ("let a = [1, 2, 3]; a.remove(0)", 1, "i64"),
    ("let a = [1, 2, 3]; a.pop(); a", [1, 2], "array"),
    ("let a = [1, 2, 3]; a.shift()", 1, "i64"),
    ("[1, 2, 3].map(|x| x * 2)", [2, 4, 6], "array"),
    ("[1, 2, 3].map(|x, i| x * i)", [0, 2, 6], "array"),
    ("[1, 2, 3].map(|| this + 1)", [2, 3, 4], "array"),
    ("[1, 2, 3, 4].filter(|x| x % 2 == 0)", [2, 4], "array"),
    ("[1, 2, 3].reduce(|s, x| s + x, 0)", 6, "i64"),
    ("[1, 2, 3].some(|x| x > 2)", True, "bool"),
    ("[1, 2, 3].all(|x| x > 2)", False, "bool"),
    ("[3, 1, 2].find(|x| x < 3)", 1, "i64"),
    ("let a = [3, 1, 2]; a.sort(); a", [1, 2, 3], "array"),
    ("let a = [3, 1, 2]; a.sort(|x, y| y - x); a", [3, 2, 1], "array"),
    ("let a = [1, 1, 2, 1]; a.dedup(); a", [1, 2, 1], "array"),
    ("let a = [1, 2, 3, 4]; a.extract(1, 2)", [2, 3], "array"),
    ("let a = [1, 2, 3, 4]; a.drain(|x| x > 2)", [3, 4], "array"),
    ("let a = [1, 2, 3, 4]; a.retain(|x| x > 2); a", [3, 4], "array"),
    ("let a = [1, 2]; a.pad(4, 0); a", [1, 2, 0, 0], "array"),
    ("[1, 2, 3].index_of(2)", 1, "i64"),
    ("[1, 2].contains(2)", True, "bool"),
    ("[].is_empty()", True, "bool"),
    ("let a = [1, 2, 3]; a.reverse(); a", [3, 2, 1], "array"),
    ("[1, 2].get(5)", None, "()"),
]

MAPS = [
    ("let m = #{a: 1}; m.b = 2; m", {"a": 1, "b": 2}, "map"),
    ('let m = #{a: 1}; m["a"] += 5; m.a', 6, "i64"),
    ("let m = #{a: 1}; m.zzz", None, "()"),
    ("#{b: 1, a: 2}.keys()", ["a", "b"], "array"),
    ("#{b: 1, a: 2}.values()", [2, 1], "array"),
    ('let m = #{a: 1, b: 2}; m.remove("a"); m', {"b": 2}, "map"),
    ("#{a: 1} + #{a: 2, b: 3}", {"a": 2, "b": 3}, "map"),
    ("let m = #{a: 1}; m.fill_with(#{a: 5, c: 3}); m", {"a": 1, "c": 3}, "map"),
    ('#{a: [#{b: 42}], "c d": "x"}.to_json()', '{"a":[{"b":42}],"c d":"x"}', "string"),
    ('parse_json("{\\"a\\": [1, 2.5, null, true]}")', {"a": [1, 2.5, None, True]}, "map"),
    ("let m = #{a: #{b: 1}}; m.a.b = 7; m.a.b", 7, "i64"),
    ("let x = (); x?.a.b", None, "()"),
    ("let m = #{}; m?.a?.b", None, "()"),
    ("#{a: 1}.len()", 1, "i64"),
]

CONTROL = [
    ("if 1 > 2 { 1 } else if 2 > 1 { 2 } else { 3 }", 2, "i64"),
    ("let v = if false { 1 }; v", None, "()"),
    ("let x = 0; while x < 10 { x += 1; } x", 10, "i64"),
    ("let x = 0; let r = loop { x += 1; if x == 5 { break x * 10; } }; r", 50, "i64"),
    ("let x = 0; do { x += 2; } while x < 7; x", 8, "i64"),
    ("let x = 0; do { x += 2; } until x > 3; x", 4, "i64"),
    ("let s = 0; for i in 0..5 { if i == 2 { continue; } s += i; } s", 8, "i64"),
    ("let s = 0; for i in 0..=5 { s += i; } s", 15, "i64"),
    ("let s = 0; for i in range(10, 0, -3) { s += i; } s", 22, "i64"),
    ("let s = []; for (x, i) in ['a', 'b'] { s.push(i); } s", [0, 1], "array"),
    ('let s = ""; for c in "abc" { s = c + s; } s', "cba", "string"),
    ("let n = 0; for b in bits(10) { if b { n += 1; } } n", 2, "i64"),
    ("let x = 1; { let x = 2; } x", 1, "i64"),
    ("let x = 1; let x = x + 1; x", 2, "i64"),
    ("switch 3 { 1 | 2 => 'a', 3 if false => 'b', 3 => 'c', _ => 'd' }", "c", "char"),
    ("switch 15 { 1 => 0, 10..20 => 1, _ => 2 }", 1, "i64"),
    ('switch "x" { "x" => 1, _ => 2 }', 1, "i64"),
    ("switch 42.0 { 42 => 1, _ => 2 }", 2, "i64"),
    ("switch 9 { 1 => 0 }", None, "()"),
    ("try { throw 42; } catch (e) { e }", None, "()"),
    ("let r = 0; try { throw 42; } catch (e) { r = e; } r", 42, "i64"),
    ("let r = (); try { 1 / 0; } catch (e) { r = e.error; } r", "ErrorArithmetic", "string"),
    ("fn f() { return 7; 8 } f()", 7, "i64"),
    ("let x = 1; x = 2; x", 2, "i64"),
    ("exit(5); 6", 5, "i64"),
    ("return 3; 4", 3, "i64"),
    ("let x = (); let s = 0; for i in 0..3 { s += x ?? continue; } s", 0, "i64"),
    ("fn f(x) { let y = x ?? return -1; y * 2 } [f(()), f(4)]", [-1, 8], "array"),
]

FUNCTIONS = [
    ("fn add(a, b) { a + b } add(40, 2)", 42, "i64"),
    ("fn f() { 1 } fn f(x) { x } fn f(x, y) { x + y } f() + f(10) + f(100, 1000)", 1111, "i64"),
    ("fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } } fib(15)", 610, "i64"),
    ("fn later() { early() } fn early() { 5 } later()", 5, "i64"),
    ("fn inc() { this += 1; } let x = 41; x.inc(); x", 42, "i64"),
    ("fn double(a) { a *= 2; a } let x = 21; double(x); x", 21, "i64"),
    ("fn push1(a) { a.push(1); a.len() } let a = []; push1(a); a.len()", 0, "i64"),
    ("fn int.triple() { this * 3 } 5.triple()", 15, "i64"),
    (
        'fn int.kind() { "int" } fn float.kind() { "float" } fn kind() { "any" } [5.kind(), 5.0.kind(), "s".kind()]',
        ["int", "float", "any"],
        "array",
    ),
    ("const K = 5; fn f() { global::K } f()", 5, "i64"),
    ('let f = Fn("add"); fn add(a, b) { a + b } f.call(1, 2)', 3, "i64"),
    ('fn add(a, b) { a + b } let g = Fn("add").curry(40); g.call(2)', 42, "i64"),
    ("fn dbl(x) { x * 2 } let f = dbl; call(f, 4)", 8, "i64"),
    ("let k = 10; let h = |x| x + k; k = 20; h.call(1)", 21, "i64"),
    ("let n = 1; let inc = || { n += 1 }; inc.call(); inc.call(); n", 3, "i64"),
    ("let f = |x| |y| x + y; f.call(40).call(2)", 42, "i64"),
    ("let n = 1; let inc = || n += 1; inc.call(); n", 2, "i64"),
    ("let a = []; for (x, i) in 100..103 { a += || i + x; } a.map(|f| f.call())", [104, 104, 104], "array"),
    ("let m = #{v: 1, get: |x| this.v + x}; m.get(41)", 42, "i64"),
    ("type_of(|x| x)", "Fn", "string"),
    ('is_def_fn("f", 0)', False, "bool"),
    ('fn f() {} is_def_fn("f", 0)', True, "bool"),
    ('let x = 1; is_def_var("x")', True, "bool"),
    ('eval("40 + 2")', 42, "i64"),
    ('let x = 1; eval("x += 41"); x', 42, "i64"),
]


def _check(script: str, expected: Any, rhai_type: str) -> None:
    result = Engine().eval(script)
    assert type_of(result) == rhai_type
    if rhai_type == "f64":
        assert result == pytest.approx(expected)
    else:
        assert result == expected
    if rhai_type == "char":
        assert type(result) is Char


@pytest.mark.parametrize(("script", "expected", "rhai_type"), LITERALS)
def test_literals_evaluate_to_their_rhai_values(script: str, expected: Any, rhai_type: str) -> None:
    _check(script, expected, rhai_type)


@pytest.mark.parametrize(("script", "expected", "rhai_type"), OPERATORS)
def test_operators_follow_rhai_precedence_and_semantics(script: str, expected: Any, rhai_type: str) -> None:
    _check(script, expected, rhai_type)


@pytest.mark.parametrize(("script", "expected", "rhai_type"), STRINGS)
def test_strings_and_their_methods_behave_as_in_rhai(script: str, expected: Any, rhai_type: str) -> None:
    _check(script, expected, rhai_type)


@pytest.mark.parametrize(("script", "expected", "rhai_type"), ARRAYS)
def test_arrays_have_value_semantics_and_the_standard_methods(
    script: str, expected: Any, rhai_type: str
) -> None:
    _check(script, expected, rhai_type)


@pytest.mark.parametrize(("script", "expected", "rhai_type"), MAPS)
def test_object_maps_index_assign_and_sort_their_keys(script: str, expected: Any, rhai_type: str) -> None:
    _check(script, expected, rhai_type)


@pytest.mark.parametrize(("script", "expected", "rhai_type"), CONTROL)
def test_control_flow_statements_give_rhai_values(script: str, expected: Any, rhai_type: str) -> None:
    _check(script, expected, rhai_type)


@pytest.mark.parametrize(("script", "expected", "rhai_type"), FUNCTIONS)
def test_functions_closures_and_pointers_work(script: str, expected: Any, rhai_type: str) -> None:
    _check(script, expected, rhai_type)


RUNTIME_ERRORS = [
    ("x", "ErrorVariableNotFound"),
    ("foo(1)", "ErrorFunctionNotFound"),
    ("true + 1", "ErrorFunctionNotFound"),
    ("sqrt(4)", "ErrorFunctionNotFound"),
    ("if 1 { 2 }", "ErrorMismatchDataType"),
    ("true && 123", "ErrorMismatchDataType"),
    ("[1, 2][5]", "ErrorArrayBounds"),
    ('"ab"[5]', "ErrorStringBounds"),
    ("5.foo", "ErrorDotExpr"),
    ('let x = 5; x["a"]', "ErrorIndexingType"),
    ("for x in 5 {}", "ErrorFor"),
    ("throw 42", "ErrorRuntime"),
    ("throw", "ErrorRuntime"),
    ("fn f() { this }  f()", "ErrorInFunctionCall"),
    ("this", "ErrorUnboundThis"),
    ("fn f(x) { y } f(1)", "ErrorInFunctionCall"),
    ("let y = 1; fn f() { y } f()", "ErrorInFunctionCall"),
    ("const A = [1]; A.push(2)", "ErrorNonPureMethodCallOnConstant"),
    ("const A = [1]; A[0] = 2", "ErrorAssignmentToConstant"),
    ('Fn("nothing").call()', "ErrorFunctionNotFound"),
    ('parse_int("zz")', "ErrorArithmetic"),
    ("[1, 'a'].sort()", "ErrorFunctionNotFound"),
    ('import "m" as m;', "ErrorModuleNotFound"),
]


@pytest.mark.parametrize(("script", "kind"), RUNTIME_ERRORS)
def test_runtime_errors_carry_rhai_error_kinds(script: str, kind: str) -> None:
    assert error_of(script).kind == kind


def test_errors_inside_functions_are_wrapped_with_the_function_name() -> None:
    err = error_of("fn judge(x) {\n  x / 0\n}\njudge(1)")
    assert err.kind == "ErrorInFunctionCall"
    assert err.function == "judge"
    assert err.root.kind == "ErrorArithmetic"
    assert (err.root.line, err.root.column) == (2, 5)


def test_caught_system_errors_become_maps_with_kind_message_and_position() -> None:
    value = Engine().eval("let e = (); try {\n  [1][3]\n} catch (err) { e = err; } e")
    assert value["error"] == "ErrorArrayBounds"
    assert value["line"] == 2
    assert "message" in value


def test_bare_throw_in_catch_rethrows_the_original_error() -> None:
    assert error_of("try { throw 7; } catch { throw; }").value == 7


PARSE_ERRORS = [
    ("let x = ;", "ExprExpected"),
    ("(x + y) = 1;", "AssignmentToInvalidLHS"),
    ("foo(x) = 1;", "AssignmentToInvalidLHS"),
    ("true = 1;", "AssignmentToConstant"),
    ("const C = 1; C = 2;", "AssignmentToConstant"),
    ("break;", "LoopBreak"),
    ("fn f(a, a) {}", "FnDuplicatedParam"),
    ("fn f(a) {} fn f(b) {}", "FnDuplicatedDefinition"),
    ("#{a: 1, a: 2}", "DuplicatedProperty"),
    ("switch 1 { _ => 1, 2 => 3 }", "WrongSwitchDefaultCase"),
    ("switch 1 { _ if true => 1 }", "WrongSwitchCaseCondition"),
    ("switch 1 { 1..5 => 1, 7 => 2 }", "WrongSwitchIntegerCase"),
    ("[1, 2][1.5]", "MalformedIndexExpr"),
    ("#{a: 1}[1]", "MalformedIndexExpr"),
    ('"abc', "BadInput"),
    ("''", "BadInput"),
    ("let var = 1;", "Reserved"),
    ("x++", "Reserved"),
    ("{ fn f() {} }", "WrongFnDefinition"),
    ("1 +", "UnexpectedEOF"),
    ("#", "UnknownOperator"),
]


@pytest.mark.parametrize(("script", "detail"), PARSE_ERRORS)
def test_syntax_errors_name_the_parse_error_type(script: str, detail: str) -> None:
    err = error_of(script)
    assert err.kind == "ErrorParsing"
    assert err.detail == detail
    assert err.line is not None
    assert err.column is not None


def test_parse_errors_point_at_the_offending_line_and_column() -> None:
    err = error_of("let a = 1;\nlet b = a +* 2;")
    assert (err.line, err.column) == (2, 12)
