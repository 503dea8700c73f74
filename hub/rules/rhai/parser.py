"""Recursive-descent parser with Pratt expressions; resolves variables to frame slots as it goes."""

from __future__ import annotations

from typing import Any

from . import ast as A
from .errors import RhaiError, parse_error
from .lexer import tokenize
from .options import Options
from .tokens import Token
from .values import Char, Range

__all__ = ["Program", "parse"]

BINARY_BP = {
    "||": 30, "|": 30, "^": 30, "&&": 60, "&": 60, "==": 90, "!=": 90, "in": 110, "!in": 110,
    "<": 130, "<=": 130, ">": 130, ">=": 130, "??": 135, "..": 140, "..=": 140, "+": 150, "-": 150,
    "*": 180, "/": 180, "%": 180, "**": 190, "<<": 210, ">>": 210,
}  # fmt: skip
ASSIGN_OPS = {
    "=": None, "+=": "+", "-=": "-", "*=": "*", "/=": "/", "%=": "%", "**=": "**", "<<=": "<<",
    ">>=": ">>", "&=": "&", "|=": "|", "^=": "^",
}  # fmt: skip
# Tokens that cannot begin an expression, so `1..` before them is an open-ended range.
_NO_OPERAND = frozenset({")", "]", "}", ",", ";", "EOF", "=>"})
_BLOCK_STMTS = frozenset({"if", "switch", "while", "loop", "do", "for", "{", "try", "fn"})
_BOOL_OPS = frozenset({"&&", "||", "==", "!=", "<", "<=", ">", ">=", "in", "!in"})


class _FnScope:
    """Variables of one function body; closures chain to the scope they were written in."""

    def __init__(self, parent: _FnScope | None, is_closure: bool) -> None:
        self.parent = parent
        self.is_closure = is_closure
        self.blocks: list[list[A.Decl]] = [[]]
        self.nslots = 2  # frame[0] is the run context, frame[1] is `this`
        self.captures: list[tuple[A.Decl | None, A.Decl]] = []
        self.live = 0

    def declare(self, name: str, const: bool = False) -> A.Decl:
        decl = A.Decl(name, self.nslots, const)
        self.nslots += 1
        block = self.blocks[-1]
        if all(d.name != name for d in block):
            self.live += 1
        block.append(decl)
        return decl

    def find_local(self, name: str) -> A.Decl | None:
        for block in reversed(self.blocks):
            for decl in reversed(block):
                if decl.name == name:
                    return decl
        return None

    def resolve(self, name: str) -> A.Decl | None:
        decl = self.find_local(name)
        if decl is not None or not self.is_closure or self.parent is None:
            return decl
        outer = self.parent.resolve(name)
        if outer is None:
            return None
        outer.captured = True
        inner = A.Decl(name, self.nslots, outer.const, captured=True)
        self.nslots += 1
        self.blocks[0].append(inner)
        self.captures.append((outer, inner))
        return inner


class Program:
    """A parsed script: top-level statements plus script functions keyed by (name, arity)."""

    def __init__(self, body: A.Block, fns: dict[tuple[str, int], A.FnDef], nslots: int) -> None:
        self.body = body
        self.fns = fns
        self.nslots = nslots


