"""Compiles the resolved tree into nested Python closures, one per node, with integer fast paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast as A
from .access import get_index, get_prop
from .errors import RhaiError
from .fastops import make_binary
from .ops import BINARY, COMPARE, contains, fn_not_found, negate
from .parser import Program
from .places import PlaceCompiler
from .runtime import (
    Ctx,
    SafeNone,
    ScriptFn,
    data_size,
    to_text,
)
from .statements import StatementCompiler, weight
from .values import INT_MAX, UNBOUND, Cell, FnPtr, Range, copy_value, type_of

__all__ = ["Compiled", "Compiler", "Node"]

Node = Callable[[list[Any]], Any]
Setter = Callable[[list[Any], Any], None]
_NOTHING: Any = object()
_COPY_FREE = (A.Const, A.ArrayLit, A.MapLit, A.Interp, A.Binary, A.Unary, A.Logic, A.RangeLit, A.Closure)


class Compiled:
    """A compiled program: its top-level closure, script functions and frame size."""

    __slots__ = ("body", "fns", "nslots", "program")

    def __init__(
        self, body: Node, fns: dict[tuple[str, int], ScriptFn], nslots: int, program: Program
    ) -> None:
        self.body = body
        self.fns = fns
        self.nslots = nslots
        self.program = program


def needs_copy(node: A.Expr) -> bool:
    """Whether a value read by this node may alias a stored array or map."""
    return not isinstance(node, _COPY_FREE)


def _copying(fn: Node) -> Node:
    def node(f: list[Any]) -> Any:
        v = fn(f)
        t = type(v)
        if t is list or t is dict or t is bytearray:
            return copy_value(v)
        return v

    return node


class Compiler(PlaceCompiler, StatementCompiler):
    """Expression half of the compiler; statements live in ``StatementCompiler``."""

    def __init__(self, program: Program, engine: Any) -> None:
        self.program = program
        self.engine = engine
        self.opts = engine.options
        self.in_fn = False
        self.fns: dict[tuple[str, int], ScriptFn] = {}
        for key, d in program.fns.items():
            slots = None
            if d.captures:
                slots = [inner.slot for _, inner in d.captures] + [p.slot for p in d.params]
            self.fns[key] = ScriptFn(d.name, len(d.params) + len(d.captures), d.nslots, slots, d.this_type)
            self.fns[key].weight = 1 + len(d.body.stmts) + sum(weight(s) for s in d.body.stmts)
        self.fn_names = {k[0] for k in program.fns}

    def compile(self) -> Compiled:
        """Compile every function, then the top-level statements."""
        for key, d in self.program.fns.items():
            # Closures may read host-scope variables (the parser could not resolve them to slots);
            # named functions are pure and see only their parameters.
            self.in_fn = not d.name.startswith("anon$")
            self.fns[key].body = self.fn_body(d)
        self.in_fn = False
        body = self.block(self.program.body, top=True)
        return Compiled(body, self.fns, self.program.nslots, self.program)

    def fn_body(self, d: A.FnDef) -> Node:
        """A function body; a final ``return x`` becomes plain ``x`` to avoid an exception."""
        stmts = list(d.body.stmts)
        if stmts and isinstance(stmts[-1], A.Return) and stmts[-1].value is not None:
            stmts[-1] = stmts[-1].value
        # Callers count the body's operations (ScriptFn.weight), saving a wrapper per call.
        body, _ = self.block_parts(A.Block(d.body.line, d.body.col, stmts, d.body.scope_size))
        shared = [p.slot for p in d.params if p.captured]
        if not shared:
            return body

        def wrapped(f: list[Any]) -> Any:
            for s in shared:
                f[s] = Cell(f[s])
            return body(f)

        return wrapped

    # --- expressions ---------------------------------------------------------------------
    def expr(self, node: A.Expr, chain: bool = False) -> Node:
        """Compile an expression; ``chain`` marks the inner links of a ``?.`` chain."""
        method = getattr(self, "x_" + type(node).__name__)
        fn: Node = method(node, chain) if isinstance(node, (A.Index, A.Prop, A.MethodCall)) else method(node)
        return fn

    def value(self, node: A.Expr) -> Node:
        """An expression whose value is stored somewhere: arrays and maps are copied."""
        fn = self.expr(node)
        return _copying(fn) if needs_copy(node) else fn

    def x_Const(self, node: A.Const) -> Node:
        v = node.value
        return lambda f: v

    def x_Var(self, node: A.Var) -> Node:
        d = node.decl
        if d is None:
            return self.dynamic_var(node)
        slot = d.slot
        if d.captured:
            return lambda f: f[slot].v
        return lambda f: f[slot]

    def dynamic_var(self, node: A.Var) -> Node:
        """A variable the parser could not resolve: host scope, global constant or function name."""
        name = node.name
        line, col = node.line, node.col
        is_fn = name in self.fn_names
        in_fn = self.in_fn
        is_global = node.is_global

        def lookup(f: list[Any]) -> Any:
            c: Ctx = f[0]
            if is_global and name in c.globals:
                return c.globals[name]
            bang = c.bang
            if bang is not None and name in bang:
                return bang[name].v
            scope = c.scope
            if scope is not None and (not in_fn or is_global):
                v = scope.lookup(name, _NOTHING)
                if v is not _NOTHING:
                    return v
            if is_fn:
                return FnPtr(name)
            raise RhaiError(
                "ErrorVariableNotFound", f"Variable not found: {name}", line=line, column=col, detail=name
            )

        return lookup

    def x_This(self, node: A.This) -> Node:
        line, col = node.line, node.col

        def this(f: list[Any]) -> Any:
            v = f[1]
            if v is UNBOUND:
                raise RhaiError("ErrorUnboundThis", "'this' not bound", line=line, column=col)
            return v

        return this

    def x_ArrayLit(self, node: A.ArrayLit) -> Node:
        items = [self.value(i) for i in node.items]
        sized = bool(self.opts.max_array_size or self.opts.max_map_size)

        def array(f: list[Any]) -> Any:
            if not sized:
                return [i(f) for i in items]
            # Count as the literal fills, so `[a, a, a, ...]` of big arrays stops at the limit.
            c = f[0]
            out = []
            arrays = maps = 0
            for i in items:
                v = i(f)
                out.append(v)
                arrays += 1
                if type(v) is list or type(v) is dict:
                    more_arrays, more_maps = data_size(v)
                    arrays += more_arrays
                    maps += more_maps
                    c.check_counts(arrays, maps)
            c.check_counts(arrays, maps)
            return out

        return array

    def x_MapLit(self, node: A.MapLit) -> Node:
        items = [(k, self.value(v)) for k, v in node.items]
        sized = bool(self.opts.max_array_size or self.opts.max_map_size)

        def mapping(f: list[Any]) -> Any:
            if not sized:
                return {k: i(f) for k, i in items}
            c = f[0]
            out = {}
            arrays = maps = 0
            for k, i in items:
                v = out[k] = i(f)
                maps += 1
                if type(v) is list or type(v) is dict:
                    more_arrays, more_maps = data_size(v)
                    arrays += more_arrays
                    maps += more_maps
                    c.check_counts(arrays, maps)
            c.check_counts(arrays, maps)
            return out

        return mapping

    def x_Interp(self, node: A.Interp) -> Node:
        parts = [self.expr(p) for p in node.parts]
        sized = bool(self.opts.max_string_size)

        def interp(f: list[Any]) -> Any:
            if not sized:
                return "".join([to_text(p(f)) for p in parts])
            c = f[0]
            texts = []
            length = 0
            for p in parts:
                text = to_text(p(f))
                length += len(text)
                if length > c.max_string:  # characters never outnumber UTF-8 bytes
                    raise RhaiError("ErrorDataTooLarge", "Length of string too large")
                texts.append(text)
            s = "".join(texts)
            c.check_size(s)
            return s

        return interp

    def x_Unary(self, node: A.Unary) -> Node:
        operand = self.expr(node.operand)
        line, col = node.line, node.col
        if node.op == "-":

            def neg(f: list[Any]) -> Any:
                try:
                    return negate(operand(f))
                except RhaiError as e:
                    raise e.at(line, col) from None

            return neg

        def not_(f: list[Any]) -> Any:
            v = operand(f)
            if v is True:
                return False
            if v is False:
                return True
            raise fn_not_found("!", v).at(line, col)

        return not_

    def _shape(self, node: A.Expr) -> tuple[str, Any]:
        if isinstance(node, A.Const):
            return "const", node.value
        if isinstance(node, A.Var) and node.decl is not None and not node.decl.captured:
            return str(node.decl.slot), None
        return "node", None

    def x_Binary(self, node: A.Binary) -> Node:
        op = node.op
        left = self.expr(node.left)
        right = self.expr(node.right)
        line, col = node.line, node.col
        if op in ("in", "!in"):
            negated = op == "!in"

            def member(f: list[Any]) -> Any:
                item = left(f)
                try:
                    r = contains(right(f), item)
                except RhaiError as e:
                    raise e.at(line, col) from None
                return not r if negated else r

            return member
        slow: Callable[[Any, Any, Any], Any]
        slow = COMPARE[op] if op in COMPARE else BINARY[op]
        lk, kl = self._shape(node.left)
        rk, kr = self._shape(node.right)
        return make_binary(op, left, right, lk, rk, kl, kr, slow, line, col)

    def x_Logic(self, node: A.Logic) -> Node:
        left = self.expr(node.left)
        right = self.expr(node.right)
        line, col = node.line, node.col
        if node.op == "??":

            def coalesce(f: list[Any]) -> Any:
                v = left(f)
                return right(f) if v is None else v

            return coalesce
        is_and = node.op == "&&"

        def check(v: Any) -> Any:
            if v is True or v is False:
                return v
            raise RhaiError(
                "ErrorMismatchDataType",
                f"Data type incorrect: {type_of(v)} (expecting bool)",
                line=line,
                column=col,
            )

        if is_and:

            def and_(f: list[Any]) -> Any:
                if check(left(f)) is False:
                    return False
                return check(right(f))

            return and_

        def or_(f: list[Any]) -> Any:
            if check(left(f)) is True:
                return True
            return check(right(f))

        return or_

    def x_RangeLit(self, node: A.RangeLit) -> Node:
        start = self.expr(node.start) if node.start is not None else (lambda f: 0)
        end = self.expr(node.end) if node.end is not None else (lambda f: INT_MAX)
        inclusive = node.inclusive and node.end is not None
        line, col = node.line, node.col

        def make_range(f: list[Any]) -> Any:
            a = start(f)
            b = end(f)
            if type(a) is not int or type(b) is not int:
                raise fn_not_found(".." if not inclusive else "..=", a, b).at(line, col)
            return Range(a, b, inclusive)

        return make_range

    def x_Closure(self, node: A.Closure) -> Node:
        d = node.fn
        name = d.name
        outer = [o.slot if o is not None else -1 for o, _ in d.captures]
        if not outer:
            return lambda f: FnPtr(name)

        def closure(f: list[Any]) -> Any:
            cells = []
            for s in outer:
                cell = f[s]
                if type(cell) is not Cell:
                    cell = f[s] = Cell(cell)
                cells.append(cell)
            return FnPtr(name, cells)

        return closure

    # --- chains: index, property, method -------------------------------------------------
    def _guarded(self, fn: Node, node: A.Expr, chain: bool) -> Node:
        if chain or not _has_safe(node):
            return fn

        def guarded(f: list[Any]) -> Any:
            try:
                return fn(f)
            except SafeNone:
                return None

        return guarded

    def x_Index(self, node: A.Index, chain: bool = False) -> Node:
        target = self.expr(node.target, chain=True)
        index = self.expr(node.index)
        safe = node.safe
        line, col = node.line, node.col

        def idx(f: list[Any]) -> Any:
            obj = target(f)
            i = index(f)
            if type(obj) is list and type(i) is int and 0 <= i < len(obj):
                return obj[i]
            if obj is None and safe:
                raise SafeNone
            try:
                return get_index(f[0], obj, i)
            except RhaiError as e:
                raise e.at(line, col) from None

        return self._guarded(idx, node, chain)

    def x_Prop(self, node: A.Prop, chain: bool = False) -> Node:
        target = self.expr(node.target, chain=True)
        name = node.name
        safe = node.safe
        line, col = node.line, node.col

        def prop(f: list[Any]) -> Any:
            obj = target(f)
            if type(obj) is dict:
                v = obj.get(name, _NOTHING)
                if v is not _NOTHING:
                    return v
            elif obj is None and safe:
                raise SafeNone
            try:
                return get_prop(f[0], obj, name)
            except RhaiError as e:
                raise e.at(line, col) from None

        return self._guarded(prop, node, chain)


def _has_safe(node: A.Expr) -> bool:
    while isinstance(node, (A.Index, A.Prop, A.MethodCall)):
        if node.safe:
            return True
        node = node.target
    return False
