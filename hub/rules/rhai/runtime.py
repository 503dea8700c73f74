"""The run context and the shared run-time machinery: calls, indexing, properties and iteration."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import SYSTEM_KINDS, RhaiError
from .ops import fn_not_found
from .stdlib.registry import Mut, Overloads
from .values import UNBOUND, Cell, Char, FnPtr, Range, copy_value, display

__all__ = [
    "NOTHING",
    "BreakSig",
    "ContinueSig",
    "Ctx",
    "ExitSig",
    "Frame",
    "Iter",
    "ReturnSig",
    "SafeNone",
    "ScriptFn",
    "call_fnptr",
    "call_native",
    "call_script",
    "check_grow",
    "data_size",
    "error_value",
    "iterate",
]

Frame = list[Any]
Node = Callable[[Frame], Any]
_INF = float("inf")
_NOTHING: Any = object()
NOTHING: Any = _NOTHING


class SafeNone(Exception):
    """Raised by ``?.``/``?[`` on ``()`` to end the whole chain with ``()``."""


class BreakSig(Exception):
    """``break`` unwinding to its loop."""

    def __init__(self, value: Any = None) -> None:
        self.value = value


class ContinueSig(Exception):
    """``continue`` unwinding to its loop."""


class ReturnSig(Exception):
    """``return`` unwinding to its function."""

    def __init__(self, value: Any = None) -> None:
        self.value = value


class ExitSig(Exception):
    """``exit(value)`` ending the whole run."""

    def __init__(self, value: Any = None) -> None:
        self.value = value


CONTINUE = ContinueSig()


class Iter:
    """A lazy sequence a ``for`` loop can walk (``range(a, b, step)``, ``chars()``, ``bits()``)."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items


class ScriptFn:
    """A compiled script function; closures list the frame slots their captured cells go to."""

    __slots__ = ("body", "name", "nparams", "pad", "param_slots", "this_type", "weight")

    def __init__(
        self, name: str, nparams: int, nslots: int, param_slots: list[int] | None, this_type: str | None
    ):
        self.name = name
        self.nparams = nparams
        self.body: Node = _unlinked
        self.pad = [None] * (nslots - 2 - (nparams if param_slots is None else 0))
        self.param_slots = param_slots
        self.this_type = this_type
        self.weight = 1


def _unlinked(f: Frame) -> Any:
    raise RhaiError("ErrorSystem", "function body not compiled")


class Ctx:
    """State of one run: operation counter, call depth, limits, functions and the host scope."""

    __slots__ = (
        "bang",
        "caught",
        "deadline",
        "depth",
        "engine",
        "fns",
        "globals",
        "limit",
        "max_array",
        "max_depth",
        "max_map",
        "max_ops",
        "max_string",
        "max_vars",
        "natives",
        "ops",
        "opts",
        "progress",
        "scope",
        "step",
        "stepping",
        "typed_methods",
    )

    def __init__(self, engine: Any, fns: dict[tuple[str, int], ScriptFn], scope: Any) -> None:
        opts = engine.options
        self.engine = engine
        self.opts = opts
        self.fns = fns
        self.scope = scope
        self.natives: dict[tuple[str, int], Overloads] = engine.natives
        self.typed_methods = any("." in key[0] for key in fns)
        self.ops = 0
        self.depth = 0
        self.max_ops = opts.max_operations or _INF
        self.max_depth = opts.max_call_levels or 1_000_000
        self.max_string = opts.max_string_size
        self.max_array = opts.max_array_size
        self.max_map = opts.max_map_size
        self.max_vars = opts.max_variables
        self.step = max(1, opts.check_every)
        self.deadline = time.monotonic() + opts.max_seconds if opts.max_seconds else 0.0
        self.progress: Callable[[int], Any] | None = engine.on_progress
        self.stepping = bool(self.deadline or self.progress)
        self.limit = min(self.max_ops, self.step) if self.stepping else self.max_ops
        self.globals: dict[str, Any] = {}
        self.caught: RhaiError | None = None
        self.bang: dict[str, Cell] | None = None

    def tick(self) -> None:
        """Called when the counter passes ``limit``: enforce the operation and wall-clock limits."""
        if self.ops > self.max_ops:
            raise RhaiError("ErrorTooManyOperations", "Too many operations")
        if self.deadline and time.monotonic() > self.deadline:
            raise RhaiError("ErrorTerminated", "Script terminated: time limit exceeded")
        if self.progress is not None:
            token = self.progress(self.ops)
            if token is not None:
                raise RhaiError("ErrorTerminated", "Script terminated", value=token)
        self.limit = min(self.max_ops, self.ops + self.step) if self.stepping else self.max_ops

    def check_counts(self, arrays: int, maps: int) -> None:
        """Raise ErrorDataTooLarge when element or property counts pass their limits."""
        if self.max_array and arrays > self.max_array:
            raise RhaiError("ErrorDataTooLarge", "Size of array/BLOB too large")
        if self.max_map and maps > self.max_map:
            raise RhaiError("ErrorDataTooLarge", "Size of object map too large")

    def check_size(self, v: Any) -> None:
        """Raise ErrorDataTooLarge when a string, array or map outgrows its limit."""
        t = type(v)
        if t is str:
            if self.max_string and len(v) * 4 > self.max_string and len(v.encode()) > self.max_string:
                raise RhaiError("ErrorDataTooLarge", "Length of string too large")
        elif t is list or t is dict:
            if self.max_array or self.max_map:
                arrays, maps = data_size(v)
                if self.max_array and arrays > self.max_array:
                    raise RhaiError("ErrorDataTooLarge", "Size of array/BLOB too large")
                if self.max_map and maps > self.max_map:
                    raise RhaiError("ErrorDataTooLarge", "Size of object map too large")
        elif t is bytearray and self.max_array and len(v) > self.max_array:
            raise RhaiError("ErrorDataTooLarge", "Size of array/BLOB too large")


def check_grow(c: Ctx, container: Any, added: Any) -> None:
    """Size check after adding one item: a full recount only when the item is itself a container.

    Recounting a whole nested value on every insert would make filling an array quadratic; a flat
    length check is enough for scalars, and the operation limit bounds nested growth anyway.
    """
    t = type(added)
    if t is list or t is dict:
        c.check_size(container)
    elif type(container) is list:
        if c.max_array and len(container) > c.max_array:
            raise RhaiError("ErrorDataTooLarge", "Size of array/BLOB too large")
    elif type(container) is dict and c.max_map and len(container) > c.max_map:
        raise RhaiError("ErrorDataTooLarge", "Size of object map too large")


def data_size(v: Any) -> tuple[int, int]:
    """Element and property counts, summed over nested arrays and maps as Rhai does."""
    arrays = maps = 0
    stack = [v]
    while stack:
        x = stack.pop()
        if type(x) is list:
            arrays += len(x)
            stack.extend(y for y in x if type(y) is list or type(y) is dict)
        else:
            maps += len(x)
            stack.extend(y for y in x.values() if type(y) is list or type(y) is dict)
    return arrays, maps


def call_script(c: Ctx, fn: ScriptFn, args: list[Any], this: Any = UNBOUND) -> tuple[Any, Any]:
    """Run a script function; returns (result, final value of ``this``)."""
    if c.max_vars and fn.nparams > c.max_vars:
        raise RhaiError("ErrorTooManyVariables", "Too many variables defined")
    depth = c.depth + 1
    if depth > c.max_depth:
        raise RhaiError("ErrorStackOverflow", "Stack overflow")
    c.depth = depth
    c.ops += fn.weight
    if c.ops > c.limit:
        c.tick()
    if fn.param_slots is None:
        f = [c, this, *args, *fn.pad]
    else:
        f = [c, this, *fn.pad]
        for slot, a in zip(fn.param_slots, args, strict=True):
            f[slot] = a
    try:
        result = fn.body(f)
    except ReturnSig as ret:
        result = ret.value
    except RhaiError as err:
        if err.kind in SYSTEM_KINDS:
            raise
        raise RhaiError(
            "ErrorInFunctionCall",
            f"Error in call to function '{fn.name}': {err}",
            inner=err,
            function=fn.name,
            line=err.line,
            column=err.column,
        ) from None
    except RecursionError:
        raise RhaiError("ErrorStackOverflow", "Stack overflow") from None
    finally:
        c.depth = depth - 1
    return result, f[1]


def call_native(c: Ctx, name: str, args: list[Any]) -> Any:
    """Call a native by name with type dispatch; a ``Mut`` answer is returned as is."""
    over = c.natives.get((name, len(args)))
    if over is not None:
        hit = over.find(tuple(map(type, args)))
        if hit is not None:
            return hit[0](c, *args)
    raise fn_not_found(name, *args)


def find_native(c: Ctx, name: str, args: list[Any]) -> tuple[Callable[..., Any], bool] | None:
    """The native overload for these arguments, or None."""
    over = c.natives.get((name, len(args)))
    return None if over is None else over.find(tuple(map(type, args)))


def call_fnptr(c: Ctx, fp: FnPtr, args: list[Any], this: Any = UNBOUND) -> tuple[Any, Any]:
    """Call a function pointer (curried arguments first); returns (result, new ``this``)."""
    full = [*fp.curry, *args]
    fn = c.fns.get((fp.name, len(full)))
    if fn is not None:
        return call_script(c, fn, full, this)
    if this is not UNBOUND:
        r = call_native(c, fp.name, [this, *full])
        if type(r) is Mut:
            return r.result, r.new
        return r, this
    r = call_native(c, fp.name, full)
    return (r.result if type(r) is Mut else r), this


def call_callback(c: Ctx, fp: FnPtr, args: list[Any]) -> Any:
    """Call a callback such as the one given to ``map``/``filter``, trimming args to its arity.

    A closure with no parameters sees the element as ``this``, as Rhai allows.
    """
    for n in range(len(args), -1, -1):
        fn = c.fns.get((fp.name, len(fp.curry) + n))
        if fn is not None:
            if n == 0 and args:
                return call_script(c, fn, list(fp.curry), args[0])[0]
            return call_script(c, fn, [*fp.curry, *args[:n]])[0]
    for n in range(len(args), 0, -1):
        if (fp.name, len(fp.curry) + n) in c.natives:
            r = call_native(c, fp.name, [*fp.curry, *args[:n]])
            return r.result if type(r) is Mut else r
    raise fn_not_found(fp.name, *fp.curry, *args)


def error_value(err: RhaiError) -> Any:
    """The value a ``catch (e)`` block sees."""
    err = err.root
    if err.kind == "ErrorRuntime":
        return err.value
    out: dict[str, Any] = {"error": err.kind, "message": err.message}
    if err.line is not None:
        out["line"] = err.line
        out["position"] = err.column
    return out


def iterate(v: Any) -> Iterator[Any]:
    """What a ``for`` loop walks over."""
    t = type(v)
    if t is Range:
        return iter(range(v.start, v.stop()))
    if t is list:
        return iter([copy_value(x) for x in v])
    if t is str:
        return iter([Char(ch) for ch in v])
    if t is Iter:
        return iter(v.items)
    if t is bytearray:
        return iter(list(v))
    if t is Cell:
        return iterate(v.v)
    raise RhaiError("ErrorFor", "For loop expects iterable type")


def to_text(v: Any) -> str:
    """Interpolation's conversion of a value."""
    return v if type(v) is str else display(v)
