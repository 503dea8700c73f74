"""Compiles function calls and method calls, including the forms Rhai treats specially."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast as A
from .errors import SYSTEM_KINDS, RhaiError
from .fastops import make_call
from .ops import fn_not_found
from .runtime import (
    NOTHING,
    Ctx,
    ExitSig,
    ReturnSig,
    SafeNone,
    ScriptFn,
    call_fnptr,
    call_script,
    find_native,
)
from .stdlib.registry import Mut
from .values import UNBOUND, Cell, FnPtr, debug_string, display, type_of

__all__ = ["CallCompiler", "invoke_method"]

Node = Callable[[list[Any]], Any]
Setter = Callable[[list[Any], Any], None]
_PLACES = (A.Var, A.This, A.Index, A.Prop)
# Natives that build strings, arrays or maps are held to the size limits like every other result.
_SIZED = frozenset({str, list, dict, bytearray})


def invoke_method(c: Ctx, name: str, obj: Any, args: list[Any], const: bool) -> tuple[Any, Any]:
    """``obj.name(args)``: returns (result, new receiver or NOTHING)."""
    t = type(obj)
    if name == "call":
        if t is FnPtr:
            return call_fnptr(c, obj, args)[0], NOTHING
        if args and type(args[0]) is FnPtr:
            return call_fnptr(c, args[0], args[1:], obj)
    elif name == "curry" and t is FnPtr:
        return FnPtr(obj.name, [*obj.curry, *args]), NOTHING
    fn = c.fns.get((f"{type_of(obj)}.{name}", len(args))) if c.typed_methods else None
    if fn is None:
        fn = c.fns.get((name, len(args)))
    if fn is not None:
        result, this = call_script(c, fn, args, obj)
        return result, this
    hit = find_native(c, name, [obj, *args])
    if hit is not None:
        native, pure = hit
        if const and not pure:
            raise RhaiError(
                "ErrorNonPureMethodCallOnConstant", f"Non-pure method '{name}' cannot be called on constant"
            )
        r = native(c, obj, *args)
        if type(r) is Mut:
            return r.result, r.new
        if type(r) in _SIZED:
            c.check_size(r)
        return r, NOTHING
    if t is dict and type(obj.get(name)) is FnPtr:
        return call_fnptr(c, obj[name], args, obj)
    raise fn_not_found(name, obj, *args)


class CallCompiler:
    """Function-call half of the compiler (mixed into ``Compiler``)."""

    fns: dict[tuple[str, int], ScriptFn]
    fn_names: set[str]
    opts: Any
    engine: Any
    in_fn: bool

    def expr(self, node: A.Expr, chain: bool = False) -> Node:
        """Compile an expression (provided by ``Compiler``)."""
        raise NotImplementedError

    def value(self, node: A.Expr) -> Node:
        """Compile an expression whose value gets stored (provided by ``Compiler``)."""
        raise NotImplementedError

    def lvalue(self, node: A.Expr) -> tuple[Node, Setter, bool]:
        """Compile an assignable place (provided by ``Compiler``)."""
        raise NotImplementedError

    def _guarded(self, fn: Node, node: A.Expr, chain: bool) -> Node:
        raise NotImplementedError

    def x_MethodCall(self, node: A.MethodCall, chain: bool = False) -> Node:
        name = node.name
        if name == "is_shared" and not node.args:
            target = node.target
            shared = isinstance(target, A.Var) and target.decl is not None and target.decl.captured
            return lambda f: shared
        args = [self.value(a) for a in node.args]
        line, col = node.line, node.col
        safe = node.safe
        if isinstance(node.target, _PLACES):
            get, set_, const = self.lvalue(node.target)
        else:
            get = self.expr(node.target, chain=True)
            set_ = None
            const = False

        def method(f: list[Any]) -> Any:
            obj = get(f)
            if obj is None and safe:
                raise SafeNone
            vals = [a(f) for a in args]
            try:
                result, new = invoke_method(f[0], name, obj, vals, const)
            except RhaiError as e:
                raise e.at(line, col) from None
            if new is not NOTHING and set_ is not None and new is not obj and not const:
                set_(f, new)
            return result

        return self._guarded(method, node, chain)

    def x_Call(self, node: A.Call) -> Node:
        inner = self.plain_call(node)
        if not node.bang:
            return inner
        visible = [(d.name, d.slot) for d in node.visible]

        def bang_call(f: list[Any]) -> Any:
            c: Ctx = f[0]
            saved = c.bang
            cells = dict(saved) if saved else {}
            cells.update((name, f[slot]) for name, slot in visible if type(f[slot]) is Cell)
            c.bang = cells
            try:
                return inner(f)
            finally:
                c.bang = saved

        return bang_call

    def plain_call(self, node: A.Call) -> Node:
        """A call without caller-scope access: special forms, script functions, then natives."""
        name = node.name
        n = len(node.args)
        line, col = node.line, node.col
        special = getattr(self, "call_" + name.lstrip("$"), None) if not node.namespace else None
        if special is not None and (name.startswith("$") or (name, n) not in self.fns):
            result: Node | None = special(node)
            if result is not None:
                return result
        if node.namespace:
            ns = node.namespace

            def no_module(f: list[Any]) -> Any:
                raise RhaiError("ErrorModuleNotFound", f"Module not found: {ns}", line=line, column=col)

            return no_module
        fn = self.fns.get((name, n))
        if fn is not None:
            return self.script_call(fn, node)
        args = [self.value(a) for a in node.args]
        over = self.engine.natives.get((name, n))
        if node.args and isinstance(node.args[0], _PLACES):
            get, set_, const = self.lvalue(node.args[0])
            rest = args[1:]

            def native_ref(f: list[Any]) -> Any:
                first = get(f)
                vals = [first, *[a(f) for a in rest]]
                hit = over.find(tuple(map(type, vals))) if over is not None else None
                if hit is None:
                    raise self.not_found(f, name, vals, line, col)
                if const and not hit[1]:
                    raise RhaiError(
                        "ErrorNonPureMethodCallOnConstant",
                        f"Non-pure method '{name}' cannot be called on constant",
                        line=line,
                        column=col,
                    )
                try:
                    r = hit[0](f[0], *vals)
                except RhaiError as e:
                    raise e.at(line, col) from None
                if type(r) is Mut:
                    set_(f, r.new)
                    return r.result
                if type(r) in _SIZED:
                    f[0].check_size(r)
                return r

            return native_ref

        def native(f: list[Any]) -> Any:
            vals = [a(f) for a in args]
            hit = over.find(tuple(map(type, vals))) if over is not None else None
            if hit is None:
                raise self.not_found(f, name, vals, line, col)
            try:
                r = hit[0](f[0], *vals)
            except RhaiError as e:
                raise e.at(line, col) from None
            if type(r) is Mut:
                return r.result
            if type(r) in _SIZED:
                f[0].check_size(r)
            return r

        return native

    def not_found(self, f: list[Any], name: str, vals: list[Any], line: int, col: int) -> RhaiError:
        """The ErrorFunctionNotFound for a call with these argument values."""
        return fn_not_found(name, *vals).at(line, col)

    def script_call(self, fn: ScriptFn, node: A.Call) -> Node:
        """A direct call of a script function known at compile time."""
        args = [self.value(a) for a in node.args]
        line, col = node.line, node.col
        too_many = bool(self.opts.max_variables and len(args) > self.opts.max_variables)
        if fn.param_slots is not None or too_many:

            def call(f: list[Any]) -> Any:
                try:
                    return call_script(f[0], fn, [a(f) for a in args])[0]
                except RhaiError as e:
                    raise e.at(line, col) from None

            return call
        # The common case: a plain script function with positional parameters, frame built inline.
        return make_call(fn, args, fn.name, line, col, (UNBOUND, RhaiError, ReturnSig, SYSTEM_KINDS))

    # --- calls with special meaning ------------------------------------------------------
    def call_Fn(self, node: A.Call) -> Node | None:
        if len(node.args) != 1:
            return None
        arg = self.expr(node.args[0])
        line, col = node.line, node.col

        def make_fn(f: list[Any]) -> Any:
            name = arg(f)
            if type(name) is not str:
                raise fn_not_found("Fn", name).at(line, col)
            if not name.isidentifier():
                raise RhaiError(
                    "ErrorFunctionNotFound", f"Invalid function name: {name}", line=line, column=col
                )
            return FnPtr(name)

        return make_fn

    def call_call(self, node: A.Call) -> Node | None:
        if not node.args:
            return None
        args = [self.value(a) for a in node.args]
        line, col = node.line, node.col

        def call(f: list[Any]) -> Any:
            vals = [a(f) for a in args]
            fp = vals[0]
            if type(fp) is not FnPtr:
                raise fn_not_found("call", *vals).at(line, col)
            try:
                return call_fnptr(f[0], fp, vals[1:])[0]
            except RhaiError as e:
                raise e.at(line, col) from None

        return call

    def call_curry(self, node: A.Call) -> Node | None:
        if not node.args:
            return None
        args = [self.value(a) for a in node.args]

        def curry(f: list[Any]) -> Any:
            vals = [a(f) for a in args]
            fp = vals[0]
            if type(fp) is not FnPtr:
                raise fn_not_found("curry", *vals)
            return FnPtr(fp.name, [*fp.curry, *vals[1:]])

        return curry

    def call_is_def_fn(self, node: A.Call) -> Node | None:
        if len(node.args) != 2:
            return None
        name, arity = (self.expr(a) for a in node.args)

        def is_def_fn(f: list[Any]) -> Any:
            return (name(f), arity(f)) in f[0].fns

        return is_def_fn

    def call_is_def_var(self, node: A.Call) -> Node | None:
        if len(node.args) != 1:
            return None
        name = self.expr(node.args[0])
        known = {d.name for d in node.visible}

        def is_def_var(f: list[Any]) -> Any:
            n = name(f)
            scope = f[0].scope
            return n in known or (scope is not None and scope.contains(n))

        return is_def_var

    def call_is_shared(self, node: A.Call) -> Node | None:
        if len(node.args) != 1:
            return None
        arg = node.args[0]
        shared = isinstance(arg, A.Var) and arg.decl is not None and arg.decl.captured
        return lambda f: shared

    def call_print(self, node: A.Call) -> Node | None:
        return self._output(node, "on_print", debug=False)

    def call_debug(self, node: A.Call) -> Node | None:
        return self._output(node, "on_debug", debug=True)

    def _output(self, node: A.Call, hook: str, debug: bool) -> Node | None:
        if len(node.args) != 1:
            return None
        arg = self.expr(node.args[0])

        def output(f: list[Any]) -> Any:
            v = arg(f)
            text = debug_string(v) if debug else display(v)
            callback = getattr(f[0].engine, hook)
            if callback is not None:
                callback(text)

        return output

    def call_exit(self, node: A.Call) -> Node | None:
        arg = self.expr(node.args[0]) if node.args else (lambda f: None)

        def exit_(f: list[Any]) -> Any:
            raise ExitSig(arg(f))

        return exit_

    def call_import(self, node: A.Call) -> Node | None:
        path = self.expr(node.args[0])
        line, col = node.line, node.col

        def import_(f: list[Any]) -> Any:
            raise RhaiError(
                "ErrorModuleNotFound", f"Module not found: {display(path(f))}", line=line, column=col
            )

        return import_

    def call_module_var(self, node: A.Call) -> Node | None:
        return self.call_import(node)

    def call_eval(self, node: A.Call) -> Node | None:
        if len(node.args) != 1:
            return None
        arg = self.expr(node.args[0])
        line, col = node.line, node.col
        decls = {d.name: d for d in node.visible}
        allow = self.opts.allow_eval
        top = node.top
        defines = [(d.name, d.slot) for d in node.defines]

        def eval_(f: list[Any]) -> Any:
            c: Ctx = f[0]
            text = arg(f)
            if not allow:
                raise fn_not_found("eval", text).at(line, col)
            if type(text) is not str:
                raise fn_not_found("eval", text).at(line, col)
            cells = {name: f[d.slot] for name, d in decls.items() if type(f[d.slot]) is Cell}
            out: dict[str, Cell] = {}
            for name, slot in defines:
                out[name] = f[slot] = Cell(None)
            try:
                consts = {name: d.const for name, d in decls.items()}
                return c.engine._eval_inside(c, text, cells, consts, top, out)
            except RhaiError as e:
                raise RhaiError(
                    "ErrorInFunctionCall", f"Error in call to function 'eval': {e}", inner=e, function="eval"
                ).at(line, col) from None

        return eval_
