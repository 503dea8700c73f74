"""Syntax tree nodes produced by the parser; variables are already resolved to frame slots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ArrayLit",
    "Assign",
    "Binary",
    "Block",
    "Break",
    "Call",
    "Closure",
    "Const",
    "Continue",
    "Decl",
    "DoLoop",
    "Expr",
    "FnDef",
    "For",
    "If",
    "Index",
    "Interp",
    "Let",
    "Logic",
    "MapLit",
    "MethodCall",
    "Prop",
    "RangeLit",
    "Return",
    "Switch",
    "This",
    "Throw",
    "TryCatch",
    "Unary",
    "Var",
    "While",
]


@dataclass(eq=False, slots=True)
class Decl:
    """A declared variable: its slot in the function frame and whether closures share it."""

    name: str
    slot: int
    const: bool = False
    captured: bool = False


@dataclass(eq=False, slots=True)
class Expr:
    """Base of all nodes; ``line``/``col`` locate runtime errors."""

    line: int
    col: int


@dataclass(eq=False, slots=True)
class Const(Expr):
    """A literal value."""

    value: Any


@dataclass(eq=False, slots=True)
class Var(Expr):
    """A variable read; ``decl`` is its resolved slot."""

    name: str
    decl: Decl | None  # None: looked up by name in the host scope at run time
    is_global: bool = False  # `global::NAME`


@dataclass(eq=False, slots=True)
class This(Expr):
    """The ``this`` receiver of a method call."""


@dataclass(eq=False, slots=True)
class ArrayLit(Expr):
    """An array literal ``[a, b]``."""

    items: list[Expr]


@dataclass(eq=False, slots=True)
class MapLit(Expr):
    """An object map literal ``#{k: v}``."""

    items: list[tuple[str, Expr]]


@dataclass(eq=False, slots=True)
class Interp(Expr):
    """A back-tick string with ``${}`` parts."""

    parts: list[Expr]


@dataclass(eq=False, slots=True)
class Unary(Expr):
    """A prefix operator: ``-x`` or ``!x``."""

    op: str
    operand: Expr


@dataclass(eq=False, slots=True)
class Binary(Expr):
    """An eager binary operator, including ``in``/``!in``."""

    op: str
    left: Expr
    right: Expr


@dataclass(eq=False, slots=True)
class Logic(Expr):
    """Short-circuit operators: ``&&``, ``||``, ``??``."""

    op: str
    left: Expr
    right: Expr


@dataclass(eq=False, slots=True)
class RangeLit(Expr):
    """A range ``a..b`` or ``a..=b`` (either end may be missing)."""

    start: Expr | None
    end: Expr | None
    inclusive: bool


@dataclass(eq=False, slots=True)
class Index(Expr):
    """``target[index]`` or ``target?[index]``."""

    target: Expr
    index: Expr
    safe: bool = False


@dataclass(eq=False, slots=True)
class Prop(Expr):
    """``target.name`` or ``target?.name``."""

    target: Expr
    name: str
    safe: bool = False


@dataclass(eq=False, slots=True)
class Call(Expr):
    """A function call by name."""

    name: str
    args: list[Expr]
    bang: bool = False  # `f!(...)`: runs in the caller's scope
    namespace: str | None = None
    visible: tuple[Decl, ...] = ()
    top: bool = False  # written in the script's outermost block (eval's constants become global)
    defines: tuple[Decl, ...] = ()  # variables a literal eval() text declares into the caller's block


@dataclass(eq=False, slots=True)
class MethodCall(Expr):
    """``target.name(args)``: the receiver goes by reference."""

    target: Expr
    name: str
    args: list[Expr]
    safe: bool = False


@dataclass(eq=False, slots=True)
class FnDef:
    """A script function or closure body, with its parameters and frame size."""

    name: str
    params: list[Decl]
    body: Block
    nslots: int
    line: int
    col: int
    this_type: str | None = None
    private: bool = False
    captures: list[tuple[Decl | None, Decl]] = field(default_factory=list)
    scope_names: tuple[str, ...] = ()


@dataclass(eq=False, slots=True)
class Closure(Expr):
    """A closure expression; evaluates to a function pointer."""

    fn: FnDef


@dataclass(eq=False, slots=True)
class Block(Expr):
    """A ``{ }`` block; its value is its last statement's."""

    stmts: list[Expr]
    scope_size: int = 0  # live variables at the block's end, for max_variables


@dataclass(eq=False, slots=True)
class If(Expr):
    """``if``/``else``, as statement or expression."""

    cond: Expr
    then: Block
    other: Expr | None


@dataclass(eq=False, slots=True)
class Switch(Expr):
    """A ``switch`` with literal cases, guards and a default."""

    subject: Expr
    cases: list[tuple[Any, Expr | None, Expr]]  # (value or Range, guard, body)
    default: Expr | None


@dataclass(eq=False, slots=True)
class While(Expr):
    """``while cond { }`` or, with no condition, ``loop { }``."""

    cond: Expr | None  # None for `loop`
    body: Block


@dataclass(eq=False, slots=True)
class DoLoop(Expr):
    """``do { } while/until cond``."""

    body: Block
    cond: Expr
    until: bool


@dataclass(eq=False, slots=True)
class For(Expr):
    """``for x in it { }`` or ``for (x, i) in it { }``."""

    var: Decl
    counter: Decl | None
    iterable: Expr
    body: Block


@dataclass(eq=False, slots=True)
class Let(Expr):
    """``let``/``const`` declaration."""

    decl: Decl
    value: Expr | None
    live: int = 0  # live variables after this declaration


@dataclass(eq=False, slots=True)
class Assign(Expr):
    """Plain or compound assignment to a place."""

    target: Expr
    op: str | None  # "+" for `+=`, None for `=`
    value: Expr


@dataclass(eq=False, slots=True)
class Return(Expr):
    """``return [value]``."""

    value: Expr | None


@dataclass(eq=False, slots=True)
class Throw(Expr):
    """``throw [value]``."""

    value: Expr | None


@dataclass(eq=False, slots=True)
class Break(Expr):
    """``break [value]``."""

    value: Expr | None


@dataclass(eq=False, slots=True)
class Continue(Expr):
    """``continue``."""


@dataclass(eq=False, slots=True)
class TryCatch(Expr):
    """``try { } catch (e) { }``."""

    body: Block
    var: Decl | None
    handler: Block
