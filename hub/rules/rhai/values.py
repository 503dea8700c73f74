"""Script values: the Python types that stand for Rhai's, their names, display and equality."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from .errors import RhaiError

__all__ = [
    "EPSILON",
    "INT_MAX",
    "INT_MIN",
    "UNBOUND",
    "Cell",
    "Char",
    "FnPtr",
    "Range",
    "Timestamp",
    "copy_value",
    "debug_string",
    "display",
    "float_eq",
    "format_float",
    "from_host",
    "type_name",
    "type_of",
    "values_equal",
]

INT_MAX = 2**63 - 1
INT_MIN = -(2**63)
EPSILON = 2.220446049250313e-16


class Char(str):
    """A Rhai ``char``: a one-character string of its own type."""

    __slots__ = ()


class Range:
    """An integer range ``a..b`` or ``a..=b``; ``end`` is None for an open end."""

    __slots__ = ("end", "inclusive", "start")

    def __init__(self, start: int, end: int, inclusive: bool) -> None:
        self.start = start
        self.end = end
        self.inclusive = inclusive

    def stop(self) -> int:
        """The exclusive upper bound."""
        return self.end + 1 if self.inclusive else self.end

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and (self.start, self.end, self.inclusive) == (
            other.start,
            other.end,
            other.inclusive,
        )

    def __hash__(self) -> int:
        return hash((self.start, self.end, self.inclusive))

    def __repr__(self) -> str:
        if self.end == INT_MAX and not self.inclusive:
            return f"{self.start}.."  # an open-ended range, as Rhai prints it
        return f"{self.start}..{'=' if self.inclusive else ''}{self.end}"


class FnPtr:
    """A function pointer: a function name plus curried arguments."""

    __slots__ = ("curry", "name")

    def __init__(self, name: str, curry: list[Any] | None = None) -> None:
        self.name = name
        self.curry = curry or []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FnPtr) and self.name == other.name and self.curry == other.curry

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Fn({self.name})"


class Cell:
    """A variable shared between a scope and the closures that captured it."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v


class Timestamp:
    """A point in time from ``timestamp()``, in seconds of a monotonic clock."""

    __slots__ = ("t",)

    def __init__(self, t: float) -> None:
        self.t = t

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timestamp) and self.t == other.t

    def __hash__(self) -> int:
        return hash(self.t)


_NAMES: dict[type, str] = {
    int: "i64",
    float: "f64",
    bool: "bool",
    str: "string",
    Char: "char",
    list: "array",
    dict: "map",
    bytearray: "blob",
    bytes: "blob",
    type(None): "()",
    FnPtr: "Fn",
    Timestamp: "timestamp",
}


def type_of(value: Any) -> str:
    """Rhai's ``type_of()`` name for a value."""
    name = _NAMES.get(type(value))
    if name is not None:
        return name
    if type(value) is Range:
        return "range=" if value.inclusive else "range"
    if type(value) is Cell:
        return type_of(value.v)
    return type(value).__name__


def type_name(value: Any) -> str:
    """The type name used inside error messages."""
    return type_of(value)


def format_float(x: float) -> str:
    """Format a float the way Rhai's Display does (shortest round trip, exponent outside 1e-13..1e13)."""
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    a = abs(x)
    text = repr(x)
    if a > 1e13 or a < 1e-13:
        sign, digits, exp = Decimal(text).as_tuple()
        ds = "".join(map(str, digits)).rstrip("0") or "0"
        e = exp + len(digits) - 1  # type: ignore[operator]
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{'-' if sign else ''}{mant}e{e}"
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if "." not in text:
        text += ".0"
    return text


def display(value: Any) -> str:
    """``to_string`` of a value: what ``print`` and interpolation show."""
    t = type(value)
    if t is str or t is Char:
        return str(value)
    if t is int:
        return str(value)
    if t is float:
        return format_float(value)
    if t is bool:
        return "true" if value else "false"
    if value is None:
        return ""
    return debug_string(value)


_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "\0": "\\0"}


