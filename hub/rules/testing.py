"""Running a rule version on given cases: per-case results, pass rate and coverage.

A case passes when the version ran without a script error and, if the case states an expected
result, the combined verdict (the most severe rule answer, as judgment combines them) has that
result, and the expected confidence within 1e-6 when one is given. ``"none"`` expects every rule
to stay silent.

Coverage is outcome coverage, an honest stand-in for branch coverage that needs no instrumented
interpreter: the outcomes a script can produce are the pairs (``judge_*`` function, ``result``
literal found in its body); a function that builds its result elsewhere counts as one outcome,
``(function, "*")``. Coverage is the fraction of those outcomes some case produced. It is stored
in ``rule_scripts.test_coverage``, and the cases' inputs are kept (the last ``MAX_RECORDED`` per
version, in ``rulesets.metadata.test_inputs``) so conflict detection probes them too.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import InputError
from hub.identity import Caller
from hub.judgment.rules import RuleOutcome
from hub.judgment.verdicts import RESULTS
from hub.rules.evaluation import ScriptProblem, compile_script, run_version
from hub.rules.rulesets import utc_now
from hub.rules.source import read_script
from hub.rules.versions import get_version
from hub.store.audit import record_audit
from hub.store.models import RuleScript, Ruleset

__all__ = [
    "MAX_CASES",
    "MAX_RECORDED",
    "CaseResult",
    "RuleCase",
    "RuleTestReport",
    "parse_cases",
    "run_tests",
]

MAX_CASES = 500
MAX_RECORDED = 100
_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class RuleCase:
    """One test case: an input and what it should give."""

    metrics: Mapping[str, Any]
    context: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    expected_result: str | None = None
    """``normal``, ``warning``, ``critical``, ``none`` (no rule answers), or None for no expectation."""
    expected_confidence: float | None = None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_cases(raw: object, *, where: str = "cases") -> list[RuleCase]:
    """Validate the cases argument; errors name the field (``cases[2].input.metrics.oee``)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise InputError("must be an array", where=where)
    if not raw:
        raise InputError("must hold at least one case", where=where)
    if len(raw) > MAX_CASES:
        raise InputError(f"must hold at most {MAX_CASES} cases", where=where)
    cases = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise InputError("must be an object", where=at)
        data = item.get("input")
        if not isinstance(data, Mapping):
            raise InputError("must be an object", where=f"{at}.input")
        metrics = data.get("metrics")
        if not isinstance(metrics, Mapping):
            raise InputError("must be an object", where=f"{at}.input.metrics")
        for key, value in metrics.items():
            if not _number(value):
                raise InputError("must be a finite number", where=f"{at}.input.metrics.{key}")
        context = data.get("context", {})
        if not isinstance(context, Mapping):
            raise InputError("must be an object", where=f"{at}.input.context")
        expected = item.get("expected")
        result: str | None = None
        confidence: float | None = None
        if isinstance(expected, str):
            result = expected
        elif isinstance(expected, Mapping):
            result = expected.get("result")
            confidence = expected.get("confidence")
            if confidence is not None and not _number(confidence):
                raise InputError("must be a number", where=f"{at}.expected.confidence")
        elif expected is not None:
            raise InputError("must be a result or an object with result", where=f"{at}.expected")
        if result is not None and result not in (*RESULTS, "none"):
            raise InputError(f"must be one of {', '.join((*RESULTS, 'none'))}", where=f"{at}.expected")
        name = item.get("name")
        cases.append(
            RuleCase(
                dict(metrics),
                dict(context),
                str(name) if name is not None else None,
                result,
                None if confidence is None else float(confidence),
            )
        )
    return cases


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What one case gave."""

    index: int
    case: RuleCase
    outcome: RuleOutcome

    @property
    def result(self) -> str:
        """The combined result, or ``none`` when no rule answered."""
        verdict = self.outcome.verdict
        return verdict.result if verdict is not None else "none"

    @property
    def passed(self) -> bool:
        """No script error, and the expectation (if any) met."""
        if self.outcome.failures:
            return False
        if self.case.expected_result is not None and self.result != self.case.expected_result:
            return False
        verdict = self.outcome.verdict
        want = self.case.expected_confidence
        return want is None or (verdict is not None and abs(verdict.confidence - want) <= _TOLERANCE)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        verdict = self.outcome.verdict
        return {
            "index": self.index,
            "name": self.case.name,
            "passed": self.passed,
            "result": self.result,
            "confidence": verdict.confidence if verdict is not None else None,
            "explanation": verdict.explanation if verdict is not None else None,
            "actions": list(verdict.actions) if verdict is not None else [],
            "expected": self.case.expected_result,
            "rules": [
                {"rule": h.rule_id, "result": h.verdict.result, "confidence": h.verdict.confidence}
                for h in self.outcome.hits
            ],
            "errors": [ScriptProblem.of_failure(f).as_dict() for f in self.outcome.failures],
        }


@dataclass(frozen=True, slots=True)
class RuleTestReport:
    """Every case's result, the pass rate and the outcome coverage of one version."""

    ruleset: str
    version: int
    results: list[CaseResult]
    outcomes: list[tuple[str, str]]
    covered: list[tuple[str, str]]

    @property
    def passed(self) -> int:
        """How many cases passed."""
        return sum(r.passed for r in self.results)

    @property
    def pass_rate(self) -> float:
        """Passed cases over all cases."""
        return self.passed / len(self.results) if self.results else 0.0

    @property
    def coverage(self) -> float:
        """Covered outcomes over the outcomes the script can produce (0 when it can produce none)."""
        return len(self.covered) / len(self.outcomes) if self.outcomes else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        missed = [o for o in self.outcomes if o not in self.covered]
        return {
            "ruleset": self.ruleset,
            "version": self.version,
            "total": len(self.results),
            "passed": self.passed,
            "pass_rate": self.pass_rate,
            "coverage": self.coverage,
            "outcomes_covered": [f"{f}:{r}" for f, r in self.covered],
            "outcomes_missed": [f"{f}:{r}" for f, r in missed],
            "cases": [r.as_dict() for r in self.results],
        }


