"""The native function table: overloads keyed by (name, arity), chosen by argument types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..values import Char, FnPtr

__all__ = ["ANY", "INT", "NATIVES", "NUM", "STR", "Mut", "Overloads", "native"]

NativeFn = Callable[..., Any]
F = TypeVar("F", bound=NativeFn)


class _Any:
    """Matches a parameter of any type."""


ANY: Any = _Any
INT: Any = int
NUM: Any = (int, float)
STR: Any = (str, Char)


class Mut:
    """A native's answer when it changed an immutable receiver: the result plus the receiver's new value."""

    __slots__ = ("new", "result")

    def __init__(self, result: Any, new: Any) -> None:
        self.result = result
        self.new = new


class Overloads:
    """All natives of one (name, arity), with a per-type-tuple cache."""

    __slots__ = ("cache", "entries")

    def __init__(self) -> None:
        self.entries: list[tuple[tuple[Any, ...], NativeFn, bool]] = []
        self.cache: dict[tuple[type, ...], tuple[NativeFn, bool] | None] = {}

    def find(self, types: tuple[type, ...]) -> tuple[NativeFn, bool] | None:
        """The (function, pure) pair accepting these argument types, if any."""
        try:
            return self.cache[types]
        except KeyError:
            pass
        found = None
        for sig, fn, pure in self.entries:
            if all(_accepts(s, t) for s, t in zip(sig, types, strict=True)):
                found = (fn, pure)
                break
        self.cache[types] = found
        return found


def _accepts(spec: Any, t: type) -> bool:
    if spec is _Any:
        return True
    if isinstance(spec, tuple):
        return t in spec
    return t is spec


NATIVES: dict[tuple[str, int], Overloads] = {}
_ALIASES = {"array": list, "map": dict, "blob": bytearray, "unit": type(None), "char": Char, "fn": FnPtr}


def native(name: str, *sig: Any, pure: bool = True) -> Callable[[F], F]:
    """Register a native ``fn(ctx, *args)``; ``pure=False`` marks methods that change their receiver."""

    def register(fn: F) -> F:
        spec = tuple(_ALIASES.get(s, s) if isinstance(s, str) else s for s in sig)
        NATIVES.setdefault((name, len(spec)), Overloads()).entries.append((spec, fn, pure))
        return fn

    return register