class Parser:
    """Turns tokens into a resolved tree, enforcing Rhai's syntax rules and depth limits."""

    def __init__(self, src: str, opts: Options, scope_names: tuple[str, ...] = (), expr_only: bool = False):
        self.opts = opts
        self.toks = tokenize(src, opts.max_string_size)
        self.pos = 0
        self.fscope = _FnScope(None, False)
        self.scope_names = set(scope_names)
        self.fns: dict[tuple[str, int], A.FnDef] = {}
        self.depth = 0
        self.max_depth = opts.max_expr_depth
        self.loops = 0
        self.in_fn = False
        self.expr_only = expr_only
        self.undefined: list[tuple[str, int, int]] = []
        self.anon = 0
        self.imports: set[str] = set()

    # --- token helpers -------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.pos]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def advance(self) -> Token:
        t = self.toks[self.pos]
        if t.kind != "EOF":
            self.pos += 1
        return t

    def error(self, detail: str, message: str, tok: Token | None = None) -> RhaiError:
        t = tok or self.tok
        if t.kind == "EOF" and detail in ("MissingToken", "ExprExpected", "MissingSymbol"):
            detail = "UnexpectedEOF" if detail != "MissingToken" else detail
        return parse_error(detail, message, t.line, t.col)

    def expect(self, kind: str, what: str = "") -> Token:
        if self.tok.kind != kind:
            raise self.error("MissingToken", f"Expecting '{kind}' {what}".strip())
        return self.advance()

    def enter(self, tok: Token | None = None) -> None:
        self.depth += 1
        if self.max_depth and self.depth > self.max_depth:
            raise self.error("ExprTooDeep", "Expression exceeds maximum complexity", tok)

    # --- program and statements ----------------------------------------------------------
    def parse_program(self) -> Program:
        stmts: list[A.Expr] = []
        self.fscope.live = len(self.scope_names)
        if self.expr_only:
            expr = self.parse_expr()
            if self.tok.kind != "EOF":
                raise self.error(
                    "UnexpectedEOF" if False else "BadInput", "Unexpected token after expression"
                )
            stmts.append(expr)
        else:
            while self.tok.kind != "EOF":
                stmt = self.parse_statement(top=True)
                if stmt is not None:
                    stmts.append(stmt)
        if self.undefined:
            for name, line, col in self.undefined:
                if not any(key[0] == name for key in self.fns):
                    raise parse_error("VariableUndefined", f"Undefined variable: {name}", line, col)
        body = A.Block(1, 1, stmts, self.fscope.live)
        return Program(body, self.fns, self.fscope.nslots)

    def end_statement(self, stmt: A.Expr, needs_semi: bool) -> None:
        kind = self.tok.kind
        if kind == ";":
            self.advance()
        elif kind in ("}", "EOF"):
            pass
        elif needs_semi:
            raise self.error("MissingToken", "Expecting ';' to terminate this statement")

    def parse_statement(self, top: bool = False) -> A.Expr | None:
        self.enter()
        try:
            return self.parse_statement_inner(top)
        finally:
            self.depth -= 1

    def parse_statement_inner(self, top: bool = False) -> A.Expr | None:
        t = self.tok
        kind = t.kind
        if kind == ";":
            self.advance()
            return None
        if kind in ("let", "const"):
            stmt: A.Expr = self.parse_let()
            self.end_statement(stmt, True)
            return stmt
        if kind == "fn" or (kind == "private" and self.peek().kind == "fn"):
            if not top or self.in_fn or len(self.fscope.blocks) > 1:
                raise self.error("WrongFnDefinition", "Functions can only be defined at global level")
            self.parse_fn()
            if self.tok.kind == ";":
                self.advance()
            return None
        if kind == "return":
            self.advance()
            value = None if self.tok.kind in (";", "}", "EOF") else self.parse_expr()
            stmt = A.Return(t.line, t.col, value)
            self.end_statement(stmt, True)
            return stmt
        if kind == "throw":
            self.advance()
            value = None if self.tok.kind in (";", "}", "EOF") else self.parse_expr()
            stmt = A.Throw(t.line, t.col, value)
            self.end_statement(stmt, True)
            return stmt
        if kind in ("break", "continue"):
            self.advance()
            if not self.loops:
                raise parse_error(
                    "LoopBreak", "Break statement should only be used inside a loop", t.line, t.col
                )
            if kind == "continue":
                stmt = A.Continue(t.line, t.col)
            else:
                value = None if self.tok.kind in (";", "}", "EOF") else self.parse_expr()
                stmt = A.Break(t.line, t.col, value)
            self.end_statement(stmt, True)
            return stmt
        if kind == "try":
            stmt = self.parse_try()
            if self.tok.kind == ";":
                self.advance()
            return stmt
        if kind == "import":
            self.advance()
            path = self.parse_expr()
            if self.tok.kind == "as":
                self.advance()
                self.imports.add(self.expect("ID").value)
            stmt = A.Call(t.line, t.col, "$import", [path])
            self.end_statement(stmt, True)
            return stmt
        if kind == "export":
            raise self.error("WrongExport", "Export statements are not supported")
        if kind in _BLOCK_STMTS:
            stmt = self.parse_block_expr(statement=True)
            if self.tok.kind in ("=", *ASSIGN_OPS):
                raise self.error("AssignmentToInvalidLHS", "Cannot assign to this expression")
            if self.tok.kind == ";":
                self.advance()
            return stmt
        expr = self.parse_expr()
        if self.tok.kind in ASSIGN_OPS:
            op_tok = self.advance()
            self.check_lvalue(expr, op_tok)
            value = self.parse_expr()
            stmt = A.Assign(op_tok.line, op_tok.col, expr, ASSIGN_OPS[op_tok.kind], value)
            self.end_statement(stmt, True)
            return stmt
        self.end_statement(expr, True)
        return expr

    def check_lvalue(self, expr: A.Expr, op_tok: Token) -> None:
        if isinstance(expr, A.Var):
            if expr.decl is not None and expr.decl.const:
                raise parse_error(
                    "AssignmentToConstant", f"Cannot assign to constant {expr.name}", expr.line, expr.col
                )
            return
        if isinstance(expr, A.This):
            return
        if isinstance(expr, (A.Index, A.Prop)):
            base: A.Expr = expr
            while isinstance(base, (A.Index, A.Prop)):
                base = base.target
            if isinstance(base, (A.Var, A.This)):
                return
            raise parse_error(
                "AssignmentToInvalidLHS", "Cannot assign to this expression", expr.line, expr.col
            )
        if isinstance(expr, A.Const):
            raise parse_error("AssignmentToConstant", "Cannot assign to a constant", expr.line, expr.col)
        raise parse_error("AssignmentToInvalidLHS", "Cannot assign to this expression", expr.line, expr.col)

    def parse_let(self) -> A.Let:
        t = self.advance()
        const = t.kind == "const"
        name_tok = self.tok
        if name_tok.kind != "ID":
            raise self.error("VariableExpected", "Expecting name of a variable")
        self.advance()
        value = None
        if self.tok.kind == "=":
            self.advance()
            value = self.parse_expr()
        name = name_tok.value
        if not self.opts.allow_shadowing and (
            self.fscope.resolve(name) is not None or name in self.scope_names
        ):
            raise parse_error(
                "VariableExists", f"Variable already defined: {name}", name_tok.line, name_tok.col
            )
        decl = self.fscope.declare(name, const)
        return A.Let(t.line, t.col, decl, value, self.fscope.live)

    def parse_fn(self) -> None:
        private = False
        if self.tok.kind == "private":
            self.advance()
            private = True
        fn_tok = self.expect("fn")
        this_type = None
        name_tok = self.tok
        if name_tok.kind != "ID":
            raise self.error("FnMissingName", "Expecting function name")
        self.advance()
        if self.tok.kind == "." and self.peek().kind == "ID":
            this_type = name_tok.value
            self.advance()
            name_tok = self.advance()
        name = name_tok.value
        saved = (self.fscope, self.depth, self.max_depth, self.loops, self.in_fn)
        self.fscope = _FnScope(None, False)
        self.depth = 0
        self.max_depth = self.opts.max_function_expr_depth
        self.loops = 0
        self.in_fn = True
        try:
            params = self.parse_params(name_tok, name)
            if self.tok.kind != "{":
                raise self.error("FnMissingBody", f"Expecting body for function '{name}'")
            body = self.parse_block()
            fndef = A.FnDef(
                name, params, body, self.fscope.nslots, fn_tok.line, fn_tok.col, this_type, private
            )
        finally:
            self.fscope, self.depth, self.max_depth, self.loops, self.in_fn = saved
        key = (name, len(params))
        if key in self.fns:
            raise parse_error(
                "FnDuplicatedDefinition", f"Function {name} already defined", name_tok.line, name_tok.col
            )
        self.fns[key] = fndef
        if self.opts.max_functions and len(self.fns) > self.opts.max_functions:
            raise parse_error("TooManyFunctions", "Too many functions", fn_tok.line, fn_tok.col)

    def parse_params(self, name_tok: Token, name: str) -> list[A.Decl]:
        params: list[A.Decl] = []
        if self.tok.kind == "()":
            self.advance()
            return params
        if self.tok.kind != "(":
            raise self.error("FnMissingParams", f"Expecting parameters for function '{name}'")
        self.advance()
        seen: set[str] = set()
        while self.tok.kind != ")":
            p = self.tok
            if p.kind != "ID":
                raise self.error("FnMissingParams", "Expecting a parameter name")
            self.advance()
            if p.value in seen:
                raise parse_error(
                    "FnDuplicatedParam", f"Duplicated parameter {p.value} of {name}", p.line, p.col
                )
            seen.add(p.value)
            params.append(self.fscope.declare(p.value))
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != ")":
                raise self.error("MissingToken", "Expecting ',' or ')'")
        self.advance()
        return params

    def parse_try(self) -> A.TryCatch:
        t = self.advance()
        body = self.parse_block()
        self.expect("catch")
        self.fscope.blocks.append([])
        var = None
        if self.tok.kind == "(":
            self.advance()
            name = self.expect("ID").value
            var = self.fscope.declare(name)
            self.expect(")")
        try:
            handler = self.parse_block()
        finally:
            self.pop_block()
        return A.TryCatch(t.line, t.col, body, var, handler)

    def pop_block(self) -> None:
        block = self.fscope.blocks.pop()
        self.fscope.live -= len({d.name for d in block})

    def parse_block(self, decls: list[tuple[str, bool]] | None = None) -> A.Block:
        t = self.tok
        if t.kind != "{":
            raise self.error("MissingToken", "Expecting '{'")
        self.advance()
        self.enter(t)
        self.fscope.blocks.append([])
        stmts: list[A.Expr] = []
        try:
            while self.tok.kind != "}":
                if self.tok.kind == "EOF":
                    raise self.error("MissingToken", "Expecting '}'")
                stmt = self.parse_statement()
                if stmt is not None:
                    stmts.append(stmt)
            self.advance()
            return A.Block(t.line, t.col, stmts, self.fscope.live)
        finally:
            self.pop_block()
            self.depth -= 1

    # --- block-like expressions ----------------------------------------------------------
    def parse_block_expr(self, statement: bool = False) -> A.Expr:
        t = self.tok
        kind = t.kind
        if kind == "fn":
            raise self.error("WrongFnDefinition", "Functions can only be defined at global level")
        if kind == "try":
            return self.parse_try()
        if kind == "if":
            if not statement and not self.opts.allow_if_expression:
                raise self.error("BadInput", "'if' cannot be used as an expression")
            return self.parse_if()
        if kind == "switch":
            if not statement and not self.opts.allow_switch_expression:
                raise self.error("BadInput", "'switch' cannot be used as an expression")
            return self.parse_switch()
        if kind == "{":
            if not statement and (not self.opts.allow_statement_expression or self.expr_only):
                raise self.error("BadInput", "Statement blocks cannot be used as expressions")
            return self.parse_block()
        if not self.opts.allow_looping:
            raise self.error("BadInput", "Loops are not allowed")
        if not statement and (not self.opts.allow_loop_expressions or self.expr_only):
            raise self.error("BadInput", "Loops cannot be used as expressions")
        self.advance()
        self.loops += 1
        try:
            if kind == "while":
                cond = self.parse_expr()
                return A.While(t.line, t.col, cond, self.parse_block())
            if kind == "loop":
                return A.While(t.line, t.col, None, self.parse_block())
            if kind == "do":
                body = self.parse_block()
                if self.tok.kind not in ("while", "until"):
                    raise self.error("MissingToken", "Expecting 'while' or 'until'")
                until = self.advance().kind == "until"
                self.loops -= 1
                try:
                    cond = self.parse_expr()
                finally:
                    self.loops += 1
                return A.DoLoop(t.line, t.col, body, cond, until)
            return self.parse_for(t)
        finally:
            self.loops -= 1

    def parse_for(self, t: Token) -> A.For:
        names: list[Token] = []
        if self.tok.kind == "(":
            self.advance()
            names.append(self.expect("ID"))
            self.expect(",")
            names.append(self.expect("ID"))
            self.expect(")")
        else:
            if self.tok.kind != "ID":
                raise self.error("VariableExpected", "Expecting name of a variable")
            names.append(self.advance())
        self.expect("in")
        self.loops -= 1
        try:
            iterable = self.parse_expr()
        finally:
            self.loops += 1
        self.fscope.blocks.append([])
        try:
            var = self.fscope.declare(names[0].value)
            counter = self.fscope.declare(names[1].value) if len(names) > 1 else None
            body = self.parse_block()
        finally:
            self.pop_block()
        return A.For(t.line, t.col, var, counter, iterable, body)

    def parse_if(self) -> A.If:
        t = self.advance()
        cond = self.parse_expr()
        then = self.parse_block()
        other: A.Expr | None = None
        if self.tok.kind == "else":
            self.advance()
            other = self.parse_if() if self.tok.kind == "if" else self.parse_block()
        return A.If(t.line, t.col, cond, then, other)

    def parse_switch(self) -> A.Switch:
        t = self.advance()
        subject = self.parse_expr()
        self.expect("{")
        cases: list[tuple[Any, A.Expr | None, A.Expr]] = []
        default: A.Expr | None = None
        seen_range = False
        while self.tok.kind != "}":
            if self.tok.kind == "EOF":
                raise self.error("MissingToken", "Expecting '}'")
            if default is not None:
                raise self.error("WrongSwitchDefaultCase", "Default case must be the last")
            if self.tok.kind == "_":
                self.advance()
                if self.tok.kind == "if":
                    raise self.error("WrongSwitchCaseCondition", "Default case cannot have a condition")
                self.expect("=>")
                default = self.parse_case_body()
            else:
                values: list[Any] = []
                while True:
                    vt = self.tok
                    value = self.parse_case_value()
                    if type(value) is Range:
                        seen_range = True
                    elif seen_range and type(value) in (int, float):
                        raise parse_error(
                            "WrongSwitchIntegerCase", "Numeric case after range cases", vt.line, vt.col
                        )
                    values.append(value)
                    if self.tok.kind != "|":
                        break
                    self.advance()
                guard = None
                if self.tok.kind == "if":
                    self.advance()
                    guard = self.parse_expr()
                self.expect("=>")
                body = self.parse_case_body()
                cases.extend((v, guard, body) for v in values)
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != "}" and not isinstance(
                cases[-1][2] if default is None else default, A.Block
            ):
                raise self.error("MissingToken", "Expecting ',' between switch cases")
        self.advance()
        return A.Switch(t.line, t.col, subject, cases, default)

    def parse_case_body(self) -> A.Expr:
        if self.tok.kind == "{":
            return self.parse_block()
        return self.parse_expr()

    def parse_case_value(self) -> Any:
        expr = self.parse_binary(BINARY_BP["|"] + 1)
        if isinstance(expr, A.Const):
            return expr.value
        if isinstance(expr, A.RangeLit) and isinstance(expr.start, A.Const) and isinstance(expr.end, A.Const):
            lo, hi = expr.start.value, expr.end.value
            if type(lo) is int and type(hi) is int:
                return Range(lo, hi, expr.inclusive)
        raise parse_error("ExprExpected", "Expecting a constant switch case", expr.line, expr.col)

    # --- expressions ---------------------------------------------------------------------
    def parse_expr(self) -> A.Expr:
        self.enter()
        try:
            return self.parse_binary(0)
        finally:
            self.depth -= 1

    def parse_binary(self, min_bp: int) -> A.Expr:
        left = self.parse_unary()
        added = 0
        try:
            while True:
                t = self.tok
                op = t.kind
                bp = BINARY_BP.get(op)
                if bp is None or bp < min_bp:
                    return left
                self.advance()
                self.enter(t)
                added += 1
                if op in ("..", "..=") and self.tok.kind in _NO_OPERAND:
                    left = A.RangeLit(t.line, t.col, left, None, op == "..=")
                    continue
                right = self.parse_binary(bp if op == "**" else bp + 1)
                left = self.make_binary(t, op, left, right)
        finally:
            self.depth -= added

    def make_binary(self, t: Token, op: str, left: A.Expr, right: A.Expr) -> A.Expr:
        if op in ("&&", "||", "??"):
            return A.Logic(t.line, t.col, op, left, right)
        if op in ("..", "..="):
            return A.RangeLit(t.line, t.col, left, right, op == "..=")
        return A.Binary(t.line, t.col, op, left, right)

    def parse_unary(self) -> A.Expr:
        t = self.tok
        if t.kind in ("-", "+", "!"):
            self.advance()
            self.enter(t)
            try:
                operand = self.parse_unary()
            finally:
                self.depth -= 1
            if t.kind == "+":
                return operand
            if isinstance(operand, A.Const) and t.kind == "-" and type(operand.value) in (int, float):
                if operand.value == -(2**63):
                    raise parse_error("BadInput", "Integer overflow in negation", t.line, t.col)
                return A.Const(t.line, t.col, -operand.value)
            return A.Unary(t.line, t.col, t.kind, operand)
        if t.kind in ("..", "..="):
            self.advance()
            end = None if self.tok.kind in _NO_OPERAND else self.parse_binary(BINARY_BP[".."] + 1)
            return A.RangeLit(t.line, t.col, None, end, t.kind == "..=")
        return self.parse_postfix(self.parse_primary())

    def parse_args(self) -> list[A.Expr]:
        if self.tok.kind == "()":
            self.advance()
            return []
        self.expect("(")
        args: list[A.Expr] = []
        while self.tok.kind != ")":
            args.append(self.parse_expr())
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != ")":
                raise self.error("MissingToken", "Expecting ',' or ')' in function call")
        self.advance()
        return args

    def parse_postfix(self, expr: A.Expr) -> A.Expr:
        while True:
            t = self.tok
            kind = t.kind
            if kind in (".", "?."):
                self.advance()
                name_tok = self.tok
                if name_tok.kind not in ("ID", "this") and not name_tok.kind.isalpha():
                    raise self.error("PropertyExpected", "Expecting name of a property")
                self.advance()
                name = name_tok.value
                if self.tok.kind in ("(", "()"):
                    args = self.parse_args()
                    expr = A.MethodCall(name_tok.line, name_tok.col, expr, name, args, kind == "?.")
                elif self.tok.kind == "::":
                    raise self.error("BadInput", "Module paths are not supported here")
                else:
                    expr = A.Prop(name_tok.line, name_tok.col, expr, name, kind == "?.")
            elif kind in ("[", "?["):
                self.advance()
                index = self.parse_expr()
                self.expect("]")
                self.check_index(expr, index)
                expr = A.Index(t.line, t.col, expr, index, kind == "?[")
            else:
                return expr

    def check_index(self, target: A.Expr, index: A.Expr) -> None:
        if isinstance(target, (A.Index, A.Prop, A.MethodCall)):
            return  # only the first index of a chain has a statically known receiver
        bad = False
        if isinstance(index, A.Const):
            v = index.value
            if (
                type(v) in (float, bool, Char)
                or v is None
                or (isinstance(target, A.ArrayLit) and type(v) is str)
                or (isinstance(target, A.MapLit) and type(v) is int)
            ):
                bad = True
        elif (isinstance(index, A.Logic) and index.op != "??") or (
            isinstance(index, A.Binary) and index.op in _BOOL_OPS
        ):
            bad = True
        if bad:
            raise parse_error("MalformedIndexExpr", "Invalid index", index.line, index.col)

    def parse_primary(self) -> A.Expr:
        t = self.tok
        kind = t.kind
        if kind in ("INT", "FLOAT", "STR", "CHAR"):
            self.advance()
            return A.Const(t.line, t.col, t.value)
        if kind in ("true", "false"):
            self.advance()
            return A.Const(t.line, t.col, kind == "true")
        if kind == "()":
            self.advance()
            return A.Const(t.line, t.col, None)
        if kind == "TPL":
            self.advance()
            return self.parse_template(t)
        if kind == "ID":
            return self.parse_name()
        if kind == "global":
            self.advance()
            self.expect("::")
            name = self.expect("ID")
            return A.Var(name.line, name.col, name.value, None, is_global=True)
        if kind == "this":
            self.advance()
            return A.This(t.line, t.col)
        if kind == "(":
            self.advance()
            expr = self.parse_expr()
            self.expect(")", "to close the parenthesis")
            return expr
        if kind == "[":
            return self.parse_array()
        if kind == "#{":
            return self.parse_map()
        if kind in ("|", "||"):
            return self.parse_closure()
        if kind in _BLOCK_STMTS:
            return self.parse_block_expr()
        if kind == "EOF":
            raise self.error("UnexpectedEOF", "Script is incomplete")
        raise self.error("BadInput" if kind not in ("=", ";") else "ExprExpected", f"Unexpected '{t.value}'")

    def parse_name(self) -> A.Expr:
        t = self.advance()
        name = t.value
        kind = self.tok.kind
        if kind == "!" and self.peek().kind in ("(", "()"):
            self.advance()
            args = self.parse_args()
            return A.Call(t.line, t.col, name, args, bang=True, visible=self.visible_decls())
        if kind in ("(", "()"):
            args = self.parse_args()
            visible = self.visible_decls() if name in ("eval", "is_def_var") else ()
            top = not self.in_fn and len(self.fscope.blocks) == 1 and self.fscope.parent is None
            return A.Call(t.line, t.col, name, args, visible=visible, top=top)
        if kind == "::":
            path = [name]
            while self.tok.kind == "::":
                self.advance()
                path.append(self.expect("ID").value)
            if self.opts.strict_variables and path[0] not in self.imports:
                raise parse_error("ModuleUndefined", f"Undefined module: {path[0]}", t.line, t.col)
            if self.tok.kind in ("(", "()"):
                args = self.parse_args()
                return A.Call(t.line, t.col, path[-1], args, namespace="::".join(path[:-1]))
            return A.Call(t.line, t.col, "$module_var", [A.Const(t.line, t.col, "::".join(path))])
        decl = self.fscope.resolve(name)
        if decl is None and name not in self.scope_names and self.opts.strict_variables:
            self.undefined.append((name, t.line, t.col))
        return A.Var(t.line, t.col, name, decl)

    def visible_decls(self) -> tuple[A.Decl, ...]:
        decls: list[A.Decl] = []
        for block in self.fscope.blocks:
            decls.extend(block)
        for decl in decls:
            decl.captured = True  # eval and friends reach these through shared cells
        return tuple(decls)

    def parse_template(self, t: Token) -> A.Expr:
        parts: list[A.Expr] = []
        for part in t.value:
            if isinstance(part, str):
                if part:
                    parts.append(A.Const(t.line, t.col, part))
                continue
            saved_toks, saved_pos = self.toks, self.pos
            self.toks, self.pos = part, 0
            self.fscope.blocks.append([])
            try:
                stmts: list[A.Expr] = []
                while self.tok.kind != "EOF":
                    stmt = self.parse_statement()
                    if stmt is not None:
                        stmts.append(stmt)
                parts.append(A.Block(t.line, t.col, stmts, self.fscope.live))
            finally:
                self.pop_block()
                self.toks, self.pos = saved_toks, saved_pos
        return A.Interp(t.line, t.col, parts)

    def parse_array(self) -> A.Expr:
        t = self.advance()
        items: list[A.Expr] = []
        while self.tok.kind != "]":
            items.append(self.parse_expr())
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != "]":
                raise self.error("MissingToken", "Expecting ',' or ']' in array literal")
        self.advance()
        if self.opts.max_array_size and len(items) > self.opts.max_array_size:
            raise parse_error("LiteralTooLarge", "Size of array literal", t.line, t.col)
        return A.ArrayLit(t.line, t.col, items)

    def parse_map(self) -> A.Expr:
        t = self.advance()
        items: list[tuple[str, A.Expr]] = []
        seen: set[str] = set()
        while self.tok.kind != "}":
            k = self.tok
            if k.kind in ("ID", "STR") or (
                k.kind.isalpha() and k.kind not in ("INT", "FLOAT", "CHAR", "TPL", "EOF")
            ):
                key = str(k.value)
            else:
                raise self.error("PropertyExpected", "Expecting name of a property")
            self.advance()
            if key in seen:
                raise parse_error("DuplicatedProperty", f"Duplicated property: {key}", k.line, k.col)
            seen.add(key)
            self.expect(":")
            items.append((key, self.parse_expr()))
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != "}":
                raise self.error("MissingToken", "Expecting ',' or '}' in object map literal")
        self.advance()
        if self.opts.max_map_size and len(items) > self.opts.max_map_size:
            raise parse_error("LiteralTooLarge", "Size of object map literal", t.line, t.col)
        return A.MapLit(t.line, t.col, items)

    def parse_closure(self) -> A.Expr:
        t = self.advance()
        if not self.opts.allow_anonymous_fn:
            raise parse_error("BadInput", "Anonymous functions are not allowed", t.line, t.col)
        saved = (self.fscope, self.loops, self.depth, self.max_depth)
        self.fscope = _FnScope(self.fscope, True)
        self.loops = 0
        try:
            params: list[A.Decl] = []
            if t.kind == "|":
                seen: set[str] = set()
                while self.tok.kind != "|":
                    p = self.tok
                    if p.kind != "ID":
                        raise self.error("FnMissingParams", "Expecting a parameter name")
                    self.advance()
                    if p.value in seen:
                        raise parse_error(
                            "FnDuplicatedParam", f"Duplicated parameter {p.value}", p.line, p.col
                        )
                    seen.add(p.value)
                    params.append(self.fscope.declare(p.value))
                    if self.tok.kind == ",":
                        self.advance()
                    elif self.tok.kind != "|":
                        raise self.error("MissingToken", "Expecting ',' or '|'")
                self.advance()
            body_expr = self.parse_block() if self.tok.kind == "{" else self.parse_expr()
            body = body_expr if isinstance(body_expr, A.Block) else A.Block(t.line, t.col, [body_expr], 0)
            self.anon += 1
            name = f"anon${t.line}${t.col}${self.anon}"
            fndef = A.FnDef(name, params, body, self.fscope.nslots, t.line, t.col)
            fndef.captures = self.fscope.captures
        finally:
            self.fscope, self.loops, self.depth, self.max_depth = saved
        self.fns[(name, len(fndef.captures) + len(params))] = fndef
        return A.Closure(t.line, t.col, fndef)


def parse(src: str, opts: Options, scope_names: tuple[str, ...] = (), expr_only: bool = False) -> Program:
    """Parse a script into a resolved program, turning any overflow of Python's stack into ExprTooDeep."""
    try:
        return Parser(src, opts, scope_names, expr_only).parse_program()
    except RecursionError:
        raise parse_error("ExprTooDeep", "Expression exceeds maximum complexity", 1, 1) from None
