"""Generated closures for binary operators, specialised by operand shape (slot, constant, sub-tree).

The source text is built only from the fixed operator table below and integer slot numbers, never from
script text, and each shape is generated once per process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import RhaiError
from .values import INT_MAX, INT_MIN

__all__ = ["make_binary", "make_call", "make_update", "make_while"]

Node = Callable[[list[Any]], Any]

# Integer fast path per operator: a statement that returns when the result is certain.
_INT_BODY = {
    "+": "x = a + b\n            if MIN <= x <= MAX:\n                return x",
    "-": "x = a - b\n            if MIN <= x <= MAX:\n                return x",
    "*": "x = a * b\n            if MIN <= x <= MAX:\n                return x",
    "<": "return a < b",
    "<=": "return a <= b",
    ">": "return a > b",
    ">=": "return a >= b",
    "==": "return a == b",
    "!=": "return a != b",
    "&": "return a & b",
    "|": "return a | b",
    "^": "return a ^ b",
}
# Float fast path per operator: IEEE results that need no checks.
_FLOAT_BODY = {
    "+": "return a + b",
    "-": "return a - b",
    "*": "return a * b",
}
_TEMPLATE = """
def make(l, r, slow, line, col, KL, KR, MIN, MAX, RhaiError):
    def node(f):
        a = {A}
        b = {B}
        if type(a) is int and type(b) is int:
            {BODY}
        {FLOAT}
        try:
            return slow(f[0], a, b)
        except RhaiError as e:
            raise e.at(line, col)
    return node
"""
_SLOW_TEMPLATE = """
def make(l, r, slow, line, col, KL, KR, MIN, MAX, RhaiError):
    def node(f):
        a = {A}
        b = {B}
        try:
            return slow(f[0], a, b)
        except RhaiError as e:
            raise e.at(line, col)
    return node
"""
_MAKERS: dict[tuple[str, str, str], Callable[..., Node]] = {}


def _operand(kind: str, side: str) -> str:
    if kind == "node":
        return f"{side.lower()}(f)"
    if kind == "const":
        return f"K{side}"
    return f"f[{int(kind)}]"


def make_binary(
    op: str,
    left: Node,
    right: Node,
    left_kind: str,
    right_kind: str,
    kl: Any,
    kr: Any,
    slow: Callable[[Any, Any, Any], Any],
    line: int,
    col: int,
) -> Node:
    """A closure computing ``left op right``; kinds are "node", "const" or a slot number as text."""
    key = (op, left_kind, right_kind)
    maker = _MAKERS.get(key)
    if maker is None:
        body = _INT_BODY.get(op)
        template = _TEMPLATE if body is not None else _SLOW_TEMPLATE
        fbody = _FLOAT_BODY.get(op)
        fast_float = f"elif type(a) is float and type(b) is float:\n            {fbody}" if fbody else ""
        src = template.format(
            A=_operand(left_kind, "L"), B=_operand(right_kind, "R"), BODY=body, FLOAT=fast_float
        )
        namespace: dict[str, Any] = {}
        exec(compile(src, f"<rhai-op {op}>", "exec"), namespace)
        maker = namespace["make"]
        _MAKERS[key] = maker
    node: Node = maker(left, right, slow, line, col, kl, kr, INT_MIN, INT_MAX, RhaiError)
    return node


_WHILE_TEMPLATE = """
def make(body, slow, w, line, col, KR, mismatch, BreakSig, ContinueSig):
    def loop(f):
        c = f[0]
        while True:
            c.ops += w
            if c.ops > c.limit:
                c.tick()
            a = f[{SLOT}]
            b = {B}
            if type(a) is int and type(b) is int:
                if not (a {OP} b):
                    return None
            else:
                v = slow(c, a, b)
                if v is not True:
                    if v is False:
                        return None
                    raise mismatch(v, line, col)
            try:
                body(f)
            except BreakSig as e:
                return e.value
            except ContinueSig:
                pass
    return loop
