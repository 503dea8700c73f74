"""Type inspection, conversion to text and JSON, ranges, function pointers and timestamps."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from ..errors import RhaiError
from ..runtime import Iter
from ..values import Char, FnPtr, Range, Timestamp, debug_string, display, format_float, type_of
from .registry import ANY, INT, STR, Mut, native

__all__: list[str] = []


@native("type_of", ANY)
def _type_of(c: Any, x: Any) -> str:
    return type_of(x)


@native("to_string", ANY)
def _to_string(c: Any, x: Any) -> str:
    return display(x)


@native("to_debug", ANY)
def _to_debug(c: Any, x: Any) -> str:
    return debug_string(x)


def _json(v: Any) -> str:
    t = type(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return format_float(v) if math.isfinite(v) else "null"
    if t is str or t is Char:
        return json.dumps(str(v), ensure_ascii=False)
    if t is list:
        return "[" + ",".join(_json(x) for x in v) + "]"
    if t is dict:
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_json(x)}" for k, x in sorted(v.items()))
            + "}"
        )
    return json.dumps(display(v), ensure_ascii=False)


@native("to_json", dict)
def _to_json(c: Any, m: dict[str, Any]) -> str:
    return _json(m)


def _from_json(v: Any) -> Any:
    if isinstance(v, list):
        return [_from_json(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _from_json(x) for k, x in v.items()}
    return v


@native("parse_json", STR)
def _parse_json(c: Any, s: str) -> Any:
    try:
        value = json.loads(s, parse_constant=lambda _: None)
    except (ValueError, RecursionError):
        raise RhaiError("ErrorRuntime", "Invalid JSON", value="Invalid JSON") from None
    out = _from_json(value)
    c.check_size(out)
    return out


# --- ranges ----------------------------------------------------------------------------------
@native("range", INT, INT)
def _range(c: Any, a: int, b: int) -> Range:
    return Range(a, b, False)


@native("range", INT, INT, INT)
def _range_step(c: Any, a: int, b: int, step: int) -> Iter:
    if step == 0:
        raise RhaiError("ErrorArithmetic", "step value cannot be zero")
    return Iter(range(a, b, step))


def _float_steps(a: float, b: float, step: float) -> Any:
    x = a
    while (step > 0 and x < b) or (step < 0 and x > b):
        yield x
        x += step


@native("range", float, float, float)
def _range_float(c: Any, a: float, b: float, step: float) -> Iter:
    if step == 0:
        raise RhaiError("ErrorArithmetic", "step value cannot be zero")
    return Iter(_float_steps(a, b, step))


@native("start", Range)
def _start(c: Any, r: Range) -> int:
    return r.start


@native("end", Range)
def _end(c: Any, r: Range) -> int:
    return r.end


@native("is_inclusive", Range)
def _is_inclusive(c: Any, r: Range) -> bool:
    return r.inclusive


@native("is_exclusive", Range)
def _is_exclusive(c: Any, r: Range) -> bool:
    return not r.inclusive


@native("len", Range)
def _range_len(c: Any, r: Range) -> int:
    return max(r.stop() - r.start, 0)


@native("is_empty", Range)
def _range_empty(c: Any, r: Range) -> bool:
    return r.stop() <= r.start


@native("contains", Range, INT)
def _range_contains(c: Any, r: Range, x: int) -> bool:
    return r.start <= x < r.stop()


# --- function pointers and time -----------------------------------------------------------------
@native("name", FnPtr)
def _fn_name(c: Any, fp: FnPtr) -> str:
    return fp.name


@native("is_anonymous", FnPtr)
def _fn_anon(c: Any, fp: FnPtr) -> bool:
    return fp.name.startswith("anon$")


@native("timestamp")
def _timestamp(c: Any) -> Timestamp:
    return Timestamp(time.monotonic())


@native("elapsed", Timestamp)
def _elapsed(c: Any, t: Timestamp) -> float:
    return time.monotonic() - t.t


@native("take", ANY, pure=False)
def _take(c: Any, x: Any) -> Any:
    return Mut(x, None)
