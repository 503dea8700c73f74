"""MCP sampling through the calling client: the caller's own model answers, the hub needs no API key."""

from __future__ import annotations

import anyio

from hub.errors import HubError, LLMError
from hub.judgment.llm import Completion, LLMRequest, SampledText, SampleFn, SamplingDeferred

__all__ = ["SamplingProvider"]


class SamplingProvider:
    """Wraps the ``sample`` callable the MCP face hands the engine for one call."""

    name = "sampling"
    # The client chooses its model; there is nothing to fall back to on our side.
    fallback_model: str | None = None

    def __init__(self, sample: SampleFn, *, timeout_seconds: float) -> None:
        self._sample = sample
        self._timeout = timeout_seconds

    async def complete(self, request: LLMRequest) -> Completion:
        """Ask the client; its failures and silence become ``LLMError``."""
        try:
            with anyio.fail_after(self._timeout):
                sampled = await self._sample(
                    request.system_prompt, request.user_prompt, request.max_tokens, request.temperature
                )
        except SamplingDeferred:
            raise
        except TimeoutError as exc:
            raise LLMError(
                f"the client did not answer the sampling request within {self._timeout:g} s"
            ) from exc
        except HubError as exc:
            raise LLMError(f"sampling failed: {exc}") from exc
        except Exception as exc:  # the callable is the MCP face's code; whatever it raises means "no answer"
            raise LLMError(f"sampling failed: {type(exc).__name__}: {exc}") from exc
        prompt_tokens = completion_tokens = None
        if isinstance(sampled, SampledText):
            prompt_tokens, completion_tokens = sampled.prompt_tokens, sampled.completion_tokens
        return Completion(
            text=sampled.text,
            model=sampled.model or "client-sampling",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
