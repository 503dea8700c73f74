"""The expression half of the parser: Pratt binary operators, postfix chains, literals, closures."""

from __future__ import annotations

from . import ast as A
from .errors import RhaiError, parse_error
from .lexer import tokenize
from .options import Options
from .scopes import FnScope
from .tokens import Token
from .values import Char

__all__ = ["ASSIGN_OPS", "BINARY_BP", "BLOCK_STMTS", "ExpressionParser"]

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
BLOCK_STMTS = frozenset({"if", "switch", "while", "loop", "do", "for", "{", "try", "fn"})
_BOOL_OPS = frozenset({"&&", "||", "==", "!=", "<", "<=", ">", ">=", "in", "!in"})


class ExpressionParser:
    """Parser state, token helpers and the Pratt expression parser; statements are in ``Parser``."""

    def __init__(self, src: str, opts: Options, scope_names: tuple[str, ...] = (), expr_only: bool = False):
        self.opts = opts
        self.toks = tokenize(src, opts.max_string_size)
        self.pos = 0
        self.fscope = FnScope(None, False)
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
        """The current token."""
        return self.toks[self.pos]

    def peek(self, k: int = 1) -> Token:
        """The token ``k`` places ahead."""
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def advance(self) -> Token:
        """Consume and return the current token."""
        t = self.toks[self.pos]
        if t.kind != "EOF":
            self.pos += 1
        return t

    def error(self, detail: str, message: str, tok: Token | None = None) -> RhaiError:
        """A parse error at a token (the current one by default)."""
        t = tok or self.tok
        if t.kind == "EOF" and detail in ("MissingToken", "ExprExpected", "MissingSymbol"):
            detail = "UnexpectedEOF" if detail != "MissingToken" else detail
        return parse_error(detail, message, t.line, t.col)

    def expect(self, kind: str, what: str = "") -> Token:
        """Consume a token of this kind or fail with MissingToken."""
        if self.tok.kind != kind:
            raise self.error("MissingToken", f"Expecting '{kind}' {what}".strip())
        return self.advance()

    def enter(self, tok: Token | None = None) -> None:
        """One level deeper; fails with ExprTooDeep past the limit."""
        self.depth += 1
        if self.max_depth and self.depth > self.max_depth:
            raise self.error("ExprTooDeep", "Expression exceeds maximum complexity", tok)

    # --- program and statements ----------------------------------------------------------

    def parse_statement(self, top: bool = False) -> A.Expr | None:
        raise NotImplementedError

    def parse_block(self) -> A.Block:
        raise NotImplementedError

    def parse_block_expr(self, statement: bool = False) -> A.Expr:
        raise NotImplementedError

    def check_lvalue(self, expr: A.Expr, op_tok: Token) -> None:
        """Reject assignment targets Rhai rejects at compile time."""
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

    def pop_block(self) -> None:
        """Leave a block: its variables go out of scope."""
        block = self.fscope.blocks.pop()
        self.fscope.live -= len({d.name for d in block})

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
        """The node for a binary operator."""
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
        """MalformedIndexExpr for literal indexes that can never work."""
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
        if kind in BLOCK_STMTS:
            return self.parse_block_expr()
        if kind in ("return", "throw", "break", "continue"):
            return self.parse_jump()
        if kind == "EOF":
            raise self.error("UnexpectedEOF", "Script is incomplete")
        raise self.error("BadInput" if kind not in ("=", ";") else "ExprExpected", f"Unexpected '{t.value}'")

    def parse_jump(self) -> A.Expr:
        """``return``/``throw``/``break``/``continue`` inside an expression, e.g. ``x ?? return 0``."""
        t = self.advance()
        if t.kind in ("break", "continue") and not self.loops:
            raise parse_error("LoopBreak", "Break statement should only be used inside a loop", t.line, t.col)
        if t.kind == "continue":
            return A.Continue(t.line, t.col)
        value = None if self.tok.kind in _NO_OPERAND else self.parse_expr()
        if t.kind == "return":
            return A.Return(t.line, t.col, value)
        if t.kind == "throw":
            return A.Throw(t.line, t.col, value)
        return A.Break(t.line, t.col, value)

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
            defines: tuple[A.Decl, ...] = ()
            if (
                name == "eval"
                and len(args) == 1
                and isinstance(args[0], A.Const)
                and type(args[0].value) is str
            ):
                defines = self.eval_declarations(args[0].value)
            return A.Call(t.line, t.col, name, args, visible=visible, top=top, defines=defines)
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

    def eval_declarations(self, text: str) -> tuple[A.Decl, ...]:
        """Variables that ``eval("...")`` of a literal declares at its top level.

        Rhai's eval adds them to the caller's scope; declaring them here, in the caller's block,
        lets the statically resolved code after the call see them.
        """
        try:
            toks = tokenize(text)
        except RhaiError:
            return ()
        names: list[tuple[str, bool]] = []
        depth = 0
        for k, tok in enumerate(toks[:-1]):
            if tok.kind in ("{", "#{", "(", "["):
                depth += 1
            elif tok.kind in ("}", ")", "]"):
                depth -= 1
            elif depth == 0 and tok.kind in ("let", "const") and toks[k + 1].kind == "ID":
                names.append((toks[k + 1].value, tok.kind == "const"))
        decls = []
        for name, const in names:
            decl = self.fscope.declare(name, const)
            decl.captured = True
            decls.append(decl)
        return tuple(decls)

    def visible_decls(self) -> tuple[A.Decl, ...]:
        """Variables in scope here; they become shared cells so eval() can reach them."""
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
        self.fscope = FnScope(self.fscope, True)
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
            if self.tok.kind in ASSIGN_OPS and not isinstance(body_expr, A.Block):
                # Rhai parses a closure body as a statement, so `|| n += 1` is an assignment.
                op_tok = self.advance()
                self.check_lvalue(body_expr, op_tok)
                value = self.parse_expr()
                body_expr = A.Assign(op_tok.line, op_tok.col, body_expr, ASSIGN_OPS[op_tok.kind], value)
            body = body_expr if isinstance(body_expr, A.Block) else A.Block(t.line, t.col, [body_expr], 0)
            self.anon += 1
            name = f"anon${t.line}${t.col}${self.anon}"
            fndef = A.FnDef(name, params, body, self.fscope.nslots, t.line, t.col)
            fndef.captures = self.fscope.captures
        finally:
            self.fscope, self.loops, self.depth, self.max_depth = saved
        self.fns[(name, len(fndef.captures) + len(params))] = fndef
        return A.Closure(t.line, t.col, fndef)
