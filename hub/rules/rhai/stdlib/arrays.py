"""Array functions; the ones that change the array do it in place (``pure=False``)."""

from __future__ import annotations

from functools import cmp_to_key
from typing import Any

from ..errors import RhaiError
from ..ops import fn_not_found
from ..runtime import call_callback, check_grow
from ..values import INT_MAX, FnPtr, Range, copy_value, values_equal
from .registry import ANY, INT, native
from .strings import clamp_span

__all__: list[str] = []

L = list
B = bytearray


def _span_r(n: int, r: Range) -> tuple[int, int]:
    start = max(r.start, 0)
    end = r.end + 1 if r.inclusive and r.end < INT_MAX else r.end
    end = max(min(end, n), start)
    return min(start, n), end


def _pos(n: int, i: int) -> int:
    return max(n + i, 0) if i < 0 else min(i, n)


@native("len", L)
def _len(c: Any, a: list[Any]) -> int:
    return len(a)


@native("is_empty", L)
def _is_empty(c: Any, a: list[Any]) -> bool:
    return not a


@native("push", L, ANY, pure=False)
def _push(c: Any, a: list[Any], x: Any) -> None:
    a.append(x)
    if (c.max_array and len(a) > c.max_array) or type(x) in (list, dict):
        c.check_size(a)


@native("append", L, L, pure=False)
def _append(c: Any, a: list[Any], b: list[Any]) -> None:
    a.extend(b)
    c.check_size(a)


@native("append", L, ANY, pure=False)
def _append_one(c: Any, a: list[Any], x: Any) -> None:
    _push(c, a, x)


@native("insert", L, INT, ANY, pure=False)
def _insert(c: Any, a: list[Any], i: int, x: Any) -> None:
    a.insert(_pos(len(a), i), x)
    check_grow(c, a, x)


@native("pop", L, pure=False)
@native("pop", B, pure=False)
def _pop(c: Any, a: list[Any]) -> Any:
    return a.pop() if a else None


@native("shift", L, pure=False)
@native("shift", B, pure=False)
def _shift(c: Any, a: list[Any]) -> Any:
    return a.pop(0) if a else None


@native("remove", L, INT, pure=False)
@native("remove", B, INT, pure=False)
def _remove(c: Any, a: list[Any], i: int) -> Any:
    j = len(a) + i if i < 0 else i
    return a.pop(j) if 0 <= j < len(a) else None


@native("clear", L, pure=False)
@native("clear", B, pure=False)
def _clear(c: Any, a: list[Any]) -> None:
    a.clear()


@native("truncate", L, INT, pure=False)
@native("truncate", B, INT, pure=False)
def _truncate(c: Any, a: list[Any], n: int) -> None:
    del a[max(n, 0) :]


@native("chop", L, INT, pure=False)
@native("chop", B, INT, pure=False)
def _chop(c: Any, a: list[Any], n: int) -> None:
    if n > 0:
        del a[: max(len(a) - n, 0)]


@native("pad", L, INT, ANY, pure=False)
def _pad(c: Any, a: list[Any], n: int, x: Any) -> None:
    if (c.max_array and n > c.max_array) or n > 64 * 1024 * 1024:
        raise RhaiError("ErrorDataTooLarge", "Size of array/BLOB too large")
    if type(x) in (list, dict, bytearray):
        a.extend(copy_value(x) for _ in range(n - len(a)))
    elif n > len(a):
        a.extend([x] * (n - len(a)))
    c.check_size(a)


@native("extract", L, INT)
@native("extract", B, INT)
def _extract1(c: Any, a: list[Any], start: int) -> list[Any]:
    s, e = clamp_span(len(a), start, INT_MAX)
    return copy_value(a[s:e])  # type: ignore[no-any-return]


@native("extract", L, INT, INT)
@native("extract", B, INT, INT)
def _extract2(c: Any, a: list[Any], start: int, n: int) -> list[Any]:
    s, e = clamp_span(len(a), start, n)
    return copy_value(a[s:e])  # type: ignore[no-any-return]


@native("extract", L, Range)
@native("extract", B, Range)
def _extract_r(c: Any, a: list[Any], r: Range) -> list[Any]:
    s, e = _span_r(len(a), r)
    return copy_value(a[s:e])  # type: ignore[no-any-return]


@native("splice", L, INT, INT, L, pure=False)
def _splice(c: Any, a: list[Any], start: int, n: int, b: list[Any]) -> None:
    s, e = clamp_span(len(a), start, n)
    a[s:e] = b
    c.check_size(a)


@native("splice", L, Range, L, pure=False)
def _splice_r(c: Any, a: list[Any], r: Range, b: list[Any]) -> None:
    s, e = _span_r(len(a), r)
    a[s:e] = b
    c.check_size(a)


@native("split", L, INT, pure=False)
@native("split", B, INT, pure=False)
def _split(c: Any, a: list[Any], i: int) -> list[Any]:
    j = _pos(len(a), i)
    rest = a[j:]
    del a[j:]
    return rest


