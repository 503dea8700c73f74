"""Running a rule set's Rhai script: every ``judge_*`` function, each one a rule.

A script defines functions ``judge_<name>(metrics, context)`` (spec section 5.2). Each returns a map
``#{result, confidence, explanation, actions}`` when it has something to say, or ``()`` when it
does not apply. Scripts compile once per ``script_hash``; a rule that throws or exceeds the sandbox
limits is recorded as a failure in the trace and the others still count.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.errors import InputError, RuleError
from hub.judgment.verdicts import RESULTS, SEVERITY, Verdict
from hub.rules.rhai import RhaiError

__all__ = [
    "CompiledScript",
    "RuleFailure",
    "RuleHit",
    "RuleOutcome",
    "RuleRunner",
    "ScriptEngine",
    "rule_functions",
    "script_inputs",
    "script_key",
]


_METRIC_REF = re.compile(r"\bmetrics(\??)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*\"([^\"]+)\"\s*\])")
_CONTEXT_REF = re.compile(r"\bcontext\??(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*\"([^\"]+)\"\s*\])")
_IN_GUARD = re.compile(r"\"([^\"]+)\"\s+in\s+metrics\b")
_DEFAULTED = re.compile(r"\bmetrics\??\.([A-Za-z_][A-Za-z0-9_]*)\s*\?\?")


def script_inputs(script: str) -> tuple[list[str], list[str], list[str]]:
    """``(metrics, required_metrics, context_keys)`` a script reads, in first-use order.

    Read from the source text, so it is a conservative guess: a metric is optional when the script
    tests ``"name" in metrics``, reads it with ``?.`` or gives it a default with ``??``.
    """
    metrics: dict[str, bool] = {}
    for optional_access, dotted, quoted in _METRIC_REF.findall(script):
        name = dotted or quoted
        metrics[name] = metrics.get(name, False) or bool(optional_access)
    optional = set(_IN_GUARD.findall(script)) | set(_DEFAULTED.findall(script))
    optional |= {name for name, opt in metrics.items() if opt}
    context = list(dict.fromkeys(a or b for a, b in _CONTEXT_REF.findall(script)))
    return list(metrics), [m for m in metrics if m not in optional], context


def rule_functions(ast: CompiledScript) -> tuple[str, ...]:
    """The rules of a compiled script: its ``judge_*`` functions taking (metrics, context)."""
    return tuple(name for name, arity in ast.functions() if name.startswith("judge_") and arity == 2)


class CompiledScript(Protocol):
    """The part of ``hub.rules.rhai.AST`` the runner uses."""

    def functions(self) -> list[tuple[str, int]]:
        """Script functions as (name, arity)."""
        ...


class ScriptEngine(Protocol):
    """The part of ``hub.rules.rhai.Engine`` the runner uses."""

    def compile(self, script: str) -> CompiledScript:
        """Compile a script to a reusable AST."""
        ...

    def call_fn(self, ast: Any, name: str, *args: Any) -> Any:
        """Call a script function with Python values."""
        ...


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that answered."""

    rule_id: str
    rule_name: str
    verdict: Verdict
    execution_time_ms: float


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """A rule (or the whole script, ``rule_id='*'``) that failed: Rhai's error kind and position."""

    rule_id: str
    kind: str
    message: str
    line: int | None = None
    column: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the trace."""
        return {
            "rule_id": self.rule_id,
            "kind": self.kind,
            "message": self.message,
            "line": self.line,
            "column": self.column,
        }


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What one rule set version said about one input."""

    ruleset_id: str
    ruleset_name: str
    version: int
    canary: bool
    hits: Sequence[RuleHit] = field(default_factory=tuple)
    failures: Sequence[RuleFailure] = field(default_factory=tuple)
    evaluated: int = 0
    execution_time_ms: float = 0.0

    @property
    def verdict(self) -> Verdict | None:
        """The most severe answer (ties: most confident); actions of every hit are kept."""
        if not self.hits:
            return None
        best = max(self.hits, key=lambda h: (SEVERITY[h.verdict.result], h.verdict.confidence))
        actions: list[Any] = []
        for hit in self.hits:
            actions.extend(a for a in hit.verdict.actions if a not in actions)
        explanations = [h.verdict.explanation for h in self.hits if h.verdict.result == best.verdict.result]
        return Verdict(
            result=best.verdict.result,
            confidence=best.verdict.confidence,
            explanation="; ".join(e for e in explanations if e) or best.verdict.explanation,
            actions=tuple(actions),
        )

    def prompt_trace(self) -> dict[str, Any]:
        """The trace without timings, for prompts: the same input must give the same prompt."""
        trace = self.trace()
        trace.pop("execution_time_ms")
        for rule in trace["matched_rules"]:
            rule.pop("execution_time_ms")
        return trace

    def trace(self) -> dict[str, Any]:
        """``judgment_executions.rule_trace`` (spec section 4.1), plus failures and the canary flag."""
        return {
            "ruleset_id": self.ruleset_id,
            "ruleset_name": self.ruleset_name,
            "ruleset_version": self.version,
            "canary": self.canary,
            "matched_rules": [
                {
                    "rule_id": h.rule_id,
                    "rule_name": h.rule_name,
                    "result": h.verdict.result,
                    "confidence": h.verdict.confidence,
                    "explanation": h.verdict.explanation,
                    "execution_time_ms": h.execution_time_ms,
                }
                for h in self.hits
            ],
            "failed_rules": [f.as_dict() for f in self.failures],
            "total_rules_evaluated": self.evaluated,
            "execution_time_ms": self.execution_time_ms,
        }


class _InvalidRuleResult(ValueError):
    pass


