"""Token kinds of Rhai's lexical grammar: keywords, reserved words and operator symbols."""

from __future__ import annotations

from typing import Any

__all__ = ["KEYWORDS", "RESERVED", "RESERVED_SYMBOLS", "SYMBOLS", "Token"]

KEYWORDS = frozenset(
    [
        "true",
        "false",
        "let",
        "const",
        "if",
        "else",
        "switch",
        "do",
        "while",
        "until",
        "loop",
        "for",
        "in",
        "continue",
        "break",
        "return",
        "throw",
        "try",
        "catch",
        "fn",
        "private",
        "import",
        "export",
        "as",
        "this",
        "global",
    ]
)
RESERVED = frozenset(
    [
        "var",
        "static",
        "shared",
        "goto",
        "match",
        "case",
        "default",
        "void",
        "null",
        "nil",
        "spawn",
        "thread",
        "go",
        "sync",
        "async",
        "await",
        "yield",
        "public",
        "protected",
        "super",
        "new",
        "use",
        "module",
        "package",
        "with",
        "is",
    ]
)
# Longest first, so the lexer can match greedily by trying lengths 3, 2, 1.
SYMBOLS = frozenset(
    [
        "+",
        "-",
        "*",
        "/",
        "%",
        "**",
        "<<",
        ">>",
        "&",
        "|",
        "^",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "&&",
        "||",
        "!",
        "??",
        "?.",
        "?[",
        "..",
        "..=",
        "=",
        "+=",
        "-=",
        "*=",
        "/=",
        "%=",
        "**=",
        "<<=",
        ">>=",
        "&=",
        "|=",
        "^=",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "#{",
        ",",
        ";",
        ":",
        "::",
        "=>",
        ".",
        "!",
        "!in",
    ]
)
RESERVED_SYMBOLS = frozenset(
    [
        "===",
        "!==",
        "->",
        "<-",
        ":=",
        ":;",
        "::<",
        "(*",
        "*)",
        "#!",
        "@",
        "$",
        "++",
        "--",
        "...",
        "<|",
        "|>",
        "~",
    ]
)


class Token:
    """One token: ``kind`` is the symbol or keyword text, or INT/FLOAT/STR/CHAR/ID/TPL/EOF."""

    __slots__ = ("col", "kind", "line", "value")

    def __init__(self, kind: str, value: Any, line: int, col: int) -> None:
        self.kind = kind
        self.value = value
        self.line = line
        self.col = col

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.value!r}, {self.line}:{self.col})"