@native("reverse", L, pure=False)
@native("reverse", B, pure=False)
def _reverse(c: Any, a: list[Any]) -> None:
    a.reverse()


@native("contains", L, ANY)
def _contains(c: Any, a: list[Any], x: Any) -> bool:
    return any(values_equal(v, x) for v in a)


def _predicate(c: Any, f: Any) -> FnPtr | None:
    if type(f) is FnPtr:
        return f
    if type(f) is str and any(k[0] == f for k in c.fns):
        return FnPtr(f)
    return None


@native("index_of", L, ANY)
def _index_of(c: Any, a: list[Any], x: Any) -> int:
    return _index_of_from(c, a, x, 0)


@native("index_of", L, ANY, INT)
def _index_of_from(c: Any, a: list[Any], x: Any, start: int) -> int:
    fp = _predicate(c, x)
    for i in range(_pos(len(a), start), len(a)):
        if (call_callback(c, fp, [a[i], i]) is True) if fp is not None else values_equal(a[i], x):
            return i
    return -1


@native("find", L, FnPtr)
def _find(c: Any, a: list[Any], fp: FnPtr) -> Any:
    for i, v in enumerate(list(a)):
        if call_callback(c, fp, [v, i]) is True:
            return v
    return None


@native("find_map", L, FnPtr)
def _find_map(c: Any, a: list[Any], fp: FnPtr) -> Any:
    for i, v in enumerate(list(a)):
        r = call_callback(c, fp, [v, i])
        if r is not None:
            return r
    return None


@native("filter", L, FnPtr)
def _filter(c: Any, a: list[Any], fp: FnPtr) -> list[Any]:
    return [copy_value(v) for i, v in enumerate(list(a)) if call_callback(c, fp, [v, i]) is True]


@native("map", L, FnPtr)
def _map(c: Any, a: list[Any], fp: FnPtr) -> list[Any]:
    return [call_callback(c, fp, [v, i]) for i, v in enumerate(list(a))]


@native("for_each", L, FnPtr)
def _for_each(c: Any, a: list[Any], fp: FnPtr) -> None:
    for i, v in enumerate(list(a)):
        call_callback(c, fp, [v, i])


@native("some", L, FnPtr)
def _some(c: Any, a: list[Any], fp: FnPtr) -> bool:
    return any(call_callback(c, fp, [v, i]) is True for i, v in enumerate(list(a)))


@native("all", L, FnPtr)
def _all(c: Any, a: list[Any], fp: FnPtr) -> bool:
    return all(call_callback(c, fp, [v, i]) is True for i, v in enumerate(list(a)))


@native("reduce", L, FnPtr)
def _reduce(c: Any, a: list[Any], fp: FnPtr) -> Any:
    return _reduce_init(c, a, fp, None)


@native("reduce", L, FnPtr, ANY)
def _reduce_init(c: Any, a: list[Any], fp: FnPtr, acc: Any) -> Any:
    for i, v in enumerate(list(a)):
        acc = call_callback(c, fp, [acc, v, i])
    return acc


@native("reduce_rev", L, FnPtr)
def _reduce_rev(c: Any, a: list[Any], fp: FnPtr) -> Any:
    return _reduce_rev_init(c, a, fp, None)


@native("reduce_rev", L, FnPtr, ANY)
def _reduce_rev_init(c: Any, a: list[Any], fp: FnPtr, acc: Any) -> Any:
    items = list(a)
    for i in range(len(items) - 1, -1, -1):
        acc = call_callback(c, fp, [acc, items[i], i])
    return acc


@native("zip", L, L, FnPtr)
def _zip(c: Any, a: list[Any], b: list[Any], fp: FnPtr) -> list[Any]:
    return [call_callback(c, fp, [x, y, i]) for i, (x, y) in enumerate(zip(a, b, strict=False))]


@native("retain", L, FnPtr, pure=False)
def _retain(c: Any, a: list[Any], fp: FnPtr) -> list[Any]:
    keep: list[Any] = []
    gone: list[Any] = []
    for i, v in enumerate(list(a)):
        (keep if call_callback(c, fp, [v, i]) is True else gone).append(v)
    a[:] = keep
    return gone


@native("drain", L, FnPtr, pure=False)
def _drain(c: Any, a: list[Any], fp: FnPtr) -> list[Any]:
    keep: list[Any] = []
    gone: list[Any] = []
    for i, v in enumerate(list(a)):
        (gone if call_callback(c, fp, [v, i]) is True else keep).append(v)
    a[:] = keep
    return gone


@native("drain", L, INT, INT, pure=False)
@native("drain", B, INT, INT, pure=False)
def _drain_span(c: Any, a: list[Any], start: int, n: int) -> list[Any]:
    s, e = clamp_span(len(a), start, n)
    gone = a[s:e]
    del a[s:e]
    return gone


@native("drain", L, Range, pure=False)
@native("drain", B, Range, pure=False)
def _drain_r(c: Any, a: list[Any], r: Range) -> list[Any]:
    s, e = _span_r(len(a), r)
    gone = a[s:e]
    del a[s:e]
    return gone


