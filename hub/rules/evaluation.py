"""Compiling a rule script for storage and running one stored version on one input.

Both go through the sandboxed Rhai engine with the hub's limits, and running reuses the judgment
engine's ``RuleRunner``, so a version is tested and compared exactly as it will judge: same entry
points, same verdict validation, same "most severe hit wins" combination.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.judgment.rules import RuleFailure, RuleOutcome, RuleRunner, ScriptEngine, rule_functions
from hub.rules.rhai import RhaiError, sandboxed_engine

__all__ = ["CompileReport", "ScriptProblem", "compile_script", "run_version"]


@dataclass(frozen=True, slots=True)
class ScriptProblem:
    """Why a script did not compile or a rule failed: Rhai's error kind and the position."""

    kind: str
    message: str
    line: int | None = None
    column: int | None = None
    rule: str | None = None

    def as_text(self) -> str:
        """The form stored in ``rule_scripts.compile_error``: kind, position, message."""
        where = f" at line {self.line}, column {self.column}" if self.line is not None else ""
        return f"{self.kind}{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON form for tool results."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "message": self.message,
            "line": self.line,
            "column": self.column,
        }
        if self.rule is not None:
            out["rule"] = self.rule
        return out

    @classmethod
    def of_failure(cls, failure: RuleFailure) -> ScriptProblem:
        """A runner's failure record, in this shape."""
        return cls(failure.kind, failure.message, failure.line, failure.column, failure.rule_id)


@dataclass(frozen=True, slots=True)
class CompileReport:
    """The outcome of compiling a script for ``rule_scripts``."""

    status: str
    """``compiled`` or ``failed``."""
    rules: tuple[str, ...]
    problem: ScriptProblem | None = None


# Tests and conflict sweeps run in worker threads, and the runner's compiled-script LRU is not
# thread-safe. The work is CPU-bound under the GIL, so serialising it costs next to nothing.
_LOCK = threading.Lock()


@functools.cache
def _engine() -> ScriptEngine:
    # One engine per process: compiling and calling keep no per-script state outside the AST.
    return sandboxed_engine()


@functools.cache
def _runner() -> RuleRunner:
    return RuleRunner(_engine)


def compile_script(script: str) -> CompileReport:
    """Compile with the sandboxed engine and check the entry-point convention.

    The convention: at least one ``judge_<name>(metrics, context)`` function. A ``judge_`` function
    with another number of parameters is named in the message, since it is almost always the mistake.
    """
    try:
        with _LOCK:
            ast = _engine().compile(script)
    except RhaiError as exc:
        root = exc.root
        return CompileReport("failed", (), ScriptProblem(root.kind, root.message, root.line, root.column))
    rules = rule_functions(ast)
    if rules:
        return CompileReport("compiled", rules)
    wrong = [f"{name}/{arity}" for name, arity in ast.functions() if name.startswith("judge_")]
    message = "the script defines no judge_*(metrics, context) function"
    if wrong:
        message += f"; these take the wrong number of parameters: {', '.join(wrong)}"
    return CompileReport("failed", (), ScriptProblem("NoRules", message))


def run_version(
    *,
    ruleset_id: str,
    ruleset_name: str,
    version: int,
    script: str,
    script_hash: str,
    metrics: Mapping[str, Any],
    context: Mapping[str, Any],
) -> RuleOutcome:
    """Every rule of one version on one input; script errors are failures in the outcome, never raised."""
    with _LOCK:
        return _runner().run(
            ruleset_id=ruleset_id,
            ruleset_name=ruleset_name,
            version=version,
            canary=False,
            script=script,
            script_hash=script_hash,
            metrics=metrics,
            context=context,
        )
