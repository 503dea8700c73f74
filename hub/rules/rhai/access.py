"""Indexing and properties: ``a[i]``, ``s[1..3]``, bit fields, ``m.k``, and their assignment forms."""

from __future__ import annotations

from typing import Any

from .errors import RhaiError
from .runtime import NOTHING, Ctx, check_grow, find_native
from .stdlib.numbers import set_bits
from .stdlib.registry import Mut
from .values import INT_MAX, Char, Range, type_of

__all__ = ["get_index", "get_prop", "set_index", "set_prop"]

_NOTHING = NOTHING


def _norm_index(i: int, n: int, kind: str, what: str) -> int:
    j = i + n if i < 0 else i
    if not 0 <= j < n:
        unit = {"Array": "elements in array", "Blob": "bytes in BLOB", "String": "characters in string"}
        message = f"{what} index {i} out of bounds: only {n} {unit.get(what, 'bits')}"
        raise RhaiError(kind, message, detail=str(i))
    return j


def _range_bounds(r: Range, n: int) -> tuple[int, int]:
    start = max(r.start, 0)
    end = r.end + 1 if r.inclusive and r.end < INT_MAX else r.end
    end = max(min(end, n), start)
    return min(start, n), end


def get_index(c: Ctx, obj: Any, idx: Any) -> Any:
    """``obj[idx]`` for arrays, maps, strings, blobs and integer bit fields."""
    t = type(obj)
    ti = type(idx)
    if t is list and ti is int:
        return obj[_norm_index(idx, len(obj), "ErrorArrayBounds", "Array")]
    if t is dict and (ti is str or ti is Char):
        v = obj.get(idx, _NOTHING)
        if v is _NOTHING:
            if c.opts.fail_on_invalid_map_property:
                raise RhaiError("ErrorPropertyNotFound", f"Property not found: {idx}", detail=str(idx))
            return None
        return v
    if t is str or t is Char:
        if ti is int:
            return Char(obj[_norm_index(idx, len(obj), "ErrorStringBounds", "String")])
        if ti is Range:
            a, b = _range_bounds(idx, len(obj))
            return obj[a:b]
    if t is bytearray and ti is int:
        return obj[_norm_index(idx, len(obj), "ErrorArrayBounds", "Blob")]
    if t is int:
        if ti is int:
            bit = _norm_index(idx, 64, "ErrorBitFieldBounds", "Bit-field")
            return bool((obj >> bit) & 1)
        if ti is Range:
            if idx.start < 0 or idx.stop() > 64 or idx.start > idx.stop():
                raise RhaiError("ErrorBitFieldBounds", f"Bit-field index {idx} out of bounds")
            width = idx.stop() - idx.start
            return (obj >> idx.start) & ((1 << width) - 1)
    if obj is None:
        raise RhaiError("ErrorIndexingType", f"Indexer unavailable: () [{type_of(idx)}]")
    raise RhaiError("ErrorIndexingType", f"Indexer unavailable: {type_of(obj)} [{type_of(idx)}]")


def set_index(c: Ctx, obj: Any, idx: Any, value: Any) -> Any:
    """``obj[idx] = value``; returns the replacement for immutable receivers (strings, ints), else _NOTHING."""
    t = type(obj)
    ti = type(idx)
    if t is list and ti is int:
        obj[_norm_index(idx, len(obj), "ErrorArrayBounds", "Array")] = value
        check_grow(c, obj, value)
        return _NOTHING
    if t is dict and (ti is str or ti is Char):
        obj[str(idx)] = value
        check_grow(c, obj, value)
        return _NOTHING
    if t is bytearray and ti is int:
        obj[_norm_index(idx, len(obj), "ErrorArrayBounds", "Blob")] = (
            value & 0xFF if type(value) is int else 0
        )
        return _NOTHING
    if t is str or t is Char:
        if ti is int and type(value) is Char:
            j = _norm_index(idx, len(obj), "ErrorStringBounds", "String")
            return obj[:j] + value + obj[j + 1 :]
        if ti is Range and type(value) in (str, Char):
            a, b = _range_bounds(idx, len(obj))
            new = obj[:a] + value + obj[b:]
            c.check_size(new)
            return new
    if t is int:
        if ti is int and type(value) is bool:
            bit = _norm_index(idx, 64, "ErrorBitFieldBounds", "Bit-field")
            v = (obj | (1 << bit)) if value else (obj & ~(1 << bit))
            return v - 2**64 if v > INT_MAX else v
        if ti is Range and type(value) is int:
            return set_bits(obj, idx.start, idx.stop() - idx.start, value)
    raise RhaiError("ErrorIndexingType", f"Indexer unavailable: {type_of(obj)} [{type_of(idx)}]")


def get_prop(c: Ctx, obj: Any, name: str) -> Any:
    """``obj.name``: a map key, or a getter-style native such as ``len`` or ``is_even``."""
    if type(obj) is dict:
        v = obj.get(name, _NOTHING)
        if v is _NOTHING:
            if c.opts.fail_on_invalid_map_property:
                raise RhaiError("ErrorPropertyNotFound", f"Property not found: {name}", detail=name)
            return None
        return v
    hit = find_native(c, name, [obj])
    if hit is None:
        raise RhaiError(
            "ErrorDotExpr",
            f"Unknown property '{name}' - a getter is not registered for type '{type_of(obj)}'",
        )
    r = hit[0](c, obj)
    return r.result if type(r) is Mut else r


def set_prop(c: Ctx, obj: Any, name: str, value: Any) -> None:
    """``obj.name = value`` on a map."""
    if type(obj) is dict:
        obj[name] = value
        check_grow(c, obj, value)
        return
    raise RhaiError(
        "ErrorDotExpr", f"Unknown property '{name}' - a setter is not registered for type '{type_of(obj)}'"
    )