def _outcomes(script: str, rules: Sequence[str]) -> list[tuple[str, str]]:
    text = read_script(script)
    out: list[tuple[str, str]] = []
    for rule in rules:
        results = text.results.get(rule) or ("*",)
        out.extend((rule, r) for r in results)
    return out


def _run(ruleset: Ruleset, row: RuleScript, cases: Sequence[RuleCase]) -> RuleTestReport:
    results = [
        CaseResult(
            i,
            case,
            run_version(
                ruleset_id=str(ruleset.id),
                ruleset_name=ruleset.name,
                version=row.version,
                script=row.script,
                script_hash=row.script_hash,
                metrics=case.metrics,
                context=case.context,
            ),
        )
        for i, case in enumerate(cases)
    ]
    outcomes = _outcomes(row.script, compile_script(row.script).rules)
    seen: set[tuple[str, str]] = set()
    for r in results:
        for hit in r.outcome.hits:
            pair = (hit.rule_id, hit.verdict.result)
            seen.add(pair if pair in outcomes else (hit.rule_id, "*"))
    return RuleTestReport(ruleset.name, row.version, results, outcomes, [o for o in outcomes if o in seen])


async def run_tests(
    session: AsyncSession,
    caller: Caller,
    ruleset_ref: str | uuid.UUID,
    version: int | None,
    cases: Sequence[RuleCase],
    *,
    record: bool = True,
    trace_id: str | None = None,
) -> RuleTestReport:
    """Run a version (the newest when None) on the cases; with ``record``, store coverage and inputs."""
    ruleset, row = await get_version(session, caller.tenant_id, ruleset_ref, version)
    # Cases run in a worker thread: hundreds of sandboxed calls must not stall the event loop.
    report = await anyio.to_thread.run_sync(_run, ruleset, row, cases)
    if record:
        before = row.test_coverage
        row.test_coverage = report.coverage
        metadata = dict(ruleset.metadata_ or {})
        stored = dict(metadata.get("test_inputs") or {})
        inputs = [{"metrics": dict(c.metrics), "context": dict(c.context)} for c in cases]
        stored[str(row.version)] = inputs[-MAX_RECORDED:]
        metadata["test_inputs"] = stored
        ruleset.metadata_ = metadata
        ruleset.updated_at = utc_now()
        await session.flush()
        await record_audit(
            session,
            caller=caller,
            action="test",
            resource_type="rule_script",
            resource_id=row.id,
            before={"test_coverage": before},
            after={"test_coverage": report.coverage, "pass_rate": report.pass_rate, "cases": len(cases)},
            trace_id=trace_id,
        )
    return report
