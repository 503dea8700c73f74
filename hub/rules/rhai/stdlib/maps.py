"""Object map functions; keys and values come out sorted by key, as from Rust's BTreeMap."""

from __future__ import annotations

from typing import Any

from ..runtime import call_callback, check_grow
from ..values import FnPtr, copy_value, values_equal
from .registry import ANY, STR, native

__all__: list[str] = []

M = dict


@native("len", M)
def _len(c: Any, m: dict[str, Any]) -> int:
    return len(m)


@native("is_empty", M)
def _is_empty(c: Any, m: dict[str, Any]) -> bool:
    return not m


@native("keys", M)
def _keys(c: Any, m: dict[str, Any]) -> list[Any]:
    return sorted(m)


@native("values", M)
def _values(c: Any, m: dict[str, Any]) -> list[Any]:
    return [copy_value(m[k]) for k in sorted(m)]


@native("contains", M, STR)
def _contains(c: Any, m: dict[str, Any], k: str) -> bool:
    return str(k) in m


@native("get", M, STR)
def _get(c: Any, m: dict[str, Any], k: str) -> Any:
    return m.get(str(k))


@native("set", M, STR, ANY, pure=False)
def _set(c: Any, m: dict[str, Any], k: str, v: Any) -> None:
    m[str(k)] = v
    check_grow(c, m, v)


@native("remove", M, STR, pure=False)
def _remove(c: Any, m: dict[str, Any], k: str) -> Any:
    return m.pop(str(k), None)


@native("clear", M, pure=False)
def _clear(c: Any, m: dict[str, Any]) -> None:
    m.clear()


@native("mixin", M, M, pure=False)
def _mixin(c: Any, m: dict[str, Any], other: dict[str, Any]) -> None:
    m.update(copy_value(other))
    c.check_size(m)


@native("fill_with", M, M, pure=False)
def _fill_with(c: Any, m: dict[str, Any], other: dict[str, Any]) -> None:
    for k, v in other.items():
        if k not in m:
            m[k] = copy_value(v)
    c.check_size(m)


@native("filter", M, FnPtr)
def _filter(c: Any, m: dict[str, Any], fp: FnPtr) -> dict[str, Any]:
    return {k: copy_value(v) for k, v in sorted(m.items()) if call_callback(c, fp, [k, v]) is True}


@native("drain", M, FnPtr, pure=False)
def _drain(c: Any, m: dict[str, Any], fp: FnPtr) -> dict[str, Any]:
    gone = {k: v for k, v in sorted(m.items()) if call_callback(c, fp, [k, v]) is True}
    for k in gone:
        del m[k]
    return gone


@native("retain", M, FnPtr, pure=False)
def _retain(c: Any, m: dict[str, Any], fp: FnPtr) -> dict[str, Any]:
    gone = {k: v for k, v in sorted(m.items()) if call_callback(c, fp, [k, v]) is not True}
    for k in gone:
        del m[k]
    return gone


@native("==", M, M)
def _eq(c: Any, a: dict[str, Any], b: dict[str, Any]) -> bool:
    return values_equal(a, b)


@native("map", M, FnPtr)
def _map(c: Any, m: dict[str, Any], fp: FnPtr) -> dict[str, Any]:
    return {k: call_callback(c, fp, [k, v]) for k, v in sorted(m.items())}
