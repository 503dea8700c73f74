"""String functions; positions count characters and negative positions count from the end."""

from __future__ import annotations

from typing import Any

from ..errors import RhaiError
from ..runtime import Iter
from ..values import INT_MAX, Char, Range, display
from .registry import ANY, INT, STR, Mut, native

__all__ = ["clamp_span"]

S = str
C = Char


def clamp_span(n: int, start: int, length: int) -> tuple[int, int]:
    """Rhai's (start, len) arguments turned into a Python slice, clamped to the string."""
    if start < 0:
        start = max(n + start, 0)
    if start >= n or length <= 0:
        return n, n
    return start, min(start + length, n)


def _range_span(n: int, r: Range) -> tuple[int, int]:
    start = max(r.start, 0)
    end = r.end + 1 if r.inclusive and r.end < INT_MAX else r.end
    end = max(min(end, n), start)
    return min(start, n), end


@native("len", S)
def _len(c: Any, s: str) -> int:
    return len(s)


@native("is_empty", S)
def _is_empty(c: Any, s: str) -> bool:
    return not s


@native("bytes", S)
def _bytes(c: Any, s: str) -> int:
    return len(s.encode())


@native("contains", S, STR)
def _contains(c: Any, s: str, x: str) -> bool:
    return x in s


@native("starts_with", S, STR)
def _starts(c: Any, s: str, x: str) -> bool:
    return s.startswith(x)


@native("ends_with", S, STR)
def _ends(c: Any, s: str, x: str) -> bool:
    return s.endswith(x)


@native("index_of", S, STR)
def _index_of(c: Any, s: str, x: str) -> int:
    return s.find(x)


@native("index_of", S, STR, INT)
def _index_of_from(c: Any, s: str, x: str, start: int) -> int:
    if start < 0:
        start = max(len(s) + start, 0)
    if start >= len(s):
        return -1
    return s.find(x, start)


@native("sub_string", S, INT)
def _sub1(c: Any, s: str, start: int) -> str:
    a, b = clamp_span(len(s), start, INT_MAX)
    return s[a:b]


@native("sub_string", S, INT, INT)
def _sub2(c: Any, s: str, start: int, length: int) -> str:
    a, b = clamp_span(len(s), start, length)
    return s[a:b]


@native("sub_string", S, Range)
def _sub_r(c: Any, s: str, r: Range) -> str:
    a, b = _range_span(len(s), r)
    return s[a:b]


@native("crop", S, INT, pure=False)
def _crop1(c: Any, s: str, start: int) -> Mut:
    a, b = clamp_span(len(s), start, INT_MAX)
    return Mut(None, s[a:b])


@native("crop", S, INT, INT, pure=False)
def _crop2(c: Any, s: str, start: int, length: int) -> Mut:
    a, b = clamp_span(len(s), start, length)
    return Mut(None, s[a:b])


@native("crop", S, Range, pure=False)
def _crop_r(c: Any, s: str, r: Range) -> Mut:
    a, b = _range_span(len(s), r)
    return Mut(None, s[a:b])


@native("split", S)
def _split_ws(c: Any, s: str) -> list[Any]:
    return list(s.split())


@native("split", S, STR)
def _split(c: Any, s: str, d: str) -> list[Any]:
    return list(s.split(d)) if d else [Char(ch) for ch in s]


@native("split", S, STR, INT)
def _split_n(c: Any, s: str, d: str, n: int) -> list[Any]:
    return list(s.split(d, max(n - 1, 0))) if n > 0 else [s]


@native("split", S, INT)
def _split_at(c: Any, s: str, pos: int) -> list[Any]:
    a, _ = clamp_span(len(s), pos, INT_MAX)
    return [s[:a], s[a:]]


@native("split_rev", S, STR)
def _split_rev(c: Any, s: str, d: str) -> list[Any]:
    return list(reversed(s.split(d)))


@native("split_rev", S, STR, INT)
def _split_rev_n(c: Any, s: str, d: str, n: int) -> list[Any]:
    return list(reversed(s.rsplit(d, max(n - 1, 0)))) if n > 0 else [s]


@native("to_upper", S)
def _upper(c: Any, s: str) -> str:
    return s.upper()


@native("to_lower", S)
def _lower(c: Any, s: str) -> str:
    return s.lower()


@native("to_upper", C)
def _upper_c(c: Any, s: str) -> Char:
    u = s.upper()
    return Char(u) if len(u) == 1 else Char(s)


@native("to_lower", C)
def _lower_c(c: Any, s: str) -> Char:
    u = s.lower()
    return Char(u) if len(u) == 1 else Char(s)


