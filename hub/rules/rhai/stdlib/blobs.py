"""BLOB (byte array) functions."""

from __future__ import annotations

from typing import Any

from ..errors import RhaiError
from ..values import INT_MAX, Range
from .registry import ANY, INT, native
from .strings import clamp_span

__all__: list[str] = []

B = bytearray


def _new(c: Any, n: int, v: int) -> bytearray:
    if (c.max_array and n > c.max_array) or n > 64 * 1024 * 1024:
        raise RhaiError("ErrorDataTooLarge", "Size of array/BLOB too large")
    return bytearray([v & 0xFF]) * max(n, 0)


@native("blob")
def _blob(c: Any) -> bytearray:
    return bytearray()


@native("blob", INT)
def _blob_n(c: Any, n: int) -> bytearray:
    return _new(c, n, 0)


@native("blob", INT, INT)
def _blob_nv(c: Any, n: int, v: int) -> bytearray:
    return _new(c, n, v)


@native("len", B)
def _len(c: Any, b: bytearray) -> int:
    return len(b)


@native("is_empty", B)
def _empty(c: Any, b: bytearray) -> bool:
    return not b


@native("push", B, INT, pure=False)
def _push(c: Any, b: bytearray, v: int) -> None:
    b.append(v & 0xFF)
    c.check_size(b)


@native("insert", B, INT, INT, pure=False)
def _insert(c: Any, b: bytearray, i: int, v: int) -> None:
    j = max(len(b) + i, 0) if i < 0 else min(i, len(b))
    b.insert(j, v & 0xFF)
    c.check_size(b)


@native("get", B, INT)
def _get(c: Any, b: bytearray, i: int) -> Any:
    j = len(b) + i if i < 0 else i
    return b[j] if 0 <= j < len(b) else 0


@native("to_array", B)
def _to_array(c: Any, b: bytearray) -> list[Any]:
    return list(b)


def _span(b: bytearray, start: int, n: int) -> tuple[int, int]:
    s, e = clamp_span(len(b), start, n)
    return s, min(e, s + 8)


def _span_r(b: bytearray, r: Range) -> tuple[int, int]:
    s = max(min(r.start, len(b)), 0)
    e = r.end + 1 if r.inclusive and r.end < INT_MAX else r.end
    e = max(min(e, len(b)), s)
    return s, min(e, s + 8)


def _parse(b: bytearray, s: int, e: int, order: str) -> int:
    # Missing bytes are zero on the high side: after the data for both byte orders.
    buf = bytes(b[s:e]) + bytes(8 - (e - s))
    return int.from_bytes(buf, "little" if order == "little" else "big", signed=True)


@native("parse_le_int", B, INT, INT)
def _ple(c: Any, b: bytearray, start: int, n: int) -> int:
    return _parse(b, *_span(b, start, n), "little")


@native("parse_le_int", B, Range)
def _ple_r(c: Any, b: bytearray, r: Range) -> int:
    return _parse(b, *_span_r(b, r), "little")


@native("parse_be_int", B, INT, INT)
def _pbe(c: Any, b: bytearray, start: int, n: int) -> int:
    return _parse(b, *_span(b, start, n), "big")


@native("parse_be_int", B, Range)
def _pbe_r(c: Any, b: bytearray, r: Range) -> int:
    return _parse(b, *_span_r(b, r), "big")


def _write(b: bytearray, s: int, e: int, v: int, order: str) -> None:
    data = (v & (2**64 - 1)).to_bytes(8, "little" if order == "little" else "big")
    b[s:e] = data[: e - s]


@native("write_le", B, INT, INT, INT, pure=False)
def _wle(c: Any, b: bytearray, start: int, n: int, v: int) -> None:
    _write(b, *_span(b, start, n), v, "little")


@native("write_be", B, INT, INT, INT, pure=False)
def _wbe(c: Any, b: bytearray, start: int, n: int, v: int) -> None:
    _write(b, *_span(b, start, n), v, "big")


@native("write_le", B, Range, INT, pure=False)
def _wle_r(c: Any, b: bytearray, r: Range, v: int) -> None:
    _write(b, *_span_r(b, r), v, "little")


@native("write_be", B, Range, INT, pure=False)
def _wbe_r(c: Any, b: bytearray, r: Range, v: int) -> None:
    _write(b, *_span_r(b, r), v, "big")


_ = ANY