def _quote(s: str, q: str) -> str:
    out = []
    for ch in s:
        if ch == q:
            out.append("\\" + q)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return q + "".join(out) + q


def debug_string(value: Any) -> str:
    """``to_debug``: Rust Debug style, strings quoted, containers recursive."""
    t = type(value)
    if t is str:
        return _quote(value, '"')
    if t is Char:
        return _quote(value, "'")
    if t is int:
        return str(value)
    if t is float:
        return format_float(value)
    if t is bool:
        return "true" if value else "false"
    if value is None:
        return "()"
    if t is list:
        return "[" + ", ".join(debug_string(v) for v in value) + "]"
    if t is dict:
        items = sorted(value.items())
        return "#{" + ", ".join(f"{_quote(k, chr(34))}: {debug_string(v)}" for k, v in items) + "}"
    if t is bytearray or t is bytes:
        return "[" + "".join(f"{b:02x}" for b in value) + "]"
    if t is Range:
        return repr(value)
    if t is FnPtr:
        return f"Fn({value.name})"
    if t is Cell:
        return debug_string(value.v)
    if t is Timestamp:
        return "<timestamp>"
    return f"<{type(value).__name__}>"


def copy_value(v: Any) -> Any:
    """Copy arrays, maps and blobs, which have value semantics in Rhai."""
    t = type(v)
    if t is list:
        return [copy_value(x) if type(x) in _CONTAINERS else x for x in v]
    if t is dict:
        return {k: copy_value(x) if type(x) in _CONTAINERS else x for k, x in v.items()}
    if t is bytearray:
        return bytearray(v)
    return v


_CONTAINERS = frozenset({list, dict, bytearray})


def float_eq(x: float, y: float) -> bool:
    """Rhai's checked-build float equality with a relative epsilon."""
    if x == y:
        return True
    if x != x or y != y or math.isinf(x) or math.isinf(y):
        return False
    m = 1.0 if x * y == 0.0 else max(abs(x), abs(y))
    return abs(x - y) / m <= EPSILON


def values_equal(a: Any, b: Any) -> bool:
    """``==`` between two script values; different types are simply unequal."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        return bool(a == b)
    if (ta is float or ta is int) and (tb is float or tb is int):
        return float_eq(float(a), float(b))
    if (ta is str or ta is Char) and (tb is str or tb is Char):
        return bool(a == b)
    if ta is not tb:
        if ta in (bytes, bytearray) and tb in (bytes, bytearray):
            return bool(a == b)
        return False
    if ta is list:
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if ta is dict:
        return a.keys() == b.keys() and all(values_equal(v, b[k]) for k, v in a.items())
    return bool(a == b)


_SCRIPT_TYPES = frozenset({Char, FnPtr, Range, Timestamp})


def from_host(v: Any) -> Any:
    """Turn a host value into a script value, refusing anything without a Rhai type."""
    t = type(v)
    if t is float or t is str or t is bool or v is None:
        return v
    if t is int:
        if not INT_MIN <= v <= INT_MAX:
            raise RhaiError("ErrorArithmetic", f"Integer out of range: {v}")
        return v
    if t is dict:
        return {k if type(k) is str else str(k): from_host(x) for k, x in v.items()}
    if t is list:
        return [from_host(x) for x in v]
    if t in _SCRIPT_TYPES:
        return v
    if t is bytearray or t is bytes:
        return bytearray(v)
    if isinstance(v, (list, tuple)):
        return [from_host(x) for x in v]
    if isinstance(v, dict):
        return {str(k): from_host(x) for k, x in v.items()}
    if isinstance(v, str):
        return Char(v) if isinstance(v, Char) else str(v)
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return from_host(int(v))
    if isinstance(v, (float, Decimal)):
        return float(v)  # database NUMERIC columns arrive as Decimal; Rhai's FLOAT is f64
    raise RhaiError(
        "ErrorMismatchDataType", f"Data type incorrect: {type(v).__name__} (expecting a Rhai value)"
    )


class _Unbound:
    """Marks a frame with no ``this`` receiver."""

    def __repr__(self) -> str:
        return "<unbound>"


UNBOUND: Any = _Unbound()
