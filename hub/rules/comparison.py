"""Comparing rule versions on sample inputs: the CPU half of conflict detection, free of the database.

Severity is how far two answers are apart: confidence alone (a difference of 0.05 or more) is
``low``, adjacent results (normal/warning, warning/critical) ``medium``, normal against critical
``high``, and ``critical`` when normal-against-critical happens in both directions (each side says
critical where the other says normal), which no threshold shift explains. A rule that stays silent
counts as ``normal``; inputs on which either side fails are not counted as disagreements.

Evaluation is bounded: one deadline for a whole sweep, and a version that hits the sandbox's limits
a few times is not probed further; either makes the result ``partial``.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.judgment.rules import RuleOutcome, script_inputs
from hub.judgment.verdicts import SEVERITY, Verdict
from hub.rules.evaluation import run_version
from hub.rules.probes import Probe, probe_inputs
from hub.rules.source import read_script

__all__ = [
    "DETECTION_SECONDS",
    "RANK",
    "Evaluations",
    "Finding",
    "VersionScript",
    "compare_versions",
    "find_overlaps",
    "sweep",
]

RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_CONFIDENCE_STEP = 0.05
# Limit errors (operations, time, stack) are what a hostile or runaway version produces on every
# input; after a few, that version is not probed further, so detection stays bounded.
_LIMIT_KINDS = frozenset(
    {"ErrorTooManyOperations", "ErrorTerminated", "ErrorStackOverflow", "ErrorDataTooLarge"}
)
_LIMIT_STRIKES = 3
DETECTION_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class VersionScript:
    """A compiled version to evaluate."""

    ruleset_id: uuid.UUID
    ruleset_name: str
    version: int
    script: str
    script_hash: str

    @property
    def label(self) -> str:
        """``v3``."""
        return f"v{self.version}"


@dataclass(frozen=True, slots=True)
class Finding:
    """A detected disagreement, before it is stored."""

    conflict_type: str
    subject: str
    severity: str
    details: str
    version_1: int
    version_2: int
    ruleset_id: uuid.UUID
    """The rule set the row is stored under (for a pair of rule sets, the one with the smaller id)."""

    @property
    def description(self) -> str:
        """``<subject>: <details>``, the stored description."""
        return f"{self.subject}: {self.details}"


class Evaluations:
    """Memoised outcomes per (version, probe) with a deadline and a limit-error budget per version."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._strikes: dict[tuple[uuid.UUID, int], int] = {}
        self._memo: dict[tuple[uuid.UUID, int, int], RuleOutcome | None] = {}
        self.partial = False

    def outcome(self, version: VersionScript, index: int, probe: Probe) -> RuleOutcome | None:
        key = (version.ruleset_id, version.version, index)
        if key in self._memo:
            return self._memo[key]
        vkey = key[:2]
        if self._strikes.get(vkey, 0) >= _LIMIT_STRIKES or time.monotonic() > self._deadline:
            self.partial = True
            return None
        ran = run_version(
            ruleset_id=str(version.ruleset_id),
            ruleset_name=version.ruleset_name,
            version=version.version,
            script=version.script,
            script_hash=version.script_hash,
            metrics=probe.metrics,
            context=probe.context,
        )
        if any(f.kind in _LIMIT_KINDS for f in ran.failures):
            self._strikes[vkey] = self._strikes.get(vkey, 0) + 1
        # Nothing answered and something failed: an error, not a verdict of silence.
        failed = ran.failures and not ran.hits and len(ran.failures) >= max(ran.evaluated, 1)
        outcome = None if failed else ran
        self._memo[key] = outcome
        return outcome


def _level(verdict: Verdict | None) -> int:
    return SEVERITY[verdict.result] if verdict is not None else 0


def _say(verdict: Verdict | None) -> str:
    return "nothing" if verdict is None else f"{verdict.result} ({verdict.confidence:g})"


@dataclass(slots=True)
class _Tally:
    worst: str | None = None
    example: str = ""
    count: int = 0
    directions: set[int] = field(default_factory=set)

    def add(self, severity: str, sign: int, example: str) -> None:
        self.count += 1
        if sign:
            self.directions.add(sign)
        if self.worst is None or RANK[severity] > RANK[self.worst]:
            self.worst, self.example = severity, example

    def severity(self) -> str | None:
        if self.worst == "high" and len(self.directions) == 2:
            return "critical"
        return self.worst


def _difference(a: Verdict | None, b: Verdict | None) -> tuple[str, int] | None:
    """(severity, direction) of a disagreement, or None when the two agree."""
    gap = _level(a) - _level(b)
    if abs(gap) == 2:
        return "high", 1 if gap > 0 else -1
    if abs(gap) == 1:
        return "medium", 0
    if a is not None and b is not None and abs(a.confidence - b.confidence) >= _CONFIDENCE_STEP:
        return "low", 0
    return None


