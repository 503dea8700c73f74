"""What rule management reads from a rule script's text without running it.

The interpreter's AST is the interpreter's business; rule management needs only a few facts about a
script (where each ``judge_*`` function's body is, which results it can return, which numbers it
compares against), and a small scanner over the text gives them without coupling to the AST's shape.
Strings and comments are blanked first, so a ``150%`` inside an explanation is not a threshold and a
commented-out ``result: "critical"`` is not an outcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ScriptText", "read_script"]

RESULT_LITERALS = ("normal", "warning", "critical")

_FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_NUMBER = re.compile(r"(?<![\w.])(\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)(?![\w.])")
_RESULT = re.compile(r"\"?\bresult\"?\s*:\s*\"(normal|warning|critical)\"")
# A minus is unary (part of the literal) when what precedes it cannot end an operand.
_OPERAND_END = re.compile(r"[\w)\]}\"'`]")


@dataclass(frozen=True, slots=True)
class ScriptText:
    """Facts about a script's text: its functions' bodies, their result literals, its numbers."""

    functions: dict[str, tuple[int, int]]
    """Every ``fn`` by name: (start, end) offsets of its body, braces included."""
    results: dict[str, tuple[str, ...]]
    """Per function, the ``result: "..."`` literals its body can return, in first-use order."""
    numbers: tuple[float, ...]
    """Numeric literals of the code (not of strings or comments), signed, distinct, in order."""

    @property
    def judge_functions(self) -> tuple[str, ...]:
        """The ``judge_*`` functions, in source order."""
        return tuple(n for n in self.functions if n.startswith("judge_"))


def _blank(text: str, start: int, end: int, out: list[str]) -> None:
    for i in range(start, end):
        if text[i] != "\n":
            out[i] = " "


def _masks(script: str) -> tuple[str, str]:
    """(code, no_comments): strings and comments blanked, and only comments blanked (same length)."""
    code = list(script)
    plain = list(script)
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        two = script[i : i + 2]
        if two == "//":
            end = script.find("\n", i)
            end = n if end < 0 else end
            _blank(script, i, end, code)
            _blank(script, i, end, plain)
            i = end
        elif two == "/*":
            # Rhai's block comments nest.
            depth, j = 1, i + 2
            while j < n and depth:
                if script[j : j + 2] == "/*":
                    depth, j = depth + 1, j + 2
                elif script[j : j + 2] == "*/":
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            _blank(script, i, j, code)
            _blank(script, i, j, plain)
            i = j
        elif ch in "\"'`":
            j = i + 1
            while j < n and script[j] != ch:
                j += 2 if script[j] == "\\" else 1
            j = min(j + 1, n)
            _blank(script, i, j, code)
            i = j
        else:
            i += 1
    return "".join(code), "".join(plain)


def _body_span(code: str, start: int) -> tuple[int, int] | None:
    """The braces of the body of the function whose parameter list opens at ``start``."""
    close = code.find(")", start)
    brace = code.find("{", close if close >= 0 else start)
    if brace < 0:
        return None
    depth = 0
    for i in range(brace, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return brace, i + 1
    return brace, len(code)


def _numbers(code: str) -> tuple[float, ...]:
    found: dict[float, None] = {}
    for match in _NUMBER.finditer(code):
        try:
            value = float(match.group(1).replace("_", ""))
        except ValueError:
            continue
        before = code[: match.start()].rstrip()
        if before.endswith("-"):
            prior = before[:-1].rstrip()
            if not prior or not _OPERAND_END.match(prior[-1]):
                value = -value
        found.setdefault(value, None)
    return tuple(found)


def read_script(script: str) -> ScriptText:
    """Scan a script's text (it need not compile; unbalanced braces end at the end of the text)."""
    code, plain = _masks(script)
    functions: dict[str, tuple[int, int]] = {}
    results: dict[str, tuple[str, ...]] = {}
    for match in _FN.finditer(code):
        span = _body_span(code, match.end() - 1)
        if span is None or match.group(1) in functions:
            continue
        functions[match.group(1)] = span
        body = plain[span[0] : span[1]]
        results[match.group(1)] = tuple(dict.fromkeys(m.group(1) for m in _RESULT.finditer(body)))
    return ScriptText(functions, results, _numbers(code))
