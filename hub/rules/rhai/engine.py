"""The public face: ``Engine``, ``Scope`` and compiled ``AST`` objects, plus the hub's sandbox defaults."""

from __future__ import annotations

import hashlib
import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from . import stdlib
from .compiler import Compiled, Compiler
from .errors import RhaiError
from .options import Options
from .parser import parse
from .runtime import BreakSig, ContinueSig, Ctx, ExitSig, ReturnSig, call_script
from .stdlib.registry import ANY, Overloads
from .values import UNBOUND, Cell, from_host

__all__ = ["AST", "SANDBOX_DEFAULTS", "Engine", "Scope", "sandboxed_engine"]

# Host-side types accepted by register_fn, mapped to the script types they mean.
_HOST_TYPES: dict[type, Any] = {tuple: list, bytes: bytearray}

# The hub's limits for rule scripts: generous for a judgment rule, small enough that a hostile
# script is stopped within about a second and a few megabytes.
SANDBOX_DEFAULTS: dict[str, Any] = {
    "max_operations": 1_000_000,
    "max_call_levels": 32,
    "max_expr_depths": (64, 32),
    "max_string_size": 256 * 1024,
    "max_array_size": 10_000,
    "max_map_size": 10_000,
    "max_variables": 1_000,
    "max_functions": 256,
    "max_seconds": 1.0,
    "check_every": 256,
    "allow_eval": False,
}


class Scope:
    """Variables the host passes into a script; the script's assignments write back here."""

    def __init__(self) -> None:
        self._vars: dict[str, list[Any]] = {}

    def push(self, name: str, value: Any) -> Scope:
        """Add (or replace) a variable."""
        self._vars[name] = [from_host(value), False]
        return self

    def push_constant(self, name: str, value: Any) -> Scope:
        """Add a constant the script cannot assign to."""
        self._vars[name] = [from_host(value), True]
        return self

    def get(self, name: str, default: Any = None) -> Any:
        """A variable's current value."""
        entry = self._vars.get(name)
        return default if entry is None else entry[0]

    def set(self, name: str, value: Any) -> None:
        """Change a variable's value, creating it when missing."""
        entry = self._vars.get(name)
        if entry is None:
            self._vars[name] = [value, False]
        else:
            entry[0] = value

    def lookup(self, name: str, default: Any) -> Any:
        """Value or ``default``, for the interpreter."""
        entry = self._vars.get(name)
        return default if entry is None else entry[0]

    def contains(self, name: str) -> bool:
        """Whether the variable exists."""
        return name in self._vars

    def is_constant(self, name: str) -> bool:
        """Whether the variable was pushed as a constant."""
        entry = self._vars.get(name)
        return bool(entry and entry[1])

    def names(self) -> tuple[str, ...]:
        """Variable names in push order."""
        return tuple(self._vars)

    def __len__(self) -> int:
        return len(self._vars)


class _EvalScope(Scope):
    """What ``eval()`` sees: the caller's variables (through shared cells) over the host scope."""

    def __init__(self, cells: dict[str, Cell], consts: dict[str, bool], parent: Any) -> None:
        super().__init__()
        self.cells = cells
        self.consts = consts
        self.parent = parent

    def lookup(self, name: str, default: Any) -> Any:
        cell = self.cells.get(name)
        if cell is not None:
            return cell.v
        return self.parent.lookup(name, default) if self.parent is not None else default

    def contains(self, name: str) -> bool:
        return name in self.cells or (self.parent is not None and self.parent.contains(name))

    def is_constant(self, name: str) -> bool:
        if name in self.cells:
            return self.consts.get(name, False)
        return self.parent is not None and self.parent.is_constant(name)

    def set(self, name: str, value: Any) -> None:
        cell = self.cells.get(name)
        if cell is not None:
            cell.v = value
        elif self.parent is not None:
            self.parent.set(name, value)

    def names(self) -> tuple[str, ...]:
        return tuple(self.cells) + (self.parent.names() if self.parent is not None else ())


class AST:
    """A compiled script, reusable across runs (Rhai's ``AST``)."""

    def __init__(self, source: str, compiled: Compiled) -> None:
        self.source = source
        self.compiled = compiled
        self.hash = hashlib.sha256(source.encode()).hexdigest()

    def functions(self) -> list[tuple[str, int]]:
        """Script functions defined, as (name, arity); closures and typed methods excluded."""
        return sorted(k for k in self.compiled.fns if not k[0].startswith("anon$") and "." not in k[0])