@native("retain", L, Range, pure=False)
@native("retain", B, Range, pure=False)
def _retain_r(c: Any, a: list[Any], r: Range) -> list[Any]:
    s, e = _span_r(len(a), r)
    gone = a[:s] + a[e:]
    a[:] = a[s:e]
    return gone


def _basic_key(a: list[Any]) -> None:
    kinds = {type(v) for v in a}
    if len(kinds) > 1 and not kinds <= {int, float}:
        raise RhaiError("ErrorFunctionNotFound", "Cannot sort an array of mixed types")
    if kinds & {list, dict, type(None), FnPtr}:
        raise fn_not_found("sort", a)


@native("sort", L, pure=False)
def _sort(c: Any, a: list[Any]) -> None:
    _basic_key(a)
    a.sort()


@native("sort_desc", L, pure=False)
def _sort_desc(c: Any, a: list[Any]) -> None:
    _basic_key(a)
    a.sort(reverse=True)


@native("sort", L, FnPtr, pure=False)
def _sort_by(c: Any, a: list[Any], fp: FnPtr) -> None:
    def cmp(x: Any, y: Any) -> int:
        r = call_callback(c, fp, [x, y])
        if type(r) is not int:
            raise RhaiError("ErrorMismatchDataType", "Data type incorrect (expecting i64)")
        return (r > 0) - (r < 0)

    a.sort(key=cmp_to_key(cmp))


@native("dedup", L, pure=False)
def _dedup(c: Any, a: list[Any]) -> None:
    out: list[Any] = []
    for v in a:
        if not out or not values_equal(out[-1], v):
            out.append(v)
    a[:] = out


@native("get", L, INT)
def _get(c: Any, a: list[Any], i: int) -> Any:
    j = len(a) + i if i < 0 else i
    return a[j] if 0 <= j < len(a) else None


@native("set", L, INT, ANY, pure=False)
def _set(c: Any, a: list[Any], i: int, x: Any) -> None:
    j = len(a) + i if i < 0 else i
    if 0 <= j < len(a):
        a[j] = x


@native("==", L, L)
def _eq(c: Any, a: list[Any], b: list[Any]) -> bool:
    return values_equal(a, b)


@native("!=", L, L)
def _ne(c: Any, a: list[Any], b: list[Any]) -> bool:
    return not values_equal(a, b)


@native("splice", B, INT, INT, B, pure=False)
def _splice_blob(c: Any, a: bytearray, start: int, n: int, b: bytearray) -> None:
    s, e = clamp_span(len(a), start, n)
    a[s:e] = b
    c.check_size(a)


@native("splice", B, Range, B, pure=False)
def _splice_blob_r(c: Any, a: bytearray, r: Range, b: bytearray) -> None:
    s, e = _span_r(len(a), r)
    a[s:e] = b
    c.check_size(a)


@native("retain", L, INT, INT, pure=False)
@native("retain", B, INT, INT, pure=False)
def _retain_span(c: Any, a: Any, start: int, n: int) -> Any:
    s, e = clamp_span(len(a), start, n)
    gone = a[:s] + a[e:]
    a[:] = a[s:e]
    return gone


@native("find", L, FnPtr, INT)
def _find_from(c: Any, a: list[Any], fp: FnPtr, start: int) -> Any:
    items = list(a)
    for i in range(_pos(len(items), start), len(items)):
        if call_callback(c, fp, [items[i], i]) is True:
            return items[i]
    return None


@native("find_map", L, FnPtr, INT)
def _find_map_from(c: Any, a: list[Any], fp: FnPtr, start: int) -> Any:
    items = list(a)
    for i in range(_pos(len(items), start), len(items)):
        r = call_callback(c, fp, [items[i], i])
        if r is not None:
            return r
    return None


@native("dedup", L, FnPtr, pure=False)
def _dedup_by(c: Any, a: list[Any], fp: FnPtr) -> None:
    out: list[Any] = []
    for v in a:
        if not out or call_callback(c, fp, [out[-1], v]) is not True:
            out.append(v)
    a[:] = out


@native("sort_by", L, FnPtr, pure=False)
def _sort_by_alias(c: Any, a: list[Any], fp: FnPtr) -> None:
    _sort_by(c, a, fp)


@native("order", L)
def _order(c: Any, a: list[Any]) -> list[Any]:
    out = copy_value(a)
    _sort(c, out)
    return out  # type: ignore[no-any-return]


@native("order_desc", L)
def _order_desc(c: Any, a: list[Any]) -> list[Any]:
    out = copy_value(a)
    _sort_desc(c, out)
    return out  # type: ignore[no-any-return]


@native("order", L, FnPtr)
@native("order_by", L, FnPtr)
def _order_by(c: Any, a: list[Any], fp: FnPtr) -> list[Any]:
    out = copy_value(a)
    _sort_by(c, out, fp)
    return out  # type: ignore[no-any-return]
