"""Number functions: checked integer math, float math (FLOAT arguments only), conversions, bit fields."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import RhaiError
from ..ops import check_int
from ..runtime import Iter
from ..values import INT_MAX, INT_MIN, Char, Range
from .registry import INT, NUM, STR, Mut, native

__all__ = ["set_bits"]

F = float


def _arith(message: str) -> RhaiError:
    return RhaiError("ErrorArithmetic", message)


@native("abs", INT)
def _abs(c: Any, x: int) -> int:
    return check_int(abs(x), "Negation", 0, x)


@native("abs", F)
def _abs_f(c: Any, x: float) -> float:
    return abs(x)


@native("sign", INT)
def _sign(c: Any, x: int) -> int:
    return (x > 0) - (x < 0)


@native("sign", F)
def _sign_f(c: Any, x: float) -> int:
    if x != x:
        raise _arith("Cannot get the sign of NaN")
    return (x > 0) - (x < 0)


@native("min", INT, INT)
def _min(c: Any, a: int, b: int) -> int:
    return min(a, b)


@native("max", INT, INT)
def _max(c: Any, a: int, b: int) -> int:
    return max(a, b)


@native("min", NUM, NUM)
def _min_f(c: Any, a: float, b: float) -> float:
    return float(min(a, b))


@native("max", NUM, NUM)
def _max_f(c: Any, a: float, b: float) -> float:
    return float(max(a, b))


def _float_fn(name: str, fn: Callable[[float], float]) -> None:
    def apply(c: Any, x: float) -> float:
        try:
            return fn(x)
        except (ValueError, OverflowError):
            return math.nan if (x == x and not math.isinf(x)) or name != "exp" else math.inf

    native(name, F)(apply)


def _round_half_away(x: float) -> float:
    if math.isinf(x) or x != x:
        return x
    return float(math.copysign(math.floor(abs(x) + 0.5), x))


for _name, _fn in {
    "floor": lambda x: float(math.floor(x)) if math.isfinite(x) else x,
    "ceiling": lambda x: float(math.ceil(x)) if math.isfinite(x) else x,
    "round": _round_half_away,
    "int": lambda x: float(math.trunc(x)) if math.isfinite(x) else x,
    "fraction": lambda x: x - math.trunc(x) if math.isfinite(x) else math.nan,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "ln": math.log,
    "log": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "asinh": math.asinh,
    "acosh": math.acosh,
    "atanh": math.atanh,
    "to_degrees": math.degrees,
    "to_radians": math.radians,
}.items():
    _float_fn(_name, _fn)


@native("log", F, F)
def _log_base(c: Any, x: float, base: float) -> float:
    try:
        return math.log(x) / math.log(base)
    except (ValueError, ZeroDivisionError):
        return math.nan


@native("atan", F, F)
def _atan2(c: Any, y: float, x: float) -> float:
    return math.atan2(y, x)


@native("hypot", F, F)
def _hypot(c: Any, x: float, y: float) -> float:
    return math.hypot(x, y)


@native("PI")
def _pi(c: Any) -> float:
    return math.pi


@native("E")
def _e(c: Any) -> float:
    return math.e


@native("is_nan", F)
def _is_nan(c: Any, x: float) -> bool:
    return x != x


@native("is_finite", F)
def _is_finite(c: Any, x: float) -> bool:
    return math.isfinite(x)


@native("is_infinite", F)
def _is_inf(c: Any, x: float) -> bool:
    return math.isinf(x)


@native("is_odd", INT)
def _is_odd(c: Any, x: int) -> bool:
    return x % 2 != 0


@native("is_even", INT)
def _is_even(c: Any, x: int) -> bool:
    return x % 2 == 0


@native("is_zero", NUM)
def _is_zero(c: Any, x: float) -> bool:
    return x == 0


def _radix(x: int, fmt: str) -> str:
    return format(x & (2**64 - 1) if x < 0 else x, fmt)


@native("to_hex", INT)
def _hex(c: Any, x: int) -> str:
    return _radix(x, "x")


@native("to_octal", INT)
def _oct(c: Any, x: int) -> str:
    return _radix(x, "o")


@native("to_binary", INT)
def _bin(c: Any, x: int) -> str:
    return _radix(x, "b")


@native("to_int", INT)
def _to_int(c: Any, x: int) -> int:
    return x


@native("to_int", F)
def _to_int_f(c: Any, x: float) -> int:
    if not math.isfinite(x) or not INT_MIN <= math.trunc(x) <= INT_MAX:
        raise _arith(f"Integer overflow: to_int({x})")
    return math.trunc(x)


@native("to_float", NUM)
def _to_float(c: Any, x: float) -> float:
    return float(x)


@native("parse_int", STR)
def _parse_int(c: Any, s: str) -> int:
    return _parse_int_radix(c, s, 10)


@native("parse_int", STR, INT)
def _parse_int_radix(c: Any, s: str, radix: int) -> int:
    if not 2 <= radix <= 36:
        raise _arith(f"Invalid radix: '{radix}'")
    text = s.strip()
    try:
        if not text or "_" in text or text.lower().startswith(("0x", "0o", "0b", "+0x", "-0x")):
            raise ValueError(text)
        v = int(text, radix)
    except ValueError:
        raise _arith(f"Error parsing integer number '{s}': invalid digit found in string") from None
    if not INT_MIN <= v <= INT_MAX:
        raise _arith(f"Error parsing integer number '{s}': number too large to fit in target type")
    return v


@native("parse_float", STR)
def _parse_float(c: Any, s: str) -> float:
    text = s.strip()
    try:
        if not text or "_" in text:
            raise ValueError(text)
        return float(text)
    except ValueError:
        raise _arith(f"Error parsing floating-point number '{s}': invalid float literal") from None


@native("to_char", INT)
def _to_char(c: Any, x: int) -> Char:
    try:
        return Char(chr(x))
    except (ValueError, OverflowError):
        raise _arith(f"Integer out of range for a character: {x}") from None


# --- bit fields -------------------------------------------------------------------------------
def _bit_index(bit: int) -> int:
    j = bit + 64 if bit < 0 else bit
    if not 0 <= j < 64:
        raise RhaiError("ErrorBitFieldBounds", f"Bit-field index {bit} out of bounds: only 64 bits")
    return j


def _signed(v: int) -> int:
    v &= 2**64 - 1
    return v - 2**64 if v > INT_MAX else v


@native("get_bit", INT, INT)
def _get_bit(c: Any, x: int, bit: int) -> bool:
    return bool((x >> _bit_index(bit)) & 1)


@native("set_bit", INT, INT, bool, pure=False)
def _set_bit(c: Any, x: int, bit: int, on: bool) -> Any:
    j = _bit_index(bit)
    return Mut(None, _signed(x | (1 << j) if on else x & ~(1 << j)))


@native("get_bits", INT, INT, INT)
def _get_bits(c: Any, x: int, start: int, n: int) -> int:
    j = _bit_index(start)
    n = min(max(n, 0), 64 - j)
    return ((x & (2**64 - 1)) >> j) & ((1 << n) - 1)


@native("get_bits", INT, Range)
def _get_bits_r(c: Any, x: int, r: Range) -> int:
    return _get_bits(c, x, r.start, r.stop() - r.start)


def set_bits(x: int, start: int, n: int, value: int) -> int:
    """Replace ``n`` bits of ``x`` from bit ``start`` with the low bits of ``value``."""
    j = _bit_index(start)
    n = min(max(n, 0), 64 - j)
    mask = ((1 << n) - 1) << j
    return _signed(((x & (2**64 - 1)) & ~mask) | ((value << j) & mask))


@native("set_bits", INT, INT, INT, INT, pure=False)
def _set_bits(c: Any, x: int, start: int, n: int, value: int) -> Any:
    return Mut(None, set_bits(x, start, n, value))


@native("set_bits", INT, Range, INT, pure=False)
def _set_bits_r(c: Any, x: int, r: Range, value: int) -> Any:
    return Mut(None, set_bits(x, r.start, r.stop() - r.start, value))


@native("bits", INT)
def _bits(c: Any, x: int) -> Iter:
    return _bits_span(c, x, 0, 64)


@native("bits", INT, INT)
def _bits_from(c: Any, x: int, start: int) -> Iter:
    return _bits_span(c, x, start, 64)


@native("bits", INT, INT, INT)
def _bits_span(c: Any, x: int, start: int, n: int) -> Iter:
    j = _bit_index(start)
    n = min(max(n, 0), 64 - j)
    return Iter([bool((x >> k) & 1) for k in range(j, j + n)])


@native("bits", INT, Range)
def _bits_r(c: Any, x: int, r: Range) -> Iter:
    return _bits_span(c, x, r.start, r.stop() - r.start)