def _verdict_of(value: Mapping[str, Any]) -> Verdict:
    result = value.get("result")
    if result not in RESULTS:
        raise _InvalidRuleResult(f"result must be one of {', '.join(RESULTS)}, got {result!r}")
    confidence = value.get("confidence", 1.0)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise _InvalidRuleResult(f"confidence must be a number from 0 to 1, got {confidence!r}")
    explanation = value.get("explanation", "")
    if not isinstance(explanation, str):
        raise _InvalidRuleResult("explanation must be a string")
    actions = value.get("actions", value.get("recommended_actions", ()))
    if not isinstance(actions, list | tuple):
        raise _InvalidRuleResult("actions must be an array")
    return Verdict(
        result=result, confidence=float(confidence), explanation=explanation, actions=tuple(actions)
    )


def script_key(ruleset_id: str, version: int, script: str | None, script_hash: str | None) -> str:
    """The compile-cache key of one script version.

    The stored hash alone is not trusted as a key: a wrong or reused ``script_hash`` must never let
    one rule set (or tenant) run another's compiled script.
    """
    if script_hash is None:
        if script is None:
            raise ValueError("a script or its hash is needed")
        script_hash = hashlib.sha256(script.encode()).hexdigest()
    return f"{ruleset_id}:{version}:{script_hash}"


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 3)


class RuleRunner:
    """Compiles scripts once (LRU by hash) and runs their rules against an input."""

    def __init__(
        self,
        engine: Callable[[], ScriptEngine],
        *,
        cache_size: int = 256,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        # Built on first use: a hub whose tenants judge only with LLMs never loads the interpreter.
        self._make_engine = engine
        self._engine_instance: ScriptEngine | None = None
        # key -> (AST, rule names, metrics the rules need), all derived once per compile.
        self._asts: OrderedDict[str, tuple[CompiledScript, tuple[str, ...], tuple[str, ...]]] = OrderedDict()
        self._cache_size = cache_size
        self._clock = clock

    @property
    def _engine(self) -> ScriptEngine:
        if self._engine_instance is None:
            self._engine_instance = self._make_engine()
        return self._engine_instance

    def has_compiled(self, key: str) -> bool:
        """Whether the script under ``key`` (see ``script_key``) is compiled, so its text need not be loaded."""
        return key in self._asts

    def _compiled(
        self, key: str, script: str | None
    ) -> tuple[CompiledScript, tuple[str, ...], tuple[str, ...]]:
        entry = self._asts.get(key)
        if entry is not None:
            self._asts.move_to_end(key)
            return entry
        if script is None:
            raise RuleError("the script is not compiled and its text was not loaded")
        ast = self._engine.compile(script)
        entry = (ast, rule_functions(ast), tuple(script_inputs(script)[1]))
        self._asts[key] = entry
        if len(self._asts) > self._cache_size:
            self._asts.popitem(last=False)
        return entry

    def run(
        self,
        *,
        ruleset_id: str,
        ruleset_name: str,
        version: int,
        canary: bool,
        script: str | None,
        script_hash: str | None,
        metrics: Mapping[str, Any],
        context: Mapping[str, Any],
        require_metrics: bool = False,
    ) -> RuleOutcome:
        """Run every rule; Rhai errors become failures, never exceptions.

        This runs on the event loop thread: a compiled rule takes tens of microseconds, and a thread
        hop per judgment would cost more than that. The sandbox's operation and time limits bound
        how long a hostile rule can hold the loop.
        """
        started = self._clock()
        try:
            ast, names, needed = self._compiled(script_key(ruleset_id, version, script, script_hash), script)
        except RuleError as exc:
            failure = _failure("*", exc)
            return RuleOutcome(
                ruleset_id, ruleset_name, version, canary, (), (failure,), 0, _ms(started, self._clock())
            )
        if require_metrics:
            missing = next((m for m in needed if m not in metrics), None)
            if missing is not None:
                # The rules would fail on a unit value; the caller deserves the field's name instead.
                raise InputError(
                    f"is required by rule set '{ruleset_name}'", where=f"input.metrics.{missing}"
                )
        hits: list[RuleHit] = []
        failures: list[RuleFailure] = []
        if not names:
            failures.append(RuleFailure("*", "NoRules", "the script defines no judge_* function"))
        for name in names:
            t0 = self._clock()
            try:
                # Fresh dicts per rule: a rule must not see another rule's mutations of its arguments.
                value = self._engine.call_fn(ast, name, dict(metrics), dict(context))
                if value is None:
                    continue
                if not isinstance(value, Mapping):
                    raise _InvalidRuleResult(f"a rule returns a map or (), got {type(value).__name__}")
                verdict = _verdict_of(value)
            except RuleError as exc:
                failures.append(_failure(name, exc))
                continue
            except _InvalidRuleResult as exc:
                failures.append(RuleFailure(name, "InvalidResult", str(exc)))
                continue
            except RecursionError:
                # The sandbox's call-level limit should come first; Python's own stack is the backstop.
                failures.append(RuleFailure(name, "ErrorStackOverflow", "the rule recursed too deeply"))
                continue
            hits.append(RuleHit(name, name.removeprefix("judge_"), verdict, _ms(t0, self._clock())))
        return RuleOutcome(
            ruleset_id,
            ruleset_name,
            version,
            canary,
            tuple(hits),
            tuple(failures),
            len(names),
            _ms(started, self._clock()),
        )


def _failure(rule_id: str, exc: RuleError) -> RuleFailure:
    if isinstance(exc, RhaiError):
        # The innermost error names what went wrong; ErrorInFunctionCall wrappers only say where.
        root = exc.root
        line = root.line if root.line is not None else exc.line
        column = root.column if root.line is not None else exc.column
        return RuleFailure(rule_id, root.kind, str(exc), line, column)
    return RuleFailure(rule_id, type(exc).__name__, str(exc))