def compare_versions(
    left: VersionScript, right: VersionScript, probes: Sequence[Probe], evaluations: Evaluations
) -> tuple[str, str, int] | None:
    """(severity, details, disagreeing count) when the combined verdicts differ on some probe."""
    tally = _Tally()
    compared = 0
    same = left.ruleset_id == right.ruleset_id
    left_label = left.label if same else f"'{left.ruleset_name}' {left.label}"
    right_label = right.label if same else f"'{right.ruleset_name}' {right.label}"
    for index, probe in enumerate(probes):
        a = evaluations.outcome(left, index, probe)
        b = evaluations.outcome(right, index, probe)
        if a is None or b is None:
            continue
        compared += 1
        va, vb = a.verdict, b.verdict
        diff = _difference(va, vb)
        if diff is not None:
            example = f"on {probe.as_dict()} {left_label} says {_say(va)}, {right_label} says {_say(vb)}"
            tally.add(diff[0], diff[1], example)
    severity = tally.severity()
    if severity is None:
        return None
    details = f"different results on {tally.count} of {compared} sampled inputs; e.g. {tally.example}"
    return severity, details, tally.count


def _metrics_read(script: str) -> dict[str, frozenset[str]]:
    """Per function, the metrics its own body reads (empty when it reads none by name)."""
    text = read_script(script)
    return {
        name: frozenset(script_inputs(script[start:end])[0]) for name, (start, end) in text.functions.items()
    }


def _related(reads: dict[str, frozenset[str]], f1: str, f2: str) -> bool:
    a, b = reads.get(f1, frozenset()), reads.get(f2, frozenset())
    # A rule that reads no metric by name (it goes through a helper) may read anything.
    return not a or not b or bool(a & b)


def find_overlaps(
    version: VersionScript, probes: Sequence[Probe], evaluations: Evaluations
) -> list[tuple[str, str, str]]:
    """(subject, severity, details) for each pair of rules of one version that answer one input differently.

    Only rules that read a common metric are compared: rules about different metrics disagreeing
    on one input (defect rate fine, OEE low) is what a rule set is for, not an overlap.
    """
    reads = _metrics_read(version.script)
    tallies: dict[tuple[str, str], _Tally] = {}
    for index, probe in enumerate(probes):
        outcome = evaluations.outcome(version, index, probe)
        if outcome is None:
            continue
        hits = sorted(outcome.hits, key=lambda h: h.rule_id)
        for h1, h2 in itertools.combinations(hits, 2):
            if not _related(reads, h1.rule_id, h2.rule_id):
                continue
            diff = _difference(h1.verdict, h2.verdict)
            if diff is None or diff[0] == "low":
                continue  # same result with another confidence is agreement between two rules
            example = f"on {probe.as_dict()} {h1.rule_id} says {_say(h1.verdict)}, {h2.rule_id} says {_say(h2.verdict)}"
            tallies.setdefault((h1.rule_id, h2.rule_id), _Tally()).add(diff[0], diff[1], example)
    out = []
    for (f1, f2), tally in tallies.items():
        severity = tally.severity()
        if severity is not None:
            details = f"both match {tally.count} sampled inputs with different results; e.g. {tally.example}"
            out.append((f"{f1} vs {f2} in {version.label}", severity, details))
    return out


def sweep(
    pairs: Sequence[tuple[VersionScript, VersionScript, list[Any]]],
    overlaps: Sequence[tuple[VersionScript, list[Any]]],
) -> tuple[list[Finding], bool]:
    """The CPU part of detection, run in a worker thread; one deadline bounds the whole sweep."""
    deadline = time.monotonic() + DETECTION_SECONDS
    findings: list[Finding] = []
    partial = False
    for left, right, recorded in pairs:
        evaluations = Evaluations(deadline)
        found = compare_versions(
            left, right, probe_inputs([left.script, right.script], recorded), evaluations
        )
        partial |= evaluations.partial
        if found is None:
            continue
        severity, details, _ = found
        if left.ruleset_id == right.ruleset_id:
            subject = f"{left.label} vs {right.label}"
        else:
            subject = f"{left.label} vs rule set '{right.ruleset_name}' ({right.ruleset_id}) {right.label}"
        findings.append(
            Finding(
                "output_conflict", subject, severity, details, left.version, right.version, left.ruleset_id
            )
        )
    for version, recorded in overlaps:
        evaluations = Evaluations(deadline)
        for subject, severity, details in find_overlaps(
            version, probe_inputs([version.script], recorded), evaluations
        ):
            findings.append(
                Finding(
                    "condition_overlap",
                    subject,
                    severity,
                    details,
                    version.version,
                    version.version,
                    version.ruleset_id,
                )
            )
        partial |= evaluations.partial
    return findings, partial