"""
_WHILE_MAKERS: dict[tuple[str, str], Callable[..., Node]] = {}


def make_while(
    op: str,
    slot: int,
    right_kind: str,
    kr: Any,
    body: Node,
    slow: Callable[[Any, Any, Any], Any],
    w: int,
    line: int,
    col: int,
    mismatch: Callable[..., Exception],
    signals: tuple[type[Exception], type[Exception]],
) -> Node:
    """``while slot op operand { body }`` with the integer comparison inlined into the loop."""
    key = (op, right_kind)
    maker = _WHILE_MAKERS.get(key)
    if maker is None:
        src = _WHILE_TEMPLATE.replace("{SLOT}", "SLOT").format(OP=op, B=_operand(right_kind, "R"))
        src = src.replace("f[SLOT]", "f[slot]").replace("def make(", "def make(slot, ")
        namespace: dict[str, Any] = {}
        exec(compile(src, f"<rhai-while {op}>", "exec"), namespace)
        maker = namespace["make"]
        _WHILE_MAKERS[key] = maker
    node: Node = maker(slot, body, slow, w, line, col, kr, mismatch, *signals)
    return node


_CALL_TEMPLATE = """
def make(fn, args, pad, name, line, col, UNBOUND, RhaiError, ReturnSig, SYSTEM_KINDS):
    {UNPACK}
    def call(f):
        c = f[0]
        depth = c.depth + 1
        if depth > c.max_depth:
            raise RhaiError("ErrorStackOverflow", "Stack overflow", line=line, column=col)
        frame = [c, UNBOUND{ARGS}]{PAD}
        c.ops += fn.weight
        if c.ops > c.limit:
            c.tick()
        c.depth = depth
        try:
            return fn.body(frame)
        except ReturnSig as ret:
            return ret.value
        except RhaiError as err:
            if err.kind in SYSTEM_KINDS:
                raise err.at(line, col) from None
            raise RhaiError(
                "ErrorInFunctionCall",
                f"Error in call to function '{{name}}': {{err}}",
                inner=err,
                function=name,
                line=line,
                column=col,
            ) from None
        finally:
            c.depth = depth - 1
    return call
"""
_CALL_MAKERS: dict[tuple[int, bool], Callable[..., Node]] = {}


def make_call(fn: Any, args: list[Node], name: str, line: int, col: int, env: tuple[Any, ...]) -> Node:
    """A call of a plain script function with ``len(args)`` positional arguments, frame built inline.

    ``env`` is (UNBOUND, RhaiError, ReturnSig, SYSTEM_KINDS), passed in to avoid an import cycle.
    """
    pad = fn.pad
    key = (len(args), bool(pad))
    maker = _CALL_MAKERS.get(key)
    if maker is None:
        names = [f"a{i}" for i in range(len(args))]
        unpack = f"({', '.join(names)},) = args" if names else "pass"
        call_args = "".join(f", {n}(f)" for n in names)
        src = _CALL_TEMPLATE.format(
            UNPACK=unpack, ARGS=call_args, PAD="\n        frame.extend(pad)" if pad else ""
        )
        namespace: dict[str, Any] = {}
        exec(compile(src, f"<rhai-call {key}>", "exec"), namespace)
        maker = namespace["make"]
        _CALL_MAKERS[key] = maker
    node: Node = maker(fn, args, pad, name, line, col, *env)
    return node


# Compound assignment to a frame slot: ``x op= value`` with the same fast paths as the operators.
_UPDATE_INT = {
    "+": "x = a + b\n            if MIN <= x <= MAX:\n                f[slot] = x\n                return",
    "-": "x = a - b\n            if MIN <= x <= MAX:\n                f[slot] = x\n                return",
    "*": "x = a * b\n            if MIN <= x <= MAX:\n                f[slot] = x\n                return",
    "&": "f[slot] = a & b\n            return",
    "|": "f[slot] = a | b\n            return",
    "^": "f[slot] = a ^ b\n            return",
}
_UPDATE_TEMPLATE = """
def make(slot, r, slow, line, col, KR, MIN, MAX, RhaiError):
    def node(f):
        a = f[slot]
        b = {B}
        if type(a) is int and type(b) is int:
            {BODY}
        {FLOAT}
        try:
            f[slot] = slow(f[0], a, b)
        except RhaiError as e:
            raise e.at(line, col)
    return node
"""
_UPDATE_MAKERS: dict[tuple[str, str], Callable[..., Node]] = {}


def make_update(
    op: str,
    slot: int,
    right_kind: str,
    right: Node,
    kr: Any,
    slow: Callable[[Any, Any, Any], Any],
    line: int,
    col: int,
) -> Node:
    """``slot op= right`` with integer and float fast paths; ``slow`` handles every other type."""
    key = (op, right_kind)
    maker = _UPDATE_MAKERS.get(key)
    if maker is None:
        body = _UPDATE_INT.get(op, "pass")
        fbody = _FLOAT_BODY.get(op)
        fast_float = (
            f"elif type(a) is float and type(b) is float:\n            f[slot] = {fbody[7:]}\n            return"
            if fbody
            else ""
        )
        src = _UPDATE_TEMPLATE.format(B=_operand(right_kind, "R"), BODY=body, FLOAT=fast_float)
        namespace: dict[str, Any] = {}
        exec(compile(src, f"<rhai-update {op}>", "exec"), namespace)
        maker = namespace["make"]
        _UPDATE_MAKERS[key] = maker
    node: Node = maker(slot, right, slow, line, col, kr, INT_MIN, INT_MAX, RhaiError)
    return node
