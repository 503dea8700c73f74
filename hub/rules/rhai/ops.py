"""Operators on script values: checked i64 arithmetic, epsilon float comparison, string and array forms."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .errors import RhaiError
from .values import (
    EPSILON,
    INT_MAX,
    INT_MIN,
    Char,
    Range,
    Timestamp,
    copy_value,
    display,
    float_eq,
    type_of,
    values_equal,
)

__all__ = [
    "BINARY",
    "COMPARE",
    "check_int",
    "compare",
    "contains",
    "div_int",
    "fn_not_found",
    "mod_int",
    "negate",
]

_STRS = (str, Char)
_NUMS = (int, float)
_MASK = 2**64 - 1


# Rhai names a string parameter by every Rust type it could be.
_SIG_NAMES = {"string": "&str | ImmutableString | String"}


def fn_not_found(name: str, *args: Any) -> RhaiError:
    """``ErrorFunctionNotFound`` with Rhai's ``name (type, type)`` signature text."""
    sig = f"{name} ({', '.join(_SIG_NAMES.get(type_of(a), type_of(a)) for a in args)})"
    return RhaiError("ErrorFunctionNotFound", f"Function not found: {sig}", detail=sig)


def arith_error(message: str) -> RhaiError:
    """``ErrorArithmetic`` with a message."""
    return RhaiError("ErrorArithmetic", message)


def check_int(v: int, what: str, a: Any, b: Any) -> int:
    """Return v if it fits in i64, else raise the overflow error Rhai gives."""
    if INT_MIN <= v <= INT_MAX:
        return v
    raise arith_error(f"{what} overflow: {a} {_SYMBOL[what]} {b}")


_SYMBOL = {
    "Addition": "+",
    "Subtraction": "-",
    "Multiplication": "*",
    "Division": "/",
    "Modulo": "%",
    "Power": "**",
    "Negation": "-",
}


def wrap_i64(v: int) -> int:
    """Reinterpret the low 64 bits as a signed integer."""
    v &= _MASK
    return v - 2**64 if v > INT_MAX else v


def div_int(a: int, b: int) -> int:
    """Integer division truncating toward zero, with Rhai's errors."""
    if b == 0:
        raise arith_error(f"Division by zero: {a} / {b}")
    if a == INT_MIN and b == -1:
        raise arith_error(f"Division overflow: {a} / {b}")
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def mod_int(a: int, b: int) -> int:
    """Remainder with the sign of the dividend (Rust ``checked_rem``)."""
    if b == 0:
        raise arith_error(f"Modulo division by zero: {a} % {b}")
    if a == INT_MIN and b == -1:
        return 0
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def pow_int(a: int, b: int) -> int:
    """``a ** b`` on i64, refusing negative exponents and overflow before computing huge numbers."""
    if b < 0:
        raise arith_error(f"Integer raised to a negative power: {a} ** {b}")
    if abs(a) >= 2 and b > 64:
        raise arith_error(f"Exponential overflow: {a} ** {b}")
    return check_int(a**b, "Power", a, b)


def shl_int(a: int, b: int) -> int:
    """``<<``: a negative amount shifts right; bits past 63 fall off."""
    if b < 0:
        return shr_int(a, -b)
    if b >= 64:
        return 0
    return wrap_i64(a << b)


def shr_int(a: int, b: int) -> int:
    """``>>``: arithmetic shift; a negative amount shifts left."""
    if b < 0:
        return shl_int(a, -b)
    if b >= 64:
        return -1 if a < 0 else 0
    return a >> b


def float_div(a: float, b: float) -> float:
    """IEEE division, which Python refuses for a zero divisor."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def float_mod(a: float, b: float) -> float:
    """``fmod``; NaN for a zero divisor instead of Python's error."""
    try:
        return math.fmod(a, b)
    except ValueError:
        return math.nan


def float_pow(a: float, b: float) -> float:
    """``powf`` with IEEE results instead of Python's exceptions and complex numbers."""
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf if a > 0 or (float(b).is_integer() and int(b) % 2 == 0) else -math.inf
    except (ValueError, ZeroDivisionError):
        if a == 0.0 and b < 0:
            return math.inf
        return math.nan


def _size_check(c: Any, v: Any) -> Any:
    if c is not None:
        c.check_size(v)
    return v


def add(c: Any, a: Any, b: Any) -> Any:
    """``+`` for every type pair Rhai defines it on."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        return check_int(a + b, "Addition", a, b)
    if ta in _NUMS and tb in _NUMS and ta is not bool and tb is not bool:
        return float(a) + float(b)
    if (ta in _STRS or tb in _STRS) and (ta in _STRS or ta is not list) and (tb in _STRS or tb is not list):
        return _size_check(c, str.__add__(display(a), display(b)))
    if ta is list and tb is list:
        return _size_check(c, a + copy_value(b))
    if ta is dict and tb is dict:
        merged = dict(a)
        merged.update(copy_value(b))
        return _size_check(c, merged)
    if ta is bytearray and tb is bytearray:
        return _size_check(c, a + b)
    if ta is bytearray and tb is Char:
        return _size_check(c, a + b.encode())
    if ta is Timestamp and tb in _NUMS:
        return Timestamp(a.t + b)
    raise fn_not_found("+", a, b)


def sub(c: Any, a: Any, b: Any) -> Any:
    """``-``: numbers, removing text from strings, and timestamp differences."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        return check_int(a - b, "Subtraction", a, b)
    if ta in _NUMS and tb in _NUMS and ta is not bool and tb is not bool:
        return float(a) - float(b)
    if ta is str and tb in _STRS:
        return a.replace(b, "")
    if ta is Timestamp and tb is Timestamp:
        return a.t - b.t
    if ta is Timestamp and tb in _NUMS:
        return Timestamp(a.t - b)
    raise fn_not_found("-", a, b)


