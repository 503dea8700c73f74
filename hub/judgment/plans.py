"""A judgment's plan (rule outcome, prompt, provider) and how it, plus an LLM answer, becomes a judgment.

Pure assembly, no I/O: the engine reads and writes, this decides ``method_used``, the verdict and
what degraded, following the rules of issue 7 (hybrid falls back to the rules, and says so).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from hub.identity import Caller
from hub.judgment.config import JudgmentConfig
from hub.judgment.inputs import JudgmentRequest
from hub.judgment.llm import LLMAnswer, LLMProvider, LLMRequest
from hub.judgment.prompts import RenderedPrompt
from hub.judgment.records import Judgment
from hub.judgment.rules import RuleOutcome
from hub.judgment.verdicts import Verdict, combine

__all__ = ["Plan", "decide", "from_cache"]


@dataclasses.dataclass(slots=True)
class Plan:
    """What the read phase of a judgment decided, carried into the LLM and write phases."""

    config: JudgmentConfig
    method: str
    outcome: RuleOutcome | None = None
    prompt: RenderedPrompt | None = None
    llm_request: LLMRequest | None = None
    provider: LLMProvider | None = None
    wanted_llm: bool = False
    degraded: list[str] = dataclasses.field(default_factory=list)


def decide(
    caller: Caller,
    request: JudgmentRequest,
    plan: Plan,
    answer: LLMAnswer | None,
    key: str,
    trace_id: str,
    now: dt.datetime,
    latency_ms: int,
) -> Judgment:
    """The judgment a plan and the LLM's answer (if any) amount to: method, verdict, degradation."""
    rules = plan.outcome.verdict if plan.outcome is not None else None
    degraded = list(plan.degraded)
    llm_metadata: dict[str, Any] | None = None
    if answer is not None and plan.prompt is not None and plan.provider is not None:
        llm_metadata = answer.metadata(
            {
                "provider": plan.provider.name,
                "prompt_template_id": plan.prompt.label,
                "prompt_template_uuid": None
                if plan.prompt.template_id is None
                else str(plan.prompt.template_id),
                "prompt_locale": plan.prompt.locale,
                "a_b_test_group": plan.prompt.a_b_test_group,
                "temperature": plan.llm_request.temperature if plan.llm_request else None,
            }
        )
        if answer.verdict is None:
            degraded.append(
                f"LLM answer invalid twice ({answer.error})"
                if answer.validation_error
                else f"no LLM reachable ({answer.error})"
            )
    llm = answer.verdict if answer is not None else None
    method = plan.method
    verdict: Verdict | None
    if method == "llm_only":
        verdict = llm
    elif method == "hybrid" and llm is not None:
        verdict = combine(rules, llm)
    else:
        # rule_only, a confident hybrid, or a hybrid whose LLM failed: the rules decide alone.
        verdict = rules
        method = "rule_only"
    if verdict is None:
        explanation = "no rule matched" if method == "rule_only" else "no LLM answer"
        verdict = Verdict("unknown", 0.0, explanation + (f" ({'; '.join(degraded)})" if degraded else ""))
    elif plan.wanted_llm and llm is None:
        verdict = dataclasses.replace(verdict, explanation=f"{verdict.explanation} [degraded to rules only]")
    metadata: dict[str, Any] = {"requested_method": plan.method}
    if degraded:
        metadata["degraded"] = "; ".join(degraded)
    if plan.outcome is not None:
        metadata["ruleset_id"] = plan.outcome.ruleset_id
        metadata["ruleset_version"] = plan.outcome.version
    return Judgment(
        id=uuid.uuid4(),
        tenant_id=caller.tenant_id,
        result=verdict.result,
        confidence=verdict.confidence,
        method_used=method,
        explanation=verdict.explanation,
        recommended_actions=tuple(verdict.actions),
        input_data=request.input.as_dict(),
        rule_trace=None if plan.outcome is None else plan.outcome.trace(),
        llm_metadata=llm_metadata,
        evidence=None if request.evidence is None else dict(request.evidence),
        cache_hit=False,
        cache_key=key,
        latency_ms=latency_ms,
        trace_id=trace_id,
        source=request.source,
        created_at=now,
        workflow_id=request.workflow_id,
        workflow_instance_id=request.workflow_instance_id,
        created_by=caller.user_id,
        metadata=metadata,
    )


def from_cache(
    caller: Caller,
    request: JudgmentRequest,
    cached: Judgment,
    key: str,
    trace_id: str,
    now: dt.datetime,
    latency_ms: int,
    hit_count: int,
) -> Judgment:
    """A new judgment answering from a cached one (``method_used='cache'``)."""
    evidence = dict(request.evidence or cached.evidence or {})
    evidence["related_judgments"] = [str(cached.id)]
    return Judgment(
        id=uuid.uuid4(),
        tenant_id=caller.tenant_id,
        result=cached.result,
        confidence=cached.confidence,
        method_used="cache",
        explanation=cached.explanation,
        recommended_actions=cached.recommended_actions,
        input_data=request.input.as_dict(),
        rule_trace=cached.rule_trace,
        llm_metadata=None,
        evidence=evidence,
        cache_hit=True,
        cache_key=key,
        latency_ms=latency_ms,
        trace_id=trace_id,
        source=request.source,
        created_at=now,
        workflow_id=request.workflow_id,
        workflow_instance_id=request.workflow_instance_id,
        created_by=caller.user_id,
        metadata={
            "cached_judgment_id": str(cached.id),
            "cached_method": cached.method_used,
            "hit_count": hit_count,
        },
    )
