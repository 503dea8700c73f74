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
    value: Any


@dataclass(eq=False, slots=True)
class Var(Expr):
    name: str
    decl: Decl | None  # None: looked up by name in the host scope at run time
    is_global: bool = False  # `global::NAME`


@dataclass(eq=False, slots=True)
class This(Expr):
    pass


@dataclass(eq=False, slots=True)
class ArrayLit(Expr):
    items: list[Expr]


@dataclass(eq=False, slots=True)
class MapLit(Expr):
    items: list[tuple[str, Expr]]


@dataclass(eq=False, slots=True)
class Interp(Expr):
    parts: list[Expr]


@dataclass(eq=False, slots=True)
class Unary(Expr):
    op: str
    operand: Expr


@dataclass(eq=False, slots=True)
class Binary(Expr):
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
    start: Expr | None
    end: Expr | None
    inclusive: bool


@dataclass(eq=False, slots=True)
class Index(Expr):
    target: Expr
    index: Expr
    safe: bool = False


@dataclass(eq=False, slots=True)
class Prop(Expr):
    target: Expr
    name: str
    safe: bool = False


@dataclass(eq=False, slots=True)
class Call(Expr):
    name: str
    args: list[Expr]
    bang: bool = False  # `f!(...)`: runs in the caller's scope
    namespace: str | None = None
    visible: tuple[Decl, ...] = ()
    top: bool = False  # written in the script's outermost block (eval's constants become global)
    defines: tuple[Decl, ...] = ()  # variables a literal eval() text declares into the caller's block


@dataclass(eq=False, slots=True)
class MethodCall(Expr):
    target: Expr
    name: str
    args: list[Expr]
    safe: bool = False


@dataclass(eq=False, slots=True)
class FnDef:
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
    fn: FnDef


@dataclass(eq=False, slots=True)
class Block(Expr):
    stmts: list[Expr]
    scope_size: int = 0  # live variables at the block's end, for max_variables


@dataclass(eq=False, slots=True)
class If(Expr):
    cond: Expr
    then: Block
    other: Expr | None


@dataclass(eq=False, slots=True)
class Switch(Expr):
    subject: Expr
    cases: list[tuple[Any, Expr | None, Expr]]  # (value or Range, guard, body)
    default: Expr | None


@dataclass(eq=False, slots=True)
class While(Expr):
    cond: Expr | None  # None for `loop`
    body: Block


@dataclass(eq=False, slots=True)
class DoLoop(Expr):
    body: Block
    cond: Expr
    until: bool


@dataclass(eq=False, slots=True)
class For(Expr):
    var: Decl
    counter: Decl | None
    iterable: Expr
    body: Block


@dataclass(eq=False, slots=True)
class Let(Expr):
    decl: Decl
    value: Expr | None
    live: int = 0  # live variables after this declaration


@dataclass(eq=False, slots=True)
class Assign(Expr):
    target: Expr
    op: str | None  # "+" for `+=`, None for `=`
    value: Expr


@dataclass(eq=False, slots=True)
class Return(Expr):
    value: Expr | None


@dataclass(eq=False, slots=True)
class Throw(Expr):
    value: Expr | None


@dataclass(eq=False, slots=True)
class Break(Expr):
    value: Expr | None


@dataclass(eq=False, slots=True)
class Continue(Expr):
    pass


@dataclass(eq=False, slots=True)
class TryCatch(Expr):
    body: Block
    var: Decl | None
    handler: Block
