"""Asking an LLM for a verdict: the provider seam, the price table, and retry / fallback around it.

A provider answers one request with text or raises ``LLMError``; it never retries. ``ask_for_verdict``
owns the policy: the fallback model when the primary fails, one retry when the text is not a valid
verdict, and a ``LLMCallRecord`` for every request, successful or not, for ``llm_calls``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Protocol

from hub.errors import HubError, LLMError
from hub.judgment.verdicts import AnswerInvalid, Verdict, parse_answer

__all__ = [
    "PRICES_PER_MILLION",
    "LLMAnswer",
    "LLMCallRecord",
    "LLMProvider",
    "LLMRequest",
    "SampleFn",
    "Sampled",
    "SampledText",
    "SamplingDeferred",
    "ask_for_verdict",
    "estimate_cost",
    "estimate_tokens",
]


@dataclass(frozen=True, slots=True)
class SampledText:
    """What an MCP client's sampling returned: the text, and the model and token counts if it said."""

    text: str
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Sampled(Protocol):
    """What a sampling answer must offer; ``SampledText`` and the MCP face's own value both do."""

    @property
    def text(self) -> str:
        """The model's answer."""
        ...

    @property
    def model(self) -> str | None:
        """The model the client used, if it said."""
        ...


SampleFn = Callable[[str, str, int, float], Awaitable[Sampled]]
"""``sample(system_prompt, user_prompt, max_tokens, temperature)``, supplied by the MCP face per call.

Typed structurally so the MCP face can hand over its own callable and answer type unchanged; token
counts are read only from ``SampledText`` and estimated otherwise.
"""


class SamplingDeferred(HubError):
    """Raised by a ``SampleFn`` that cannot answer now (2026-07-28 input-required flow).

    The engine lets it through without recording anything; the MCP face returns an input-required
    result carrying ``request`` and, when the caller answers, runs the same judgment again with a
    ``SampleFn`` that returns that answer. Rules are deterministic, so the rerun reaches the same
    request.
    """

    def __init__(self, request: LLMRequest) -> None:
        super().__init__("the LLM answer must come from the caller (sampling deferred)")
        self.request = request


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One chat request: prompts and generation settings."""

    system_prompt: str
    user_prompt: str
    model: str
    temperature: float
    max_tokens: int


@dataclass(frozen=True, slots=True)
class Completion:
    """A provider's raw answer."""

    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class LLMProvider(Protocol):
    """One way of reaching an LLM: MCP sampling through the caller, or an HTTP API."""

    @property
    def name(self) -> str:
        """``sampling`` or ``openai_compat``; stored in ``llm_metadata.provider``."""
        ...

    @property
    def fallback_model(self) -> str | None:
        """The model to try once when a request to the primary model fails, if any."""
        ...

    async def complete(self, request: LLMRequest) -> Completion:
        """Answer one request, or raise ``LLMError`` (``SamplingDeferred`` passes through)."""
        ...


# USD per million tokens (prompt, completion): list prices, good enough for the cost alarm of spec
# section 12.4. Unknown models (including whatever a sampling client picked) cost None, not zero,
# so a dashboard shows "unknown" rather than a fake saving.
PRICES_PER_MILLION: Final[dict[str, tuple[Decimal, Decimal]]] = {
    "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
    "gpt-4.1": (Decimal("2.00"), Decimal("8.00")),
    "gpt-4.1-mini": (Decimal("0.40"), Decimal("1.60")),
    "gpt-4.1-nano": (Decimal("0.10"), Decimal("0.40")),
    "o4-mini": (Decimal("1.10"), Decimal("4.40")),
    "claude-sonnet-4": (Decimal("3.00"), Decimal("15.00")),
    "claude-haiku-4": (Decimal("1.00"), Decimal("5.00")),
}


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal | None:
    """Cost in USD with six decimals, matching ``numeric(10,6)``; None for an unknown model."""
    prices = PRICES_PER_MILLION.get(model)
    if prices is None:
        # Dated snapshots ("gpt-4o-2024-08-06") cost what their family costs.
        family = max((m for m in PRICES_PER_MILLION if model.startswith(m + "-")), key=len, default=None)
        if family is None:
            return None
        prices = PRICES_PER_MILLION[family]
    cost = (prices[0] * prompt_tokens + prices[1] * completion_tokens) / Decimal(1_000_000)
    return cost.quantize(Decimal("0.000001"))


