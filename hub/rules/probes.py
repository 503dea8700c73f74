"""Sample inputs for comparing rule versions: recorded test inputs plus generated boundary inputs.

Rule scripts decide by comparing metrics with thresholds, so disagreements between two versions sit
at and between their thresholds. The generator takes every numeric literal of the compared scripts
and every product of two of them (``target * 1.5`` in the spec's example is a product of literals
once ``target`` defaults to ``0.05``), and probes each threshold ``t`` at ``t - eps``, ``t`` and
``t + eps``. One metric varies at a time while the others sit at a baseline; three baselines (the
smallest, middle and largest probe value) give rules of either direction a chance to stay quiet, so
another metric's verdict does not mask the one being varied. Context keys are not varied: a script's
context defaults (``?? 0.05``) apply unless recorded inputs supply a context.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.judgment.rules import script_inputs
from hub.rules.source import read_script

__all__ = ["DEFAULT_LIMIT", "Probe", "boundary_values", "probe_inputs"]

DEFAULT_LIMIT = 1000
# Literals beyond this many only contribute themselves, not products, to keep the set quadratic-small.
_PRODUCT_LITERALS = 40
_MAX_CONTEXTS = 3


@dataclass(frozen=True, slots=True)
class Probe:
    """One input: metrics and context (line and shift do not reach rule scripts)."""

    metrics: Mapping[str, Any]
    context: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form, for conflict descriptions."""
        return {"metrics": dict(self.metrics), "context": dict(self.context)}

    def key(self) -> str:
        """Canonical text, to drop duplicates."""
        return json.dumps(self.as_dict(), sort_keys=True, default=str)


def _around(value: float) -> tuple[float, float, float]:
    eps = max(abs(value) * 1e-6, 1e-9)
    return value - eps, value, value + eps


def boundary_values(numbers: Iterable[float]) -> list[float]:
    """Each literal and pairwise product, each at -eps, exactly and +eps; plus zero; ascending."""
    literals = list(dict.fromkeys(numbers))
    thresholds = set(literals)
    head = literals[:_PRODUCT_LITERALS]
    thresholds.update(a * b for a, b in itertools.combinations_with_replacement(head, 2))
    values = {0.0}
    for t in thresholds:
        values.update(_around(t))
    return sorted(values)


def _recorded(inputs: Iterable[Mapping[str, Any]]) -> list[Probe]:
    probes = []
    for item in inputs:
        metrics = item.get("metrics")
        context = item.get("context")
        if isinstance(metrics, Mapping):
            probes.append(Probe(dict(metrics), dict(context) if isinstance(context, Mapping) else {}))
    return probes


def probe_inputs(
    scripts: Sequence[str], recorded: Iterable[Mapping[str, Any]] = (), *, limit: int = DEFAULT_LIMIT
) -> list[Probe]:
    """At most ``limit`` distinct probes: the recorded inputs first, then generated boundary inputs."""
    probes = _recorded(recorded)
    metrics: dict[str, None] = {}
    numbers: dict[float, None] = {}
    for script in scripts:
        metrics.update(dict.fromkeys(script_inputs(script)[0]))
        numbers.update(dict.fromkeys(read_script(script).numbers))
    values = boundary_values(numbers)
    contexts: list[Mapping[str, Any]] = [{}]
    for probe in probes:
        if probe.context and probe.context not in contexts and len(contexts) < _MAX_CONTEXTS:
            contexts.append(probe.context)
    if metrics:
        baselines = [values[0], values[len(values) // 2], values[-1]]
        for context, base, name in itertools.product(contexts, baselines, metrics):
            for value in values:
                probes.append(Probe({**dict.fromkeys(metrics, base), name: value}, context))
    out: dict[str, Probe] = {}
    for probe in probes:
        out.setdefault(probe.key(), probe)
        if len(out) >= limit:
            break
    return list(out.values())
