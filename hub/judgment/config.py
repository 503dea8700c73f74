"""A tenant's judgment settings, read from ``tenants.settings`` with the spec's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_CACHE_TTL_SECONDS", "DEFAULT_CONFIDENCE_THRESHOLD", "JudgmentConfig", "LLMConfig"]

DEFAULT_CONFIDENCE_THRESHOLD = 0.8
DEFAULT_CACHE_TTL_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class LLMConfig:
    """``settings.llm_config``: model, temperature, max_tokens, fallback_model."""

    model: str = "gpt-4o"
    temperature: float = 0.3
    max_tokens: int = 2000
    fallback_model: str | None = "gpt-4o-mini"


@dataclass(frozen=True, slots=True)
class JudgmentConfig:
    """What the engine reads from a tenant's settings.

    Layout::

        {"locale": "ko-KR",
         "llm_config": {"model": ..., "temperature": ..., "max_tokens": ..., "fallback_model": ...},
         "judgment": {"confidence_threshold": 0.8, "cache_ttl_seconds": 3600, "prompt_template": "..."}}

    Flat keys ``judgment_confidence_threshold`` and ``judgment_cache_ttl_seconds`` are read too.
    Malformed values fall back to the defaults: a typo in settings must not stop judgments.
    """

    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    cache_ttl_seconds: int = DEFAULT_CACHE_TTL_SECONDS
    locale: str | None = None
    prompt_template: str | None = None
    llm: LLMConfig = LLMConfig()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> JudgmentConfig:
        """Read the tenant's ``settings`` JSON."""
        settings = settings or {}
        judgment = settings.get("judgment")
        judgment = judgment if isinstance(judgment, Mapping) else {}
        threshold = _number(
            judgment.get("confidence_threshold", settings.get("judgment_confidence_threshold")),
            DEFAULT_CONFIDENCE_THRESHOLD,
        )
        if not 0.0 <= threshold <= 1.0:
            threshold = DEFAULT_CONFIDENCE_THRESHOLD
        ttl = _number(
            judgment.get("cache_ttl_seconds", settings.get("judgment_cache_ttl_seconds")),
            DEFAULT_CACHE_TTL_SECONDS,
        )
        raw_llm = settings.get("llm_config")
        raw_llm = raw_llm if isinstance(raw_llm, Mapping) else {}
        base = LLMConfig()
        fallback = raw_llm.get("fallback_model", base.fallback_model)
        llm = LLMConfig(
            model=_text(raw_llm.get("model")) or base.model,
            temperature=_number(raw_llm.get("temperature"), base.temperature),
            max_tokens=max(1, int(_number(raw_llm.get("max_tokens"), base.max_tokens))),
            fallback_model=_text(fallback),
        )
        return cls(
            confidence_threshold=float(threshold),
            cache_ttl_seconds=max(0, int(ttl)),
            locale=_text(settings.get("locale")),
            prompt_template=_text(judgment.get("prompt_template")),
            llm=llm,
        )


def _number(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