def estimate_tokens(text: str) -> int:
    """About four characters per token; used only when a provider does not report counts."""
    return max(1, (len(text) + 3) // 4)


@dataclass(frozen=True, slots=True)
class LLMCallRecord:
    """One request to a provider, as ``llm_calls`` stores it."""

    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    tokens_estimated: bool
    cost_estimate_usd: Decimal | None
    latency_ms: int
    success: bool
    validation_error: bool
    error_message: str | None
    prompt_summary: str
    response_summary: str | None
    attempt: int


@dataclass(frozen=True, slots=True)
class LLMAnswer:
    """The outcome of asking: a verdict (or None) and every request made on the way."""

    verdict: Verdict | None
    calls: Sequence[LLMCallRecord] = field(default_factory=tuple)
    unreachable: bool = False
    validation_error: bool = False
    error: str | None = None
    model: str | None = None

    @property
    def retry_count(self) -> int:
        """Requests beyond the first."""
        return max(0, len(self.calls) - 1)

    def metadata(self, base: dict[str, Any]) -> dict[str, Any]:
        """``llm_metadata`` for ``judgment_executions``: totals over all requests plus ``base``."""
        prompt = sum(c.prompt_tokens for c in self.calls)
        completion = sum(c.completion_tokens for c in self.calls)
        costs = [c.cost_estimate_usd for c in self.calls]
        out = dict(base)
        out.update(
            model=self.model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            cost_estimate_usd=None if any(c is None for c in costs) else float(sum(c for c in costs if c)),
            latency_ms=sum(c.latency_ms for c in self.calls),
            validation_passed=self.verdict is not None,
            retry_count=self.retry_count,
        )
        if self.verdict is not None and self.verdict.reasoning_trace:
            out["reasoning_trace"] = self.verdict.reasoning_trace
        if self.error is not None:
            out["error"] = self.error
        return out


_SUMMARY_CHARS: Final = 500
_NOTHING: Final = Decimal("0.000000")
_CORRECTION: Final = (
    "\n\nYour previous answer could not be used ({reason}). Answer again with exactly one JSON object "
    "and nothing else."
)


def _summary(text: str) -> str:
    return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1] + "…"


async def ask_for_verdict(
    provider: LLMProvider,
    request: LLMRequest,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> LLMAnswer:
    """Ask for a verdict: fallback model once on failure, one retry on an invalid answer.

    Never raises ``LLMError``: an unreachable provider or a twice-invalid answer comes back as an
    ``LLMAnswer`` without verdict, so the engine can degrade to the rules and record what happened.
    """
    calls: list[LLMCallRecord] = []
    current = request
    tried_fallback = False
    retried_invalid = False
    last_error: str | None = None
    validation_failed = False
    # At most: primary, fallback, and one corrective retry; bounded so a flaky API cannot loop.
    for attempt in range(3):
        started = clock()
        try:
            completion = await provider.complete(current)
        except LLMError as exc:
            last_error = str(exc)
            calls.append(_record(provider, current, None, started, clock, attempt, error=last_error))
            if not tried_fallback and provider.fallback_model and provider.fallback_model != current.model:
                tried_fallback = True
                current = _with_model(current, provider.fallback_model)
                continue
            break
        try:
            verdict = parse_answer(completion.text)
        except AnswerInvalid as exc:
            last_error = str(exc)
            validation_failed = True
            calls.append(
                _record(
                    provider, current, completion, started, clock, attempt, error=last_error, invalid=True
                )
            )
            if not retried_invalid:
                retried_invalid = True
                current = LLMRequest(
                    current.system_prompt,
                    request.user_prompt + _CORRECTION.format(reason=last_error),
                    current.model,
                    current.temperature,
                    current.max_tokens,
                )
                continue
            return LLMAnswer(None, tuple(calls), False, True, last_error, completion.model)
        calls.append(_record(provider, current, completion, started, clock, attempt))
        return LLMAnswer(verdict, tuple(calls), model=completion.model)
    # Every request failed to reach a model (or an invalid answer was followed by a failure).
    return LLMAnswer(None, tuple(calls), not validation_failed, validation_failed, last_error, current.model)


def _with_model(request: LLMRequest, model: str) -> LLMRequest:
    return LLMRequest(
        request.system_prompt, request.user_prompt, model, request.temperature, request.max_tokens
    )


def _record(
    provider: LLMProvider,
    request: LLMRequest,
    completion: Completion | None,
    started: float,
    clock: Callable[[], float],
    attempt: int,
    *,
    error: str | None = None,
    invalid: bool = False,
) -> LLMCallRecord:
    if completion is None:
        # A failed request reports no usage; counting an estimate would inflate the cost figures.
        prompt_tokens, completion_tokens, estimated, model = 0, 0, False, request.model
    else:
        estimated = completion.prompt_tokens is None or completion.completion_tokens is None
        prompt_tokens = (
            completion.prompt_tokens
            if completion.prompt_tokens is not None
            else estimate_tokens(request.system_prompt + "\n" + request.user_prompt)
        )
        completion_tokens = (
            completion.completion_tokens
            if completion.completion_tokens is not None
            else estimate_tokens(completion.text)
        )
        model = completion.model
    return LLMCallRecord(
        provider=provider.name,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        tokens_estimated=estimated,
        # A failed request used no tokens, so it cost nothing, whatever the model's price.
        cost_estimate_usd=estimate_cost(model, prompt_tokens, completion_tokens) if completion else _NOTHING,
        latency_ms=round((clock() - started) * 1000),
        success=completion is not None,
        validation_error=invalid,
        error_message=error,
        prompt_summary=_summary(request.user_prompt),
        response_summary=None if completion is None else _summary(completion.text),
        attempt=attempt,
    )
