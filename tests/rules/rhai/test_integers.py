"""Integer semantics: i64 range checks, truncating division, shifts, checked against reference formulas."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.rules.rhai import Engine, RhaiError

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
ints = st.integers(min_value=I64_MIN, max_value=I64_MAX)
small = st.integers(min_value=-(2**20), max_value=2**20)
ENGINE = Engine()


def rhai(script: str) -> object:
    return ENGINE.eval(script)


def lit(n: int) -> str:
    # Negative literals go in parentheses so `a - -5` stays unambiguous.
    return f"({n})"


def reference(op: str, a: int, b: int) -> int | None:
    """What Rhai's checked i64 arithmetic gives, or None for ErrorArithmetic."""
    if op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    elif op == "*":
        r = a * b
    elif op == "/":
        if b == 0:
            return None
        q = abs(a) // abs(b)
        r = q if (a < 0) == (b < 0) else -q
    else:
        if b == 0:
            return None
        if a == I64_MIN and b == -1:
            return 0
        r = abs(a) % abs(b)
        r = -r if a < 0 else r
    return r if I64_MIN <= r <= I64_MAX else None


@settings(max_examples=300, deadline=None, database=None)
@given(op=st.sampled_from(["+", "-", "*", "/", "%"]), a=ints, b=ints | small)
def test_integer_operators_match_checked_i64_arithmetic(op: str, a: int, b: int) -> None:
    want = reference(op, a, b)
    script = f"{lit(a)} {op} {lit(b)}"
    if want is None:
        with pytest.raises(RhaiError) as info:
            rhai(script)
        assert info.value.kind == "ErrorArithmetic"
    else:
        assert rhai(script) == want


@settings(max_examples=100, deadline=None, database=None)
@given(a=small, b=st.integers(min_value=0, max_value=70))
def test_shifts_wrap_to_64_bits_and_never_raise(a: int, b: int) -> None:
    left = rhai(f"{lit(a)} << {b}")
    want = 0 if b >= 64 else ((a << b) & (2**64 - 1))
    if b < 64 and want > I64_MAX:
        want -= 2**64
    assert left == want
    assert rhai(f"{lit(a)} >> {b}") == (a >> min(b, 63))


@pytest.mark.parametrize(
    "script",
    [
        "9223372036854775807 + 1",
        "-9223372036854775808 - 1",
        "9223372036854775807 * 2",
        "abs(-9223372036854775808)",
        "-(-9223372036854775807 - 1)",
        "-9223372036854775808 / -1",
        "1 / 0",
        "1 % 0",
        "2 ** -1",
        "2 ** 64",
        "let x = 9223372036854775807; x += 1; x",
        "to_int(1e30)",
    ],
)
def test_integer_overflow_and_division_by_zero_raise_error_arithmetic(script: str) -> None:
    with pytest.raises(RhaiError) as info:
        rhai(script)
    assert info.value.kind == "ErrorArithmetic"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("-7 / 2", -3),
        ("7 / -2", -3),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("2 ** 62", 2**62),
        ("(-2) ** 63", -(2**63)),
        ("to_int(-2.9)", -2),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -3.0),
        ("sign(-5)", -1),
        ("max(3, 7)", 7),
        ("min(2, 1.5)", 1.5),
        ("0xff.to_hex()", "ff"),
        ("(-1).to_hex()", "ffffffffffffffff"),
        ("let x = 10; x[1]", True),
        ("let x = 10; x[1..=3]", 5),
        ("let x = 0; x[4] = true; x", 16),
        ("get_bits(10, 1, 3)", 5),
    ],
)
def test_integer_helpers_truncate_and_round_like_rust(script: str, expected: object) -> None:
    result = rhai(script)
    assert result == expected
    assert type(result) is type(expected)


def test_booleans_are_not_integers() -> None:
    assert rhai("1 == true") is False
    with pytest.raises(RhaiError) as info:
        rhai("true + 1")
    assert info.value.kind == "ErrorFunctionNotFound"


class _Overflow(Exception):
    """The reference evaluator's ErrorArithmetic."""


def _tree() -> st.SearchStrategy[Any]:
    leaves = st.integers(min_value=-(2**40), max_value=2**40)
    return st.recursive(
        leaves,
        lambda inner: st.tuples(st.sampled_from(["+", "-", "*", "/", "%"]), inner, inner),
        max_leaves=12,
    )


def _render(tree: Any) -> str:
    if isinstance(tree, int):
        return f"({tree})"
    op, left, right = tree
    return f"({_render(left)} {op} {_render(right)})"


def _evaluate(tree: Any) -> int:
    if isinstance(tree, int):
        return tree
    op, left, right = tree
    result = reference(op, _evaluate(left), _evaluate(right))
    if result is None:
        raise _Overflow
    return result


@settings(max_examples=200, deadline=None, database=None)
@given(_tree())
def test_nested_integer_expressions_match_a_reference_evaluator(tree: Any) -> None:
    script = _render(tree)
    try:
        want = _evaluate(tree)
    except _Overflow:
        with pytest.raises(RhaiError) as info:
            rhai(script)
        assert info.value.kind == "ErrorArithmetic"
    else:
        assert rhai(script) == want


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("1 + 2 * 3 - 4 / 2", 5),
        ("2 * 3 ** 2", 18),
        ("-3 ** 2", 9),
        ("1 << 2 + 1", 5),
        ("(1 << 2) + 1", 5),
        ("10 - 2 - 3", 5),
        ("100 / 10 / 5", 2),
        ("7 & 3 | 8", 11),
        ("1 < 2 == true", True),
        ("2 + 3 in [5]", True),
    ],
)
def test_operator_precedence_follows_rhai_binding_powers(script: str, expected: object) -> None:
    assert rhai(script) == expected