def _numeric(op: str, fi: Callable[[int, int], Any], ff: Callable[[float, float], Any]) -> Callable[..., Any]:
    def apply(c: Any, a: Any, b: Any) -> Any:
        ta = type(a)
        tb = type(b)
        if ta is int and tb is int:
            return fi(a, b)
        if ta in _NUMS and tb in _NUMS and ta is not bool and tb is not bool:
            return ff(float(a), float(b))
        raise fn_not_found(op, a, b)

    return apply


def _bits(
    op: str, fi: Callable[[int, int], int], fb: Callable[[bool, bool], bool] | None
) -> Callable[..., Any]:
    def apply(c: Any, a: Any, b: Any) -> Any:
        ta = type(a)
        tb = type(b)
        if ta is int and tb is int:
            return fi(a, b)
        if fb is not None and ta is bool and tb is bool:
            return fb(a, b)
        raise fn_not_found(op, a, b)

    return apply


def _lt(a: Any, b: Any) -> bool | None:
    """a < b, or None when the pair is not ordered at all (different types)."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        return bool(a < b)
    if ta in _NUMS and tb in _NUMS and ta is not bool and tb is not bool:
        x = float(a)
        y = float(b)
        if x != x or y != y:
            return False
        if math.isinf(x) or math.isinf(y):
            return x < y
        m = 1.0 if x * y == 0.0 else max(abs(x), abs(y))
        return (y - x) / m > EPSILON
    if ta in _STRS and tb in _STRS:
        return bool(a < b)
    if ta is bool and tb is bool:
        return bool(a < b)
    if ta is tb and ta in (list, dict, type(None), Range, bytearray):
        raise fn_not_found("<", a, b)
    return None


def compare(op: str, a: Any, b: Any) -> bool:
    """Comparison operators; mismatched types compare false (``!=`` true) instead of raising."""
    if op == "==":
        return values_equal(a, b)
    if op == "!=":
        return not values_equal(a, b)
    if op == "<":
        r = _lt(a, b)
    elif op == ">":
        r = _lt(b, a)
    elif op == "<=":
        r = _lt(b, a)
        r = None if r is None else not r and not _is_nan_pair(a, b)
    else:
        r = _lt(a, b)
        r = None if r is None else not r and not _is_nan_pair(a, b)
    if r is None:
        if type(a) is type(b) or (type(a) in _NUMS and type(b) in _NUMS):
            raise fn_not_found(op, a, b)
        return False
    return r


def _float_lt(x: float, y: float) -> bool:
    if x != x or y != y or x == y:
        return False
    if math.isinf(x) or math.isinf(y):
        return x < y
    m = 1.0 if x * y == 0.0 else max(abs(x), abs(y))
    return (y - x) / m > EPSILON


def _cmp(op: str, fast: Callable[[float, float], bool]) -> Callable[[Any, Any, Any], bool]:
    def slow(c: Any, a: Any, b: Any) -> bool:
        if type(a) is float and type(b) is float:
            return fast(a, b)
        return compare(op, a, b)

    return slow


# Slow paths of the compiled comparison nodes, with the common float-float case first.
COMPARE: dict[str, Callable[[Any, Any, Any], bool]] = {
    "==": _cmp("==", float_eq),
    "!=": _cmp("!=", lambda x, y: not float_eq(x, y)),
    "<": _cmp("<", _float_lt),
    ">": _cmp(">", lambda x, y: _float_lt(y, x)),
    "<=": _cmp("<=", lambda x, y: x == x and y == y and not _float_lt(y, x)),
    ">=": _cmp(">=", lambda x, y: x == x and y == y and not _float_lt(x, y)),
}


def _is_nan_pair(a: Any, b: Any) -> bool:
    return (type(a) is float and a != a) or (type(b) is float and b != b)


def contains(container: Any, item: Any) -> bool:
    """The ``in`` operator: substring, array element, map key or range member."""
    t = type(container)
    if t is str or t is Char:
        if type(item) in _STRS:
            return item in container
        raise fn_not_found("contains", container, item)
    if t is list:
        return any(values_equal(x, item) for x in container)
    if t is dict:
        if type(item) in _STRS:
            return str(item) in container
        raise fn_not_found("contains", container, item)
    if t is Range:
        if type(item) is int:
            return bool(container.start <= item < container.stop())
        raise fn_not_found("contains", container, item)
    if t is bytearray:
        if type(item) is int:
            return item in container
        raise fn_not_found("contains", container, item)
    raise fn_not_found("contains", container, item)


def negate(a: Any) -> Any:
    """Unary minus."""
    if type(a) is int:
        if a == INT_MIN:
            raise arith_error(f"Negation overflow: -{a}")
        return -a
    if type(a) is float:
        return -a
    raise fn_not_found("-", a)


def _eq_float(a: float, b: float) -> bool:
    return float_eq(a, b)


BINARY: dict[str, Callable[..., Any]] = {
    "+": add,
    "-": sub,
    "*": _numeric("*", lambda a, b: check_int(a * b, "Multiplication", a, b), lambda a, b: a * b),
    "/": _numeric("/", div_int, float_div),
    "%": _numeric("%", mod_int, float_mod),
    "**": _numeric("**", pow_int, float_pow),
    "<<": _bits("<<", shl_int, None),
    ">>": _bits(">>", shr_int, None),
    "&": _bits("&", lambda a, b: a & b, lambda a, b: a and b),
    "|": _bits("|", lambda a, b: a | b, lambda a, b: a or b),
    "^": _bits("^", lambda a, b: a ^ b, lambda a, b: a != b),
}
