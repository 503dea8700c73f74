"""The lexer: Rhai's tokenizer is context-sensitive (fused negative literals, back-tick templates)."""

from __future__ import annotations

import re

from .errors import RhaiError, parse_error
from .tokens import KEYWORDS, RESERVED, RESERVED_SYMBOLS, SYMBOLS, Token
from .values import INT_MAX, Char

__all__ = ["tokenize"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = re.compile(r"[ \t\r\f\v\u00a0\ufeff]+")
_DEC = re.compile(r"[0-9][0-9_]*")
_EXP = re.compile(r"[eE][+-]?[0-9][0-9_]*")
_RADIX = {
    "x": (16, re.compile(r"[0-9a-fA-F_]+")),
    "o": (8, re.compile(r"[0-7_]+")),
    "b": (2, re.compile(r"[01_]+")),
}
_DIGITS = frozenset("0123456789")
_ESC = {"\\": "\\", "t": "\t", "r": "\r", "n": "\n", '"': '"', "'": "'", "0": "\0"}
_HEX_LEN = {"x": 2, "u": 4, "U": 8}
# After these a `-` is binary; elsewhere `-` followed by a digit is part of the literal.
_OPERAND_END = frozenset(
    {"INT", "FLOAT", "STR", "CHAR", "ID", "TPL", ")", "]", "}", "()", "true", "false", "this"}
)


class _Lexer:
    def __init__(self, src: str, max_string: int) -> None:
        self.src = src
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.max_string = max_string

    def err(self, detail: str, message: str, i: int | None = None) -> RhaiError:
        pos = self.i if i is None else i
        return parse_error(detail, message, self.line, pos - self.line_start + 1)

    def newline(self, at: int) -> None:
        self.line += 1
        self.line_start = at + 1

    def skip_trivia(self) -> None:
        src = self.src
        n = len(src)
        while self.i < n:
            c = src[self.i]
            if c == "\n":
                self.newline(self.i)
                self.i += 1
            elif c in " \t\r\f\v\u00a0\ufeff":
                m = _SPACE.match(src, self.i)
                self.i = m.end() if m else self.i + 1
            elif c == "/" and src.startswith("//", self.i):
                j = src.find("\n", self.i)
                self.i = n if j < 0 else j
            elif c == "/" and src.startswith("/*", self.i):
                self.block_comment()
            else:
                return

    def block_comment(self) -> None:
        src = self.src
        start = self.i
        depth = 0
        while self.i < len(src):
            if src.startswith("/*", self.i):
                depth += 1
                self.i += 2
            elif src.startswith("*/", self.i):
                depth -= 1
                self.i += 2
                if depth == 0:
                    return
            else:
                if src[self.i] == "\n":
                    self.newline(self.i)
                self.i += 1
        raise self.err("BadInput", "Unterminated comment", start)

    def tokens(self, until_brace: bool = False) -> list[Token]:
        """Lex to the end, or (inside ``${``) to the matching ``}``."""
        out: list[Token] = []
        src = self.src
        n = len(src)
        depth = 0
        if self.i == 0 and src.startswith("#!"):
            j = src.find("\n")
            self.i = n if j < 0 else j
        while True:
            self.skip_trivia()
            line, col = self.line, self.i - self.line_start + 1
            if self.i >= n:
                if until_brace:
                    raise self.err("BadInput", "Unterminated string interpolation")
                out.append(Token("EOF", None, line, col))
                return out
            c = src[self.i]
            prev = out[-1].kind if out else ""
            if c.isascii() and (c.isalpha() or c == "_"):
                m = _IDENT.match(src, self.i)
                if m is None:
                    raise self.err("BadInput", f"Unexpected '{c}'")
                word = m.group()
                self.i = m.end()
                if word == "_":
                    out.append(Token("_", word, line, col))
                elif word in KEYWORDS:
                    out.append(Token(word, word, line, col))
                elif word in RESERVED:
                    raise parse_error("Reserved", f"'{word}' is a reserved keyword", line, col)
                else:
                    stripped = word.lstrip("_")
                    if not stripped or stripped[0].isdigit():
                        raise parse_error("BadInput", f"Invalid identifier: {word}", line, col)
                    out.append(Token("ID", word, line, col))
                continue
            if c in _DIGITS or (
                c == "-" and self.i + 1 < n and src[self.i + 1] in _DIGITS and prev not in _OPERAND_END
            ):
                out.append(self.number(line, col))
                continue
            if c == '"':
                out.append(Token("STR", self.string(col), line, col))
                continue
            if c == "`":
                out.append(self.template(line, col))
                continue
            if c == "'":
                out.append(self.char(line, col))
                continue
            if c == "#":
                j = self.i
                while j < n and src[j] == "#":
                    j += 1
                if j < n and src[j] == '"':
                    out.append(Token("STR", self.raw_string(j - self.i, line, col), line, col))
                    continue
                if src.startswith("#{", self.i):
                    self.i += 2
                    depth += 1  # its `}` must not end an enclosing `${`
                    out.append(Token("#{", "#{", line, col))
                    continue
                if src.startswith("#!", self.i):
                    raise parse_error("Reserved", "'#!' is a reserved symbol", line, col)
                raise parse_error("UnknownOperator", "#", line, col)
            if c == "(" and src.startswith("()", self.i):
                self.i += 2
                out.append(Token("()", "()", line, col))
                continue
            if (
                c == "!"
                and src.startswith("!in", self.i)
                and not (self.i + 3 < n and (src[self.i + 3].isalnum() or src[self.i + 3] == "_"))
            ):
                self.i += 3
                out.append(Token("!in", "!in", line, col))
                continue
            for size in (3, 2, 1):
                sym = src[self.i : self.i + size]
                if len(sym) == size and sym in SYMBOLS:
                    break
                if len(sym) == size and sym in RESERVED_SYMBOLS:
                    raise parse_error("Reserved", f"'{sym}' is a reserved symbol", line, col)
            else:
                raise parse_error("BadInput", f"Unexpected '{c}'", line, col)
            if until_brace:
                if sym == "{":
                    depth += 1
                elif sym == "}":
                    if depth == 0:
                        self.i += 1
                        out.append(Token("EOF", None, line, col))
                        return out
                    depth -= 1
            self.i += size
            out.append(Token(sym, sym, line, col))

    def number(self, line: int, col: int) -> Token:
        src = self.src
        start = self.i
        neg = src[self.i] == "-"
        if neg:
            self.i += 1
        if src[self.i] == "0" and self.i + 1 < len(src) and src[self.i + 1] in "xXoObB":
            radix, pattern = _RADIX[src[self.i + 1].lower()]
            m = pattern.match(src, self.i + 2)
            if m is None or not m.group().strip("_"):
                raise self.err("BadInput", "Malformed number", start)
            self.i = m.end()
            self.check_number_end(start)
            value = int(m.group().replace("_", ""), radix)
            if value > 2**64 - 1:
                raise parse_error("BadInput", "Malformed number: too large", line, col)
            if value > INT_MAX:
                value -= 2**64
            return Token("INT", -value if neg else value, line, col)
        m = _DEC.match(src, self.i)
        assert m is not None
        self.i = m.end()
        is_float = False
        if self.i < len(src) and src[self.i] == ".":
            nxt = src[self.i + 1] if self.i + 1 < len(src) else ""
            if nxt in _DIGITS:
                m2 = _DEC.match(src, self.i + 1)
                assert m2 is not None
                self.i = m2.end()
                is_float = True
            elif nxt != "." and not (nxt.isalpha() or nxt == "_"):
                self.i += 1
                is_float = True
        e = _EXP.match(src, self.i)
        if e is not None:
            self.i = e.end()
            is_float = True
        self.check_number_end(start)
        text = src[start : self.i].replace("_", "")
        if is_float:
            return Token("FLOAT", float(text), line, col)
        value = int(text)
        if not -INT_MAX - 1 <= value <= INT_MAX:
            return Token("FLOAT", float(value), line, col)
        return Token("INT", value, line, col)

    def check_number_end(self, start: int) -> None:
        src = self.src
        if self.i < len(src) and src[self.i] == "." and self.i + 1 < len(src) and src[self.i + 1] in _DIGITS:
            raise self.err("BadInput", "Malformed number", start)
        if self.i < len(src) and (src[self.i].isalnum() or src[self.i] == "_"):
            # `42.type_of()` is fine (the dot is consumed elsewhere); `12abc` is not.
            raise self.err("BadInput", "Malformed number", start)

    def escape(self, quote: str) -> str:
        src = self.src
        c = src[self.i + 1] if self.i + 1 < len(src) else ""
        if c in _ESC:
            self.i += 2
            return _ESC[c]
        if c in _HEX_LEN:
            k = _HEX_LEN[c]
            digits = src[self.i + 2 : self.i + 2 + k]
            if len(digits) != k or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise self.err("BadInput", "Malformed escape sequence")
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise self.err("BadInput", "Malformed escape sequence")
            self.i += 2 + k
            return chr(code)
        raise self.err("BadInput", "Malformed escape sequence")

    def string(self, quote_col: int) -> str:
        src = self.src
        start = self.i
        self.i += 1
        parts: list[str] = []
        while True:
            if self.i >= len(src):
                raise self.err("BadInput", "Unterminated string", start)
            c = src[self.i]
            if c == '"':
                if src.startswith('""', self.i):
                    parts.append('"')
                    self.i += 2
                    continue
                self.i += 1
                break
            if c == "\\":
                if self.i + 1 < len(src) and src[self.i + 1] in "\r\n":
                    self.i += 1
                    if src[self.i] == "\r" and src.startswith("\r\n", self.i):
                        self.i += 1
                    self.newline(self.i)
                    self.i += 1
                    # Skip the next line's indentation, up to the opening quote's column.
                    while (
                        self.i < len(src)
                        and src[self.i] in " \t"
                        and self.i - self.line_start + 1 <= quote_col
                    ):
                        self.i += 1
                    continue
                parts.append(self.escape('"'))
                continue
            if c == "\n":
                raise self.err("BadInput", "Unterminated string", start)
            parts.append(c)
            self.i += 1
        text = "".join(parts)
        self.check_size(text, start)
        return text

    def check_size(self, text: str, start: int) -> None:
        if self.max_string and len(text.encode()) > self.max_string:
            raise self.err("LiteralTooLarge", f"Length of string literal exceeds {self.max_string}", start)

    def raw_string(self, hashes: int, line: int, col: int) -> str:
        src = self.src
        start = self.i
        self.i += hashes + 1
        close = '"' + "#" * hashes
        j = src.find(close, self.i)
        if j < 0:
            raise parse_error("BadInput", "Unterminated string", line, col)
        text = src[self.i : j]
        for k in range(self.i, j):
            if src[k] == "\n":
                self.newline(k)
        self.i = j + len(close)
        self.check_size(text, start)
        return text

    def template(self, line: int, col: int) -> Token:
        src = self.src
        start = self.i
        self.i += 1
        if src.startswith("\r\n", self.i):
            self.newline(self.i + 1)
            self.i += 2
        elif src.startswith("\n", self.i):
            self.newline(self.i)
            self.i += 1
        parts: list[str | list[Token]] = []
        buf: list[str] = []
        while True:
            if self.i >= len(src):
                raise parse_error("BadInput", "Unterminated string", line, col)
            c = src[self.i]
            if c == "`":
                if src.startswith("``", self.i):
                    buf.append("`")
                    self.i += 2
                    continue
                self.i += 1
                break
            if c == "\\" and src.startswith("\\${", self.i):
                buf.append("${")
                self.i += 3
                continue
            if c == "$" and src.startswith("${", self.i):
                self.i += 2
                parts.append("".join(buf))
                buf = []
                parts.append(self.tokens(until_brace=True))
                continue
            if c == "\n":
                self.newline(self.i)
            buf.append(c)
            self.i += 1
        parts.append("".join(buf))
        literal = "".join(p for p in parts if isinstance(p, str))
        self.check_size(literal, start)
        return Token("TPL", parts, line, col)

    def char(self, line: int, col: int) -> Token:
        src = self.src
        self.i += 1
        if self.i >= len(src):
            raise parse_error("BadInput", "Malformed character", line, col)
        c = src[self.i]
        if c == "'":
            raise parse_error("BadInput", "Malformed character: empty", line, col)
        if c == "\\":
            value = self.escape("'")
        else:
            value = c
            self.i += 1
        if self.i >= len(src) or src[self.i] != "'":
            raise parse_error("BadInput", "Malformed character", line, col)
        self.i += 1
        return Token("CHAR", Char(value), line, col)


def tokenize(src: str, max_string_size: int = 0) -> list[Token]:
    """Split a script into tokens, ending with an EOF token."""
    return _Lexer(src, max_string_size).tokens()
