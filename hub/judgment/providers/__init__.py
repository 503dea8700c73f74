"""LLM providers behind ``hub.judgment.llm.LLMProvider``: MCP sampling and OpenAI-compatible HTTP."""

from __future__ import annotations

from hub.judgment.providers.openai_compat import OpenAICompatProvider
from hub.judgment.providers.sampling import SamplingProvider

__all__ = ["OpenAICompatProvider", "SamplingProvider"]