@native("make_upper", S, pure=False)
def _make_upper(c: Any, s: str) -> Mut:
    return Mut(None, s.upper())


@native("make_lower", S, pure=False)
def _make_lower(c: Any, s: str) -> Mut:
    return Mut(None, s.lower())


@native("trim", S, pure=False)
def _trim(c: Any, s: str) -> Mut:
    return Mut(None, s.strip())


@native("clear", S, pure=False)
def _clear(c: Any, s: str) -> Mut:
    return Mut(None, "")


@native("truncate", S, INT, pure=False)
def _truncate(c: Any, s: str, n: int) -> Mut:
    return Mut(None, s[: max(n, 0)])


@native("replace", S, STR, STR, pure=False)
def _replace(c: Any, s: str, a: str, b: str) -> Mut:
    if c.max_string and len(b) > len(a):
        # Size the result before building it: 256 KiB replacing each char with 256 KiB is 64 GiB.
        hits = s.count(a) if a else len(s) + 1
        if len(s) + hits * (len(b) - len(a)) > c.max_string:
            raise RhaiError("ErrorDataTooLarge", "Length of string too large")
    new = s.replace(a, b)
    c.check_size(new)
    return Mut(None, new)


@native("remove", S, STR, pure=False)
def _remove(c: Any, s: str, x: str) -> Mut:
    return Mut(None, s.replace(x, ""))


@native("pop", S, pure=False)
def _pop(c: Any, s: str) -> Mut:
    if not s:
        return Mut(None, s)
    return Mut(Char(s[-1]), s[:-1])


@native("pop", S, INT, pure=False)
def _pop_n(c: Any, s: str, n: int) -> Mut:
    if n <= 0:
        return Mut("", s)
    n = min(n, len(s))
    return Mut(s[len(s) - n :], s[: len(s) - n])


@native("pad", S, INT, STR, pure=False)
def _pad(c: Any, s: str, n: int, x: str) -> Mut:
    if c.max_string and n > c.max_string:
        raise RhaiError("ErrorDataTooLarge", "Length of string too large")
    missing = n - len(s)
    if missing <= 0 or not x:
        return Mut(None, s)
    if n > 64 * 1024 * 1024:
        raise RhaiError("ErrorDataTooLarge", "Length of string too large")
    out = s + (x * (missing // len(x) + 1))[:missing]
    c.check_size(out)
    return Mut(None, out)


@native("append", S, ANY, pure=False)
def _append(c: Any, s: str, x: Any) -> Mut:
    new = s + display(x)
    c.check_size(new)
    return Mut(None, new)


@native("get", S, INT)
def _get(c: Any, s: str, i: int) -> Any:
    j = i + len(s) if i < 0 else i
    return Char(s[j]) if 0 <= j < len(s) else None


@native("set", S, INT, C, pure=False)
def _set(c: Any, s: str, i: int, ch: str) -> Mut:
    j = i + len(s) if i < 0 else i
    if not 0 <= j < len(s):
        return Mut(None, s)
    return Mut(None, s[:j] + ch + s[j + 1 :])


@native("to_chars", S)
def _to_chars(c: Any, s: str) -> list[Any]:
    return [Char(ch) for ch in s]


@native("chars", S)
def _chars(c: Any, s: str) -> Iter:
    return Iter([Char(ch) for ch in s])


@native("chars", S, Range)
def _chars_r(c: Any, s: str, r: Range) -> Iter:
    a, b = _range_span(len(s), r)
    return Iter([Char(ch) for ch in s[a:b]])


@native("chars", S, INT)
def _chars_from(c: Any, s: str, start: int) -> Iter:
    a, b = clamp_span(len(s), start, INT_MAX)
    return Iter([Char(ch) for ch in s[a:b]])


@native("chars", S, INT, INT)
def _chars_span(c: Any, s: str, start: int, length: int) -> Iter:
    a, b = clamp_span(len(s), start, length)
    return Iter([Char(ch) for ch in s[a:b]])


@native("len", C)
def _len_c(c: Any, s: str) -> int:
    return 1


@native("to_int", C)
def _char_code(c: Any, ch: str) -> int:
    return ord(ch)


@native("min", STR, STR)
def _min_s(c: Any, a: str, b: str) -> str:
    return a if a <= b else b


@native("max", STR, STR)
def _max_s(c: Any, a: str, b: str) -> str:
    return a if a >= b else b


@native("make_upper", C, pure=False)
def _make_upper_c(c: Any, ch: str) -> Mut:
    return Mut(None, _upper_c(c, ch))


@native("make_lower", C, pure=False)
def _make_lower_c(c: Any, ch: str) -> Mut:
    return Mut(None, _lower_c(c, ch))
