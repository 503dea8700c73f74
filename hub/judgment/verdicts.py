"""A verdict (normal / warning / critical, confidence, explanation, actions) and how to read one.

Both rule scripts and LLMs produce verdicts; an LLM's text must validate against ``ANSWER_SCHEMA``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from jsonschema import Draft202012Validator

__all__ = [
    "ANSWER_SCHEMA",
    "RESULTS",
    "SEVERITY",
    "AnswerInvalid",
    "Result",
    "Verdict",
    "combine",
    "parse_answer",
]

Result = Literal["normal", "warning", "critical", "unknown"]
RESULTS: Final = ("normal", "warning", "critical")
SEVERITY: Final = {"unknown": -1, "normal": 0, "warning": 1, "critical": 2}

ANSWER_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["result", "confidence", "explanation"],
    "properties": {
        "result": {"enum": list(RESULTS)},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "explanation": {"type": "string"},
        "recommended_actions": {"type": "array", "items": {"type": ["string", "object"]}},
        "reasoning_trace": {"type": "string"},
    },
}
_VALIDATOR: Final = Draft202012Validator(ANSWER_SCHEMA)
# The first fenced block; models often wrap JSON in ```json ... ``` despite being told not to.
_FENCE: Final = re.compile(r"```(?:json|JSON)?[ \t]*\r?\n?(.*?)```", re.DOTALL)


class AnswerInvalid(ValueError):
    """A text or map is not a valid verdict; the message says why, for ``llm_calls.error_message``."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One answer: result, confidence in [0, 1], explanation and recommended actions."""

    result: Result
    confidence: float
    explanation: str
    actions: Sequence[Any] = field(default_factory=tuple)
    reasoning_trace: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "result": self.result,
            "confidence": self.confidence,
            "explanation": self.explanation,
            "recommended_actions": list(self.actions),
        }


def _first_error(instance: object) -> str | None:
    error = next(iter(sorted(_VALIDATOR.iter_errors(instance), key=lambda e: list(e.path))), None)
    if error is None:
        return None
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where}: {error.message}"


def verdict_from_map(value: Mapping[str, Any]) -> Verdict:
    """Validate a decoded answer map against the schema and turn it into a verdict."""
    problem = _first_error(value)
    if problem is not None:
        raise AnswerInvalid(f"answer does not match the schema: {problem}")
    actions = value.get("recommended_actions", value.get("actions", ()))
    trace = value.get("reasoning_trace")
    return Verdict(
        result=value["result"],
        confidence=float(value["confidence"]),
        explanation=value["explanation"],
        actions=tuple(actions),
        reasoning_trace=trace if isinstance(trace, str) else None,
    )


def parse_answer(text: str) -> Verdict:
    """Read an LLM's answer: one JSON object, bare or inside a fenced block; anything else is invalid."""
    body = text.strip()
    fenced = _FENCE.search(body)
    if fenced is not None:
        body = fenced.group(1).strip()
    if not body.startswith("{"):
        raise AnswerInvalid("answer is not a JSON object (prose?)")
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise AnswerInvalid(
            f"answer is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(value, dict):
        raise AnswerInvalid("answer is not a JSON object")
    return verdict_from_map(value)


def combine(rules: Verdict | None, llm: Verdict) -> Verdict:
    """The hybrid answer from the rules' verdict and the LLM's.

    Agreement keeps the result with the higher of both confidences. Disagreement takes the more
    confident side; on a tie the more severe result wins, because a missed critical costs more on a
    production line than a false warning. Explanations and actions of both sides are kept.
    """
    if rules is None:
        return llm
    if rules.result == llm.result:
        winner, confidence = llm, max(rules.confidence, llm.confidence)
    elif llm.confidence != rules.confidence:
        winner = llm if llm.confidence > rules.confidence else rules
        confidence = winner.confidence
    else:
        winner = llm if SEVERITY[llm.result] > SEVERITY[rules.result] else rules
        confidence = winner.confidence
    actions: list[Any] = list(rules.actions)
    actions.extend(a for a in llm.actions if a not in actions)
    return Verdict(
        result=winner.result,
        confidence=confidence,
        explanation=f"Rules: {rules.explanation}\nLLM: {llm.explanation}",
        actions=tuple(actions),
        reasoning_trace=llm.reasoning_trace,
    )