class Engine:
    """A Rhai engine: options, output hooks and a compiled-script cache."""

    def __init__(self, **options: Any) -> None:
        self.options = Options.from_kwargs(options)
        self.on_print: Callable[[str], None] | None = None
        self.on_debug: Callable[[str], None] | None = None
        # Called every ``check_every`` operations with the count; a non-None answer stops the run.
        self.on_progress: Callable[[int], Any] | None = None
        self._cache: OrderedDict[str, AST] = OrderedDict()
        self._cache_size = 256
        self._lock = threading.Lock()
        # The standard library, shared until the host registers functions of its own.
        self.natives: dict[tuple[str, int], Overloads] = stdlib.NATIVES
        if self.options.raw:
            # Rhai's Engine::new_raw: operators and language built-ins only, no packages.
            self.natives = {}

    def register_fn(
        self, name: str, fn: Callable[..., Any], params: tuple[type, ...] | None = None, *, pure: bool = True
    ) -> Engine:
        """Add a host function scripts can call (before compiling them); it wins over a same-typed native.

        ``params`` are Python types to accept (default: any value, arity from the signature). The
        function receives script values and its answer is converted back with the host-value rules.
        """
        if params is None:
            arity = len(inspect.signature(fn).parameters)
            spec: tuple[Any, ...] = (ANY,) * arity
        else:
            spec = tuple(_HOST_TYPES.get(p, p) for p in params)

        def call(c: Any, *args: Any) -> Any:
            try:
                return from_host(fn(*args))
            except RhaiError:
                raise
            except Exception as exc:  # a failing host function is a catchable script error
                message = f"{name}: {type(exc).__name__}: {exc}"
                raise RhaiError("ErrorRuntime", f"Runtime error: {message}", value=message) from exc

        key = (name, len(spec))
        if self.natives is stdlib.NATIVES:
            self.natives = dict(stdlib.NATIVES)
        merged = Overloads()
        merged.entries.append((spec, call, pure))
        old = self.natives.get(key)
        if old is not None:
            merged.entries.extend(old.entries)
        self.natives[key] = merged
        return self

    @classmethod
    def sandboxed(cls, **overrides: Any) -> Engine:
        """An engine with the hub's limits for rule scripts; keyword arguments override them."""
        return cls(**{**SANDBOX_DEFAULTS, **overrides})

    # --- compiling -----------------------------------------------------------------------
    def _compile(self, script: str, scope_names: tuple[str, ...] = (), expr_only: bool = False) -> AST:
        if type(script) is not str:
            raise RhaiError("ErrorMismatchDataType", "Data type incorrect: script must be a string")
        try:
            program = parse(script, self.options, scope_names, expr_only)
            compiled = Compiler(program, self).compile()
        except RecursionError:
            raise RhaiError(
                "ErrorParsing", "Expression exceeds maximum complexity", detail="ExprTooDeep"
            ) from None
        except RhaiError:
            raise
        except Exception as exc:  # the sandbox promise: only RhaiError escapes
            raise RhaiError("ErrorParsing", f"Cannot parse: {type(exc).__name__}", detail="BadInput") from exc
        return AST(script, compiled)

    def compile(self, script: str, scope: Scope | None = None) -> AST:
        """Parse and compile a script; raises ``ErrorParsing`` with line and column."""
        return self._compile(script, scope.names() if scope is not None else ())

    def compile_expression(self, script: str, scope: Scope | None = None) -> AST:
        """Compile a single expression (no statements, blocks or loops)."""
        return self._compile(script, scope.names() if scope is not None else (), expr_only=True)

    def compile_cached(self, script: str) -> AST:
        """Compile through a small LRU cache keyed by the script's SHA-256."""
        key = hashlib.sha256(script.encode()).hexdigest()
        with self._lock:
            ast = self._cache.get(key)
            if ast is not None:
                self._cache.move_to_end(key)
                return ast
        ast = self._compile(script)
        with self._lock:
            self._cache[key] = ast
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return ast

    # --- running -------------------------------------------------------------------------
    def eval(self, script: str, scope: Scope | None = None) -> Any:
        """Compile and run a script; returns its last value."""
        return self.eval_ast(self.compile(script, scope), scope)

    def eval_expression(self, script: str, scope: Scope | None = None) -> Any:
        """Compile and evaluate one expression."""
        return self.eval_ast(self.compile_expression(script, scope), scope)

    def run(self, script: str, scope: Scope | None = None) -> None:
        """Run a script for its effects."""
        self.eval_ast(self.compile(script, scope), scope)

    def run_ast(self, ast: AST, scope: Scope | None = None) -> None:
        """Run a compiled script for its effects."""
        self.eval_ast(ast, scope)

    def eval_ast(self, ast: AST, scope: Scope | None = None) -> Any:
        """Run a compiled script; returns its last value."""
        compiled = ast.compiled
        c = Ctx(self, compiled.fns, scope)
        frame = [c, UNBOUND, *([None] * (compiled.nslots - 2))]
        result = self._guard(lambda: compiled.body(frame))
        if scope is not None:
            # As in Rhai, variables a script declares at top level stay in the host's scope.
            for decl in compiled.program.top_decls:
                value = frame[decl.slot]
                value = value.v if type(value) is Cell else value
                (scope.push_constant if decl.const else scope.push)(decl.name, value)
        return result

    def call_fn(self, ast: AST, name: str, *args: Any, scope: Scope | None = None) -> Any:
        """Call a script function of a compiled script, as Rhai's ``Engine::call_fn``."""
        compiled = ast.compiled
        fn = compiled.fns.get((name, len(args)))
        if fn is None or name.startswith("anon$"):
            raise RhaiError(
                "ErrorFunctionNotFound", f"Function not found: {name} with {len(args)} arguments", detail=name
            )
        values = [from_host(a) for a in args]
        c = Ctx(self, compiled.fns, scope)
        if compiled.program.body.stmts:
            frame = [c, UNBOUND, *([None] * (compiled.nslots - 2))]
            self._guard(lambda: compiled.body(frame))
            c.ops = 0
        return self._guard(lambda: call_script(c, fn, values, UNBOUND)[0])

    def _guard(self, run: Callable[[], Any]) -> Any:
        """Run compiled code so that only RhaiError (never a Python error) reaches the host."""
        try:
            return run()
        except ReturnSig as ret:
            return ret.value
        except ExitSig as ex:
            return ex.value
        except (BreakSig, ContinueSig):
            raise RhaiError("ErrorRuntime", "break or continue outside a loop") from None
        except RhaiError:
            raise
        except RecursionError:
            raise RhaiError("ErrorStackOverflow", "Stack overflow") from None
        except MemoryError:
            raise RhaiError("ErrorDataTooLarge", "Out of memory") from None
        except Exception as exc:
            raise RhaiError("ErrorSystem", f"Internal error: {type(exc).__name__}: {exc}") from exc

    def _eval_inside(
        self,
        c: Ctx,
        text: str,
        cells: dict[str, Cell],
        consts: dict[str, bool],
        top: bool,
        out: dict[str, Cell],
    ) -> Any:
        """``eval()`` from a script: run text against the caller's variables, sharing the counters."""
        scope = _EvalScope(cells, consts, c.scope)
        ast = self._compile(text, scope.names())
        compiled = ast.compiled
        saved_scope, saved_fns, saved_globals = c.scope, c.fns, c.globals
        if not top:
            c.globals = dict(saved_globals)  # constants declared by eval in a block die with the block
        c.scope = scope
        c.fns = {**saved_fns, **compiled.fns}
        try:
            frame = [c, UNBOUND, *([None] * (compiled.nslots - 2))]
            try:
                return compiled.body(frame)
            except ReturnSig as ret:
                return ret.value
            finally:
                for decl in compiled.program.top_decls:
                    if decl.name in out:
                        value = frame[decl.slot]
                        out[decl.name].v = value.v if type(value) is Cell else value
        finally:
            c.scope, c.fns, c.globals = saved_scope, saved_fns, saved_globals


def sandboxed_engine(**overrides: Any) -> Engine:
    """An engine with the hub's sandbox limits for rule scripts."""
    return Engine.sandboxed(**overrides)
