"""Script errors, named as Rhai names them (``EvalAltResult`` and ``ParseErrorType`` variants)."""

from __future__ import annotations

from typing import Any

from hub.errors import RuleError

__all__ = ["SYSTEM_KINDS", "RhaiError", "parse_error"]

# Errors a script can neither catch nor have wrapped into ErrorInFunctionCall: the sandbox
# limits must stay fatal, or a hostile script could swallow them inside try/catch.
SYSTEM_KINDS = frozenset(
    {
        "ErrorSystem",
        "ErrorParsing",
        "ErrorCustomSyntax",
        "ErrorTooManyOperations",
        "ErrorTooManyVariables",
        "ErrorTooManyModules",
        "ErrorStackOverflow",
        "ErrorDataTooLarge",
        "ErrorTerminated",
    }
)


class RhaiError(RuleError):
    """Base of every script error; ``kind`` is Rhai's variant name, e.g. ``ErrorArithmetic``."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        detail: str | None = None,
        value: Any = None,
        inner: RhaiError | None = None,
        function: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.line = line
        self.column = column
        self.detail = detail
        self.value = value
        self.inner = inner
        self.function = function

    @property
    def root(self) -> RhaiError:
        """The innermost error, looking through ``ErrorInFunctionCall`` wrappers."""
        err = self
        while err.inner is not None:
            err = err.inner
        return err

    @property
    def is_system(self) -> bool:
        """True for errors that try/catch cannot intercept (limits, parse errors)."""
        return self.kind in SYSTEM_KINDS

    def at(self, line: int, column: int) -> RhaiError:
        """Set the position unless one is already known; returns self for ``raise``."""
        if self.line is None:
            self.line = line
            self.column = column
        return self

    def __str__(self) -> str:
        text = self.message
        if self.kind == "ErrorParsing":
            text = f"Syntax error: {text}"
        if self.kind == "ErrorInFunctionCall" and self.inner is not None:
            text = f"{self.inner}\nin call to function '{self.function}'"
            return text
        if self.line is not None:
            text = f"{text} (line {self.line}, position {self.column})"
        return text


def parse_error(detail: str, message: str, line: int, column: int) -> RhaiError:
    """Build an ``ErrorParsing`` whose ``detail`` is the ParseErrorType name."""
    return RhaiError("ErrorParsing", message, line=line, column=column, detail=detail)
