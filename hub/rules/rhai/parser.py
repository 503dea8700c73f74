"""Recursive-descent statement parser; resolves variables to frame slots as it goes."""

from __future__ import annotations

from typing import Any

from . import ast as A
from .errors import parse_error
from .expressions import ASSIGN_OPS, BINARY_BP, BLOCK_STMTS, ExpressionParser
from .options import Options
from .scopes import FnScope, Program
from .tokens import Token
from .values import Range

__all__ = ["Parser", "Program", "parse"]

_TYPE_NAMES = {
    "int": "i64",
    "INT": "i64",
    "float": "f64",
    "FLOAT": "f64",
    "String": "string",
    "str": "string",
}


class Parser(ExpressionParser):
    """Turns tokens into a resolved tree, enforcing Rhai's syntax rules and depth limits."""

    def parse_program(self) -> Program:
        stmts: list[A.Expr] = []
        self.fscope.live = len(self.scope_names)
        if self.expr_only:
            expr = self.parse_expr()
            if self.tok.kind != "EOF":
                raise self.error("BadInput", "Unexpected token after expression")
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
        return Program(body, self.fns, self.fscope.nslots, list(self.fscope.blocks[0]))

    def end_statement(self, stmt: A.Expr, needs_semi: bool) -> None:
        """Consume the ``;`` a statement needs (optional before ``}`` and at the end)."""
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
        if kind in BLOCK_STMTS:
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
        self.fscope = FnScope(None, False)
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
        # Typed methods (`fn int.f()`) live under "type.name", so each `this` type can have its own.
        key = (f"{_TYPE_NAMES.get(this_type, this_type)}.{name}" if this_type else name, len(params))
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

    def parse_block(self) -> A.Block:
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


def parse(src: str, opts: Options, scope_names: tuple[str, ...] = (), expr_only: bool = False) -> Program:
    """Parse a script into a resolved program, turning any overflow of Python's stack into ExprTooDeep."""
    try:
        return Parser(src, opts, scope_names, expr_only).parse_program()
    except RecursionError:
        raise parse_error("ExprTooDeep", "Expression exceeds maximum complexity", 1, 1) from None
