"""BLOB (byte array) functions."""

from __future__ import annotations

import struct
from typing import Any

from ..errors import RhaiError
from ..values import INT_MAX, Range
from .registry import INT, STR, native
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


@native("contains", B, INT)
def _contains(c: Any, b: bytearray, v: int) -> bool:
    return v in b if 0 <= v <= 255 else False


@native("set", B, INT, INT, pure=False)
def _set(c: Any, b: bytearray, i: int, v: int) -> None:
    j = len(b) + i if i < 0 else i
    if 0 <= j < len(b):
        b[j] = v & 0xFF


@native("pad", B, INT, INT, pure=False)
def _pad(c: Any, b: bytearray, n: int, v: int) -> None:
    if n > len(b):
        b.extend(_new(c, n - len(b), v))
        c.check_size(b)


@native("append", B, B, pure=False)
def _append_blob(c: Any, b: bytearray, x: bytearray) -> None:
    b.extend(x)
    c.check_size(b)


@native("append", B, INT, pure=False)
def _append_byte(c: Any, b: bytearray, v: int) -> None:
    b.append(v & 0xFF)
    c.check_size(b)


@native("append", B, STR, pure=False)
def _append_text(c: Any, b: bytearray, s: str) -> None:
    b.extend(str(s).encode())
    c.check_size(b)


@native("as_string", B)
def _as_string(c: Any, b: bytearray) -> str:
    return b.decode("utf-8", errors="replace")


@native("to_blob", STR)
def _to_blob(c: Any, s: str) -> bytearray:
    return bytearray(str(s).encode())


def _write_text(b: bytearray, s: int, e: int, text: str, ascii_only: bool) -> None:
    data = text.encode("ascii", errors="ignore") if ascii_only else text.encode()
    n = min(e - s, len(data))
    b[s : s + n] = data[:n]


@native("write_utf8", B, INT, INT, STR, pure=False)
def _wutf8(c: Any, b: bytearray, start: int, n: int, text: str) -> None:
    s, e = clamp_span(len(b), start, n)
    _write_text(b, s, e, str(text), False)


@native("write_utf8", B, Range, STR, pure=False)
def _wutf8_r(c: Any, b: bytearray, r: Range, text: str) -> None:
    s = max(min(r.start, len(b)), 0)
    e = max(min(r.stop(), len(b)), s)
    _write_text(b, s, e, str(text), False)


@native("write_ascii", B, INT, INT, STR, pure=False)
def _wascii(c: Any, b: bytearray, start: int, n: int, text: str) -> None:
    s, e = clamp_span(len(b), start, n)
    _write_text(b, s, e, str(text), True)


@native("write_ascii", B, Range, STR, pure=False)
def _wascii_r(c: Any, b: bytearray, r: Range, text: str) -> None:
    s = max(min(r.start, len(b)), 0)
    e = max(min(r.stop(), len(b)), s)
    _write_text(b, s, e, str(text), True)


def _parse_float(b: bytearray, s: int, e: int, order: str) -> float:
    buf = bytes(b[s:e]) + bytes(8 - (e - s))
    fmt = "<d" if order == "little" else ">d"
    return float(struct.unpack(fmt, buf)[0])


@native("parse_le_float", B, INT, INT)
def _plf(c: Any, b: bytearray, start: int, n: int) -> float:
    return _parse_float(b, *_span(b, start, n), "little")


@native("parse_le_float", B, Range)
def _plf_r(c: Any, b: bytearray, r: Range) -> float:
    return _parse_float(b, *_span_r(b, r), "little")


@native("parse_be_float", B, INT, INT)
def _pbf(c: Any, b: bytearray, start: int, n: int) -> float:
    return _parse_float(b, *_span(b, start, n), "big")


@native("parse_be_float", B, Range)
def _pbf_r(c: Any, b: bytearray, r: Range) -> float:
    return _parse_float(b, *_span_r(b, r), "big")


def _write_float(b: bytearray, s: int, e: int, v: float, order: str) -> None:
    data = struct.pack("<d" if order == "little" else ">d", v)
    b[s:e] = data[: e - s]


@native("write_le", B, INT, INT, float, pure=False)
def _wlef(c: Any, b: bytearray, start: int, n: int, v: float) -> None:
    _write_float(b, *_span(b, start, n), v, "little")


@native("write_be", B, INT, INT, float, pure=False)
def _wbef(c: Any, b: bytearray, start: int, n: int, v: float) -> None:
    _write_float(b, *_span(b, start, n), v, "big")


@native("write_le", B, Range, float, pure=False)
def _wlef_r(c: Any, b: bytearray, r: Range, v: float) -> None:
    _write_float(b, *_span_r(b, r), v, "little")


@native("write_be", B, Range, float, pure=False)
def _wbef_r(c: Any, b: bytearray, r: Range, v: float) -> None:
    _write_float(b, *_span_r(b, r), v, "big")
