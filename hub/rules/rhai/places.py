"""Compiles assignable places (variables, ``this``, index and property chains) into getter/setter pairs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast as A
from .access import get_index, get_prop, set_index, set_prop
from .errors import RhaiError
from .runtime import NOTHING

__all__ = ["PlaceCompiler"]

Node = Callable[[list[Any]], Any]
Setter = Callable[[list[Any], Any], None]


class PlaceCompiler:
    """Place half of the compiler (mixed into ``Compiler``)."""

    in_fn: bool

    def expr(self, node: A.Expr, chain: bool = False) -> Node:
        """Compile an expression (provided by ``Compiler``)."""
        raise NotImplementedError

    def x_This(self, node: A.This) -> Node:
        """Compile ``this`` (provided by ``Compiler``)."""
        raise NotImplementedError

    def dynamic_var(self, node: A.Var) -> Node:
        """Compile a by-name variable read (provided by ``Compiler``)."""
        raise NotImplementedError

    def lvalue(self, node: A.Expr) -> tuple[Node, Setter, bool]:
        """Getter, setter and const-ness of an assignable place."""
        if isinstance(node, A.Var):
            return self.var_place(node)
        if isinstance(node, A.This):
            get = self.x_This(node)

            def set_this(f: list[Any], v: Any) -> None:
                f[1] = v

            return get, set_this, False
        if isinstance(node, A.Index):
            tget, tset, const = self.lvalue(node.target)
            index = self.expr(node.index)
            line, col = node.line, node.col

            def get_i(f: list[Any]) -> Any:
                try:
                    return get_index(f[0], tget(f), index(f))
                except RhaiError as e:
                    raise e.at(line, col) from None

            safe_i = node.safe

            def set_i(f: list[Any], v: Any) -> None:
                obj = tget(f)
                if obj is None and safe_i:
                    return
                if const and type(obj) in (list, dict, bytearray):
                    raise self.const_error(node, line, col)
                try:
                    new = set_index(f[0], obj, index(f), v)
                except RhaiError as e:
                    raise e.at(line, col) from None
                if new is not NOTHING:
                    tset(f, new)

            return get_i, set_i, const
        if isinstance(node, A.Prop):
            tget, tset, const = self.lvalue(node.target)
            name = node.name
            line, col = node.line, node.col

            def get_p(f: list[Any]) -> Any:
                try:
                    return get_prop(f[0], tget(f), name)
                except RhaiError as e:
                    raise e.at(line, col) from None

            safe_p = node.safe

            def set_p(f: list[Any], v: Any) -> None:
                obj = tget(f)
                if obj is None and safe_p:
                    return
                if const:
                    raise self.const_error(node, line, col)
                try:
                    set_prop(f[0], obj, name, v)
                except RhaiError as e:
                    raise e.at(line, col) from None

            return get_p, set_p, const
        get = self.expr(node)

        def no_set(f: list[Any], v: Any) -> None:
            return None

        return get, no_set, False

    def const_error(self, node: A.Expr, line: int, col: int) -> RhaiError:
        """ErrorAssignmentToConstant naming the constant at the root of a place."""
        base = node
        while isinstance(base, (A.Index, A.Prop)):
            base = base.target
        name = base.name if isinstance(base, A.Var) else "this"
        return RhaiError("ErrorAssignmentToConstant", f"Cannot modify constant {name}", line=line, column=col)

    def var_place(self, node: A.Var) -> tuple[Node, Setter, bool]:
        """Getter, setter and const-ness of a variable."""
        d = node.decl
        name = node.name
        line, col = node.line, node.col
        if d is None:
            get = self.dynamic_var(node)

            in_fn = self.in_fn

            def set_dyn(f: list[Any], v: Any) -> None:
                bang = f[0].bang
                if bang is not None and name in bang:
                    bang[name].v = v
                    return
                scope = f[0].scope
                if scope is None or not scope.contains(name) or in_fn:
                    raise RhaiError(
                        "ErrorVariableNotFound", f"Variable not found: {name}", line=line, column=col
                    )
                if scope.is_constant(name):
                    raise RhaiError(
                        "ErrorAssignmentToConstant", f"Cannot modify constant {name}", line=line, column=col
                    )
                scope.set(name, v)

            const_dyn = False
            return get, set_dyn, const_dyn
        slot = d.slot
        const = d.const
        if d.captured:

            def set_cell(f: list[Any], v: Any) -> None:
                f[slot].v = v

            return (lambda f: f[slot].v), set_cell, const

        def set_slot(f: list[Any], v: Any) -> None:
            f[slot] = v

        return (lambda f: f[slot]), set_slot, const
