"""Reading an LLM's answer, and combining it with the rules' verdict."""

from __future__ import annotations

import json

import pytest

from hub.judgment.verdicts import AnswerInvalid, Verdict, combine, parse_answer

ANSWER = {"result": "warning", "confidence": 0.7, "explanation": "drift", "recommended_actions": ["check"]}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(ANSWER),
        "  " + json.dumps(ANSWER) + "\n",
        "Sure:\n```json\n" + json.dumps(ANSWER, indent=2) + "\n```",
        "```\n" + json.dumps(ANSWER) + "\n```\nHope this helps.",
    ],
)
def test_bare_and_fenced_json_answers_are_read(text: str) -> None:
    verdict = parse_answer(text)
    assert (verdict.result, verdict.confidence, verdict.actions) == ("warning", 0.7, ("check",))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("It is probably critical.", "prose"),
        ('{"result": "warning", "confidence": ', "not valid JSON"),
        ("[1, 2]", "prose"),
        (json.dumps({**ANSWER, "result": "bad"}), "$.result"),
        (json.dumps({**ANSWER, "confidence": 1.5}), "$.confidence"),
        (json.dumps({"result": "normal", "confidence": 0.5}), "explanation"),
        (json.dumps({**ANSWER, "recommended_actions": "call"}), "$.recommended_actions"),
    ],
)
def test_invalid_answers_are_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(AnswerInvalid) as err:
        parse_answer(text)
    assert reason in str(err.value)


def test_agreement_keeps_the_result_with_the_higher_confidence() -> None:
    combined = combine(Verdict("warning", 0.5, "rules", ("a",)), Verdict("warning", 0.9, "llm", ("a", "b")))
    assert (combined.result, combined.confidence, combined.actions) == ("warning", 0.9, ("a", "b"))
    assert "rules" in combined.explanation
    assert "llm" in combined.explanation


def test_disagreement_takes_the_more_confident_side_and_a_tie_the_more_severe() -> None:
    assert combine(Verdict("warning", 0.5, "r"), Verdict("normal", 0.9, "l")).result == "normal"
    assert combine(Verdict("critical", 0.7, "r"), Verdict("normal", 0.6, "l")).result == "critical"
    assert combine(Verdict("normal", 0.6, "r"), Verdict("critical", 0.6, "l")).result == "critical"


def test_without_a_rule_verdict_the_llm_answer_stands() -> None:
    llm = Verdict("critical", 0.8, "l")
    assert combine(None, llm) is llm
