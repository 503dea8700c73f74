"""An OpenAI-compatible ``/v1/chat/completions`` endpoint over httpx (OpenAI, vLLM, Ollama, LiteLLM ...)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from hub.errors import LLMError
from hub.judgment.llm import Completion, LLMRequest

__all__ = ["OpenAICompatProvider", "chat_completions_url"]


def chat_completions_url(base_url: str) -> str:
    """Accept both ``http://host`` and ``http://host/v1`` as the base, as OpenAI clients do."""
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


class OpenAICompatProvider:
    """Chat completions over HTTP; the caller owns ``client`` and its lifetime."""

    name = "openai_compat"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str | None,
        timeout_seconds: float,
        fallback_model: str | None = None,
    ) -> None:
        self._client = client
        self._url = chat_completions_url(base_url)
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout_seconds
        self._fallback_model = fallback_model

    @property
    def fallback_model(self) -> str | None:
        """The tenant's ``llm_config.fallback_model``."""
        return self._fallback_model

    async def complete(self, request: LLMRequest) -> Completion:
        """POST one chat request; every failure becomes ``LLMError``."""
        body = {
            "model": request.model,
            "messages": [
                {"role": "system", "content": request.system_prompt},
                {"role": "user", "content": request.user_prompt},
            ],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        try:
            response = await self._client.post(
                self._url, json=body, headers=self._headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise LLMError(f"{request.model}: no answer within {self._timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise LLMError(f"{request.model}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise LLMError(f"{request.model}: HTTP {response.status_code}: {response.text[:200]}")
        try:
            payload: Any = response.json()
            choice = payload["choices"][0]["message"]
            text = choice.get("content")
            usage = payload.get("usage") or {}
        except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(f"{request.model}: malformed chat completion response") from exc
        if not isinstance(text, str):
            raise LLMError(f"{request.model}: the response has no text content")
        return Completion(
            text=text,
            model=str(payload.get("model") or request.model),
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
        )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
