"""Compiles statements and control flow: blocks, let, assignment, if, switch, loops, try/catch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast as A
from .calls import CallCompiler
from .errors import RhaiError
from .fastops import make_update, make_while
from .ops import BINARY, COMPARE, add
from .runtime import CONTINUE, BreakSig, ContinueSig, Ctx, ReturnSig, check_grow, error_value, iterate
from .values import INT_MAX, INT_MIN, Cell, Char, Range, display, type_of

__all__ = ["StatementCompiler", "weight"]

Node = Callable[[list[Any]], Any]


def weight(node: Any) -> int:
    """Operations Rhai counts for a node, not counting nested blocks (they count themselves)."""
    if isinstance(node, (A.Block, A.Closure)):
        return 0
    if isinstance(node, A.Expr):
        total = 1
        for name in node.__slots__:
            total += weight(getattr(node, name))
        return total
    if isinstance(node, (list, tuple)):
        return sum(weight(x) for x in node)
    return 0


def _mismatch(v: Any, line: int, col: int) -> RhaiError:
    return RhaiError(
        "ErrorMismatchDataType", f"Data type incorrect: {type_of(v)} (expecting bool)", line=line, column=col
    )


def compound(c: Ctx, op: str, old: Any, v: Any) -> Any:
    """``old op= v``: arrays, maps, strings and blobs grow in place where Rhai does."""
    t = type(old)
    if op == "+":
        if t is list:
            if type(v) is list:
                old.extend(v)
                c.check_size(old)
            else:
                old.append(v)
                check_grow(c, old, v)
            return old
        if t is dict and type(v) is dict:
            old.update(v)
            c.check_size(old)
            return old
        if t is str and type(v) is not list:
            return add(c, old, v)
        if t is bytearray:
            if type(v) is int:
                old.append(v & 0xFF)
            elif type(v) is bytearray:
                old.extend(v)
            elif type(v) in (str, Char):
                old.extend(str(v).encode())
            c.check_size(old)
            return old
    return BINARY[op](c, old, v)


class StatementCompiler(CallCompiler):
    """Statement half of the compiler."""

    top_level: bool = False

    def _shape(self, node: A.Expr) -> tuple[str, Any]:
        raise NotImplementedError

    def block_parts(self, node: A.Block, top: bool = False) -> tuple[Node, int]:
        """A block's runner that does not count operations, and the count its caller must add."""
        stmts = [self.stmt(s, top) for s in node.stmts]
        w = sum(weight(s) for s in node.stmts) + len(node.stmts)
        if not stmts:
            return (lambda f: None), 1
        if len(stmts) == 1:
            return stmts[0], w
        if len(stmts) == 2:
            first, second = stmts

            def pair(f: list[Any]) -> Any:
                first(f)
                return second(f)

            return pair, w
        *init, last = stmts

        def many(f: list[Any]) -> Any:
            for s in init:
                s(f)
            return last(f)

        return many, w

    def block(self, node: A.Block, top: bool = False) -> Node:
        """A block that counts its own operations."""
        run, w = self.block_parts(node, top)

        def counted(f: list[Any]) -> Any:
            c = f[0]
            c.ops += w
            if c.ops > c.limit:
                c.tick()
            return run(f)

        return counted

    def stmt(self, node: A.Expr, top: bool = False) -> Node:
        """Compile one statement."""
        method = getattr(self, "s_" + type(node).__name__, None)
        if method is None:
            return self.expr(node)
        fn: Node = method(node, top)
        return fn

    def x_Block(self, node: A.Block) -> Node:
        return self.block(node)

    def s_Let(self, node: A.Let, top: bool = False) -> Node:
        d = node.decl
        slot = d.slot
        value = self.value(node.value) if node.value is not None else (lambda f: None)
        max_vars = self.opts.max_variables
        if max_vars and node.live > max_vars:
            line, col = node.line, node.col

            def too_many(f: list[Any]) -> Any:
                raise RhaiError("ErrorTooManyVariables", "Too many variables defined", line=line, column=col)

            return too_many
        name = d.name
        if top and d.const and not self.in_fn:

            def let_global(f: list[Any]) -> Any:
                v = value(f)
                f[0].globals[name] = v
                f[slot] = Cell(v) if d.captured else v

            return let_global
        if d.captured:

            def let_cell(f: list[Any]) -> Any:
                f[slot] = Cell(value(f))

            return let_cell

        def let(f: list[Any]) -> Any:
            f[slot] = value(f)

        return let

    def s_Assign(self, node: A.Assign, top: bool = False) -> Node:
        value = self.value(node.value)
        target = node.target
        op = node.op
        line, col = node.line, node.col
        if isinstance(target, A.Var) and target.decl is not None and not target.decl.captured:
            slot = target.decl.slot
            if op is None:

                def assign(f: list[Any]) -> Any:
                    f[slot] = value(f)

                return assign
            if op in ("+", "-") and isinstance(node.value, A.Const) and type(node.value.value) is int:
                k = node.value.value if op == "+" else -node.value.value

                def bump(f: list[Any]) -> Any:
                    old = f[slot]
                    if type(old) is int:
                        x = old + k
                        if INT_MIN <= x <= INT_MAX:
                            f[slot] = x
                            return
                    try:
                        f[slot] = compound(f[0], op, old, value(f))
                    except RhaiError as e:
                        raise e.at(line, col) from None

                return bump

            rk, kr = self._shape(node.value)

            def slow(c: Any, a: Any, b: Any) -> Any:
                return compound(c, op, a, b)

            return make_update(op, slot, rk, value, kr, slow, line, col)
        get, set_, _const = self.lvalue(target)
        if op is None:

            def assign_place(f: list[Any]) -> Any:
                set_(f, value(f))

            return assign_place

        def update_place(f: list[Any]) -> Any:
            v = value(f)
            try:
                new = compound(f[0], op, get(f), v)
            except RhaiError as e:
                raise e.at(line, col) from None
            set_(f, new)

        return update_place

    def x_If(self, node: A.If) -> Node:
        cond = self.expr(node.cond)
        then, wt = self.block_parts(node.then)
        line, col = node.cond.line, node.cond.col
        if node.other is None:

            def if_(f: list[Any]) -> Any:
                v = cond(f)
                if v is True:
                    c = f[0]
                    c.ops += wt
                    if c.ops > c.limit:
                        c.tick()
                    return then(f)
                if v is False:
                    return None
                raise _mismatch(v, line, col)

            return if_
        if isinstance(node.other, A.Block):
            other, wo = self.block_parts(node.other)
        else:
            other, wo = self.expr(node.other), 0

        def if_else(f: list[Any]) -> Any:
            v = cond(f)
            if v is True:
                c = f[0]
                c.ops += wt
                if c.ops > c.limit:
                    c.tick()
                return then(f)
            if v is False:
                c = f[0]
                c.ops += wo
                if c.ops > c.limit:
                    c.tick()
                return other(f)
            raise _mismatch(v, line, col)

        return if_else

    def x_Switch(self, node: A.Switch) -> Node:
        subject = self.expr(node.subject)
        exact: dict[tuple[type, Any], list[tuple[Node | None, Node]]] = {}
        ranges: list[tuple[Range, Node | None, Node]] = []
        for value, guard, body in node.cases:
            g = self.expr(guard) if guard is not None else None
            b = self.expr(body)
            exact.setdefault((type(value), value), []).append((g, b))
            if type(value) is Range:
                ranges.append((value, g, b))
        default = self.expr(node.default) if node.default is not None else None

        def switch(f: list[Any]) -> Any:
            v = subject(f)
            try:
                arms = exact.get((type(v), v))
            except TypeError:
                arms = None
            if arms:
                for g, b in arms:
                    if g is None or g(f) is True:
                        return b(f)
            if ranges and type(v) in (int, float):
                for r, g, b in ranges:
                    if r.start <= v < r.stop() and (g is None or g(f) is True):
                        return b(f)
            return default(f) if default is not None else None

        return switch

    def x_While(self, node: A.While) -> Node:
        body, wb = self.block_parts(node.body)
        line, col = node.line, node.col
        if node.cond is None:
            wl = 1 + wb

            def loop(f: list[Any]) -> Any:
                c = f[0]
                while True:
                    c.ops += wl
                    if c.ops > c.limit:
                        c.tick()
                    try:
                        body(f)
                    except BreakSig as b:
                        return b.value
                    except ContinueSig:
                        pass

            return loop
        cond = self.expr(node.cond)
        w = 1 + weight(node.cond) + wb
        c_node = node.cond
        if (
            isinstance(c_node, A.Binary)
            and c_node.op in ("<", "<=", ">", ">=", "==", "!=")
            and isinstance(c_node.left, A.Var)
            and c_node.left.decl is not None
            and not c_node.left.decl.captured
        ):
            rk, kr = self._shape(c_node.right)
            if rk != "node":
                op = c_node.op
                slot = c_node.left.decl.slot
                signals = (BreakSig, ContinueSig)
                return make_while(op, slot, rk, kr, body, COMPARE[op], w, line, col, _mismatch, signals)

        def while_(f: list[Any]) -> Any:
            c = f[0]
            while True:
                c.ops += w
                if c.ops > c.limit:
                    c.tick()
                v = cond(f)
                if v is not True:
                    if v is False:
                        return None
                    raise _mismatch(v, line, col)
                try:
                    body(f)
                except BreakSig as b:
                    return b.value
                except ContinueSig:
                    pass

        return while_

    def x_DoLoop(self, node: A.DoLoop) -> Node:
        body, wb = self.block_parts(node.body)
        w = 1 + wb + weight(node.cond)
        cond = self.expr(node.cond)
        until = node.until
        line, col = node.line, node.col

        def do(f: list[Any]) -> Any:
            c = f[0]
            while True:
                c.ops += w
                if c.ops > c.limit:
                    c.tick()
                try:
                    body(f)
                except BreakSig as b:
                    return b.value
                except ContinueSig:
                    pass
                v = cond(f)
                if v is not True and v is not False:
                    raise _mismatch(v, line, col)
                if v is until:
                    return None

        return do

    def x_For(self, node: A.For) -> Node:
        iterable = self.expr(node.iterable)
        body, wb = self.block_parts(node.body)
        wi = 1 + wb
        slot = node.var.slot
        shared = node.var.captured
        counter = node.counter
        cslot = counter.slot if counter is not None else -1
        cshared = counter is not None and counter.captured
        line, col = node.line, node.col

        if counter is None and not shared:

            def for_plain(f: list[Any]) -> Any:
                c = f[0]
                try:
                    items = iterate(iterable(f))
                except RhaiError as e:
                    raise e.at(line, col) from None
                for v in items:
                    c.ops += wi
                    if c.ops > c.limit:
                        c.tick()
                    f[slot] = v
                    try:
                        body(f)
                    except BreakSig as b:
                        return b.value
                    except ContinueSig:
                        pass
                return None

            return for_plain

        def for_(f: list[Any]) -> Any:
            c = f[0]
            try:
                items = iterate(iterable(f))
            except RhaiError as e:
                raise e.at(line, col) from None
            cell = f[slot] = Cell(None) if shared else None
            ccell = None
            if cslot >= 0:
                ccell = f[cslot] = Cell(None) if cshared else None
            for i, v in enumerate(items):
                c.ops += wi
                if c.ops > c.limit:
                    c.tick()
                if cell is not None:
                    cell.v = v
                else:
                    f[slot] = v
                if cslot >= 0:
                    if ccell is not None:
                        ccell.v = i
                    else:
                        f[cslot] = i
                try:
                    body(f)
                except BreakSig as b:
                    return b.value
                except ContinueSig:
                    pass
            return None

        return for_

    def x_TryCatch(self, node: A.TryCatch) -> Node:
        body = self.block(node.body)
        handler = self.block(node.handler)
        var = node.var

        def try_(f: list[Any]) -> Any:
            try:
                return body(f)
            except RhaiError as err:
                if err.is_system:
                    raise
                c = f[0]
                if var is not None:
                    value = error_value(err)
                    f[var.slot] = Cell(value) if var.captured else value
                saved = c.caught
                c.caught = err
                try:
                    handler(f)
                finally:
                    c.caught = saved
                return None

        return try_

    def s_Return(self, node: A.Return, top: bool = False) -> Node:
        value = self.value(node.value) if node.value is not None else (lambda f: None)

        def return_(f: list[Any]) -> Any:
            raise ReturnSig(value(f))

        return return_

    def s_Throw(self, node: A.Throw, top: bool = False) -> Node:
        value = self.value(node.value) if node.value is not None else None
        line, col = node.line, node.col

        def throw(f: list[Any]) -> Any:
            if value is None:
                caught = f[0].caught
                if caught is not None:
                    raise caught
                v = None
            else:
                v = value(f)
            text = display(v)
            message = f"Runtime error: {text}" if text else "Runtime error"
            raise RhaiError("ErrorRuntime", message, value=v, line=line, column=col)

        return throw

    def s_Break(self, node: A.Break, top: bool = False) -> Node:
        if node.value is None:
            plain = BreakSig()

            def break_(f: list[Any]) -> Any:
                raise plain.with_traceback(None)  # a reused instance would keep growing its traceback

            return break_
        value = self.value(node.value)

        def break_value(f: list[Any]) -> Any:
            raise BreakSig(value(f))

        return break_value

    def s_Continue(self, node: A.Continue, top: bool = False) -> Node:
        def continue_(f: list[Any]) -> Any:
            raise CONTINUE.with_traceback(None)  # a reused instance would keep growing its traceback

        return continue_

    x_Return = s_Return
    x_Throw = s_Throw
    x_Break = s_Break
    x_Continue = s_Continue
    x_Let = s_Let
    x_Assign = s_Assign

    def s_Block(self, node: A.Block, top: bool = False) -> Node:
        return self.block(node)

    def s_If(self, node: A.If, top: bool = False) -> Node:
        return self.x_If(node)
